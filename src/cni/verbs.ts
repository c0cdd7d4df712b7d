// The CNI verbs over the VM agent core: ADD = attach into CNI_NETNS, DEL = detach (idempotent),
// CHECK = compare every place the attachment lives, STATUS = can ADD work now, GC = detach
// what the runtime no longer knows. An attachment is identified, as the spec says, by
// (CNI_CONTAINERID, CNI_IFNAME); it lives on the VM's OVSDB row with via "cni".

import { stat } from "node:fs/promises";
import type { Agent, NetworkInfo } from "../agent/agent.js";
import { attach, connect, deallocate, detach, finish } from "../agent/attach.js";
import { gc } from "../agent/gc.js";
import { ownerAlive } from "../agent/owner.js";
import { containerLinks } from "../agent/plumbing.js";
import { claimPort } from "../agent/port-pool.js";
import { NeutronApiError, type Port } from "../client/neutron.js";
import { type Attachment, MAX_TAG, MIN_TAG, type VSwitch } from "../vswitch/vswitch.js";
import type { CniEnv, NetConf } from "./config.js";
import { CniError, CODE } from "./errors.js";
import { buildResult, type CniResult } from "./result.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ours(atts: Attachment[], containerId: string, ifname: string): Attachment[] {
  return atts.filter((a) => a.via === "cni" && a.container === containerId && a.ifname === ifname);
}

/** The OVSDB lock GC holds while it runs (the server drops it if the GC process dies). */
const GC_LOCK = "ovn_cni_gc";

/** ADD and DEL wait while a GC runs (GC never runs concurrently with them). */
async function waitForGc(agent: Agent): Promise<void> {
  const vs = await agent.vswitch();
  if (!(await vs.lock(GC_LOCK, agent.settings.activeTimeoutMs))) {
    throw new CniError(CODE.tryAgainLater, "a CNI GC of this VM is still running; try again later");
  }
  await vs.unlock(GC_LOCK);
}

async function network(agent: Agent, conf: NetConf): Promise<NetworkInfo> {
  try {
    return await agent.network(conf.network);
  } catch (e) {
    if ((e as Error).name === "AgentError") {
      throw new CniError(CODE.invalidConfig, `network configuration "${conf.name}": ${(e as Error).message}`);
    }
    throw e;
  }
}

export async function add(agent: Agent, conf: NetConf, env: CniEnv): Promise<CniResult> {
  const containerId = env.containerId as string;
  const ifname = env.ifname as string;
  const netns = env.netns as string;
  try {
    await stat(netns);
  } catch (e) {
    throw new CniError(
      CODE.unknownContainer,
      `CNI_NETNS ${netns}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}: the container's network namespace does not exist`,
    );
  }
  await waitForGc(agent);
  const vs = await agent.vswitch();
  const [existing, net] = await Promise.all([vs.list(), network(agent, conf)]);
  const dup = ours(existing, containerId, ifname)[0];
  if (dup) {
    throw new CniError(
      CODE.alreadyAttached,
      `container ${containerId} already has ${ifname} (VLAN ${dup.tag}, port ${dup.portId ?? "?"}): DEL it first`,
    );
  }
  // Half-done work of processes that died (one OVSDB read when there is none).
  await gc(agent, { cheap: true });
  const att = conf.pool > 0 ? await addFromPool(agent, conf, net, containerId, netns, ifname) : undefined;
  const result = att
    ? att
    : await attach(agent, {
        network: net,
        container: { id: containerId, netns },
        ifname,
        state: "attached",
        via: "cni",
        cniNetwork: conf.name,
        portName: `cni-${containerId.slice(0, 12)}`,
      });
  if (conf.pool > 0) (await import("./pool-fill.js")).refillInBackground(agent, conf);
  return buildResult(conf.cniVersion, result, net, netns, conf.prevResult);
}

/** ADD with a ready port: no API port to create, OVN has bound it already. */
async function addFromPool(
  agent: Agent,
  conf: NetConf,
  net: NetworkInfo,
  containerId: string,
  netns: string,
  ifname: string,
): Promise<Attachment | undefined> {
  const claimed = await claimPort(agent, net, "cni", {
    id: containerId,
    netns,
    ifname,
    cniNetwork: conf.name,
  });
  if (!claimed) return undefined;
  const vs = await agent.vswitch();
  try {
    await connect(agent, claimed, net, { netns }, ifname);
    await finish(vs, claimed.tag, { state: "attached", owner: null });
  } catch (e) {
    await deallocate(agent, claimed).catch((u: unknown) => {
      (e as Error).message += ` (undo was incomplete, run "ovn-docker gc": ${(u as Error).message})`;
    });
    throw e;
  }
  return (await vs.get(claimed.tag)) ?? claimed;
}

export async function del(agent: Agent, _conf: NetConf, env: CniEnv): Promise<void> {
  await waitForGc(agent);
  const vs = await agent.vswitch();
  for (const a of ours(await vs.list(), env.containerId as string, env.ifname as string)) {
    await detach(agent, vs, a);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

export async function check(agent: Agent, conf: NetConf, env: CniEnv): Promise<void> {
  const containerId = env.containerId as string;
  const ifname = env.ifname as string;
  const netns = env.netns as string;
  const fail = (what: string) => {
    throw new CniError(CODE.checkFailed, `CHECK ${containerId}/${ifname}: ${what}; DEL and ADD it again`);
  };
  const vs = await agent.vswitch();
  const att = ours(await vs.list(), containerId, ifname)[0];
  if (!att) return fail("no attachment of this container and interface on this VM");
  if (att.state !== "attached") return fail(`the attachment is ${att.state}, not attached`);
  if (!att.ofport || att.ofport < 0) {
    return fail(`the VM's switch has not opened ${att.portName}${att.error ? `: ${att.error}` : ""}`);
  }
  if (!att.portId || !att.mac) return fail("the attachment has no API port recorded");
  // the API port: there, ACTIVE, same MAC and addresses, child of this VM with this tag
  let port: Port;
  try {
    port = await agent.api().getPort(att.portId);
  } catch (e) {
    if (e instanceof NeutronApiError && e.status === 404)
      return fail(`API port ${att.portId} does not exist`);
    throw e;
  }
  if (port.status !== "ACTIVE") return fail(`API port ${port.id} is ${port.status}, not ACTIVE`);
  if (port.mac_address !== att.mac)
    return fail(`API port ${port.id} has MAC ${port.mac_address}, not ${att.mac}`);
  const portIps = port.fixed_ips.map((f) => f.ip_address).filter((x): x is string => !!x);
  if (!sameSet(portIps, att.ips ?? [])) {
    return fail(
      `API port ${port.id} has ${portIps.join(", ")}, the attachment ${(att.ips ?? []).join(", ")}`,
    );
  }
  if (att.mode === "trunk") {
    const trunks = await agent.api().listTrunks({ port_id: att.vifId ?? (await agent.vifId()) });
    const sub = trunks[0]?.sub_ports.find((s) => s.port_id === port.id);
    if (sub?.segmentation_id !== att.tag)
      return fail(`API port ${port.id} is not subport VLAN ${att.tag} of the VM's trunk`);
  } else {
    const b = port["binding:profile"];
    if (b?.parent_name !== att.vifId || b?.tag !== att.tag) {
      return fail(`API port ${port.id} is not the child of ${att.vifId} with tag ${att.tag}`);
    }
  }
  // inside the container: the interface with the port's MAC and addresses
  let links: Awaited<ReturnType<typeof containerLinks>>;
  try {
    links = await containerLinks({ netns });
  } catch (e) {
    throw new CniError(CODE.unknownContainer, `CHECK ${containerId}: ${(e as Error).message}`);
  }
  const link = links.find((l) => l.ifname === ifname);
  if (!link) return fail(`no interface ${ifname} in ${netns}`);
  if (link.address?.toLowerCase() !== att.mac.toLowerCase()) {
    return fail(`${ifname} has MAC ${link.address}, not ${att.mac}`);
  }
  const have = new Set(link.addrs.map((a) => a.split("/")[0]));
  const missing = (att.ips ?? []).filter((ip) => !have.has(ip));
  if (missing.length > 0) return fail(`${ifname} lacks ${missing.join(", ")}`);
  // prevResult: what the runtime was told must still be what is there
  const prev = conf.prevResult as Partial<CniResult> | undefined;
  if (prev) {
    const iface = prev.interfaces?.find((i) => i.name === ifname && i.sandbox);
    if (iface?.mac && iface.mac.toLowerCase() !== att.mac.toLowerCase()) {
      return fail(`prevResult says ${ifname} has MAC ${iface.mac}, the port has ${att.mac}`);
    }
    const prevIps = (prev.ips ?? []).map((i) => i.address.split("/")[0] as string);
    const notThere = prevIps.filter((ip) => (att.ips ?? []).includes(ip) === false && !have.has(ip));
    if (notThere.length > 0) return fail(`prevResult's ${notThere.join(", ")} are not on ${ifname}`);
  }
}

export async function status(agent: Agent, conf: NetConf): Promise<void> {
  const na = (what: string) => new CniError(CODE.notAvailable, `ovn-cni cannot add containers now: ${what}`);
  let vs: VSwitch;
  try {
    vs = await agent.vswitch();
    await vs.checkBridge();
  } catch (e) {
    throw na(`the VM's Open vSwitch (${agent.settings.ovsdb}): ${(e as Error).message}`);
  }
  const used = [...(await vs.usedTags())].filter((t) => t >= MIN_TAG && t <= MAX_TAG).length;
  if (used >= MAX_TAG - MIN_TAG + 1) {
    throw na(
      `all ${MAX_TAG - MIN_TAG + 1} VLAN tags of this VM are in use on ${vs.bridge}; remove containers`,
    );
  }
  try {
    await agent.vifId();
    await agent.network(conf.network);
  } catch (e) {
    throw na(`the network API: ${(e as Error).message}`);
  }
}

export async function garbageCollect(agent: Agent, conf: NetConf): Promise<{ removed: Attachment[] }> {
  const vs = await agent.vswitch();
  if (!(await vs.lock(GC_LOCK, 0))) {
    throw new CniError(CODE.tryAgainLater, "another CNI GC of this VM is running; try again later");
  }
  try {
    const inFlight = (a: Attachment) =>
      a.via === "cni" && (a.state === "reserving" || a.state === "detaching") && ownerAlive(a.owner);
    // ADD/DEL that began before the lock finish first.
    const deadline = Date.now() + agent.settings.activeTimeoutMs;
    let atts = await vs.list();
    while (atts.some(inFlight)) {
      if (Date.now() > deadline)
        throw new CniError(CODE.tryAgainLater, "CNI ADD/DEL still running; try GC again later");
      await sleep(50);
      atts = await vs.list();
    }
    let networkId: string | undefined;
    try {
      networkId = (await agent.network(conf.network)).network.id;
    } catch (e) {
      if ((e as Error).name !== "AgentError") throw e; // the API network is gone
    }
    // This CNI network's attachments: recorded with its name (older rows: by the API network).
    const mine = (a: Attachment) =>
      a.cniNetwork !== undefined
        ? a.cniNetwork === conf.name
        : networkId !== undefined && a.networkId === networkId;
    const valid = new Set((conf.validAttachments ?? []).map((v) => `${v.containerID}\0${v.ifname}`));
    const removed: Attachment[] = [];
    const problems: string[] = [];
    for (const a of atts) {
      if (a.via !== "cni" || a.state === "pool" || !mine(a)) continue; // ready ports are no attachments
      if (valid.has(`${a.container}\0${a.ifname}`)) continue;
      // As much as possible: one failure does not keep the others.
      try {
        if (await detach(agent, vs, a)) removed.push(a);
      } catch (e) {
        problems.push(`${a.container}/${a.ifname} (VLAN ${a.tag}): ${(e as Error).message}`);
      }
    }
    // and half-done work of dead processes, of any front end
    await gc(agent, { cheap: true });
    if (problems.length > 0) {
      throw new CniError(
        CODE.tryAgainLater,
        `GC removed ${removed.length} attachment(s), ${problems.length} could not be removed: ${problems.join("; ")}`,
      );
    }
    return { removed };
  } finally {
    await vs.unlock(GC_LOCK);
  }
}
