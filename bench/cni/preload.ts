// Loaded with `node --import` (through NODE_OPTIONS) into the ovn-cni processes of the traced
// ADDs of bench/cni, never into the measured ones. It writes lines in the format of
// OVN_DOCKER_TRACE (src/agent/trace.ts: "trace SECONDS STEP", seconds since the process
// started) to stderr, so that they sort together with the agent's own steps:
//
//   trace 0.041s bench:preload                 node's bootstrap is done, the plugin not loaded
//   trace 0.120s bench:fetch> GET /v2.0/networks   ...and bench:fetch< when the answer came
//   trace 0.130s bench:exec> ip -j link show       ...and bench:exec< when it exited
//   trace 0.110s bench:connect> unix:/x/db.sock   a socket opened (OVSDB; HTTP), bench:connect< connected
//   trace 0.400s bench:exit                    the process is about to exit
//
// fetch is patched on globalThis (the client calls the global at each request); spawn on the
// builtin module, with syncBuiltinESMExports so that `import { spawn }` sees the wrapper; and
// net.connect (the OVSDB client and undici call it through the module object).

import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";

function mark(step: string): void {
  process.stderr.write(`trace ${(performance.now() / 1000).toFixed(4)}s bench:${step}\n`);
}

process.stderr.write(`trace 0.0000s bench:origin ${performance.timeOrigin}\n`);
mark("preload");

const origFetch = globalThis.fetch;
globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  const what = `${init?.method ?? "GET"} ${url.pathname}`;
  mark(`fetch> ${what}`);
  try {
    const r = await origFetch(input, init);
    mark(`fetch< ${what} ${r.status}`);
    return r;
  } catch (e) {
    mark(`fetch< ${what} failed`);
    throw e;
  }
};

const origSpawn = childProcess.spawn;
function describeArgv(cmd: string, args: readonly string[] | undefined): string {
  const argv = [cmd, ...(args ?? [])];
  // `sh -c SCRIPT`: the script's first command that is not `set -e` names it well enough.
  if (argv[1] === "-c" && typeof argv[2] === "string") {
    const first = argv[2].split("\n").find((l) => l.trim() && !l.startsWith("set ")) ?? "";
    return `${argv[0]} -c '${first.trim().slice(0, 40)}...'`;
  }
  return argv.join(" ").slice(0, 60);
}
childProcess.spawn = ((cmd: string, args?: readonly string[], opts?: childProcess.SpawnOptions) => {
  const what = describeArgv(cmd, Array.isArray(args) ? args : undefined);
  mark(`exec> ${what}`);
  const child = origSpawn(cmd, args as string[], opts as childProcess.SpawnOptions);
  child.once("exit", () => mark(`exec< ${what}`));
  return child;
}) as typeof childProcess.spawn;

const origConnect = net.connect;
net.connect = ((...args: unknown[]) => {
  const o = args[0] as { path?: string; host?: string; port?: number } | undefined;
  const what = o?.path ? `unix:${o.path}` : `tcp:${o?.host ?? "?"}:${o?.port ?? "?"}`;
  mark(`connect> ${what}`);
  const sock = (origConnect as (...a: unknown[]) => net.Socket)(...args);
  sock.once("connect", () => mark(`connect< ${what}`));
  return sock;
}) as typeof net.connect;
syncBuiltinESMExports();

process.once("exit", () => mark("exit"));
