// Every long-running process a sandbox may have, found from its directory alone: name, pid
// file, log, the order in which `down` stops it, and how `status` asks whether it answers.

import * as fsp from "node:fs/promises";
import * as http from "node:http";
import path from "node:path";
import { dockerAnswers } from "./engines.js";
import type { Layout, VmLayout } from "./layout.js";
import { appctlAnswers, controllerCtl, unixAccepts } from "./ovs.js";
import { cmdlineMentions, environHas, isAlive, pidListensOn, readPidFile } from "./proc.js";
import type { Engine } from "./state.js";

export interface DaemonRef {
  /** "NB ovsdb-server", "vm1 dockerd", ... */
  name: string;
  /** The VM it belongs to, if any. */
  vm?: string;
  pidFile: string;
  log: string;
  /**
   * `down` stops tier 0 first, then 1, ...; daemons of one tier in parallel. Tier -1 (the
   * container engines, which take a second to stop) runs alongside all the tiers.
   */
  tier: number;
  /** How long SIGTERM may take before SIGKILL. */
  graceMs: number;
  /** Resolves to undefined when the daemon answers, else to what is wrong. */
  probe(pid: number): Promise<string | undefined>;
  /** Is this live pid (from the pid file) ours? Default: its cmdline mentions DIR/ or /run/ovd-<h>/. */
  owned?(pid: number): Promise<boolean>;
}

export interface DaemonStatus {
  name: string;
  vm?: string;
  pid?: number;
  alive: boolean;
  healthy: boolean;
  detail: string;
  log: string;
}

const appctl = (ctl: string) => async () => ((await appctlAnswers(ctl)) ? undefined : `no answer on ${ctl}`);

function ovsDaemons(prefix: string, o: VmLayout | Layout["hv"], vm?: string): DaemonRef[] {
  return [
    {
      name: `${prefix} ovs-vswitchd`,
      ...(vm ? { vm } : {}),
      pidFile: o.vswitchdPid,
      log: o.vswitchdLog,
      tier: 3,
      graceMs: 5_000,
      probe: appctl(o.vswitchdCtl),
    },
    {
      name: `${prefix} ovsdb-server`,
      ...(vm ? { vm } : {}),
      pidFile: o.ovsdbPid,
      log: o.ovsdbLog,
      tier: 4,
      graceMs: 5_000,
      probe: appctl(o.ovsdbCtl),
    },
  ];
}

/** GET `path` over a unix socket (the root-ns forwarder); resolves to the status code. */
function getOverUnix(socketPath: string, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: urlPath, timeout: 3_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

export function daemonsOf(
  l: Layout,
  vms: readonly VmLayout[],
  engine: Engine,
  apiPort?: number,
): DaemonRef[] {
  const c = l.central;
  const out: DaemonRef[] = [
    {
      name: "api forwarder (root ns)",
      pidFile: l.forward.pid,
      log: l.forward.log,
      tier: 0,
      graceMs: 2_000,
      probe: async () => {
        const code = await getOverUnix(l.forward.sock, "/healthz");
        return code === 200 ? undefined : `GET /healthz through ${l.forward.sock}: ${code || "no answer"}`;
      },
    },
    {
      name: "network service",
      pidFile: l.server.pid,
      log: l.server.log,
      tier: 0,
      graceMs: 10_000,
      probe: async () => {
        if (!apiPort) return "unknown port";
        try {
          const r = await fetch(`http://127.0.0.1:${apiPort}/healthz`, {
            signal: AbortSignal.timeout(3_000),
          });
          return r.status === 200 ? undefined : `GET /healthz: ${r.status}`;
        } catch (e) {
          return `GET /healthz: ${(e as Error).message}`;
        }
      },
    },
  ];
  for (const vm of vms) {
    out.push({
      name: `${vm.name} api forwarder`,
      vm: vm.name,
      pidFile: vm.forwardPid,
      log: vm.forwardLog,
      tier: 0,
      graceMs: 2_000,
      probe: async (pid) =>
        apiPort && (await pidListensOn(pid, apiPort))
          ? undefined
          : `not listening on 127.0.0.1:${apiPort} in ${vm.netns}`,
    });
    if (engine === "docker") {
      out.push({
        name: `${vm.name} dockerd`,
        vm: vm.name,
        pidFile: vm.dockerdPid,
        log: vm.dockerdLog,
        tier: -1,
        graceMs: 15_000,
        probe: async () =>
          (await dockerAnswers(vm)) ? undefined : `docker version: no answer on ${vm.dockerSock}`,
      });
    }
  }
  out.push(
    {
      name: "ovn-controller",
      pidFile: l.hv.controllerPid,
      log: l.hv.controllerLog,
      tier: 2,
      graceMs: 5_000,
      probe: async (pid) => appctl(controllerCtl(l, pid))(),
    },
    {
      name: "ovn-northd",
      pidFile: c.northdPid,
      log: c.northdLog,
      tier: 2,
      graceMs: 5_000,
      probe: appctl(c.northdCtl),
    },
  );
  for (const vm of vms) out.push(...ovsDaemons(vm.name, vm, vm.name));
  out.push(...ovsDaemons("hv", l.hv));
  out.push(
    {
      name: "NB ovsdb-server",
      pidFile: c.nbPid,
      log: c.nbLog,
      tier: 4,
      graceMs: 5_000,
      probe: async () => ((await unixAccepts(c.nbSock)) ? undefined : `no answer on ${c.nbSock}`),
    },
    {
      name: "SB ovsdb-server",
      pidFile: c.sbPid,
      log: c.sbLog,
      tier: 4,
      graceMs: 5_000,
      probe: async () => ((await unixAccepts(c.sbSock)) ? undefined : `no answer on ${c.sbSock}`),
    },
  );
  return out;
}

/** The variable Sandbox.spawnInVm sets to the pid file: how a spawned pid is known to be ours. */
export const SPAWNED_ENV = "OVN_DOCKER_SANDBOX_SPAWNED";

/** A process started with Sandbox.spawnInVm, from its pid file DIR/vmN/run/spawned/NAME.pid. */
export function spawnedRef(l: Layout, vm: VmLayout, name: string): DaemonRef {
  const pidFile = path.join(vm.spawnedDir, `${name}.pid`);
  return {
    name: `${vm.name} ${name}`,
    vm: vm.name,
    pidFile,
    log: path.join(vm.log, `${name}.log`),
    tier: 0,
    graceMs: 5_000,
    probe: async () => undefined,
    owned: async (pid) => (await environHas(pid, SPAWNED_ENV, pidFile)) || cmdlineMentions(pid, l.marks),
  };
}

/** Every process started with Sandbox.spawnInVm in these VMs (alive or not), from the pid files. */
export async function spawnedOf(l: Layout, vms: readonly VmLayout[]): Promise<DaemonRef[]> {
  const out: DaemonRef[] = [];
  for (const vm of vms) {
    let names: string[] = [];
    try {
      names = (await fsp.readdir(vm.spawnedDir)).filter((n) => n.endsWith(".pid")).sort();
    } catch {}
    for (const n of names) {
      out.push(spawnedRef(l, vm, n.slice(0, -".pid".length)));
    }
  }
  return out;
}

/** daemonsOf and the processes started with Sandbox.spawnInVm: all `down` stops, all `status` shows. */
export async function allDaemonsOf(
  l: Layout,
  vms: readonly VmLayout[],
  engine: Engine,
  apiPort?: number,
): Promise<DaemonRef[]> {
  return [...daemonsOf(l, vms, engine, apiPort), ...(await spawnedOf(l, vms))];
}

/** pid from the pid file, if that pid is alive and ours (see DaemonRef.owned). */
export async function livePid(l: Layout, d: DaemonRef): Promise<number | undefined> {
  const pid = await readPidFile(d.pidFile);
  if (!pid || !(await isAlive(pid))) return undefined;
  return (await (d.owned ? d.owned(pid) : cmdlineMentions(pid, l.marks))) ? pid : undefined;
}

export async function daemonStatus(l: Layout, d: DaemonRef): Promise<DaemonStatus> {
  const pid = await readPidFile(d.pidFile);
  const base = { name: d.name, ...(d.vm ? { vm: d.vm } : {}), log: d.log };
  if (pid === undefined) return { ...base, alive: false, healthy: false, detail: "no pid file" };
  const live = await livePid(l, d);
  if (live === undefined) return { ...base, pid, alive: false, healthy: false, detail: "not running" };
  const problem = await d.probe(live);
  return { ...base, pid, alive: true, healthy: problem === undefined, detail: problem ?? "ok" };
}
