// Docker's network driver "ovn". A Docker network is an API network whose addresses come from
// the "ovn" IPAM driver (which already made the endpoint's API port, on the VM's port with a VLAN
// tag of this VM). CreateEndpoint records the Docker endpoint on that port's OVSDB row; Join
// makes the veth pair (ovd<tag> on the VM's switch, ovc<tag> for Docker to move into the
// container) and waits until OVN bound the port; DeleteEndpoint takes it all apart. Every answer
// is found again from the VM's OVSDB rows and the API: nothing is kept in memory.

import type { Agent } from "../agent/agent.js";
import { addressInfo } from "../agent/agent.js";
import { connect, detach } from "../agent/attach.js";
import { PORT_PREFIX } from "../vswitch/vswitch.js";
import { ADDRESS_SPACES } from "./ipam-driver.js";
import { type Handler, type Logger, PluginError } from "./protocol.js";
import { bareIp, dockerRows, endpointIdOf, rowOfEndpoint, sameCidr } from "./records.js";

/** The inner end of the veth pair, which Docker moves into the container and renames ethN. */
export const INNER_PREFIX = "ovc";

/** The -o keys the driver understands. */
const DRIVER_OPTS = new Set(["network"]);
const GENERIC = "com.docker.network.generic";

interface IpamData {
  AddressSpace?: string;
  Pool?: string;
  Gateway?: string;
}

export class NetworkDriver {
  constructor(
    private readonly agent: Agent,
    private readonly log: Logger,
  ) {}

  handlers(): Record<string, Handler> {
    const nothing = () => ({});
    return {
      "/NetworkDriver.GetCapabilities": () => ({ Scope: "local", ConnectivityScope: "local" }),
      "/NetworkDriver.CreateNetwork": (b) => this.createNetwork(b),
      "/NetworkDriver.DeleteNetwork": nothing,
      "/NetworkDriver.CreateEndpoint": (b) => this.createEndpoint(b),
      "/NetworkDriver.DeleteEndpoint": (b) => this.deleteEndpoint(b),
      "/NetworkDriver.EndpointOperInfo": (b) => this.endpointOperInfo(b),
      "/NetworkDriver.Join": (b) => this.join(b),
      // The inner end comes back to the VM when Docker destroys the container's namespace;
      // DeleteEndpoint removes the pair.
      "/NetworkDriver.Leave": nothing,
      "/NetworkDriver.DiscoverNew": nothing,
      "/NetworkDriver.DiscoverDelete": nothing,
      "/NetworkDriver.ProgramExternalConnectivity": nothing,
      "/NetworkDriver.RevokeExternalConnectivity": nothing,
    };
  }

  /** Checks only: the pool must be ours, and -o network=X (if given) must be the pool's network. */
  async createNetwork(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const v4 = (Array.isArray(body.IPv4Data) ? body.IPv4Data : []) as IpamData[];
    const v6 = (Array.isArray(body.IPv6Data) ? body.IPv6Data : []) as IpamData[];
    const foreign = [...v4, ...v6].filter((d) => !ADDRESS_SPACES.has(d.AddressSpace ?? ""));
    if (v4.length === 0 || foreign.length > 0) {
      throw new PluginError(
        "the ovn network driver takes its addresses from the network service: create the network with " +
          "--ipam-driver ovn, e.g. docker network create -d ovn --ipam-driver ovn --ipam-opt network=LS1 LS1",
      );
    }
    if (v6.length > 0) {
      throw new PluginError("IPv6 (--ipv6) is not supported by the ovn network driver yet");
    }
    const options = (body.Options ?? {}) as Record<string, unknown>;
    const generic = (options[GENERIC] ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(generic).filter((k) => !DRIVER_OPTS.has(k));
    if (unknown.length > 0) {
      throw new PluginError(
        `unknown -o ${unknown.join(", ")}: the ovn network driver knows only network=<API network name or id>`,
      );
    }
    const ref = generic.network;
    if (typeof ref === "string" && ref !== "") {
      const info = await this.agent.network(ref);
      for (const d of v4) {
        if (!info.subnets.some((s) => sameCidr(s.cidr, d.Pool ?? ""))) {
          throw new PluginError(
            `-o network=${ref} disagrees with the address pool ${d.Pool ?? "?"}, which is not a subnet of ` +
              `${info.network.name}: give the same network to --ipam-opt network=${ref}`,
          );
        }
      }
    }
    return {};
  }

  /** Records the endpoint on the row whose port holds the endpoint's address; answers its MAC. */
  async createEndpoint(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const endpointId = endpointIdOf(body, "CreateEndpoint");
    const iface = (body.Interface ?? {}) as { Address?: string; AddressIPv6?: string; MacAddress?: string };
    if (iface.AddressIPv6) {
      throw new PluginError("IPv6 addresses are not supported by the ovn network driver yet");
    }
    const ip = bareIp(iface.Address);
    if (!ip) {
      throw new PluginError(
        "CreateEndpoint without an IPv4 address: the network must use the ovn IPAM driver (--ipam-driver ovn)",
      );
    }
    const vs = await this.agent.vswitch();
    const rows = (await dockerRows(vs)).filter((a) => a.ips?.includes(ip));
    const mine = rows.find((a) => a.container === endpointId);
    const free = rows.filter((a) => !a.container);
    const row = mine ?? (free.length === 1 ? free[0] : undefined);
    if (!row) {
      throw new PluginError(
        free.length > 1
          ? `${free.length} ports of this VM wait for an endpoint with address ${ip} (VLANs ${free.map((a) => a.tag).join(", ")}); ` +
              `run "ovn-docker ps -a" and remove the stale ones`
          : `no port of this VM holds ${ip}: the address did not come from this VM's ovn IPAM driver ` +
              "(create the network with --ipam-driver ovn)",
      );
    }
    const mac = iface.MacAddress?.toLowerCase();
    if (mac && mac !== row.mac) {
      throw new PluginError(
        `--mac-address ${mac}: the network service gave this port ${row.mac ?? "another MAC"} and OVN's port ` +
          "security only lets that one through; drop --mac-address",
      );
    }
    if (!mine) {
      const ok = await vs.update(
        row.tag,
        { container: endpointId },
        { state: "attached", owner: null, container: null },
      );
      if (!ok) throw new PluginError(`the port of ${ip} (VLAN ${row.tag}) was being taken apart; try again`);
    }
    this.log.info("endpoint", { endpoint: endpointId, ip, vlan: row.tag, port: row.portId });
    // libnetwork refuses a MAC in the answer when the request had one.
    return mac ? {} : { Interface: { MacAddress: row.mac } };
  }

  async endpointOperInfo(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const endpointId = endpointIdOf(body, "EndpointOperInfo");
    const row = await rowOfEndpoint(await this.agent.vswitch(), endpointId);
    if (!row) return { Value: {} };
    return {
      Value: {
        "ovn-docker.port-id": row.portId ?? "",
        "ovn-docker.vlan": row.tag,
        "ovn-docker.network": row.networkName ?? "",
        "ovn-docker.network-id": row.networkId ?? "",
      },
    };
  }

  /** The veth pair and the wait for OVN; Docker moves ovc<tag> into the container as ethN. */
  async join(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const endpointId = endpointIdOf(body, "Join");
    const vs = await this.agent.vswitch();
    const row = await rowOfEndpoint(vs, endpointId);
    if (!row?.portId || !row.networkId) {
      throw new PluginError(
        `Join: endpoint ${endpointId.slice(0, 12)} has no port in this VM (was it created by another VM's driver, ` +
          "or removed by ovn-docker gc?)",
      );
    }
    const network = await this.agent.network(row.networkId);
    const inner = `${INNER_PREFIX}${row.tag}`;
    await connect(this.agent, row, network, { stay: true }, inner);
    const ip = row.ips?.[0];
    const subnet = network.subnets.find((s) => ip && addressInfo(ip, [s]));
    const routes = (subnet?.host_routes ?? []) as Array<{ destination: string; nexthop: string }>;
    this.log.info("joined", {
      endpoint: endpointId,
      vlan: row.tag,
      host_if: `${PORT_PREFIX}${row.tag}`,
      inner,
    });
    return {
      InterfaceName: { SrcName: inner, DstPrefix: "eth" },
      ...(subnet?.gateway_ip ? { Gateway: subnet.gateway_ip } : {}),
      StaticRoutes: routes.map((r) => ({ Destination: r.destination, RouteType: 0, NextHop: r.nexthop })),
      // The network service's network is the container's network: no docker_gwbridge.
      DisableGatewayService: true,
    };
  }

  /** The API port, the veth pair, the OVS port and its tag (idempotent). */
  async deleteEndpoint(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const endpointId = endpointIdOf(body, "DeleteEndpoint");
    const vs = await this.agent.vswitch();
    const row = await rowOfEndpoint(vs, endpointId);
    if (!row) return {};
    await detach(this.agent, vs, row);
    this.log.info("endpoint deleted", { endpoint: endpointId, vlan: row.tag, port: row.portId });
    return {};
  }
}
