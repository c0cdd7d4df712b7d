// The server benchmark's fixture: a fresh NB ovsdb-server, a starter configuration written by
// `ovn-docker server init`, and the network service started as its own process
// (`node dist/src/cli/main.js server ...`), so that its CPU is measured apart from the client's.
// Every process started here is stopped by its pid, always, including on failure: the caller
// stops what it got back in a `finally`, and an "exit" hook signals whatever is left.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freeLoopbackPort, type OvsdbServer, startOvsdbServer } from "../../src/sandbox/ovsdb-process.js";
import type { InitResult } from "../../src/server/config.js";

const execFileP = promisify(execFile);

const NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema";
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 3;

/**
 * The server's log level: the command's default ("info": a line per request and per response),
 * i.e. the service as it ships. OVN_DOCKER_BENCH_SERVER_LOG_LEVEL overrides it for experiments;
 * the results and the docs record which was used.
 */
export const SERVER_LOG_LEVEL = process.env.OVN_DOCKER_BENCH_SERVER_LOG_LEVEL || "info";

/** Server processes started by this module and not yet seen to exit: signalled if the bench dies. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  });
}

export interface ServiceProcess {
  readonly pid: number;
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  readonly logFile: string;
  /** SIGTERM, wait for the exit (SIGKILL after a timeout); idempotent. */
  stop(): Promise<void>;
}

export interface Bed {
  dir: string;
  nb: OvsdbServer;
  /** "tcp:127.0.0.1:PORT" of the NB: what the service and the raw client connect to. */
  nbRemote: string;
  init: InitResult;
  configFile: string;
  /** The running service, while there is one. */
  service: ServiceProcess | undefined;
  /** Stops the service (if running) and the NB, removes the directory. Never throws for a dead process. */
  close(): Promise<void>;
}

export interface BedOptions {
  repoRoot: string;
  /** When set, the service runs under `node --cpu-prof` and writes its profile into this directory. */
  cpuProfDir?: string;
}

/** A fresh NB, a fresh configuration and a fresh service process listening on loopback. */
export async function startBed(o: BedOptions): Promise<Bed> {
  const dir = await mkdtemp(path.join(tmpdir(), "ovn-docker-bench-server-"));
  let nb: OvsdbServer | undefined;
  const bed: Bed = {
    dir,
    nb: undefined as unknown as OvsdbServer,
    nbRemote: "",
    init: undefined as unknown as InitResult,
    configFile: "",
    service: undefined,
    async close() {
      const errors: unknown[] = [];
      try {
        await bed.service?.stop();
      } catch (e) {
        errors.push(e);
      }
      try {
        await nb?.stop();
      } catch (e) {
        errors.push(e);
      }
      await rm(dir, { recursive: true, force: true });
      if (errors.length) throw new AggregateError(errors, "stopping the benchmark's processes");
    },
  };
  try {
    nb = await startOvsdbServer({ dir: path.join(dir, "nb"), schema: NB_SCHEMA, tcpPort: "auto" });
    bed.nb = nb;
    if (!nb.tcpRemote) throw new Error("ovsdb-server has no TCP remote");
    bed.nbRemote = nb.tcpRemote;
    // `ovn-nbctl init` as every OVN deployment has it (the service does not need it, but real NBs hold it).
    await execFileP("ovn-nbctl", [`--db=${nb.unixRemote}`, "init"]);
    bed.service = await startService(bed, o);
    return bed;
  } catch (e) {
    await bed.close().catch(() => undefined);
    throw e;
  }
}

/** `node dist/src/cli/main.js ARGS` from the repository root. */
function cliPath(repoRoot: string): string {
  return path.join(repoRoot, "dist", "src", "cli", "main.js");
}

/**
 * Writes the configuration (first call only: `server init` refuses to overwrite) and starts the
 * service on a free loopback port, retrying on a port clash. Sets and returns bed.service.
 */
export async function startService(bed: Bed, o: BedOptions): Promise<ServiceProcess> {
  let lastErr: unknown;
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const listen = `127.0.0.1:${port}`;
    if (!bed.configFile) {
      const { stdout } = await execFileP(
        process.execPath,
        [
          cliPath(o.repoRoot),
          "server",
          "init",
          "--dir",
          path.join(bed.dir, "etc"),
          "--listen",
          listen,
          "--json",
        ],
        { cwd: o.repoRoot },
      );
      bed.init = JSON.parse(stdout) as InitResult;
      bed.configFile = bed.init.config_file;
    }
    try {
      bed.service = await spawnService(bed, o, listen, attempt);
      return bed.service;
    } catch (e) {
      lastErr = e;
      if (!/EADDRINUSE/.test(String((e as Error).message))) throw e;
    }
  }
  throw lastErr;
}

async function spawnService(
  bed: Bed,
  o: BedOptions,
  listen: string,
  attempt: number,
): Promise<ServiceProcess> {
  const logFile = path.join(bed.dir, `server-${attempt}.log`);
  const fd = openSync(logFile, "a");
  const nodeArgs = o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const args = [
    ...nodeArgs,
    cliPath(o.repoRoot),
    "server",
    "--config",
    bed.configFile,
    "--nb",
    bed.nbRemote,
    "--listen",
    listen,
    "--log-level",
    SERVER_LOG_LEVEL,
  ];
  let child: ChildProcess;
  try {
    // The log goes to a file, not through a pipe into this process (which would bill the client's CPU).
    child = spawn(process.execPath, args, { cwd: o.repoRoot, stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
  installExitHook();
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  void exited.then(() => live.delete(child));
  const pid = child.pid;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid as number, "SIGTERM");
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(pid as number, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
    })();
    return stopping;
  };
  if (pid === undefined) {
    await stop();
    throw new Error(`could not start the network service (node ${args.join(" ")})`);
  }
  const [host = "127.0.0.1", portText = "0"] = listen.split(":");
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `the network service exited (${child.exitCode ?? child.signalCode}) before listening on ${listen}:\n${await tail(logFile)}`,
        );
      }
      if (await accepts(host, Number(portText))) break;
      if (Date.now() > deadline)
        throw new Error(`the network service did not listen on ${listen} within ${READY_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid, url: `http://${listen}`, logFile, stop };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function tail(file: string, n = 15): Promise<string> {
  try {
    const lines = (await readFile(file, "utf8")).split("\n").filter(Boolean);
    return lines
      .slice(-n)
      .map((l) => `  ${l}`)
      .join("\n");
  } catch {
    return "  (no log)";
  }
}

/** A project-scoped token of a configured user, from POST /v3/auth/tokens (password method). */
export async function login(bed: Bed, user: "admin" | "demo"): Promise<string> {
  const u = bed.init.users.find((x) => x.name === user);
  const svc = bed.service;
  if (!u || !svc) throw new Error(`login as ${user}: no such user or no service running`);
  const r = await fetch(`${svc.url}/v3/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: user, domain: { id: "default" }, password: u.password } },
        },
        scope: { project: { id: bed.init.project.id } },
      },
    }),
  });
  const token = r.headers.get("x-subject-token");
  const body = await r.text();
  if (r.status !== 201 || !token) throw new Error(`login as ${user}: ${r.status} ${body}`);
  return token;
}
