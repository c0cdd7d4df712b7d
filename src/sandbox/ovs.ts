// The OVS and OVN daemons of a sandbox: OVN central (NB + SB ovsdb-server, ovn-northd), an
// OVS instance (ovsdb-server + ovs-vswitchd, netdev datapath) inside a network namespace, and
// ovn-controller. All detach themselves, write pid files under DIR and outlive `up`.
//
// Facts (reference/ovn-lab/NOTES.md): no kernel module, so every bridge is datapath_type=netdev;
// a taken ptcp port does not make ovsdb-server fail (it logs "listen failed" and keeps running),
// so a port is ours only when the listener belongs to our pid; OVN 23.03's ovn-controller has no
// --unixctl (its socket is OVN_RUNDIR/ovn-controller.PID.ctl).

import * as fsp from "node:fs/promises";
import * as net from "node:net";
import type { Layout, OvsLayout } from "./layout.js";
import { ovsdbServerEnv } from "./malloc-tunables.js";
import { freeLoopbackPort } from "./ovsdb-process.js";
import {
  isAlive,
  logTail,
  pidListensOn,
  readPidFile,
  run,
  runDetaching,
  SandboxError,
  sleep,
  waitFor,
} from "./proc.js";

export const OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";
export const NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema";
export const SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema";

const START_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;

/** argv prefix that runs a command inside a network namespace (not `ip netns exec`: it remounts /sys). */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? ["nsenter", `--net=/run/netns/${netns}`, "--", ...argv] : [...argv];
}

function ovsEnv(o: { run: string; db: string; log: string }): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: o.run, OVS_DBDIR: o.db, OVS_LOGDIR: o.log, OVN_RUNDIR: o.run };
}

export function unixAccepts(sockPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: sockPath });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function daemonFailed(daemon: string, what: string, log: string): Promise<SandboxError> {
  return new SandboxError(`${daemon}: ${what}`, daemon, log, await logTail(log));
}

/** `ovs-appctl -t CTL version` answers? */
export async function appctlAnswers(ctl: string): Promise<boolean> {
  try {
    await run(["ovs-appctl", "-T", "2", "-t", ctl, "version"], { timeoutMs: 4_000 });
    return true;
  } catch {
    return false;
  }
}

class PortTaken extends Error {}

interface OvsdbSpec {
  daemon: string;
  dbFile: string;
  schema: string;
  sock: string;
  pidFile: string;
  ctl: string;
  log: string;
  dirs: { run: string; db: string; log: string };
  netns?: string;
  tcpPort?: number;
  /** Extra --remote arguments. */
  remotes?: string[];
}

/** Create the database and start one ovsdb-server; resolves with its pid once it serves. */
async function startOvsdb(spec: OvsdbSpec): Promise<number> {
  const env = ovsEnv(spec.dirs);
  await fsp.rm(spec.dbFile, { force: true });
  await run(["ovsdb-tool", "create", spec.dbFile, spec.schema], { env });
  const logStart = await fileSize(spec.log);
  const argv = [
    "ovsdb-server",
    "-vconsole:off",
    spec.dbFile,
    `--remote=punix:${spec.sock}`,
    ...(spec.tcpPort !== undefined ? [`--remote=ptcp:${spec.tcpPort}:127.0.0.1`] : []),
    ...(spec.remotes ?? []).map((r) => `--remote=${r}`),
    `--pidfile=${spec.pidFile}`,
    `--unixctl=${spec.ctl}`,
    `--log-file=${spec.log}`,
    "--detach",
    "--no-chdir",
  ];
  const r = await runDetaching(inNetns(spec.netns, argv), ovsdbServerEnv(env));
  if (r.code !== 0)
    throw await daemonFailed(spec.daemon, `did not start (exit ${r.code}) ${r.stderr.trim()}`, spec.log);
  const pid = await readPidFile(spec.pidFile);
  if (!pid) throw await daemonFailed(spec.daemon, `no pid file ${spec.pidFile}`, spec.log);
  await waitFor(
    `${spec.daemon} to serve`,
    async () => {
      if (!(await isAlive(pid))) throw await daemonFailed(spec.daemon, `pid ${pid} exited`, spec.log);
      if (spec.tcpPort !== undefined) {
        const newLog = (await fsp.readFile(spec.log, "utf8").catch(() => "")).slice(logStart);
        if (newLog.includes(`ptcp:${spec.tcpPort}:127.0.0.1: listen failed`)) throw new PortTaken();
        if (!(await pidListensOn(pid, spec.tcpPort))) return false;
      }
      return unixAccepts(spec.sock);
    },
    {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 20,
      onTimeout: () => daemonFailed(spec.daemon, `not serving after ${START_TIMEOUT_MS} ms`, spec.log),
    },
  ).catch(async (e) => {
    if (e instanceof PortTaken) {
      // Somebody else's listener: stop ours (it would run on its unix socket only) and retry.
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
      for (let i = 0; i < 100 && (await isAlive(pid)); i++) await sleep(20);
    }
    throw e;
  });
  return pid;
}

async function fileSize(f: string): Promise<number> {
  try {
    return (await fsp.stat(f)).size;
  } catch {
    return 0;
  }
}

/** Start an ovsdb-server on a free loopback port, retrying with another port on a clash. */
async function startOvsdbOnFreePort(spec: Omit<OvsdbSpec, "tcpPort">, avoid: Set<number>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    let port = await freeLoopbackPort();
    while (avoid.has(port)) port = await freeLoopbackPort();
    avoid.add(port);
    try {
      await startOvsdb({ ...spec, tcpPort: port });
      return port;
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= PORT_ATTEMPTS) {
        if (e instanceof PortTaken)
          throw await daemonFailed(spec.daemon, `no free port after ${attempt} attempts`, spec.log);
        throw e;
      }
    }
  }
}

export interface CentralPorts {
  nb: number;
  sb: number;
}

/** NB + SB ovsdb-servers (unix socket + 127.0.0.1 TCP), `ovn-nbctl init`, ovn-northd. */
export async function startCentral(l: Layout, avoid: Set<number>): Promise<CentralPorts> {
  const c = l.central;
  for (const d of [c.run, c.db, c.log]) await fsp.mkdir(d, { recursive: true });
  const dirs = { run: c.run, db: c.db, log: c.log };
  const [nb, sb] = await Promise.all([
    startOvsdbOnFreePort(
      {
        daemon: "NB ovsdb-server",
        dbFile: c.nbDb,
        schema: NB_SCHEMA,
        sock: c.nbSock,
        pidFile: c.nbPid,
        ctl: c.nbCtl,
        log: c.nbLog,
        dirs,
      },
      avoid,
    ),
    startOvsdbOnFreePort(
      {
        daemon: "SB ovsdb-server",
        dbFile: c.sbDb,
        schema: SB_SCHEMA,
        sock: c.sbSock,
        pidFile: c.sbPid,
        ctl: c.sbCtl,
        log: c.sbLog,
        dirs,
      },
      avoid,
    ),
  ]);
  await run(["ovn-nbctl", `--db=unix:${c.nbSock}`, "init"]);
  const r = await runDetaching(
    [
      "ovn-northd",
      "-vconsole:off",
      `--ovnnb-db=unix:${c.nbSock}`,
      `--ovnsb-db=unix:${c.sbSock}`,
      `--pidfile=${c.northdPid}`,
      `--unixctl=${c.northdCtl}`,
      `--log-file=${c.northdLog}`,
      "--detach",
      "--no-chdir",
    ],
    ovsEnv(dirs),
  );
  if (r.code !== 0) throw await daemonFailed("ovn-northd", `did not start (exit ${r.code})`, c.northdLog);
  return { nb, sb };
}

/** A fresh Open_vSwitch database with its ovsdb-server and an ovs-vswitchd, inside `netns`. */
export async function startOvs(o: OvsLayout, netns: string, who: string): Promise<void> {
  for (const d of [o.run, o.db, o.log]) await fsp.mkdir(d, { recursive: true });
  const dirs = { run: o.run, db: o.db, log: o.log };
  await startOvsdb({
    daemon: `${who} ovsdb-server`,
    dbFile: o.dbFile,
    schema: OVS_SCHEMA,
    sock: o.sock,
    pidFile: o.ovsdbPid,
    ctl: o.ovsdbCtl,
    log: o.ovsdbLog,
    dirs,
    netns,
    remotes: ["db:Open_vSwitch,Open_vSwitch,manager_options"],
  });
  await run(["ovs-vsctl", `--db=${o.remote}`, "--no-wait", "init"]);
  const r = await runDetaching(
    inNetns(netns, [
      "ovs-vswitchd",
      "-vconsole:off",
      o.remote,
      `--pidfile=${o.vswitchdPid}`,
      `--unixctl=${o.vswitchdCtl}`,
      `--log-file=${o.vswitchdLog}`,
      "--detach",
      "--no-chdir",
    ]),
    ovsEnv(dirs),
  );
  if (r.code !== 0)
    throw await daemonFailed(`${who} ovs-vswitchd`, `did not start (exit ${r.code})`, o.vswitchdLog);
}

export function vsctl(o: OvsLayout, args: readonly string[], timeoutS = 10): Promise<string> {
  return run(["ovs-vsctl", `--db=${o.remote}`, `--timeout=${timeoutS}`, ...args], {
    timeoutMs: (timeoutS + 5) * 1000,
  });
}

/**
 * The hypervisor: netns, OVS (br-int, netdev, fail-mode secure) inside it, ovn-controller in
 * the root ns (it reaches the switch through unix sockets under DIR/hv/run and our SB over
 * 127.0.0.1), and waits until our chassis shows in Chassis_Private of our SB.
 */
export async function startHypervisor(l: Layout, sbPort: number): Promise<void> {
  const hv = l.hv;
  await createNetns(hv.netns);
  await startOvs(hv, hv.netns, "hv");
  await vsctl(hv, [
    "set",
    "Open_vSwitch",
    ".",
    `external_ids:system-id=${hv.chassis}`,
    `external_ids:hostname=${hv.chassis}`,
    `external_ids:ovn-remote=tcp:127.0.0.1:${sbPort}`,
    "external_ids:ovn-encap-type=geneve",
    "external_ids:ovn-encap-ip=127.0.0.1",
    "external_ids:ovn-bridge=br-int",
    "external_ids:ovn-bridge-datapath-type=netdev",
  ]);
  await vsctl(hv, [
    "--",
    "add-br",
    "br-int",
    "--",
    "set",
    "Bridge",
    "br-int",
    "datapath_type=netdev",
    "fail-mode=secure",
    "other-config:disable-in-band=true",
  ]);
  await run(["ip", "-n", hv.netns, "link", "set", "br-int", "up"]);
  const r = await runDetaching(
    [
      "ovn-controller",
      "-vconsole:off",
      hv.remote,
      `--pidfile=${hv.controllerPid}`,
      `--log-file=${hv.controllerLog}`,
      "--detach",
      "--no-chdir",
    ],
    ovsEnv(hv),
  );
  if (r.code !== 0)
    throw await daemonFailed("ovn-controller", `did not start (exit ${r.code})`, hv.controllerLog);
  const pid = await readPidFile(hv.controllerPid);
  await waitFor(
    `chassis ${hv.chassis} in our SB`,
    async () => {
      if (pid && !(await isAlive(pid)))
        throw await daemonFailed("ovn-controller", "exited", hv.controllerLog);
      const out = await run([
        "ovn-sbctl",
        `--db=unix:${l.central.sbSock}`,
        "--bare",
        "--columns=name",
        "list",
        "Chassis_Private",
      ]);
      return out.split("\n").includes(hv.chassis);
    },
    {
      timeoutMs: 20_000,
      intervalMs: 30,
      onTimeout: () =>
        daemonFailed("ovn-controller", `chassis ${hv.chassis} did not register in our SB`, hv.controllerLog),
    },
  );
}

/** The unixctl socket of ovn-controller (23.03 names it after its pid). */
export function controllerCtl(l: Layout, pid: number): string {
  return `${l.hv.run}/ovn-controller.${pid}.ctl`;
}

const OFFLOADS = ["tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off"];

/** A network namespace with lo up and IPv6 off (no autoconf/MLD noise on the lab's links). */
export async function createNetns(netns: string): Promise<void> {
  await run(["ip", "netns", "add", netns]);
  await run(["ip", "-n", netns, "link", "set", "lo", "up"]);
  await run(
    inNetns(netns, [
      "sysctl",
      "-qw",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
    ]),
  );
}

/** Checksum/segmentation offload off: TCP breaks with the userspace datapath on veth otherwise. */
export async function offloadsOff(netns: string, dev: string): Promise<void> {
  await run(inNetns(netns, ["ethtool", "-K", dev, ...OFFLOADS]));
}

/** Network namespaces whose name starts with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir("/run/netns");
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix));
}
