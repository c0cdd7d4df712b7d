// Process plumbing for the sandbox: run a tool with an error that names it, start a daemon
// detached (its own session, output to a log file, a pid file), tell whether a pid is alive
// and still ours, and stop it by pid only.
//
// Facts about this machine the code relies on (see reference/ovn-lab/NOTES.md):
// * Detached daemons are reparented to PID 1, which reaps them only every ~1.5 s, so a
//   finished daemon lingers as a zombie: state Z counts as dead.
// * A pid in a pid file may have been reused: a process is ours only if /proc/PID/cmdline
//   mentions the sandbox directory (every daemon we start has it on its command line).

import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A tool or a daemon failed; `log` names the file to read, `tail` its last lines. */
export class SandboxError extends Error {
  override name = "SandboxError";
  constructor(
    message: string,
    readonly daemon?: string,
    readonly log?: string,
    readonly tail?: string,
  ) {
    super(
      log
        ? `${message}\n  ${daemon ?? "daemon"} log: ${log}${tail ? `, last lines:\n${tail}` : " (empty)"}`
        : message,
    );
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a short-lived command; throws SandboxError naming it and its stderr on failure. */
export async function run(
  argv: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const r = await runResult(argv, opts);
  if (r.code !== 0) {
    const err = (r.stderr || r.stdout).trim();
    throw new SandboxError(`command failed (exit ${r.code}): ${argv.join(" ")}${err ? `\n  ${err}` : ""}`);
  }
  return r.stdout;
}

/** Run a command and return its exit code and output (never throws for a non-zero exit). */
export async function runResult(
  argv: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("run: empty command");
  if (opts.input !== undefined) return runWithInput(cmd, args, opts);
  try {
    const { stdout, stderr } = await execFileP(cmd, args, {
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 30_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as Error & { code?: unknown; stdout?: string; stderr?: string; killed?: boolean };
    if (typeof err.code === "string") {
      // ENOENT and friends: the command could not be run at all.
      throw new SandboxError(`cannot run ${cmd}: ${err.message}`);
    }
    const code = typeof err.code === "number" ? err.code : 128 + 9;
    const stderr = `${err.stderr ?? ""}${err.killed ? `\n(killed after ${opts.timeoutMs ?? 30_000} ms)` : ""}`;
    return { code, stdout: err.stdout ?? "", stderr };
  }
}

function runWithInput(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new SandboxError(`cannot run ${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15), stdout, stderr });
    });
    child.stdin.on("error", () => {}); // EPIPE when the command does not read its input
    child.stdin.end(opts.input);
  });
}

let refusing: string | undefined;

/**
 * From now on, refuse to start processes (spawnDaemon, runDetaching throw): `up` was
 * interrupted and its cleanup must not race a starter that would leave a daemon behind.
 */
export function refuseNewProcesses(why: string): void {
  refusing = why;
}

function checkNotRefusing(cmd: string): void {
  if (refusing) throw new SandboxError(`not starting ${cmd}: ${refusing}`);
}

/**
 * Run a daemon that detaches itself (`--detach`, OVS style) and wait for the foreground
 * parent to exit: by then the daemon is up and has written its pid file. Waits on "exit",
 * not "close", so a daemon keeping our pipe open cannot hang us.
 */
export function runDetaching(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("runDetaching: empty command");
  checkNotRefusing(cmd);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 16_384) stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new SandboxError(`cannot run ${cmd}: ${e.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => {
        child.stderr?.destroy();
        resolve({ code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15), stdout: "", stderr });
      });
    });
  });
}

/**
 * Start a long-running command in its own session (it outlives us), stdout and stderr
 * appended to `logFile`, and write its pid to `pidFile` at once (before it is even ready),
 * so that `down` can find it whatever happens to us next.
 */
export function spawnDaemon(
  argv: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; pidFile: string },
): number {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("spawnDaemon: empty command");
  checkNotRefusing(cmd);
  const out = fs.openSync(opts.logFile, "a");
  try {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ["ignore", out, out],
      detached: true,
    });
    if (child.pid === undefined) throw new SandboxError(`cannot start ${cmd} (no pid)`);
    fs.writeFileSync(opts.pidFile, `${child.pid}\n`);
    child.on("error", () => {}); // reported through the readiness check and the log
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(out);
  }
}

/** The process state letter from /proc/PID/stat, or undefined when there is no such process. */
async function procState(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "PID (comm) S ...": comm may contain spaces and parentheses, so look after the last ')'.
  const i = stat.lastIndexOf(")");
  return stat.slice(i + 2, i + 3);
}

/** True if the process exists and is neither a zombie (Z) nor dead (X). */
export async function isAlive(pid: number): Promise<boolean> {
  const s = await procState(pid);
  return s !== undefined && s !== "Z" && s !== "X" && s !== "";
}

export async function readCmdline(pid: number): Promise<string[]> {
  try {
    return (await fsp.readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter((a) => a.length > 0);
  } catch {
    return [];
  }
}

/** True if some argument of /proc/PID/cmdline contains one of `marks` (paths ending in "/"). */
export async function cmdlineMentions(pid: number, marks: readonly string[]): Promise<boolean> {
  const argv = await readCmdline(pid);
  return argv.some((a) => marks.some((m) => a.includes(m) || `${a}/` === m));
}

/** True if /proc/PID/environ has `key=value` (the environment the process was started with). */
export async function environHas(pid: number, key: string, value: string): Promise<boolean> {
  try {
    return (await fsp.readFile(`/proc/${pid}/environ`, "utf8")).split("\0").includes(`${key}=${value}`);
  } catch {
    return false;
  }
}

/** Is a live `pid` ours? Marks (paths ending in "/") its cmdline must mention, or a check of its own. */
export type Ownership = readonly string[] | ((pid: number) => Promise<boolean>);

function owns(owner: Ownership, pid: number): Promise<boolean> {
  return typeof owner === "function" ? owner(pid) : cmdlineMentions(pid, owner);
}

export async function readPidFile(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

/**
 * SIGTERM `pid` if it is alive and ours (its cmdline mentions one of the marks, or `owner`
 * says so); SIGKILL after `graceMs`. Resolves to what happened: "not-running", "not-ours",
 * "stopped", "killed".
 */
export async function stopPid(
  pid: number,
  owner: Ownership,
  graceMs: number,
): Promise<"not-running" | "not-ours" | "stopped" | "killed"> {
  if (!(await isAlive(pid))) return "not-running";
  if (!(await owns(owner, pid))) return "not-ours";
  if (!signal(pid, "SIGTERM")) return "not-running";
  if (await waitGone(pid, graceMs)) return "stopped";
  if (await owns(owner, pid)) signal(pid, "SIGKILL");
  if (await waitGone(pid, 5_000)) return "killed";
  throw new SandboxError(`pid ${pid} is still alive after SIGTERM and SIGKILL`);
}

/** Every pid on the host with its parent, from /proc. */
export async function processTable(): Promise<Array<{ pid: number; ppid: number; comm: string }>> {
  const out: Array<{ pid: number; ppid: number; comm: string }> = [];
  for (const name of await fsp.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = await fsp.readFile(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const rest = stat.slice(close + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") continue;
    out.push({ pid: Number(name), ppid: Number(rest[1]), comm: stat.slice(open + 1, close) });
  }
  return out;
}

/**
 * Does `pid` own a TCP socket listening on `port` (127.0.0.1 or any address) in its own
 * network namespace? Reads /proc/PID/net/tcp, which shows the table of the pid's netns.
 */
export async function pidListensOn(pid: number, port: number): Promise<boolean> {
  let table: string;
  try {
    table = await fsp.readFile(`/proc/${pid}/net/tcp`, "utf8");
  } catch {
    return false;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== "0A" || !f[9]) continue; // 0A = LISTEN
    if (f[1] === `0100007F:${hexPort}` || f[1] === `00000000:${hexPort}`) inodes.add(f[9]);
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await fsp.readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(await fsp.readlink(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] && inodes.has(m[1])) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/** The last `n` non-empty lines of a file, indented, for error messages. */
export async function logTail(file: string, n = 12): Promise<string> {
  let text: string;
  try {
    const fh = await fsp.open(file, "r");
    try {
      const size = (await fh.stat()).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      text = buf.toString("utf8");
    } finally {
      await fh.close();
    }
  } catch (e) {
    return `    (unreadable: ${(e as Error).message})`;
  }
  const lines = text.split("\n").filter((l) => l.trim().length > 0);
  if (lines.length === 0) return "";
  return lines
    .slice(-n)
    .map((l) => `    ${l}`)
    .join("\n");
}

/** Poll `check` every `intervalMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  opts: { timeoutMs: number; intervalMs?: number; onTimeout?: () => Promise<Error> },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      throw opts.onTimeout ? await opts.onTimeout() : new SandboxError(`timed out waiting for ${what}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}
