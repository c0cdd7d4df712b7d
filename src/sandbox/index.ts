// The sandbox as a library, for tests, benchmarks and the demo:
//
//   const sb = await startSandbox({ dir, vms: 2 });          // or loadSandbox(dir) for a running one
//   const r = await sb.exec("vm1", ["docker", "run", "--rm", "--net=none", IMAGE, "echo", "ok"]);
//   sb.vms[0].env                                              // what `sandbox exec` puts in the environment
//   const p = await sb.spawnInVm("vm1", ["node", "plugin.js", sb.vms[0].dockerPluginsDir + "/ovn.sock"],
//     { name: "driver", readySocket: sb.vms[0].dockerPluginsDir + "/ovn.sock" }); // a daemon of the VM
//   await sb.down();                                           // or stopSandbox(dir)
//
// Everything is found from the directory (DIR/sandbox.json, pid files, credentials.json), so a
// Sandbox loaded in another process behaves like the one `up` returned.

import { spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { openClient } from "../client/index.js";
import type { InitResult } from "../server/config.js";
import { VSwitch } from "../vswitch/vswitch.js";
import {
  allDaemonsOf,
  type DaemonStatus,
  daemonStatus,
  livePid,
  SPAWNED_ENV,
  spawnedRef,
} from "./daemons.js";
import { type DownOptions, type DownReport, engineOf, knownVms, stopSandbox } from "./down.js";
import { type Creds, vmEnv } from "./env.js";
import { DEFAULT_DIR, type Layout, layout, type VmLayout } from "./layout.js";
import { inNetns, unixAccepts } from "./ovs.js";
import { isAlive, logTail, run, SandboxError, spawnDaemon, stopPid, waitFor } from "./proc.js";
import { type Engine, readState, type SandboxState } from "./state.js";
import { credsEnv, type UpOptions, up } from "./up.js";

export { type DownReport, stopSandbox } from "./down.js";
export { IMAGE } from "./engines.js";
export { dirHash, layout } from "./layout.js";
export { SandboxError } from "./proc.js";
export type { Engine, SandboxState } from "./state.js";
export { SandboxRunningError } from "./up.js";
export { DEFAULT_DIR };

export interface SandboxVm {
  name: string;
  netns: string;
  /** DIR/vmN */
  dir: string;
  /** unix:DIR/vmN/run/db.sock, the VM's own Open_vSwitch database. */
  ovsdbRemote: string;
  bridge: "br-vm";
  uplink: "eth0";
  /** The VM's port id on mgmt (iface-id on br-int), what the agent passes as parent_name. */
  vifId: string;
  mac: string;
  ip: string;
  /** unix://DIR/vmN/docker.sock (docker engine), else undefined. */
  dockerHost?: string;
  engine: Engine;
  /** The whole environment `sandbox exec` sets (OS_*, DOCKER_HOST or CONTAINERS_*, OVN_DOCKER_*, PATH). */
  env: Record<string, string>;
  /**
   * DIR/vmN/docker-plugins: the VM's dockerd sees this directory (and only this VM's dockerd
   * does) as /run/docker/plugins, so a plugin listening on `${dockerPluginsDir}/ovn.sock` is
   * its network driver "ovn".
   */
  dockerPluginsDir: string;
}

export interface SpawnOptions {
  /**
   * Names the process within its VM ([A-Za-z0-9][A-Za-z0-9._-]*): its pid file is
   * DIR/vmN/run/spawned/NAME.pid, its log (stdout and stderr, appended) DIR/vmN/log/NAME.log.
   * Refused while a process of that name is alive in the VM.
   */
  name: string;
  /** Extra environment on top of the VM's (the same as `exec`'s). */
  env?: Record<string, string>;
  /** Resolve only once this unix socket accepts connections (throws if the process exits first). */
  readySocket?: string;
  /** For readySocket; default 15 s. */
  readyTimeoutMs?: number;
}

export interface SpawnedProcess {
  vm: string;
  name: string;
  pid: number;
  pidFile: string;
  log: string;
}

export interface SandboxApi {
  /** http://127.0.0.1:PORT, the same inside every VM. */
  url: string;
  /** OS_AUTH_URL: url + "/v3". */
  authUrl: string;
  admin: Creds;
  demo: Creds;
  /** OS_* variables for a user. */
  env(user: "admin" | "demo"): Record<string, string>;
}

export interface ExecOptions {
  /** Extra environment on top of the VM's. */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StartOptions extends Partial<UpOptions> {}

export interface SandboxStatus {
  dir: string;
  hash: string;
  phase: SandboxState["phase"] | "none";
  engine: Engine;
  /** Every daemon alive and answering. */
  healthy: boolean;
  daemons: DaemonStatus[];
  chassis: { name: string; registered: boolean };
  api?: string;
  nbRemote?: string;
  sbRemote?: string;
  vms: Array<{
    name: string;
    netns: string;
    netnsExists: boolean;
    vifId?: string;
    mac?: string;
    ip?: string;
    portStatus?: string;
    attachments: VmAttachment[];
  }>;
}

export interface VmAttachment {
  vlan: number;
  state: string;
  container: string;
  network: string;
  ifname: string;
  ips: string[];
  port: string;
}

function credsOf(init: InitResult, user: "admin" | "demo"): Creds {
  const e = credsEnv(init, user);
  const u = init.users.find((x) => x.name === user);
  return {
    username: e.OS_USERNAME as string,
    password: e.OS_PASSWORD as string,
    projectName: e.OS_PROJECT_NAME as string,
    projectId: u?.project_id ?? init.project.id,
    userDomainName: e.OS_USER_DOMAIN_NAME as string,
    projectDomainName: e.OS_PROJECT_DOMAIN_NAME as string,
  };
}

export class Sandbox {
  readonly dir: string;
  readonly hash: string;
  readonly engine: Engine;
  readonly layout: Layout;
  readonly state: SandboxState;
  readonly api: SandboxApi;
  readonly vms: SandboxVm[];
  /** tcp:127.0.0.1:NB (what the network service uses). */
  readonly nbRemote: string;
  readonly sbRemote: string;
  /** unix:DIR/central/run/ovnnb_db.sock, for ovn-nbctl --db=... */
  readonly nbUnix: string;
  readonly sbUnix: string;
  readonly chassis: string;

  constructor(state: SandboxState, init: InitResult) {
    const l = layout(state.dir);
    this.layout = l;
    this.state = state;
    this.dir = l.dir;
    this.hash = l.hash;
    this.engine = state.engine;
    this.chassis = state.chassis;
    this.nbRemote = `tcp:127.0.0.1:${state.ports.nb}`;
    this.sbRemote = `tcp:127.0.0.1:${state.ports.sb}`;
    this.nbUnix = `unix:${l.central.nbSock}`;
    this.sbUnix = `unix:${l.central.sbSock}`;
    const url = `http://127.0.0.1:${state.ports.api}`;
    const admin = credsOf(init, "admin");
    const demo = credsOf(init, "demo");
    this.api = {
      url,
      authUrl: `${url}/v3`,
      admin,
      demo,
      env: (user) => credsEnv(init, user),
    };
    this.vms = state.vms.map((vs, i) => {
      const vm = l.vm(i + 1);
      return {
        name: vs.name,
        netns: vs.netns,
        dir: vm.dir,
        ovsdbRemote: vm.remote,
        bridge: "br-vm",
        uplink: "eth0",
        vifId: vs.vifId ?? "",
        mac: vs.mac ?? "",
        ip: vs.ip ?? "",
        ...(state.engine === "docker" ? { dockerHost: vm.dockerHost } : {}),
        engine: state.engine,
        env: vmEnv({ layout: l, vm, state: vs, engine: state.engine, authUrl: `${url}/v3`, creds: demo }),
        dockerPluginsDir: vm.dockerPluginsDir,
      };
    });
  }

  /** A VM by name ("vm1") or 0-based index. */
  vm(which: string | number): SandboxVm {
    const v = typeof which === "number" ? this.vms[which] : this.vms.find((x) => x.name === which);
    if (!v) {
      throw new SandboxError(
        `no VM ${JSON.stringify(which)} in sandbox ${this.dir} (it has ${this.vms.map((x) => x.name).join(", ")})`,
      );
    }
    return v;
  }

  vmLayout(which: string | number): VmLayout {
    return this.layout.vm(this.vms.indexOf(this.vm(which)) + 1);
  }

  /** argv to run `argv` inside the VM: `nsenter --net=/run/netns/<vm netns> -- argv`. */
  execArgv(vm: string | number, argv: readonly string[]): string[] {
    return inNetns(this.vm(vm).netns, argv);
  }

  /** Full environment for a command in the VM: this process's, then the VM's, then `extra`. */
  execEnv(vm: string | number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...process.env, ...this.vm(vm).env, ...extra };
  }

  /** Run `argv` inside the VM (its netns, its environment); never throws for a non-zero exit. */
  exec(vm: string | number, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const full = this.execArgv(vm, argv);
    const env = this.execEnv(vm, opts.env);
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = full;
      const child = spawn(cmd as string, args, { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(new SandboxError(`exec in ${String(vm)}: ${e.message}`));
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15), stdout, stderr });
      });
      child.stdin.on("error", () => {}); // EPIPE when the command does not read its input
      child.stdin.end(opts.input ?? "");
    });
  }

  /**
   * Start a long-running process inside the VM the way the sandbox starts its daemons: in the
   * VM's netns (`nsenter --net`, the root mount namespace), with the environment `exec` gives
   * (+ opts.env), in its own session so that it outlives this process, stdout and stderr to
   * DIR/vmN/log/NAME.log. Its pid (the process's own: nsenter execs) goes to
   * DIR/vmN/run/spawned/NAME.pid, where `down` finds and stops it. Killing it (even -9) and
   * spawning the same name again is fine.
   */
  async spawnInVm(vm: string | number, argv: readonly string[], opts: SpawnOptions): Promise<SpawnedProcess> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(opts.name))
      throw new SandboxError(
        `spawnInVm: bad name ${JSON.stringify(opts.name)} (want [A-Za-z0-9][A-Za-z0-9._-]*)`,
      );
    if (argv.length === 0) throw new SandboxError("spawnInVm: empty command");
    const v = this.vm(vm);
    const vl = this.vmLayout(vm);
    const ref = spawnedRef(this.layout, vl, opts.name);
    const running = await livePid(this.layout, ref);
    if (running) throw new SandboxError(`${ref.name} is already running (pid ${running}, ${ref.pidFile})`);
    await fsp.mkdir(vl.spawnedDir, { recursive: true });
    await fsp.mkdir(path.dirname(ref.log), { recursive: true });
    const pid = spawnDaemon(this.execArgv(vm, argv), {
      env: { ...this.execEnv(vm, opts.env), [SPAWNED_ENV]: ref.pidFile },
      logFile: ref.log,
      pidFile: ref.pidFile,
    });
    const sock = opts.readySocket;
    if (sock) {
      const failed = async (why: string) =>
        new SandboxError(`${ref.name} (pid ${pid}): ${why}`, ref.name, ref.log, await logTail(ref.log));
      await waitFor(
        `${ref.name} on ${sock}`,
        async () => {
          if (!(await isAlive(pid))) throw await failed("exited");
          return unixAccepts(sock);
        },
        {
          timeoutMs: opts.readyTimeoutMs ?? 15_000,
          intervalMs: 20,
          onTimeout: () => failed(`no answer on ${sock} after ${opts.readyTimeoutMs ?? 15_000} ms`),
        },
      );
    }
    return { vm: v.name, name: opts.name, pid, pidFile: ref.pidFile, log: ref.log };
  }

  /**
   * Stop a process spawnInVm started (SIGTERM, SIGKILL after `graceMs`, default 5 s), by its
   * pid file. False when it was not running.
   */
  async stopInVm(vm: string | number, name: string, graceMs = 5_000): Promise<boolean> {
    const ref = spawnedRef(this.layout, this.vmLayout(vm), name);
    const pid = await livePid(this.layout, ref);
    if (!pid) return false;
    const r = await stopPid(pid, ref.owned ?? this.layout.marks, graceMs);
    return r === "stopped" || r === "killed";
  }

  /** A NeutronClient acting as `user` (default the tenant "demo"). */
  client(user: "admin" | "demo" = "demo") {
    return openClient({ env: this.api.env(user) });
  }

  status(): Promise<SandboxStatus> {
    return sandboxStatus(this.dir);
  }

  down(opts: DownOptions = {}): Promise<DownReport> {
    return stopSandbox(this.dir, opts);
  }
}

async function readInit(l: Layout): Promise<InitResult> {
  try {
    return JSON.parse(await fsp.readFile(l.server.credentials, "utf8")) as InitResult;
  } catch (e) {
    throw new SandboxError(
      `cannot read the sandbox's credentials ${l.server.credentials}: ${(e as Error).message}`,
    );
  }
}

/** Bring a sandbox up (see up.ts) and return it. */
export async function startSandbox(opts: StartOptions = {}): Promise<Sandbox> {
  const state = await up({ ...opts, dir: opts.dir ?? DEFAULT_DIR });
  return new Sandbox(state, await readInit(layout(state.dir)));
}

/** The sandbox `up` left in `dir` (it must have finished: phase "up"). */
export async function loadSandbox(dir: string = DEFAULT_DIR): Promise<Sandbox> {
  const l = layout(dir);
  const state = await readState(l);
  if (!state)
    throw new SandboxError(
      `no sandbox in ${l.dir} (no ${l.stateFile}); run \`ovn-docker sandbox up --dir ${l.dir}\``,
    );
  if (state.phase !== "up")
    throw new SandboxError(
      `the sandbox in ${l.dir} is not up (phase ${state.phase}: \`up\` is still running or died; \`ovn-docker sandbox down --dir ${l.dir}\` cleans up)`,
    );
  return new Sandbox(state, await readInit(l));
}

/** The containers attached in a VM, as its own Open_vSwitch DB records them (empty if unreachable). */
async function vmAttachments(remote: string): Promise<VmAttachment[]> {
  let vs: VSwitch | undefined;
  try {
    vs = await VSwitch.open({ remote, bridge: "br-vm", connectTimeoutMs: 1000 });
    return (await vs.list()).map((a) => ({
      vlan: a.tag,
      state: a.state,
      container: (a.app ?? a.container ?? "").slice(0, 12),
      network: a.networkName ?? "",
      ifname: a.ifname ?? "",
      ips: a.ips ?? [],
      port: a.portId ?? "",
    }));
  } catch {
    return [];
  } finally {
    await vs?.close();
  }
}

/** Every daemon with pid and health, the chassis, each VM, its port's status and its attachments. */
export async function sandboxStatus(dir: string = DEFAULT_DIR): Promise<SandboxStatus> {
  const l = layout(dir);
  const state = await readState(l).catch(() => undefined);
  const vmLayouts = await knownVms(l);
  const engine = await engineOf(l, vmLayouts);
  const daemons = await Promise.all(
    (await allDaemonsOf(l, vmLayouts, engine, state?.ports.api)).map((d) => daemonStatus(l, d)),
  );
  let registered = false;
  try {
    const out = await run(
      [
        "ovn-sbctl",
        `--db=unix:${l.central.sbSock}`,
        "--timeout=3",
        "--bare",
        "--columns=name",
        "list",
        "Chassis_Private",
      ],
      { timeoutMs: 5_000 },
    );
    registered = out.split("\n").includes(l.hv.chassis);
  } catch {}
  const portStatus = new Map<string, string>();
  if (state?.ports.api) {
    try {
      const init = await readInit(l);
      const client = openClient({ env: credsEnv(init, "demo"), timeoutMs: 5_000 });
      for (const p of await client.listPorts({ device_owner: "compute:nova" }))
        portStatus.set(p.id, p.status ?? "");
    } catch {}
  }
  const netnsNames = new Set(await fsp.readdir("/run/netns").catch(() => [] as string[]));
  return {
    dir: l.dir,
    hash: l.hash,
    phase: state?.phase ?? "none",
    engine,
    healthy: daemons.length > 0 && daemons.every((d) => d.healthy) && registered,
    daemons,
    chassis: { name: l.hv.chassis, registered },
    ...(state?.ports.api ? { api: `http://127.0.0.1:${state.ports.api}` } : {}),
    ...(state?.ports.nb ? { nbRemote: `tcp:127.0.0.1:${state.ports.nb}` } : {}),
    ...(state?.ports.sb ? { sbRemote: `tcp:127.0.0.1:${state.ports.sb}` } : {}),
    vms: await Promise.all(
      vmLayouts.map(async (vm) => {
        const vs = state?.vms.find((v) => v.name === vm.name);
        const ps = vs?.vifId ? portStatus.get(vs.vifId) : undefined;
        return {
          name: vm.name,
          netns: vm.netns,
          netnsExists: netnsNames.has(vm.netns),
          ...(vs?.vifId ? { vifId: vs.vifId } : {}),
          ...(vs?.mac ? { mac: vs.mac } : {}),
          ...(vs?.ip ? { ip: vs.ip } : {}),
          ...(ps ? { portStatus: ps } : {}),
          attachments: await vmAttachments(vm.remote),
        };
      }),
    ),
  };
}
