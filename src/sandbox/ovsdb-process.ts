// Start and stop real `ovsdb-server` processes whose whole state lives in a caller-given directory.
//
// Every file a server uses (database, unix socket, pidfile, unixctl socket, log) is placed under
// that directory, the OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR environment points there too, and servers are
// stopped by pid only, after checking that /proc/PID/cmdline still mentions the directory.
//
// Facts about this machine's ovsdb-server (OVS 3.1) that the code relies on:
// * A `ptcp:` remote (client or raft) whose port is taken does not make the daemon fail: it logs
//   "ptcp:PORT:127.0.0.1: listen failed" and keeps running. So a TCP port counts as ready only when
//   the socket listening on it belongs to our pid (checked through /proc/net/tcp and /proc/PID/fd).
// * Detached daemons are reparented to PID 1, which reaps them slowly; a zombie (state Z) is dead.

import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import { ovsdbServerEnv } from "./malloc-tunables.js";

const execFileP = promisify(execFile);

export interface OvsdbServerOptions {
  /** Everything (db file, socket, pidfile, ctl, log) goes under here. Created if missing. */
  dir: string;
  /** Path to an .ovsschema, e.g. /usr/share/ovn/ovn-nb.ovsschema. */
  schema: string;
  /** Base name for files; default derived from the schema's "name" (OVN_Northbound -> "ovnnb"). */
  name?: string;
  /** Also listen on ptcp:PORT:127.0.0.1; "auto" picks a free loopback port (retrying on a clash). */
  tcpPort?: number | "auto";
  /** Appended to the ovsdb-server command line. */
  extraArgs?: string[];
}

export interface OvsdbServer {
  readonly pid: number;
  /** "unix:/dir/name.sock" */
  readonly unixRemote: string;
  /** "tcp:127.0.0.1:PORT", when a TCP port was requested. */
  readonly tcpRemote?: string;
  readonly logFile: string;
  /** The --unixctl path, for `ovs-appctl -t`. */
  readonly ctlPath: string;
  readonly dbFile: string;
  /** Send `signal` (SIGTERM by default) and wait until the pid is gone (zombie counts as gone). Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL, then wait until the pid is gone. */
  kill(): Promise<void>;
}

export interface ClusterMember extends OvsdbServer {
  /** "tcp:127.0.0.1:P", the raft address of this member. */
  readonly raftAddress: string;
  /**
   * Start the member again on the same files and ports after kill()/stop(). Resolves once its unix
   * socket, client port and raft port are served by the new process (it may still be catching up
   * with the cluster; poll readClusterStatus() to see it rejoin). Rejects if it is still running.
   */
  restart(): Promise<void>;
}

export interface OvsdbCluster {
  readonly members: ClusterMember[];
  /** Client remotes of all members (tcp:127.0.0.1:PORT), in member order. */
  readonly remotes: string[];
  /** e.g. "OVN_Northbound" */
  readonly dbName: string;
  /** Index of the member that is leader now, or -1 if no live member claims to be leader. */
  leaderIndex(): Promise<number>;
  /** Stop all members; idempotent. */
  stop(): Promise<void>;
}

/** The top-level "Key: value" lines of `ovs-appctl cluster/status DB`, plus the raw text. */
export interface ClusterStatus {
  raw: string;
  /** "cluster member", "joining cluster", "disconnected from the cluster (...)", ... */
  status: string;
  /** "leader", "follower", "candidate" */
  role: string;
  term: number;
  /** Short server id of the leader, "self", or "unknown". */
  leader: string;
  /** Short server id of this member (the first word of "Server ID: edb8 (uuid)"). */
  serverId: string;
  fields: Record<string, string>;
}

const OVSDB_SERVER = "ovsdb-server";
const OVSDB_TOOL = "ovsdb-tool";
const OVS_APPCTL = "ovs-appctl";
const LOOPBACK = "127.0.0.1";

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const CLUSTER_TIMEOUT_MS = 30_000;
const AUTO_PORT_ATTEMPTS = 5;
const CLUSTER_ATTEMPTS = 3;
const LOG_TAIL_LINES = 10;

// ---------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function ovsEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir };
}

function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].join(" ");
}

/** The last `n` lines of a log file, formatted for an error message. */
async function logTail(file: string, n = LOG_TAIL_LINES): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    return `  (log file unreadable: ${(err as Error).message})`;
  }
  const lines = text.split("\n").filter((l) => l.length > 0);
  if (lines.length === 0) return "  (log file is empty)";
  return lines
    .slice(-n)
    .map((l) => `  ${l}`)
    .join("\n");
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, "r");
    const size = (await fh.stat()).size;
    if (size <= offset) return "";
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString("utf8");
  } catch {
    return "";
  } finally {
    await fh?.close();
  }
}

/** True if the process exists and is not a zombie (state Z) or dead (X). */
async function isAlive(pid: number): Promise<boolean> {
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // "PID (comm) S ..." - comm may contain spaces and parentheses, so split after the last ')'.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X" && state !== "";
}

/** True if /proc/PID/cmdline mentions `dir` (as a path prefix), i.e. the pid is still ours. */
async function cmdlineMentions(pid: number, dir: string): Promise<boolean> {
  try {
    const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
    return cmdline.includes(`${dir}/`);
  } catch {
    return false;
  }
}

/** Does `pid` own a socket listening on 127.0.0.1:port (or 0.0.0.0:port)? */
async function pidListensOn(pid: number, port: number): Promise<boolean> {
  let table: string;
  try {
    table = await fs.readFile("/proc/net/tcp", "utf8");
  } catch {
    return false;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const state = f[3];
    const inode = f[9];
    if (!local || !inode || state !== "0A") continue; // 0A = LISTEN
    if (local === `0100007F:${hexPort}` || local === `00000000:${hexPort}`) inodes.add(inode);
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await fs.readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] && inodes.has(m[1])) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

function unixSocketAccepts(sockPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ path: sockPath });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Bind 127.0.0.1:0, read the port the kernel chose, close. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, LOOPBACK, () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object") resolve(addr.port);
        else reject(new Error("freeLoopbackPort: could not read the bound port"));
      });
    });
  });
}

/** Distinct free ports (freeLoopbackPort alone may hand out the same port twice). */
async function distinctFreePorts(count: number, avoid: ReadonlySet<number> = new Set()): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > count * 20) throw new Error(`could not find ${count} distinct free loopback ports`);
    const p = await freeLoopbackPort();
    if (!ports.includes(p) && !avoid.has(p)) ports.push(p);
  }
  return ports;
}

async function schemaName(schema: string): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(schema, "utf8"));
  } catch (err) {
    throw new Error(`cannot read OVSDB schema ${schema}: ${(err as Error).message}`);
  }
  const name = (parsed as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || name.length === 0) {
    throw new Error(`OVSDB schema ${schema} has no "name"`);
  }
  return name;
}

const KNOWN_BASE_NAMES: Record<string, string> = {
  OVN_Northbound: "ovnnb",
  OVN_Southbound: "ovnsb",
  OVN_IC_Northbound: "ovn_ic_nb",
  OVN_IC_Southbound: "ovn_ic_sb",
  Open_vSwitch: "conf",
};

function baseNameFor(dbName: string): string {
  return KNOWN_BASE_NAMES[dbName] ?? dbName.toLowerCase().replace(/[^a-z0-9_-]+/g, "_");
}

/** Run a short-lived OVS tool; on failure throw an Error naming the command and its stderr. */
async function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { env, timeout: 15_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: unknown };
    const stderr = (e.stderr ?? "").trim();
    throw new Error(
      `command failed (exit ${String(e.code)}): ${commandLine(cmd, args)}${stderr ? `\n  ${stderr}` : ""}`,
    );
  }
}

/**
 * Run `ovsdb-server --detach ...` and wait for the foreground parent to exit (the daemon has then
 * written its pidfile). Waits on "exit", not "close", so a daemon holding our pipes cannot hang us.
 */
function runDetaching(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      // Give buffered stderr a moment, then drop the pipe whoever else holds it.
      setImmediate(() => {
        child.stderr?.destroy();
        resolve({ code, signal, stderr });
      });
    });
  });
}

/** SIGNAL the pid if it is alive and still ours; wait until gone, escalating to SIGKILL on timeout. */
async function terminatePid(pid: number, guardDir: string, signal: NodeJS.Signals): Promise<void> {
  if (pid <= 0 || !(await isAlive(pid))) return;
  if (!(await cmdlineMentions(pid, guardDir))) return; // pid reused by somebody else: ours is gone
  const send = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(pid, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw err;
    }
  };
  if (!send(signal)) return;
  if (await waitGone(pid, STOP_TIMEOUT_MS)) return;
  if (signal !== "SIGKILL" && (await cmdlineMentions(pid, guardDir))) {
    send("SIGKILL");
    if (await waitGone(pid, STOP_TIMEOUT_MS)) return;
  }
  if (await isAlive(pid)) {
    throw new Error(`ovsdb-server pid ${pid} (${guardDir}) is still alive after ${signal} and SIGKILL`);
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// one ovsdb-server process

class PortInUseError extends Error {
  constructor(
    message: string,
    readonly port: number,
  ) {
    super(message);
    this.name = "PortInUseError";
  }
}

interface LaunchSpec {
  /** Absolute directory that must appear in the process's cmdline (pid-reuse guard). */
  dir: string;
  dbFile: string;
  sockPath: string;
  pidFile: string;
  ctlPath: string;
  logFile: string;
  tcpPort?: number;
  raftPort?: number;
  extraArgs: string[];
}

function serverArgs(spec: LaunchSpec): string[] {
  return [
    "-vconsole:off",
    spec.dbFile,
    `--remote=punix:${spec.sockPath}`,
    ...(spec.tcpPort !== undefined ? [`--remote=ptcp:${spec.tcpPort}:${LOOPBACK}`] : []),
    `--pidfile=${spec.pidFile}`,
    `--unixctl=${spec.ctlPath}`,
    `--log-file=${spec.logFile}`,
    "--detach",
    "--no-chdir",
    ...spec.extraArgs,
  ];
}

/**
 * Start ovsdb-server for `spec` and wait until its unix socket accepts connections and every
 * requested TCP port (client, raft) is listened on by this very pid. Returns the pid.
 */
async function launch(spec: LaunchSpec): Promise<number> {
  const args = serverArgs(spec);
  const cmd = commandLine(OVSDB_SERVER, args);
  const fail = async (reason: string): Promise<Error> =>
    new Error(
      `ovsdb-server failed to start: ${reason}\n  command: ${cmd}\n  log file: ${spec.logFile}, last lines:\n${await logTail(spec.logFile)}`,
    );

  const logOffset = await fileSize(spec.logFile);
  let result: Awaited<ReturnType<typeof runDetaching>>;
  try {
    result = await runDetaching(OVSDB_SERVER, args, ovsdbServerEnv(ovsEnv(spec.dir)));
  } catch (err) {
    throw await fail(`could not run it (${(err as Error).message})`);
  }
  if (result.code !== 0) {
    const how = result.signal ? `killed by ${result.signal}` : `exit code ${String(result.code)}`;
    const stderr = result.stderr.trim();
    throw await fail(`${how}${stderr ? `; stderr: ${stderr}` : ""}`);
  }

  let pid: number;
  try {
    pid = Number.parseInt((await fs.readFile(spec.pidFile, "utf8")).trim(), 10);
  } catch (err) {
    throw await fail(`no pidfile ${spec.pidFile} (${(err as Error).message})`);
  }
  if (!Number.isInteger(pid) || pid <= 0) throw await fail(`bad pidfile ${spec.pidFile}`);
  registerPid(pid, spec.dir);

  const ports = [spec.tcpPort, spec.raftPort].filter((p): p is number => p !== undefined);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!(await isAlive(pid))) throw await fail(`pid ${pid} exited right after starting`);
    const newLog = await readFrom(spec.logFile, logOffset);
    for (const port of ports) {
      if (newLog.includes(`ptcp:${port}:${LOOPBACK}: listen failed`)) {
        const err = await fail(`127.0.0.1:${port} is already in use`);
        await terminatePid(pid, spec.dir, "SIGTERM");
        throw new PortInUseError(err.message, port);
      }
    }
    let ready = await unixSocketAccepts(spec.sockPath);
    for (const port of ports) ready = ready && (await pidListensOn(pid, port));
    if (ready) return pid;
    if (Date.now() > deadline) {
      const err = await fail(
        `not ready after ${START_TIMEOUT_MS} ms (unix socket ${spec.sockPath}${
          ports.length ? ` and ports ${ports.join(", ")}` : ""
        })`,
      );
      await terminatePid(pid, spec.dir, "SIGTERM");
      throw err;
    }
    await sleep(25);
  }
}

// Registry: every pid we started, with the dir guarding it, so stopAllOvsdbServers() can clean up.
const registry = new Map<number, string>();

function registerPid(pid: number, dir: string): void {
  registry.set(pid, dir);
  installExitCleanup();
}

let exitCleanupInstalled = false;

/**
 * If this process ends (normally, or by SIGTERM/SIGINT, e.g. a test runner's timeout) while
 * servers it started still run, signal them so nothing outlives it. Synchronous: it runs in
 * the "exit" event, where nothing can be awaited.
 */
function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.once("exit", () => {
    for (const pid of registry.keys()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  });
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      process.exit(128 + (sig === "SIGTERM" ? 15 : 2));
    });
  }
}

class ServerProcess implements OvsdbServer {
  #pid = 0;
  readonly unixRemote: string;
  readonly tcpRemote?: string;
  readonly logFile: string;
  readonly ctlPath: string;
  readonly dbFile: string;

  constructor(protected readonly spec: LaunchSpec) {
    this.unixRemote = `unix:${spec.sockPath}`;
    if (spec.tcpPort !== undefined) this.tcpRemote = `tcp:${LOOPBACK}:${spec.tcpPort}`;
    this.logFile = spec.logFile;
    this.ctlPath = spec.ctlPath;
    this.dbFile = spec.dbFile;
  }

  get pid(): number {
    return this.#pid;
  }

  async start(): Promise<void> {
    this.#pid = await launch(this.spec);
  }

  async isRunning(): Promise<boolean> {
    return this.#pid > 0 && (await isAlive(this.#pid)) && (await cmdlineMentions(this.#pid, this.spec.dir));
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await terminatePid(this.#pid, this.spec.dir, signal);
    registry.delete(this.#pid);
  }

  kill(): Promise<void> {
    return this.stop("SIGKILL");
  }
}

function specFor(dir: string, base: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    dir,
    dbFile: path.join(dir, `${base}.db`),
    sockPath: path.join(dir, `${base}.sock`),
    pidFile: path.join(dir, `${base}.pid`),
    ctlPath: path.join(dir, `${base}.ctl`),
    logFile: path.join(dir, `${base}.log`),
    extraArgs: [],
    ...extra,
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a standalone ovsdb-server. The database file DIR/NAME.db is created with `ovsdb-tool create`
 * unless it already exists (then it is reused). Resolves once the unix socket accepts connections
 * and, if requested, the TCP port is served by this process.
 */
export async function startOvsdbServer(opts: OvsdbServerOptions): Promise<OvsdbServer> {
  const dir = path.resolve(opts.dir);
  const schema = path.resolve(opts.schema);
  const base = opts.name ?? baseNameFor(await schemaName(schema));
  if (base.length === 0 || base.includes("/"))
    throw new Error(`startOvsdbServer: bad name ${JSON.stringify(base)}`);
  await fs.mkdir(dir, { recursive: true });
  const spec0 = specFor(dir, base, { extraArgs: opts.extraArgs ?? [] });
  if (!(await exists(spec0.dbFile))) {
    await runTool(OVSDB_TOOL, ["create", spec0.dbFile, schema], ovsEnv(dir));
  }

  const attempts = opts.tcpPort === "auto" ? AUTO_PORT_ATTEMPTS : 1;
  const tried: number[] = [];
  for (let attempt = 1; ; attempt++) {
    let tcpPort: number | undefined;
    if (opts.tcpPort === "auto") {
      tcpPort = (await distinctFreePorts(1, new Set(tried)))[0];
      if (tcpPort !== undefined) tried.push(tcpPort);
    } else {
      tcpPort = opts.tcpPort;
    }
    const server = new ServerProcess({ ...spec0, tcpPort });
    try {
      await server.start();
      return server;
    } catch (err) {
      if (err instanceof PortInUseError && attempt < attempts) continue;
      if (err instanceof PortInUseError && attempts > 1) {
        err.message = `${err.message}\n  (gave up after ${attempts} ports: ${tried.join(", ")})`;
      }
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// clusters

/** Run `ovs-appctl -t CTL cluster/status DB` and parse its top-level "Key: value" lines. */
export async function readClusterStatus(ctlPath: string, dbName: string): Promise<ClusterStatus> {
  const raw = await runTool(OVS_APPCTL, ["-T", "5", "-t", ctlPath, "cluster/status", dbName], process.env);
  const fields: Record<string, string> = {};
  for (const line of raw.split("\n")) {
    const m = /^([A-Za-z][A-Za-z ]*):\s?(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !(m[1] in fields)) fields[m[1]] = m[2].trim();
  }
  return {
    raw,
    status: fields.Status ?? "",
    role: fields.Role ?? "",
    term: Number.parseInt(fields.Term ?? "", 10),
    leader: fields.Leader ?? "",
    serverId: (fields["Server ID"] ?? "").split(" ")[0] ?? "",
    fields,
  };
}

class Member extends ServerProcess implements ClusterMember {
  readonly raftAddress: string;

  constructor(spec: LaunchSpec) {
    super(spec);
    this.raftAddress = `tcp:${LOOPBACK}:${spec.raftPort}`;
  }

  async restart(): Promise<void> {
    if (await this.isRunning()) {
      throw new Error(
        `cluster member ${this.spec.dir} is still running (pid ${this.pid}); stop or kill it first`,
      );
    }
    await this.start();
  }
}

class Cluster implements OvsdbCluster {
  readonly remotes: string[];

  constructor(
    readonly members: Member[],
    readonly dbName: string,
  ) {
    this.remotes = members.map((m) => m.tcpRemote ?? "");
  }

  async leaderIndex(): Promise<number> {
    let best = -1;
    let bestTerm = -1;
    for (const [i, m] of this.members.entries()) {
      if (!(await m.isRunning())) continue;
      let st: ClusterStatus;
      try {
        st = await readClusterStatus(m.ctlPath, this.dbName);
      } catch {
        continue; // dying or not answering: not a leader we can use
      }
      if (st.role === "leader" && st.term > bestTerm) {
        best = i;
        bestTerm = st.term;
      }
    }
    return best;
  }

  async stop(): Promise<void> {
    const results = await Promise.allSettled(this.members.map((m) => m.stop()));
    const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    if (errors.length > 0) throw new AggregateError(errors, "could not stop every cluster member");
  }
}

/**
 * Start a raft cluster of `size` (default 3) ovsdb-servers under DIR/m0, DIR/m1, ...: member 0 via
 * `ovsdb-tool create-cluster`, the others via `join-cluster`, each with its own raft port and client
 * port on 127.0.0.1. Resolves once every member says "Status: cluster member" with a known leader.
 */
export async function startOvsdbCluster(opts: {
  dir: string;
  schema: string;
  size?: number;
}): Promise<OvsdbCluster> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new Error(`startOvsdbCluster: bad size ${size}`);
  const dir = path.resolve(opts.dir);
  const schema = path.resolve(opts.schema);
  const dbName = await schemaName(schema);
  const base = baseNameFor(dbName);
  await fs.mkdir(dir, { recursive: true });

  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(dir, schema, dbName, base, size);
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= CLUSTER_ATTEMPTS) throw err;
      // A port was taken between picking and binding: wipe the member dirs and try new ports.
      for (let i = 0; i < size; i++) await fs.rm(path.join(dir, `m${i}`), { recursive: true, force: true });
    }
  }
}

async function startClusterOnce(
  dir: string,
  schema: string,
  dbName: string,
  base: string,
  size: number,
): Promise<Cluster> {
  const ports = await distinctFreePorts(size * 2);
  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    const mdir = path.join(dir, `m${i}`);
    await fs.mkdir(mdir, { recursive: true });
    members.push(new Member(specFor(mdir, base, { tcpPort: ports[2 * i], raftPort: ports[2 * i + 1] })));
  }

  const started: Member[] = [];
  try {
    for (const [i, m] of members.entries()) {
      const mdir = path.dirname(m.dbFile);
      if (await exists(m.dbFile)) throw new Error(`cluster member database ${m.dbFile} already exists`);
      if (i === 0) {
        await runTool(OVSDB_TOOL, ["create-cluster", m.dbFile, schema, m.raftAddress], ovsEnv(mdir));
      } else {
        const peers = members.slice(0, i).map((p) => p.raftAddress);
        await runTool(OVSDB_TOOL, ["join-cluster", m.dbFile, dbName, m.raftAddress, ...peers], ovsEnv(mdir));
      }
      started.push(m);
      await m.start();
    }
    await waitClusterReady(members, dbName, CLUSTER_TIMEOUT_MS);
  } catch (err) {
    await Promise.allSettled(started.map((m) => m.stop()));
    throw err;
  }
  return new Cluster(members, dbName);
}

async function waitClusterReady(members: Member[], dbName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const last: Array<ClusterStatus | Error | undefined> = members.map(() => undefined);
  for (;;) {
    let allConnected = true;
    let haveLeader = false;
    for (const [i, m] of members.entries()) {
      if (!(await m.isRunning())) {
        throw new Error(
          `cluster member m${i} (pid ${m.pid}) died while the cluster was forming\n  log file: ${m.logFile}, last lines:\n${await logTail(m.logFile)}`,
        );
      }
      try {
        const st = await readClusterStatus(m.ctlPath, dbName);
        last[i] = st;
        if (st.role === "leader") haveLeader = true;
        if (st.status !== "cluster member" || st.leader === "" || st.leader === "unknown")
          allConnected = false;
      } catch (err) {
        last[i] = err as Error;
        allConnected = false;
      }
    }
    if (allConnected && haveLeader) return;
    if (Date.now() > deadline) {
      const parts: string[] = [];
      for (const [i, m] of members.entries()) {
        const st = last[i];
        const summary =
          st instanceof Error
            ? `cluster/status failed: ${st.message}`
            : st
              ? `Status: ${st.status}; Role: ${st.role}; Term: ${st.term}; Leader: ${st.leader}`
              : "no status";
        parts.push(
          `  m${i} (pid ${m.pid}): ${summary}\n  log file: ${m.logFile}, last lines:\n${await logTail(m.logFile)}`,
        );
      }
      throw new Error(
        `ovsdb cluster ${dbName} did not form within ${timeoutMs} ms (every member must be a connected ` +
          `"cluster member" with a known leader):\n${parts.join("\n")}`,
      );
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------

/** Stop every ovsdb-server this module started that is still running (by pid, guarded by its dir). */
export async function stopAllOvsdbServers(): Promise<void> {
  const entries = [...registry.entries()];
  const results = await Promise.allSettled(entries.map(([pid, dir]) => terminatePid(pid, dir, "SIGTERM")));
  const errors: Error[] = [];
  for (const [i, r] of results.entries()) {
    const entry = entries[i];
    if (r.status === "fulfilled" && entry) registry.delete(entry[0]);
    else if (r.status === "rejected") errors.push(r.reason as Error);
  }
  if (errors.length > 0)
    throw new AggregateError(errors, "stopAllOvsdbServers: some servers could not be stopped");
}
