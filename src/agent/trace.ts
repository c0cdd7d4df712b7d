// OVN_DOCKER_TRACE=1: one stderr line per step of run/attach with the time since the process
// started, to see where a slow `run` spends its time.

const enabled = process.env.OVN_DOCKER_TRACE === "1";

export function trace(step: string): void {
  if (enabled) process.stderr.write(`trace ${(performance.now() / 1000).toFixed(3)}s ${step}\n`);
}
