// `sandbox down`: stop exactly what `up` started and remove what it created on the host, from
// the directory alone (it works after `up` was killed half way, and twice in a row).
//
//   1. containers of each VM's engine (docker rm -f / podman rm -af), while the engine still runs
//   2. daemons by pid file, in tiers (forwarders, server and the processes Sandbox.spawnInVm
//      started, then ovn-controller + northd, then the vswitchds, then the ovsdb-servers; dockerd
//      alongside); a pid counts only if its cmdline mentions DIR/ (a spawned one: or its
//      environment names its pid file)
//   3. a sweep for processes of ours without a pid file (containerd, shims, conmon and their
//      container processes; a daemon `up` was starting when it died): known program names whose
//      command line mentions DIR/ or /run/ovd-<h>/, plus their descendants
//   4. the netns ovd-<h>-* (this removes the veths and the netdev datapaths' persistent taps)
//   5. mounts under DIR/ and /run/ovd-<h>/ (overlays, dockerd's bind mount of its data root,
//      netns bind mounts), lazily, deepest first; then /run/ovd-<h> itself
//   6. the engines' data, sockets and pid files, sandbox.json; logs stay unless `purge`

import * as fsp from "node:fs/promises";
import path from "node:path";
import { allDaemonsOf, type DaemonRef, livePid } from "./daemons.js";
import { removeContainers } from "./engines.js";
import { type Layout, layout, VM_NAME, type VmLayout } from "./layout.js";
import { listNetns } from "./ovs.js";
import {
  cmdlineMentions,
  processTable,
  readCmdline,
  readPidFile,
  run,
  sleep,
  stopPid,
  waitGone,
} from "./proc.js";
import { type Engine, readState } from "./state.js";

export interface DownOptions {
  /** Also delete logs, databases and configuration: everything `up` wrote under DIR. */
  purge?: boolean;
  log?: (line: string) => void;
}

export interface DownReport {
  dir: string;
  stopped: string[];
  killed: string[];
  swept: string[];
  netns: string[];
  unmounted: number;
  /** Things that did not go as planned but were dealt with (e.g. by the sweep). */
  warnings: string[];
  /** What is left behind: empty when `down` removed everything. */
  problems: string[];
  ms: number;
}

/** What `up` creates directly under DIR (so `purge` never touches anything else there). */
const OWN_ENTRIES = ["sandbox.json", "bin", "cni-bin", "log", "run", "server", "central", "hv", "images"];

/** The VMs this directory may hold: from sandbox.json, vmN directories and ovd-<h>-vmN netns. */
export async function knownVms(l: Layout): Promise<VmLayout[]> {
  const idx = new Set<number>();
  const state = await readState(l).catch(() => undefined);
  for (const v of state?.vms ?? []) {
    const m = VM_NAME.exec(v.name);
    if (m?.[1]) idx.add(Number(m[1]));
  }
  try {
    for (const e of await fsp.readdir(l.dir)) {
      const m = VM_NAME.exec(e);
      if (m?.[1]) idx.add(Number(m[1]));
    }
  } catch {}
  const prefix = `${l.hv.netns.slice(0, -"hv".length)}`;
  for (const ns of await listNetns(prefix)) {
    const m = VM_NAME.exec(ns.slice(prefix.length));
    if (m?.[1]) idx.add(Number(m[1]));
  }
  return [...idx].sort((a, b) => a - b).map((i) => l.vm(i));
}

export async function engineOf(l: Layout, vms: readonly VmLayout[]): Promise<Engine> {
  const state = await readState(l).catch(() => undefined);
  if (state) return state.engine;
  for (const vm of vms) {
    try {
      await fsp.access(vm.containersConf);
      return "podman";
    } catch {}
  }
  return "docker";
}

const SWEEP_COMMS = [
  "ovsdb-server",
  "ovs-vswitchd",
  "ovn-northd",
  "ovn-controller",
  "dockerd",
  "containerd",
  "conmon",
  "runc",
  "podman",
  "nsenter",
  "node",
];

/**
 * Our processes that have no (valid) pid file, with their descendants: programs we run whose
 * cmdline mentions DIR/ or /run/ovd-<h>/. Never this process or its ancestors.
 */
export async function strayProcesses(l: Layout): Promise<Array<{ pid: number; what: string }>> {
  const table = await processTable();
  const byPid = new Map(table.map((p) => [p.pid, p]));
  const protect = new Set<number>();
  for (let p: number | undefined = process.pid; p && p > 1 && !protect.has(p); p = byPid.get(p)?.ppid)
    protect.add(p);
  const roots: Array<{ pid: number; what: string }> = [];
  for (const p of table) {
    if (protect.has(p.pid) || !SWEEP_COMMS.some((c) => p.comm.startsWith(c))) continue;
    if (await cmdlineMentions(p.pid, l.marks)) roots.push({ pid: p.pid, what: p.comm });
  }
  const out = new Map<number, string>(roots.map((r) => [r.pid, r.what]));
  const children = new Map<number, number[]>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const stack = roots.map((r) => r.pid);
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    for (const c of children.get(pid) ?? []) {
      if (out.has(c) || protect.has(c)) continue;
      out.set(c, `${byPid.get(c)?.comm ?? "?"} (child of ${out.get(pid)} ${pid})`);
      stack.push(c);
    }
  }
  return [...out].map(([pid, what]) => ({ pid, what }));
}

/** Mount points under DIR/ or /run/ovd-<h>/ (or exactly those), deepest first. */
export async function sandboxMounts(l: Layout): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const unoctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const points = new Set<string>();
  for (const line of text.split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp) continue;
    const p = unoctal(mp);
    if (l.marks.some((m) => p.startsWith(m) || `${p}/` === m)) points.add(p);
  }
  return [...points].sort((a, b) => b.split("/").length - a.split("/").length || b.length - a.length);
}

async function stopTier(l: Layout, ds: DaemonRef[], report: DownReport): Promise<void> {
  await Promise.all(
    ds.map(async (d) => {
      const pid = await readPidFile(d.pidFile);
      if (pid === undefined) return;
      try {
        const r = await stopPid(pid, d.owned ?? l.marks, d.graceMs);
        if (r === "stopped") report.stopped.push(`${d.name} (pid ${pid})`);
        if (r === "killed") report.killed.push(`${d.name} (pid ${pid}, SIGKILL after ${d.graceMs} ms)`);
      } catch (e) {
        report.problems.push(`${d.name}: ${(e as Error).message}`);
      }
    }),
  );
}

/** Stop and remove everything of the sandbox in `dir`. Idempotent. */
export async function stopSandbox(dir: string, opts: DownOptions = {}): Promise<DownReport> {
  const t0 = Date.now();
  const l = layout(dir);
  const say = opts.log ?? (() => {});
  const report: DownReport = {
    dir: l.dir,
    stopped: [],
    killed: [],
    swept: [],
    netns: [],
    unmounted: 0,
    warnings: [],
    problems: [],
    ms: 0,
  };
  const vms = await knownVms(l);
  const engine = await engineOf(l, vms);
  const state = await readState(l).catch(() => undefined);

  const tick = (what: string) =>
    process.env.OVN_DOCKER_SANDBOX_TRACE && say(`down: ${what} at ${Date.now() - t0} ms`);
  // 1. containers, while their engine still runs
  await Promise.all(
    vms.map(async (vm) => {
      const problem = await removeContainers(vm, engine).catch((e: Error) => e.message);
      if (problem) report.warnings.push(`${vm.name}: ${problem} (the sweep stops what remains)`);
    }),
  );

  tick("containers removed");
  // 2. daemons by pid file, tier by tier
  const daemons = await allDaemonsOf(l, vms, engine, state?.ports.api);
  const tiered = async () => {
    for (const tier of [...new Set(daemons.map((d) => d.tier))].filter((t) => t >= 0).sort((a, b) => a - b)) {
      await stopTier(
        l,
        daemons.filter((d) => d.tier === tier),
        report,
      );
    }
  };
  await Promise.all([
    stopTier(
      l,
      daemons.filter((d) => d.tier < 0),
      report,
    ),
    tiered(),
  ]);

  tick("daemons stopped");
  // 3. the sweep (twice: a process `up` was starting when it died may show up late)
  for (let pass = 0; pass < 2; pass++) {
    const strays = await strayProcesses(l);
    for (const s of strays) {
      try {
        process.kill(s.pid, "SIGKILL");
        report.swept.push(`${s.what} (pid ${s.pid}: ${(await readCmdline(s.pid)).join(" ").slice(0, 120)})`);
      } catch {}
    }
    for (const s of strays) {
      if (!(await waitGone(s.pid, 5_000))) report.problems.push(`pid ${s.pid} (${s.what}) survived SIGKILL`);
    }
    if (strays.length === 0) break;
    await sleep(50);
  }

  tick("sweep done");
  // 4. network namespaces
  const prefix = l.hv.netns.slice(0, -"hv".length);
  for (const ns of await listNetns(prefix)) {
    try {
      await run(["ip", "netns", "del", ns]);
      report.netns.push(ns);
    } catch (e) {
      report.problems.push(`ip netns del ${ns}: ${(e as Error).message}`);
    }
  }

  tick("netns deleted");
  // 5. mounts, then /run/ovd-<h>
  for (let pass = 0; pass < 3; pass++) {
    const mounts = await sandboxMounts(l);
    if (mounts.length === 0) break;
    for (const m of mounts) {
      try {
        await run(["umount", "-l", m]);
        report.unmounted++;
      } catch (e) {
        if (pass === 2) report.problems.push(`umount -l ${m}: ${(e as Error).message}`);
      }
    }
  }
  await fsp.rm(l.hostRunRoot, { recursive: true, force: true }).catch((e: Error) => {
    report.problems.push(`rm -rf ${l.hostRunRoot}: ${e.message}`);
  });

  tick("unmounted");
  // 6. files
  const rmf = (p: string) =>
    fsp.rm(p, { recursive: true, force: true }).catch((e: Error) => {
      report.problems.push(`rm -rf ${p}: ${e.message}`);
    });
  if (opts.purge) {
    for (const e of OWN_ENTRIES) await rmf(path.join(l.dir, e));
    for (const vm of vms) await rmf(vm.dir);
    await fsp.rmdir(l.dir).catch(() => {}); // only if nothing else is in it
  } else {
    for (const vm of vms) {
      await rmf(vm.dockerData);
      await rmf(path.join(vm.dir, "podman"));
      await rmf(vm.dockerSock);
      await rmf(vm.dockerPluginsDir); // plugin sockets: runtime state, like docker.sock
      await rmf(vm.spawnedDir);
    }
    await rmf(l.stateFile);
    await rmf(l.forward.sock);
    for (const d of [l.central.run, l.hv.run, l.runDir, ...vms.map((v) => v.run)]) {
      let entries: string[] = [];
      try {
        entries = await fsp.readdir(d);
      } catch {}
      for (const e of entries) if (/\.(sock|ctl|mgmt|snoop|pid)$/.test(e)) await rmf(path.join(d, e));
    }
  }

  // What is left?
  for (const d of daemons) {
    const pid = await livePid(l, d);
    if (pid) report.problems.push(`${d.name} (pid ${pid}) is still running`);
  }
  for (const ns of await listNetns(prefix)) report.problems.push(`netns ${ns} still exists`);
  for (const m of await sandboxMounts(l)) report.problems.push(`${m} is still mounted`);

  report.ms = Date.now() - t0;
  say(
    `down: ${report.stopped.length + report.killed.length} daemons stopped` +
      (report.killed.length ? ` (${report.killed.length} needed SIGKILL)` : "") +
      (report.swept.length ? `, ${report.swept.length} stray processes killed` : "") +
      `, ${report.netns.length} netns deleted, ${report.unmounted} mounts removed in ${(report.ms / 1000).toFixed(2)}s`,
  );
  for (const w of report.warnings) say(`down: warning: ${w}`);
  for (const p of report.problems) say(`down: ${p}`);
  return report;
}
