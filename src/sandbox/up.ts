// `sandbox up`: the whole system on one machine, real daemons only.
//
//   central (root ns)   NB + SB ovsdb-server (unix + 127.0.0.1:free port), ovn-northd
//   network service     ovn-docker server (root ns, 127.0.0.1:free port) + forwarder DIR/run/api.sock
//   hypervisor          netns ovd-<h>-hv: ovsdb-server + ovs-vswitchd (br-int, netdev);
//                       ovn-controller in the root ns, chassis ovd-<h>-hv in our SB
//   VM i                netns ovd-<h>-vmI: eth0 = veth whose other end is on br-int with
//                       iface-id = the VM's port (created through the API as tenant "demo", as
//                       Nova would); own ovsdb-server + ovs-vswitchd with br-vm (eth0 = trunk,
//                       the VM's IP on br-vm); dockerd or podman; a forwarder that makes the API
//                       URL work inside the VM
//
// Independent steps run in parallel: the VMs' switches and engines start while the server and
// the hypervisor come up. Any failure names the daemon and its log, then undoes everything.

import * as fsp from "node:fs/promises";
import { rm as fsRm } from "node:fs/promises";
import path from "node:path";
import YAML from "yaml";
import { openClient } from "../client/index.js";
import type { NeutronClient, Port } from "../client/neutron.js";
import type { InitResult } from "../server/config.js";
import { allDaemonsOf, livePid } from "./daemons.js";
import { engineOf, knownVms, stopSandbox } from "./down.js";
import { buildImageTar, configurePodman, IMAGE, importImage, startDockerd } from "./engines.js";
import { CLI_MAIN, writeBinDir } from "./env.js";
import { type Layout, layout, MAX_VMS, type VmLayout } from "./layout.js";
import {
  createNetns,
  inNetns,
  listNetns,
  offloadsOff,
  startCentral,
  startHypervisor,
  startOvs,
  unixAccepts,
  vsctl,
} from "./ovs.js";
import { freeLoopbackPort } from "./ovsdb-process.js";
import {
  isAlive,
  logTail,
  pidListensOn,
  run,
  runResult,
  SandboxError,
  spawnDaemon,
  waitFor,
} from "./proc.js";
import { type Engine, readState, type SandboxState, type VmState, writeState } from "./state.js";

export const FORWARD_MAIN = new URL("./forward-main.js", import.meta.url).pathname;
export const MGMT_CIDR = "192.168.100.0/24";
const SOCKET_PATH_MAX = 107;

export interface UpOptions {
  dir: string;
  vms?: number;
  engine?: Engine;
  /** Progress lines ("[ 0.31s] central up ..."); default: nothing. */
  log?: (line: string) => void;
  /** Called after each stage with its name ("central", "server", "hypervisor", "vm1", ...). */
  onStage?: (stage: string) => void;
}

/** There is a live sandbox in DIR already. */
export class SandboxRunningError extends SandboxError {
  override name = "SandboxRunningError";
}

/** Is anything of the sandbox in `dir` alive? Lists what is. */
export async function liveDaemons(l: Layout): Promise<string[]> {
  const vms = await knownVms(l);
  const out: string[] = [];
  for (const d of await allDaemonsOf(l, vms, await engineOf(l, vms))) {
    const pid = await livePid(l, d);
    if (pid) out.push(`${d.name} (pid ${pid})`);
  }
  return out;
}

/** Does DIR hold leftovers of an earlier sandbox (state file, pid files, netns, run root)? */
async function hasLeftovers(l: Layout): Promise<boolean> {
  const exists = (p: string) =>
    fsp.access(p).then(
      () => true,
      () => false,
    );
  if ((await exists(l.stateFile)) || (await exists(l.hostRunRoot))) return true;
  return (await listNetns(l.hv.netns.slice(0, -2))).length > 0;
}

export async function up(opts: UpOptions): Promise<SandboxState> {
  const l = layout(opts.dir);
  const nVms = opts.vms ?? 2;
  const engine = opts.engine ?? "docker";
  if (!Number.isInteger(nVms) || nVms < 1 || nVms > MAX_VMS)
    throw new SandboxError(`--vms must be 1..${MAX_VMS}, got ${nVms}`);
  const longest = [l.vm(nVms).dockerSock, path.join(l.hv.run, "br-int.mgmt"), l.forward.sock].sort(
    (a, b) => b.length - a.length,
  )[0] as string;
  if (longest.length > SOCKET_PATH_MAX)
    throw new SandboxError(`--dir ${l.dir} is too long: ${longest} exceeds the unix socket path limit`);

  const alive = await liveDaemons(l);
  if (alive.length > 0) {
    const prev = await readState(l).catch(() => undefined);
    const what =
      prev?.phase === "up"
        ? "a sandbox is already running"
        : "a sandbox whose `up` did not finish still has daemons running";
    const list =
      alive.length > 4 ? `${alive.slice(0, 4).join(", ")} and ${alive.length - 4} more` : alive.join(", ");
    throw new SandboxRunningError(
      `${what} in ${l.dir} (${list}); run \`ovn-docker sandbox down --dir ${l.dir}\` first`,
    );
  }
  const t0 = Date.now();
  const say = opts.log ?? (() => {});
  const stamp = (msg: string) => say(`[${((Date.now() - t0) / 1000).toFixed(2).padStart(5)}s] ${msg}`);
  if (await hasLeftovers(l)) {
    const r = await stopSandbox(l.dir);
    stamp(`cleaned up the leftovers of an earlier sandbox in ${l.dir} (${r.netns.length} netns)`);
  }
  // A fresh start: only what `up` itself creates is removed.
  for (const e of ["central", "hv", "run", "server", "images", "log"])
    await fsRm(path.join(l.dir, e), { recursive: true, force: true });
  for (const vm of await knownVms(l)) await fsRm(vm.dir, { recursive: true, force: true });
  for (const d of [l.dir, l.logDir, l.runDir]) await fsp.mkdir(d, { recursive: true });

  const state: SandboxState = {
    version: 1,
    dir: l.dir,
    hash: l.hash,
    phase: "starting",
    engine,
    startedAt: new Date().toISOString(),
    upPid: process.pid,
    ports: { nb: 0, sb: 0, api: 0 },
    chassis: l.hv.chassis,
    vms: Array.from({ length: nVms }, (_, i) => ({ name: `vm${i + 1}`, netns: l.vm(i + 1).netns })),
    timings: {},
  };
  const save = () => writeState(l, state);
  const timing = (k: string) => {
    (state.timings as Record<string, number>)[k] = Date.now() - t0;
  };
  await save();
  stamp(`sandbox ${l.dir} (hash ${l.hash}, ${nVms} VMs, ${engine})`);

  // Every branch started is tracked: on failure, cleanup waits for all of them to settle, so it
  // never races a starter that would otherwise leave a daemon behind.
  const branches: Promise<unknown>[] = [];
  const branch = <T>(p: Promise<T>): Promise<T> => {
    branches.push(p);
    p.catch(() => {});
    return p;
  };
  try {
    const avoid = new Set<number>();
    const bin = branch(writeBinDir(l));
    const imageTar = branch(buildImageTar(l));
    // server init (scrypt) needs no NB: it runs while central starts
    const init = branch(initServer(l, avoid));

    // 1. OVN central
    const ports = await startCentral(l, avoid);
    state.ports.nb = ports.nb;
    state.ports.sb = ports.sb;
    await save();
    timing("central");
    stamp(`central up (NB tcp:127.0.0.1:${ports.nb}, SB tcp:127.0.0.1:${ports.sb}, ovn-northd)`);
    opts.onStage?.("central");

    // 2-3. network service, hypervisor, the VMs' own switches and engines: in parallel
    const vms = state.vms.map((_, i) => l.vm(i + 1));
    const server = branch(
      (async () => {
        const api = await startServer(l, await init, ports.nb, avoid, (port) => {
          state.ports.api = port;
          return save();
        });
        timing("server");
        stamp(`network service up (http://127.0.0.1:${api.port}, log ${l.server.log})`);
        opts.onStage?.("server");
        await startRootForwarder(l, api.port);
        return api;
      })(),
    );
    const hv = branch(
      (async () => {
        await startHypervisor(l, ports.sb);
        timing("hypervisor");
        stamp(
          `hypervisor up (netns ${l.hv.netns}: ovsdb-server, ovs-vswitchd br-int; ovn-controller; chassis ${l.hv.chassis} registered)`,
        );
        opts.onStage?.("hypervisor");
      })(),
    );
    const vmOvs = vms.map((vm) =>
      branch(
        (async () => {
          await createNetns(vm.netns);
          await fsp.mkdir(vm.agentDir, { recursive: true });
          await startOvs(vm, vm.netns, vm.name);
          await vsctl(vm, ["set", "Open_vSwitch", ".", `external_ids:system-id=${vm.netns}`]);
        })(),
      ),
    );
    const vmEngine = vms.map((vm, i) =>
      branch(
        (async () => {
          await vmOvs[i];
          if (engine === "docker") await startDockerd(vm);
          else await configurePodman(l, vm);
          await importImage(vm, engine, await imageTar);
        })(),
      ),
    );

    // 4. the tenant's management network and one port per VM, as Nova would create them
    const api = await server;
    const client = openClient({ env: api.demoEnv, timeoutMs: 30_000 });
    const net = await client.createNetwork({ name: "mgmt" });
    const subnet = await client.createSubnet({
      network_id: net.id,
      cidr: MGMT_CIDR,
      ip_version: 4,
      name: "mgmt",
    });
    state.mgmt = {
      networkId: net.id,
      subnetId: subnet.id,
      cidr: subnet.cidr,
      ...(subnet.gateway_ip ? { gateway: subnet.gateway_ip } : {}),
    };
    const prefixLen = Number(subnet.cidr.split("/")[1]);
    for (const [i, vm] of vms.entries()) {
      const port = await client.createPort({
        network_id: net.id,
        name: vm.name,
        device_owner: "compute:nova",
        device_id: vm.name,
      });
      const vs = state.vms[i] as VmState;
      vs.vifId = port.id;
      vs.mac = port.mac_address;
      vs.ip = port.fixed_ips.find((f) => f.ip_address && !f.ip_address.includes(":"))?.ip_address ?? "";
      vs.prefixLen = prefixLen;
      vs.hvIface = `tap${port.id.slice(0, 11)}`;
    }
    await save();
    stamp(`tenant "demo": network mgmt ${subnet.cidr}, ${vms.length} VM ports (device_owner compute:nova)`);

    // 5. plug each VM into br-int and bring up br-vm; its forwarder; wait for ACTIVE
    await Promise.all(
      vms.map((vm, i) =>
        branch(
          (async () => {
            const vs = state.vms[i] as VmState;
            await Promise.all([hv, vmOvs[i]]);
            await plugVm(l, vm, vs);
            await startVmForwarder(l, vm, api.port);
            await waitActive(l, client, vs, vm);
            await checkApiFromVm(vm, api.port);
            await vmEngine[i];
            timing(vm.name);
            stamp(
              `${vm.name} up: netns ${vm.netns}, ${vs.ip}/${vs.prefixLen} ${vs.mac} on br-vm, vif ${vs.vifId} ACTIVE, ${engine} with ${IMAGE}`,
            );
            opts.onStage?.(vm.name);
          })(),
        ),
      ),
    );
    await bin;

    state.phase = "up";
    timing("up");
    await save();
    stamp(`sandbox up in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return state;
  } catch (e) {
    say(`up failed (${(e as Error).message.split("\n")[0]}); undoing everything started so far ...`);
    await Promise.allSettled(branches);
    const r = await stopSandbox(l.dir, { log: say }).catch((e2: Error) => {
      say(`cleanup failed too: ${e2.message}`);
      return undefined;
    });
    if (r && r.problems.length === 0) say(`undone; logs kept under ${l.dir}`);
    throw e;
  }
}

// ---- the network service ------------------------------------------------------------------

interface ApiInfo {
  port: number;
  url: string;
  demoEnv: Record<string, string>;
}

/**
 * `server init` (credentials into DIR/server/credentials.json, 0600), then `ovn-docker server`
 * detached, ready when GET /healthz says OVN NB is connected. A port taken between picking it
 * and binding it makes the server exit with EADDRINUSE: then pick another one.
 */
/** `server init` into DIR/server, listening on a free port; its result (credentials) kept 0600. */
async function initServer(l: Layout, avoid: Set<number>): Promise<InitResult> {
  const { initConfig } = await import("../server/config.js");
  const port = await pickPort(avoid);
  const init = await initConfig(l.server.dir, { listen: `127.0.0.1:${port}` });
  await fsp.writeFile(l.server.credentials, `${JSON.stringify(init, null, 2)}\n`, { mode: 0o600 });
  return init;
}

async function startServer(
  l: Layout,
  init: InitResult,
  nbPort: number,
  avoid: Set<number>,
  onPort: (port: number) => Promise<void>,
): Promise<ApiInfo> {
  let port = Number(new URL(init.auth_url as string).port);
  for (let attempt = 1; ; attempt++) {
    await onPort(port);
    const logStart = await fsp.stat(l.server.log).then(
      (s) => s.size,
      () => 0,
    );
    const pid = spawnDaemon(
      [
        process.execPath,
        CLI_MAIN,
        "server",
        "--config",
        l.server.config,
        "--nb",
        `tcp:127.0.0.1:${nbPort}`,
        "--listen",
        `127.0.0.1:${port}`,
        "--log-level",
        "info",
      ],
      { logFile: l.server.log, pidFile: l.server.pid },
    );
    let exited = false;
    await waitFor(
      "the network service",
      async () => {
        if (!(await isAlive(pid))) {
          exited = true;
          return true;
        }
        if (!(await pidListensOn(pid, port))) return false;
        try {
          const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
          return r.status === 200;
        } catch {
          return false;
        }
      },
      {
        timeoutMs: 30_000,
        intervalMs: 50,
        onTimeout: async () =>
          new SandboxError(
            "network service: not healthy after 30 s",
            "network service",
            l.server.log,
            await logTail(l.server.log),
          ),
      },
    );
    if (!exited) return { port, url: `http://127.0.0.1:${port}`, demoEnv: credsEnv(init, "demo") };
    const newLog = (await fsp.readFile(l.server.log, "utf8")).slice(logStart);
    if (!newLog.includes("EADDRINUSE") || attempt >= 5) {
      throw new SandboxError(
        `network service: exited while starting`,
        "network service",
        l.server.log,
        await logTail(l.server.log),
      );
    }
    port = await pickPort(avoid);
    const doc = YAML.parseDocument(await fsp.readFile(l.server.config, "utf8"));
    doc.set("listen", `127.0.0.1:${port}`);
    await fsp.writeFile(l.server.config, doc.toString());
  }
}

async function pickPort(avoid: Set<number>): Promise<number> {
  for (;;) {
    const p = await freeLoopbackPort();
    if (!avoid.has(p)) {
      avoid.add(p);
      return p;
    }
  }
}

/** OS_* variables for a user of `server init`'s result. */
export function credsEnv(init: InitResult, user: "admin" | "demo"): Record<string, string> {
  const u = init.users.find((x) => x.name === user);
  if (!u || !init.auth_url)
    throw new SandboxError(`credentials of ${user} missing from server init's result`);
  return {
    OS_AUTH_URL: init.auth_url,
    OS_USERNAME: u.name,
    OS_PASSWORD: u.password,
    OS_PROJECT_NAME: u.project_name,
    OS_USER_DOMAIN_NAME: u.domain_name,
    OS_PROJECT_DOMAIN_NAME: u.domain_name,
  };
}

// ---- forwarders ---------------------------------------------------------------------------

async function startRootForwarder(l: Layout, apiPort: number): Promise<void> {
  const pid = spawnDaemon(
    [process.execPath, FORWARD_MAIN, `unix:${l.forward.sock}`, `tcp:127.0.0.1:${apiPort}`],
    { logFile: l.forward.log, pidFile: l.forward.pid },
  );
  await waitFor(
    "the root api forwarder",
    async () => {
      if (!(await isAlive(pid)))
        throw new SandboxError(
          "api forwarder: exited",
          "api forwarder",
          l.forward.log,
          await logTail(l.forward.log),
        );
      return unixAccepts(l.forward.sock);
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
}

async function startVmForwarder(l: Layout, vm: VmLayout, apiPort: number): Promise<void> {
  const pid = spawnDaemon(
    inNetns(vm.netns, [process.execPath, FORWARD_MAIN, `tcp:127.0.0.1:${apiPort}`, `unix:${l.forward.sock}`]),
    { logFile: vm.forwardLog, pidFile: vm.forwardPid },
  );
  await waitFor(
    `${vm.name} api forwarder`,
    async () => {
      if (!(await isAlive(pid)))
        throw new SandboxError(
          `${vm.name} api forwarder: exited`,
          `${vm.name} api forwarder`,
          vm.forwardLog,
          await logTail(vm.forwardLog),
        );
      return pidListensOn(pid, apiPort);
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
}

const PROBE =
  "fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(r=>{console.log(r.status)},e=>{console.log(e.cause?.code??e.message)})";

/**
 * GET /healthz from inside the VM netns, through its forwarder: what a tenant's tool in the VM
 * does. (busybox wget segfaults in some error paths here; busybox nc quits at end of input.)
 */
async function checkApiFromVm(vm: VmLayout, apiPort: number): Promise<void> {
  const r = await runResult(
    inNetns(vm.netns, [process.execPath, "-e", PROBE, `http://127.0.0.1:${apiPort}/healthz`]),
    { timeoutMs: 10_000 },
  );
  const status = r.stdout.trim();
  if (status !== "200") {
    throw new SandboxError(
      `${vm.name}: the API is not reachable inside the VM (GET /healthz: ${status || r.stderr.trim() || `exit ${r.code}`})`,
      `${vm.name} api forwarder`,
      vm.forwardLog,
      await logTail(vm.forwardLog),
    );
  }
}

// ---- VM plumbing ----------------------------------------------------------------------------

/**
 * What Nova + os-vif do on a hypervisor, plus the VM's own OVS setup: a veth pair between the
 * hypervisor's netns (a br-int port with iface-id = the port id) and the VM's netns (eth0),
 * offloads off on both ends, br-vm with eth0 as trunk and the VM's address and MAC on br-vm's
 * internal port.
 *
 * eth0 keeps a MAC of its own: with the userspace datapath, eth0 is read through AF_PACKET and
 * the VM's kernel still sees its frames; were eth0's MAC the port's, the kernel would answer
 * every packet for the VM's IP twice (once from eth0, once from br-vm: measured, ping DUP!).
 */
async function plugVm(l: Layout, vm: VmLayout, vs: VmState): Promise<void> {
  const hvns = l.hv.netns;
  const tap = vs.hvIface as string;
  const mac = vs.mac as string;
  await run([
    "ip",
    "-n",
    hvns,
    "link",
    "add",
    tap,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    vm.netns,
  ]);
  await offloadsOff(hvns, tap);
  await offloadsOff(vm.netns, "eth0");
  await run(["ip", "-n", hvns, "link", "set", tap, "up"]);
  await run(["ip", "-n", vm.netns, "link", "set", "eth0", "up"]);
  await vsctl(l.hv, [
    "--",
    "add-port",
    "br-int",
    tap,
    "--",
    "set",
    "Interface",
    tap,
    `external_ids:iface-id=${vs.vifId}`,
    `external_ids:attached-mac=${mac}`,
    "external_ids:iface-status=active",
    `external_ids:vm-id=${vm.name}`,
  ]);
  await vsctl(vm, [
    "--",
    "add-br",
    "br-vm",
    "--",
    "set",
    "Bridge",
    "br-vm",
    "datapath_type=netdev",
    `other-config:hwaddr=${mac}`,
    "other-config:disable-in-band=true",
    "--",
    "add-port",
    "br-vm",
    "eth0",
  ]);
  await run(["ip", "-n", vm.netns, "link", "set", "br-vm", "address", mac]).catch(() => {});
  await run(["ip", "-n", vm.netns, "addr", "add", `${vs.ip}/${vs.prefixLen}`, "dev", "br-vm"]);
  await run(["ip", "-n", vm.netns, "link", "set", "br-vm", "up"]);
}

async function waitActive(l: Layout, client: NeutronClient, vs: VmState, vm: VmLayout): Promise<Port> {
  let last = "";
  return waitFor(
    `${vm.name} port ACTIVE`,
    async () => {
      const p = await client.getPort(vs.vifId as string);
      last = p.status ?? "";
      return p.status === "ACTIVE" ? p : undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 50,
      onTimeout: async () =>
        new SandboxError(
          `${vm.name}: port ${vs.vifId} is still ${last} after 30 s (not bound by ovn-controller)`,
          "ovn-controller",
          l.hv.controllerLog,
          await logTail(l.hv.controllerLog),
        ),
    },
  );
}
