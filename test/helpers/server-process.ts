// `ovn-docker server` as a real child process, for tests that kill it: started from the built
// CLI with its output in files, ready once it answers GET /v3, stopped by pid only.

import { execFile, spawn } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { InitResult } from "../../src/server/config.js";

const run = promisify(execFile);

/** dist/src/cli/main.js, next to the compiled test. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

/** `ovn-docker server init --json` into `dir`; the credentials it prints. */
export async function serverInit(dir: string): Promise<InitResult> {
  const { stdout } = await run(process.execPath, [
    CLI,
    "server",
    "init",
    "--dir",
    dir,
    "--listen",
    "127.0.0.1:0",
    "--json",
  ]);
  return JSON.parse(stdout) as InitResult;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** Where its stdout and stderr go. */
  readonly logFile: string;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to this pid (if still running) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** The last lines of its log, for failure messages. */
  tail(lines?: number): Promise<string>;
}

const live = new Set<ServerProcess>();

/**
 * Starts `ovn-docker server --config C --nb R --listen 127.0.0.1:PORT` and resolves once it
 * answers GET /v3 with 200. Rejects (after stopping it) if it exits first or is not ready
 * within `readyMs`.
 */
export async function startServerProcess(opts: {
  name: string;
  dir: string;
  config: string;
  nb: string;
  port: number;
  readyMs?: number;
  logLevel?: string;
  /** More `server` options, e.g. ["--port-batches", "4"]. */
  args?: string[];
}): Promise<ServerProcess> {
  const logFile = path.join(opts.dir, `${opts.name}.log`);
  const out = await open(logFile, "a");
  const child = spawn(
    process.execPath,
    [
      CLI,
      "server",
      "--config",
      opts.config,
      "--nb",
      opts.nb,
      "--listen",
      `127.0.0.1:${opts.port}`,
      "--log-level",
      opts.logLevel ?? "warn",
      ...(opts.args ?? []),
    ],
    { stdio: ["ignore", out.fd, out.fd] },
  );
  await out.close();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${opts.name}: could not spawn ${CLI}`);
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  const proc: ServerProcess = {
    name: opts.name,
    pid,
    url: `http://127.0.0.1:${opts.port}`,
    logFile,
    get exited() {
      return exited;
    },
    exit,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!exited) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
      await exit;
      live.delete(proc);
    },
    async tail(lines = 20) {
      const text = await readFile(logFile, "utf8").catch(() => "");
      return text.trimEnd().split("\n").slice(-lines).join("\n");
    },
  };
  live.add(proc);
  const deadline = Date.now() + (opts.readyMs ?? 15000);
  for (;;) {
    if (exited) {
      live.delete(proc);
      throw new Error(
        `${opts.name} exited before it was ready: ${JSON.stringify(await exit)}\n${await proc.tail()}`,
      );
    }
    try {
      const r = await fetch(`${proc.url}/v3`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await proc.stop("SIGKILL");
      throw new Error(`${opts.name} not ready after ${opts.readyMs ?? 15000} ms\n${await proc.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops (SIGKILL) every server process started here that is still running, by pid. */
export async function stopAllServerProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop("SIGKILL")));
}
