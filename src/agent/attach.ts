// Attach and detach, as the seed describes them:
//   1. take an unused VLAN tag in this VM (an OVSDB transaction on the VM's Open_vSwitch DB),
//   2. create an API port with binding:profile {parent_name: vif-id, tag},
//   3. create the veth pair into the container's namespace with the port's MAC, IPs, MTU, routes,
//   4. wait until the port is ACTIVE (OVN bound it) and the VM's switch opened the access port.
// Any failure undoes the steps already done, last first. Each step is recorded on the OVSDB row
// before the next begins, so a crash at any point leaves something `gc` can find and finish.

import type { FixedIp, Port } from "../client/index.js";
import { ClientRequestError, NeutronApiError } from "../client/index.js";
import type { Attachment, AttachmentFields, AttachmentState, VSwitch } from "../vswitch/vswitch.js";
import { PORT_PREFIX } from "../vswitch/vswitch.js";
import { type Agent, AgentError, addressInfo, DEVICE_OWNER, type NetworkInfo } from "./agent.js";
import { faultPoint } from "./faults.js";
import { ownerAlive, selfOwner } from "./owner.js";
import { type PlumbAddress, type PlumbTarget, plumb, unplumb } from "./plumbing.js";
import { trace } from "./trace.js";

/** The front end that made an attachment and owns its lifecycle. */
export type Via = "cli" | "cni" | "docker";

/** Steps 1-2: a VLAN tag and the API port, nothing in any container yet. */
export interface AllocateRequest {
  network: NetworkInfo;
  /** The container (or CNI container id, or Docker endpoint id) it is for, when known. */
  container?: string | undefined;
  /** A process in the container's network namespace, when there is one. */
  pid?: number | undefined;
  /** The namespace file (CNI_NETNS), when the runtime names it by path. */
  netns?: string | undefined;
  ifname?: string | undefined;
  via: Via;
  /** API port name (default: the container id's first 12 characters). */
  portName?: string | undefined;
  /** ovn-cni: the CNI network it is for (recorded: CNI GC is per CNI network). */
  cniNetwork?: string | undefined;
  /** Addresses only on these subnets (default: the service's choice on each subnet). */
  subnetIds?: string[] | undefined;
  /** Exactly these addresses (e.g. Docker's --ip); takes precedence over subnetIds. */
  fixedIps?: FixedIp[] | undefined;
}

export interface AttachRequest {
  network: NetworkInfo;
  /** The container that owns the network namespace, and where that namespace is. */
  container: { id: string } & ({ pid: number } | { netns: string });
  ifname: string;
  /** "attached" for a container, "pool" for a prepared network sandbox. */
  state: Extract<AttachmentState, "attached" | "pool">;
  /** Default "cli". */
  via?: Via;
  cniNetwork?: string;
  /** API port name (default: the container id's first 12 characters). */
  portName?: string;
  /** Keep this process as the owner (the caller finishes the work, e.g. `run` starting the app). */
  keepOwner?: boolean;
}

type Undo = () => Promise<void>;

async function unwind(undo: Undo[], cause: unknown): Promise<never> {
  const problems: string[] = [];
  for (const u of undo.reverse()) {
    try {
      await u();
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length > 0 && cause instanceof Error) {
    cause.message += ` (undo was incomplete, run "ovn-docker gc": ${problems.join("; ")})`;
  }
  throw cause;
}

/** Polls the API until the port is ACTIVE; throws after `timeoutMs`. */
export async function waitActive(agent: Agent, portId: string, timeoutMs: number): Promise<Port> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    let port: Port | undefined;
    try {
      port = await agent.api().getPort(portId);
    } catch (e) {
      // A dropped connection is not a verdict: ask again until the deadline.
      if (!(e instanceof ClientRequestError) || Date.now() >= deadline) throw e;
    }
    if (port?.status === "ACTIVE") return port;
    if (Date.now() >= deadline) {
      throw new AgentError(
        `port ${portId} did not become ACTIVE within ${timeoutMs} ms (status ${port?.status ?? "unknown"}): ` +
          "OVN has not bound it; check that the VM's own port is bound on its hypervisor (ovn-controller) " +
          "or raise --active-timeout",
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

/** The addresses with their prefix lengths, and the first IPv4 and IPv6 gateways. */
function addressesOf(ips: readonly string[], network: NetworkInfo) {
  const addresses: PlumbAddress[] = [];
  let gateway4: string | undefined;
  let gateway6: string | undefined;
  for (const ip of ips) {
    const info = addressInfo(ip, network.subnets);
    addresses.push({ address: ip, prefixLength: info?.prefixLength ?? (ip.includes(":") ? 128 : 32) });
    if (info?.gateway && info.version === 4 && !gateway4) gateway4 = info.gateway;
    if (info?.gateway && info.version === 6 && !gateway6) gateway6 = info.gateway;
  }
  return { addresses, gateway4, gateway6 };
}

/**
 * Steps 1-2: takes a VLAN tag and creates the API port, recorded on the OVSDB row (state
 * "reserving", this process the owner). Undoes both on failure.
 */
export async function allocate(agent: Agent, req: AllocateRequest): Promise<{ att: Attachment; port: Port }> {
  const vs = await agent.vswitch();
  const vifId = await agent.vifId();
  const undo: Undo[] = [];
  try {
    // 1. the VLAN tag
    const att = await vs.reserve({
      owner: selfOwner(),
      ...(req.container !== undefined ? { container: req.container } : {}),
      ...(req.pid !== undefined ? { pid: req.pid } : {}),
      ...(req.netns !== undefined ? { netns: req.netns } : {}),
      ...(req.ifname !== undefined ? { ifname: req.ifname } : {}),
      ...(req.via !== "cli" ? { via: req.via } : {}),
      ...(req.cniNetwork !== undefined ? { cniNetwork: req.cniNetwork } : {}),
      networkId: req.network.network.id,
      networkName: req.network.network.name,
      vifId,
      mode: agent.settings.mode,
      created: new Date().toISOString(),
    });
    undo.push(() => vs.release(att.tag));
    trace(`reserved VLAN ${att.tag}`);
    faultPoint("reserved");

    // 2. the API port
    let port: Port;
    try {
      port = await createApiPortRetrying(agent, req, vifId, att.tag);
    } catch (e) {
      // Without an answer the port may exist: look for it by vif-id + tag on the way out.
      if (e instanceof ClientRequestError) undo.push(() => deleteApiPorts(agent, att));
      throw e;
    }
    undo.push(() => deleteApiPorts(agent, { ...att, portId: port.id }));
    trace("API port created");
    faultPoint("port-created");
    const ips = port.fixed_ips.map((f) => f.ip_address).filter((x): x is string => !!x);
    await vs.update(att.tag, { portId: port.id, mac: port.mac_address, ips });
    faultPoint("recorded");
    return { att: { ...att, portId: port.id, mac: port.mac_address, ips }, port };
  } catch (e) {
    return unwind(undo, e);
  }
}

/**
 * Steps 3-4: the veth pair (into `target`, or left in the VM for a runtime that moves it), then
 * waits until OVN bound the port and the VM's switch opened the access port. Everything it needs
 * of the API port (id, MAC, addresses) is on the row `allocate` recorded. On failure the veth is
 * removed again; the allocation stays (the caller undoes it).
 */
export async function connect(
  agent: Agent,
  att: Attachment,
  network: NetworkInfo,
  target: PlumbTarget,
  ifname: string,
): Promise<void> {
  if (!att.portId || !att.mac) {
    throw new AgentError(
      `${att.portName} has no API port recorded (port id and MAC): it cannot be connected`,
    );
  }
  const vs = await agent.vswitch();
  const hostIf = `${PORT_PREFIX}${att.tag}`;
  await plumb({
    hostIf,
    ifname,
    target,
    mac: att.mac,
    mtu: network.network.mtu ?? 1442,
    ...addressesOf(att.ips ?? [], network),
  });
  try {
    trace("plumbed");
    faultPoint("plumbed");
    const [, opened] = await Promise.all([
      waitActive(agent, att.portId, agent.settings.activeTimeoutMs),
      vs.waitOpened(att.tag, agent.settings.activeTimeoutMs),
    ]);
    if (!opened.opened) {
      throw new AgentError(
        `the VM's switch did not open ${hostIf} on ${vs.bridge}: ${opened.error ?? "unknown error"}`,
      );
    }
    trace("ACTIVE and opened");
    faultPoint("active");
  } catch (e) {
    return unwind([() => unplumb(hostIf)], e);
  }
}

/**
 * The last write of an attachment (state attached/pool), guarded: this process must still own
 * the row (nobody took it apart meanwhile), else it is an error, never a silent success.
 */
export async function finish(vs: VSwitch, tag: number, fields: AttachmentFields): Promise<void> {
  if (!(await vs.update(tag, fields, { owner: selfOwner() }))) {
    throw new AgentError(
      `the record of ${PORT_PREFIX}${tag} on ${vs.bridge} changed under this process (taken apart by another ` +
        "process?): the attachment is not complete",
    );
  }
}

/** Undoes an allocation (API port, then the tag); for failures after `allocate`. */
export async function deallocate(agent: Agent, att: Attachment): Promise<void> {
  await deleteApiPorts(agent, att);
  await (await agent.vswitch()).release(att.tag);
}

/** Creates one attachment; returns it as recorded. Undoes everything on failure. */
export async function attach(agent: Agent, req: AttachRequest): Promise<Attachment> {
  const vs = await agent.vswitch();
  const where = "pid" in req.container ? { pid: req.container.pid } : { netns: req.container.netns };
  const { att } = await allocate(agent, {
    network: req.network,
    container: req.container.id,
    ...where,
    ifname: req.ifname,
    via: req.via ?? "cli",
    cniNetwork: req.cniNetwork,
    portName: req.portName,
  });
  try {
    await connect(agent, att, req.network, where, req.ifname);
    await finish(vs, att.tag, req.keepOwner ? { state: req.state } : { state: req.state, owner: null });
    return (await vs.get(att.tag)) ?? att;
  } catch (e) {
    return unwind([() => deallocate(agent, att)], e);
  }
}

/**
 * Takes one attachment apart: API port, veth, OVS port (and its tag), in that order, so that a
 * crash in between leaves the OVSDB row for gc to find. Idempotent. `att` may be an older copy
 * of the row: the work is first claimed with a compare-and-swap on the row as it is now (same
 * reservation, same owner), so two processes never take the same row apart, nor one a row that
 * was reserved again for someone else. Returns false when the row was gone or not ours to take.
 */
export async function detach(agent: Agent, vs: VSwitch, att: Attachment): Promise<boolean> {
  const me = selfOwner();
  const now = await vs.get(att.tag);
  if (!now) return false;
  if (att.created !== undefined && now.created !== att.created) return false; // reserved again since
  if (now.owner && now.owner !== me && now.owner !== att.owner && ownerAlive(now.owner)) return false;
  const expect = { ...(now.created !== undefined ? { created: now.created } : {}), owner: now.owner ?? null };
  if (!(await vs.update(att.tag, { state: "detaching", owner: me }, expect))) return false;
  faultPoint("detaching");
  await deleteApiPorts(agent, now.portId ? now : att);
  trace("detach: API port deleted");
  faultPoint("port-deleted");
  await unplumb(att.portName);
  faultPoint("unplumbed");
  await vs.release(att.tag);
  return true;
}

/** The name of a trunk-mode port: it names the VM and the tag, so gc can find it after a crash. */
export function trunkPortName(vifId: string, tag: number): string {
  return `ovn-docker/${vifId}/${tag}`;
}

/** The trunk whose parent is the VM's port, created on first use. */
export async function vmTrunk(agent: Agent, vifId: string, create: boolean): Promise<string | undefined> {
  const api = agent.api();
  const found = await api.listTrunks({ port_id: vifId });
  if (found[0]) return found[0].id;
  if (!create) return undefined;
  try {
    return (await api.createTrunk({ port_id: vifId, name: `ovn-docker-${vifId.slice(0, 8)}` })).id;
  } catch (e) {
    // Another process of this VM created it first.
    const again = await api.listTrunks({ port_id: vifId });
    if (again[0]) return again[0].id;
    throw e;
  }
}

/**
 * binding-profile mode: a port with binding:profile {parent_name: vif-id, tag}.
 * trunk mode (what real Neutron allows tenants): a plain port added to the VM port's trunk as a
 * VLAN subport with segmentation_id = tag.
 */
async function createApiPort(agent: Agent, req: AllocateRequest, vifId: string, tag: number): Promise<Port> {
  const api = agent.api();
  const fixed = req.fixedIps
    ? { fixed_ips: req.fixedIps }
    : req.subnetIds
      ? { fixed_ips: req.subnetIds.map((subnet_id) => ({ subnet_id })) }
      : {};
  if (agent.settings.mode === "binding-profile") {
    return api.createPort({
      network_id: req.network.network.id,
      name: req.portName ?? req.container?.slice(0, 12) ?? "",
      ...fixed,
      device_owner: DEVICE_OWNER,
      device_id: vifId,
      "binding:profile": { parent_name: vifId, tag },
    });
  }
  const trunkId = (await vmTrunk(agent, vifId, true)) as string;
  const port = await api.createPort({
    network_id: req.network.network.id,
    name: trunkPortName(vifId, tag),
    ...fixed,
    device_owner: DEVICE_OWNER,
  });
  try {
    await api.addSubports(trunkId, [{ port_id: port.id, segmentation_type: "vlan", segmentation_id: tag }]);
  } catch (e) {
    await api.deletePort(port.id, { ignoreMissing: true });
    throw e;
  }
  return port;
}

/**
 * createApiPort, again after a dropped connection (no HTTP answer): the request may or may not
 * have reached the service, so a port it made is adopted (binding-profile: found by vif-id + tag)
 * or removed (trunk mode: it may not have become a subport) before trying again.
 */
async function createApiPortRetrying(
  agent: Agent,
  req: AllocateRequest,
  vifId: string,
  tag: number,
): Promise<Port> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createApiPort(agent, req, vifId, tag);
    } catch (e) {
      if (!(e instanceof ClientRequestError) || attempt >= 3) throw e;
      const found = await findApiPorts(agent, vifId, tag, agent.settings.mode);
      if (agent.settings.mode === "binding-profile" && found[0]) return found[0];
      for (const p of found) await agent.api().deletePort(p.id, { ignoreMissing: true });
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

/** The API ports of ours that name this VM and this tag (binding:profile, or the trunk-mode name). */
async function findApiPorts(
  agent: Agent,
  vifId: string,
  tag: number,
  mode: string | undefined,
): Promise<Port[]> {
  const api = agent.api();
  if (mode === "trunk") return api.listPorts({ name: trunkPortName(vifId, tag) });
  return (await api.listPorts({ device_id: vifId, device_owner: DEVICE_OWNER })).filter(
    (p) => p["binding:profile"]?.parent_name === vifId && p["binding:profile"]?.tag === tag,
  );
}

/**
 * Deletes the API port of an attachment: the recorded one, or (after a crash before it was
 * recorded) every port of ours that names this VM and this tag (binding:profile, or the
 * trunk-mode name).
 */
export async function deleteApiPorts(agent: Agent, att: Attachment): Promise<void> {
  const api = agent.api();
  const vifId = att.vifId ?? (await agent.vifId());
  const trunk = att.mode === "trunk" ? await vmTrunk(agent, vifId, false) : undefined;
  const remove = async (portId: string) => {
    if (trunk) {
      await api.removeSubports(trunk, [{ port_id: portId }]).catch((e: unknown) => {
        // Not (or no longer) a subport: fine, the port is deleted next.
        if (!(e instanceof NeutronApiError && (e.status === 404 || e.status === 400 || e.status === 409)))
          throw e;
      });
    }
    await api.deletePort(portId, { ignoreMissing: true });
  };
  if (att.portId) {
    await remove(att.portId);
    return;
  }
  for (const p of await findApiPorts(agent, vifId, att.tag, att.mode)) await remove(p.id);
}
