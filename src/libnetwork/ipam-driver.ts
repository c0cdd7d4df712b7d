// Docker's IPAM driver "ovn": addresses come from the network service, not from Docker's own
// allocator. A pool is an API subnet (PoolID = its id); an address is an API port, created on the
// VM's port with a VLAN tag of this VM (the agent core's allocate), so the address Docker gives
// the container is the one OVN's port security expects.
//
// Docker's RequestPool does not say which Docker network it is for (it comes before
// CreateNetwork and carries only --subnet, --ipam-opt and the IPv6 flag), so the API network is
// named by `--ipam-opt network=<name|id>`, or found by `--subnet` among the subnets the
// credentials see.

import type { Agent, NetworkInfo } from "../agent/agent.js";
import { AgentError } from "../agent/agent.js";
import { allocate, deallocate, detach, finish } from "../agent/attach.js";
import { selfOwner } from "../agent/owner.js";
import { type FixedIp, NeutronApiError, type Subnet } from "../client/index.js";
import type { Attachment } from "../vswitch/vswitch.js";
import { type Handler, type Logger, PluginError } from "./protocol.js";
import { bareIp, dockerRows, prefixLength, sameCidr, VIA } from "./records.js";

/** Our address spaces: a Docker network whose pool is in one of them uses this IPAM driver. */
export const LOCAL_SPACE = "ovn-local";
export const GLOBAL_SPACE = "ovn-global";
export const ADDRESS_SPACES: ReadonlySet<string> = new Set([LOCAL_SPACE, GLOBAL_SPACE]);

/** Docker's option key for the kind of address asked for, and the gateway's kind. */
const REQUEST_ADDRESS_TYPE = "RequestAddressType";
const GATEWAY = "com.docker.network.gateway";

/** The description of networks this driver created (ReleasePool deletes them again). */
export const CREATED_MARK = "created by the ovn-docker Docker driver";

/** The --ipam-opt keys the driver understands. */
const IPAM_OPTS = new Set(["network"]);

const HINT = "docker network create -d ovn --ipam-driver ovn --ipam-opt network=LS1 LS1";

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function optionsOf(body: Record<string, unknown>): Record<string, string> {
  const o = body.Options;
  if (o === undefined || o === null) return {};
  if (typeof o !== "object") throw new PluginError("the request's Options is not an object");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "string") out[k] = v;
  return out;
}

export class IpamDriver {
  /** Rows of this driver left reserving/detaching at the last sweep (see releaseUnclaimed). */
  private halfDone = new Set<string>();

  constructor(
    private readonly agent: Agent,
    private readonly log: Logger,
  ) {}

  /** Undoes an allocation after a failure; what it could not undo is logged for the operator. */
  private async undo(att: Attachment): Promise<void> {
    try {
      await deallocate(this.agent, att);
    } catch (u) {
      this.log.error("undo of an address allocation failed: run ovn-docker gc", {
        vlan: att.tag,
        err: (u as Error).message,
      });
    }
  }

  handlers(): Record<string, Handler> {
    return {
      "/IpamDriver.GetCapabilities": () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
      "/IpamDriver.GetDefaultAddressSpaces": () => ({
        LocalDefaultAddressSpace: LOCAL_SPACE,
        GlobalDefaultAddressSpace: GLOBAL_SPACE,
      }),
      "/IpamDriver.RequestPool": (b) => this.requestPool(b),
      "/IpamDriver.ReleasePool": (b) => this.releasePool(b),
      "/IpamDriver.RequestAddress": (b) => this.requestAddress(b),
      "/IpamDriver.ReleaseAddress": (b) => this.releaseAddress(b),
    };
  }

  /** --ipam-opt network=NET and/or --subnet CIDR → the API subnet (IPv4). */
  async requestPool(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (body.V6 === true) {
      throw new PluginError(
        "IPv6 pools are not supported by the ovn IPAM driver: create the Docker network without --ipv6 " +
          "(containers get the network's IPv4 address)",
      );
    }
    const space = str(body.AddressSpace);
    if (space && !ADDRESS_SPACES.has(space)) {
      throw new PluginError(
        `address space "${space}" is not the ovn IPAM driver's (${[...ADDRESS_SPACES].join(", ")})`,
      );
    }
    const opts = optionsOf(body);
    const unknown = Object.keys(opts).filter((k) => !IPAM_OPTS.has(k));
    if (unknown.length > 0) {
      throw new PluginError(
        `unknown --ipam-opt ${unknown.join(", ")}: the ovn IPAM driver knows only network=<API network name or id>`,
      );
    }
    if (str(body.SubPool)) {
      throw new PluginError(
        "--ip-range is not supported by the ovn IPAM driver: the network service allocates from the " +
          "subnet's allocation pools",
      );
    }
    const cidr = str(body.Pool);
    const ref = opts.network;
    let subnet: Subnet;
    if (ref) subnet = await this.poolOfNetwork(ref, cidr);
    else if (cidr) subnet = await this.poolOfCidr(cidr);
    else {
      throw new PluginError(
        `say which network's addresses to use: add --ipam-opt network=<API network> (e.g. ${HINT}), ` +
          "or --subnet with the CIDR of an existing API subnet",
      );
    }
    if (!subnet.gateway_ip) {
      throw new PluginError(
        `subnet ${subnet.cidr} (${subnet.id}) has no gateway, and Docker networks need one: ` +
          "give the subnet a gateway_ip in the network service",
      );
    }
    return {
      PoolID: subnet.id,
      Pool: subnet.cidr,
      // The gateway comes with the pool, so Docker does not ask for it separately.
      Data: { [GATEWAY]: `${subnet.gateway_ip}/${prefixLength(subnet.cidr)}` },
    };
  }

  private async poolOfNetwork(ref: string, cidr: string | undefined): Promise<Subnet> {
    let info: NetworkInfo;
    try {
      info = await this.agent.network(ref);
    } catch (e) {
      if (!(e instanceof AgentError && e.message.startsWith("unknown network"))) throw e;
      if (!cidr) {
        throw new PluginError(
          `unknown network "${ref}": no API network with that name or id is visible to the driver's ` +
            `credentials; create it ("ovn-docker create network ${ref} --subnet CIDR"), or add --subnet CIDR ` +
            "to have the driver create it",
        );
      }
      return this.createNetwork(ref, cidr);
    }
    const v4 = info.subnets.filter((s) => s.ip_version === 4);
    if (cidr) {
      const s = v4.find((x) => sameCidr(x.cidr, cidr));
      if (!s) {
        throw new PluginError(
          `network ${info.network.name} has no subnet ${cidr} (its IPv4 subnets: ${
            v4.map((x) => x.cidr).join(", ") || "none"
          }); drop --subnet or give one of those`,
        );
      }
      return s;
    }
    if (v4.length === 1) return v4[0] as Subnet;
    if (v4.length === 0) {
      throw new PluginError(
        `network ${info.network.name} has no IPv4 subnet; add one in the network service ` +
          "(IPv6-only networks are not supported by the ovn IPAM driver)",
      );
    }
    throw new PluginError(
      `network ${info.network.name} has ${v4.length} IPv4 subnets (${v4.map((x) => x.cidr).join(", ")}); ` +
        "choose one with --subnet",
    );
  }

  private async poolOfCidr(cidr: string): Promise<Subnet> {
    const found = (await this.agent.api().listSubnets({ ip_version: 4 })).filter((s) =>
      sameCidr(s.cidr, cidr),
    );
    if (found.length === 1) return found[0] as Subnet;
    if (found.length === 0) {
      throw new PluginError(
        `no API subnet ${cidr} is visible to the driver's credentials: name the network with ` +
          `--ipam-opt network=<API network> (e.g. ${HINT}); with --subnet too, the driver creates it`,
      );
    }
    throw new PluginError(
      `${found.length} API networks have a subnet ${cidr} (${found.map((s) => s.network_id).join(", ")}): ` +
        "name one with --ipam-opt network=<API network id>",
    );
  }

  /** "or created": --ipam-opt network=NEW --subnet CIDR for a network that does not exist. */
  private async createNetwork(name: string, cidr: string): Promise<Subnet> {
    if (!cidr.includes(".")) {
      throw new PluginError(`--subnet ${cidr}: the ovn IPAM driver creates IPv4 subnets only`);
    }
    const api = this.agent.api();
    const net = await api.createNetwork({ name, description: CREATED_MARK });
    try {
      const subnet = await api.createSubnet({ network_id: net.id, cidr, ip_version: 4, name: `${name}-v4` });
      this.log.info("created network", { network: name, network_id: net.id, cidr });
      return subnet;
    } catch (e) {
      await api.deleteNetwork(net.id, { ignoreMissing: true });
      throw e;
    }
  }

  /** Deletes the network again if this driver created it and nothing uses it any more. */
  async releasePool(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const poolId = str(body.PoolID);
    if (!poolId) throw new PluginError("ReleasePool: the request has no PoolID");
    const api = this.agent.api();
    let subnet: Subnet;
    try {
      subnet = await api.getSubnet(poolId);
    } catch (e) {
      if (e instanceof NeutronApiError && e.status === 404) return {};
      throw e;
    }
    const net = await api.getNetwork(subnet.network_id);
    if (net.description !== CREATED_MARK) return {};
    const ports = await api.listPorts({ network_id: net.id });
    if (ports.length > 0) {
      this.log.info("network kept: ports use it", { network: net.name, ports: ports.length });
      return {};
    }
    try {
      await api.deleteNetwork(net.id, { ignoreMissing: true });
      this.log.info("deleted network", { network: net.name, network_id: net.id });
    } catch (e) {
      if (!(e instanceof NeutronApiError && e.status === 409)) throw e;
      this.log.info("network kept: in use", { network: net.name, err: e.message });
    }
    return {};
  }

  private async subnetOf(poolId: string, call: string): Promise<Subnet> {
    try {
      return await this.agent.api().getSubnet(poolId);
    } catch (e) {
      if (e instanceof NeutronApiError && e.status === 404) {
        throw new PluginError(
          `${call}: pool ${poolId} is an API subnet that no longer exists (its network was deleted?); ` +
            "remove and create the Docker network again",
        );
      }
      throw e;
    }
  }

  /** The gateway: the subnet's. An endpoint's address: a new API port on the VM's port. */
  async requestAddress(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const poolId = str(body.PoolID);
    if (!poolId) throw new PluginError("RequestAddress: the request has no PoolID");
    const opts = optionsOf(body);
    const wanted = body.Address === undefined || body.Address === "" ? undefined : bareIp(body.Address);
    if (body.Address !== undefined && body.Address !== "" && !wanted) {
      throw new PluginError(`RequestAddress: "${String(body.Address)}" is not an IP address`);
    }
    const subnet = await this.subnetOf(poolId, "RequestAddress");
    const len = prefixLength(subnet.cidr);
    if (opts[REQUEST_ADDRESS_TYPE] === GATEWAY) {
      if (!subnet.gateway_ip) throw new PluginError(`subnet ${subnet.cidr} has no gateway`);
      if (wanted && wanted !== bareIp(subnet.gateway_ip)) {
        throw new PluginError(
          `--gateway ${wanted}: the gateway of ${subnet.cidr} is ${subnet.gateway_ip} in the network service; ` +
            "drop --gateway",
        );
      }
      return { Address: `${subnet.gateway_ip}/${len}`, Data: {} };
    }
    if (wanted && subnet.gateway_ip && wanted === bareIp(subnet.gateway_ip)) {
      throw new PluginError(`--ip ${wanted} is the gateway of ${subnet.cidr}: choose another address`);
    }
    const network = await this.agent.network(subnet.network_id);
    const fixedIps: FixedIp[] | undefined = wanted
      ? [{ subnet_id: subnet.id, ip_address: wanted }]
      : undefined;
    const { att, port } = await allocate(this.agent, {
      network,
      via: VIA,
      portName: "docker",
      subnetIds: [subnet.id],
      fixedIps,
    });
    try {
      // Done: a restarted driver must not take this for abandoned work (gc leaves owner-less
      // "attached" rows of the Docker driver to Docker).
      await finish(await this.agent.vswitch(), att.tag, { state: "attached", owner: null });
    } catch (e) {
      await this.undo(att);
      throw e;
    }
    const ip = port.fixed_ips.find((f) => f.subnet_id === subnet.id)?.ip_address;
    if (!ip) {
      await this.undo(att);
      throw new PluginError(`the network service gave port ${port.id} no address on ${subnet.cidr}`);
    }
    this.log.info("address", { ip, vlan: att.tag, port: port.id, network: network.network.name });
    return { Address: `${ip}/${len}`, Data: {} };
  }

  /**
   * Ports made for an address whose endpoint never came: dockerd answers RequestAddress with
   * CreateEndpoint (or ReleaseAddress on failure) at once, so a row of ours with no endpoint that
   * is older than `maxAgeMs` was left by a dockerd that died in between. Taken apart.
   */
  async releaseUnclaimed(maxAgeMs: number): Promise<number> {
    const vs = await this.agent.vswitch();
    const now = Date.now();
    let n = 0;
    const rows = await dockerRows(vs);
    // Work of this driver that stayed half done (a call failed and so did its undo, e.g. the API
    // was down): seen in the same state at two sweeps in a row (a minute apart; no call takes
    // that long), it is taken apart now rather than at the driver's next start.
    const me = selfOwner();
    const seen = new Set<string>();
    for (const a of rows) {
      if (a.owner !== me || (a.state !== "reserving" && a.state !== "detaching")) continue;
      const key = `${a.tag}@${a.created}@${a.state}`;
      seen.add(key);
      if (!this.halfDone.has(key)) continue;
      await detach(this.agent, vs, a);
      this.log.info("took apart half-done work of this driver", {
        vlan: a.tag,
        state: a.state,
        port: a.portId,
      });
      n++;
    }
    this.halfDone = seen;
    for (const a of rows) {
      if (a.container || a.state !== "attached") continue;
      const created = Date.parse(a.created ?? "");
      if (!Number.isFinite(created) || now - created < maxAgeMs) continue;
      await detach(this.agent, vs, a);
      this.log.info("released an address no endpoint claimed", {
        ip: a.ips?.join(","),
        vlan: a.tag,
        port: a.portId,
        created: a.created,
      });
      n++;
    }
    return n;
  }

  /**
   * The gateway: nothing. An endpoint's address: normally DeleteEndpoint already took its port
   * apart; if a row of ours still holds it (the endpoint was never created, or its creation
   * failed), it is taken apart now.
   */
  async releaseAddress(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const poolId = str(body.PoolID);
    const ip = bareIp(body.Address);
    if (!poolId || !ip) throw new PluginError("ReleaseAddress: the request needs a PoolID and an Address");
    let networkId: string | undefined;
    try {
      const subnet = await this.agent.api().getSubnet(poolId);
      if (subnet.gateway_ip && bareIp(subnet.gateway_ip) === ip) return {};
      networkId = subnet.network_id;
    } catch (e) {
      if (!(e instanceof NeutronApiError && e.status === 404)) throw e;
    }
    const vs = await this.agent.vswitch();
    for (const a of await dockerRows(vs)) {
      if (!a.ips?.includes(ip)) continue;
      if (networkId && a.networkId !== networkId) continue;
      await detach(this.agent, vs, a);
      this.log.info("released", { ip, vlan: a.tag, port: a.portId });
    }
    return {};
  }
}
