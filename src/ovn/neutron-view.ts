// The Neutron resources that OVN Northbound holds, as a monitor-fed view with the indexes
// the network service needs on every request: networks, subnets and ports by id, the
// addresses and MACs in use, and each parent port's children by VLAN tag. It is derived
// from NB alone and rebuilt from NB on every (re)connection, so it is not state of its
// own: kill the process and nothing is lost.

import { MonitorCache } from "../ovsdb/cache.js";
import type { Database } from "../ovsdb/database.js";
import type {
  DHCPOptions,
  LogicalSwitch,
  LogicalSwitchPort,
  NbTables,
} from "../ovsdb/schemas/ovn-nb.generated.js";
import { InFlightWrites } from "./in-flight.js";
import {
  dhcpOptionsToSubnet,
  type NetworkFields,
  networkIdOf,
  OWNER_KEY,
  OWNER_VALUE,
  type PortFields,
  type SubnetFields,
  switchPortToPort,
  switchToNetwork,
} from "./neutron-rows.js";
import { trunkIdOfParentRow, trunkIdOfSubportRow } from "./trunk-rows.js";

export interface NetworkEntry {
  network: NetworkFields;
  switchUuid: string;
  /** external_ids as last seen: the compare-and-swap guard of allocations on this network. */
  externalIds: Record<string, string>;
  subnetIds: Set<string>;
  portIds: Set<string>;
}

export interface SubnetEntry {
  subnet: SubnetFields;
  dhcpUuid: string;
  options: Record<string, string>;
}

export interface PortEntry {
  lspUuid: string;
  row: LogicalSwitchPort;
  /** OVN reports the port bound and up. */
  up: boolean;
}

/**
 * The NB columns the view is derived from. Not Logical_Switch.ports: a switch's port list
 * changes with every port created on it, and keeping a copy of it current cost O(ports on
 * the switch) per transaction; a port's network is in its own external_ids.
 */
const COLUMNS = {
  Logical_Switch: ["name", "external_ids"],
  Logical_Switch_Port: [
    "name",
    "addresses",
    "port_security",
    "parent_name",
    "tag",
    "enabled",
    "up",
    "options",
    "external_ids",
  ],
  DHCP_Options: ["cidr", "external_ids", "options"],
} as const;

export class NeutronView {
  readonly networks = new Map<string, NetworkEntry>();
  readonly subnets = new Map<string, SubnetEntry>();
  readonly ports = new Map<string, PortEntry>();
  /** Addresses in use per network (every port on the switch, ours or not). */
  readonly usedIps = new Map<string, Set<string>>();
  readonly usedMacs = new Map<string, Set<string>>();
  /** parent port id -> tag -> child port id */
  readonly children = new Map<string, Map<number, string>>();
  /** trunk id -> its parent port id (the port whose external_ids hold the trunk; see trunk-rows.ts) */
  readonly trunks = new Map<string, string>();
  /** trunk id -> ids of the ports marked as its subports */
  readonly trunkSubports = new Map<string, Set<string>>();
  private readonly switchByUuid = new Map<string, string>();
  /** What this process's writes in flight will make guarded rows hold (see in-flight.ts). */
  readonly inFlight = new InFlightWrites();

  private constructor(readonly cache: MonitorCache<NbTables>) {
    cache.on("reset", () => this.clear());
    cache.on("change", (table, uuid, old, row) => {
      if (table === "Logical_Switch") this.onSwitch(uuid, row as LogicalSwitch | undefined);
      else if (table === "Logical_Switch_Port")
        this.onPort(old as LogicalSwitchPort | undefined, row as LogicalSwitchPort | undefined);
      else if (table === "DHCP_Options")
        this.onDhcp(uuid, old as DHCPOptions | undefined, row as DHCPOptions | undefined);
    });
  }

  static async start(nb: Database<NbTables>): Promise<{ view: NeutronView; cancel: () => Promise<void> }> {
    const cache = new MonitorCache<NbTables>(nb.schema, COLUMNS);
    const view = new NeutronView(cache);
    const requests = Object.fromEntries(
      Object.entries(COLUMNS).map(([t, columns]) => [t, { columns: [...columns] }]),
    );
    const m = await nb.client.monitor(nb.name, requests, cache);
    return { view, cancel: m.cancel };
  }

  /** The port as the API shows it (its fixed IPs matched to the network's subnets). */
  portFields(id: string): PortFields | undefined {
    const p = this.ports.get(id);
    if (!p) return undefined;
    const net = this.networks.get(networkIdOf(p.row.external_ids["neutron:network_name"] ?? "") ?? "");
    const subnets = net ? [...net.subnetIds].flatMap((s) => this.subnets.get(s)?.subnet ?? []) : [];
    return switchPortToPort(p.row, subnets);
  }

  /**
   * Resolves at the next applied update, or after timeoutMs: what to wait for after a guard
   * failed, since that means another writer changed NB and the view is about to learn it.
   */
  nextUpdate(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.cache.off("updated", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.cache.on("updated", done);
    });
  }

  /** Resolves when `pred` holds (checked after every applied update), or rejects after timeoutMs. */
  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.cache.off("updated", check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.cache.off("updated", check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} to appear in the NB view`));
      }, timeoutMs);
      this.cache.on("updated", check);
    });
  }

  private clear(): void {
    this.networks.clear();
    this.subnets.clear();
    this.ports.clear();
    this.usedIps.clear();
    this.usedMacs.clear();
    this.children.clear();
    this.trunks.clear();
    this.trunkSubports.clear();
    this.switchByUuid.clear();
  }

  private onSwitch(uuid: string, row: LogicalSwitch | undefined): void {
    const oldId = this.switchByUuid.get(uuid);
    if (oldId && (!row || switchToNetwork(row)?.id !== oldId)) {
      this.networks.delete(oldId);
      this.switchByUuid.delete(uuid);
    }
    if (!row) return;
    const network = switchToNetwork(row);
    if (!network) return;
    const prev = this.networks.get(network.id);
    this.switchByUuid.set(uuid, network.id);
    this.networks.set(network.id, {
      network,
      switchUuid: uuid,
      externalIds: row.external_ids,
      subnetIds: prev?.subnetIds ?? this.subnetsOf(network.id),
      portIds: prev?.portIds ?? this.portsOf(network.id),
    });
  }

  private subnetsOf(networkId: string): Set<string> {
    const out = new Set<string>();
    for (const [id, s] of this.subnets) if (s.subnet.network_id === networkId) out.add(id);
    return out;
  }

  private portsOf(networkId: string): Set<string> {
    const out = new Set<string>();
    for (const [id, p] of this.ports)
      if (p.row.external_ids["neutron:network_name"] === `neutron-${networkId}`) out.add(id);
    return out;
  }

  private onDhcp(uuid: string, old: DHCPOptions | undefined, row: DHCPOptions | undefined): void {
    const before = old ? dhcpOptionsToSubnet(old) : undefined;
    if (before) {
      this.subnets.delete(before.id);
      this.networks.get(before.network_id)?.subnetIds.delete(before.id);
    }
    const subnet = row ? dhcpOptionsToSubnet(row) : undefined;
    if (!subnet || !row) return;
    this.subnets.set(subnet.id, { subnet, dhcpUuid: uuid, options: row.options });
    this.networks.get(subnet.network_id)?.subnetIds.add(subnet.id);
  }

  private onPort(old: LogicalSwitchPort | undefined, row: LogicalSwitchPort | undefined): void {
    if (old) this.forgetPort(old);
    if (row) this.learnPort(row);
  }

  private addressesOf(row: LogicalSwitchPort): { mac: string | undefined; ips: string[] } {
    const first = row.addresses.find((a) => a !== "unknown" && a !== "router" && a !== "dynamic");
    if (!first) return { mac: undefined, ips: [] };
    const [mac, ...ips] = first.split(" ").filter(Boolean);
    return { mac: mac?.toLowerCase(), ips };
  }

  private learnPort(row: LogicalSwitchPort): void {
    const networkId = networkIdOf(row.external_ids["neutron:network_name"] ?? "");
    const { mac, ips } = this.addressesOf(row);
    if (networkId) {
      const used = getOrCreate(this.usedIps, networkId);
      for (const ip of ips) used.add(ip);
      if (mac) getOrCreate(this.usedMacs, networkId).add(mac);
    }
    if (row.external_ids[OWNER_KEY] !== OWNER_VALUE) return;
    this.ports.set(row.name, { lspUuid: row._uuid, row, up: row.up === true });
    if (networkId) this.networks.get(networkId)?.portIds.add(row.name);
    if (row.parent_name && row.tag !== null) {
      const m = this.children.get(row.parent_name) ?? new Map<number, string>();
      m.set(row.tag, row.name);
      this.children.set(row.parent_name, m);
    }
    const trunkId = trunkIdOfParentRow(row);
    if (trunkId) this.trunks.set(trunkId, row.name);
    const memberOf = trunkIdOfSubportRow(row);
    if (memberOf) getOrCreate(this.trunkSubports, memberOf).add(row.name);
  }

  private forgetPort(row: LogicalSwitchPort): void {
    const networkId = networkIdOf(row.external_ids["neutron:network_name"] ?? "");
    const { mac, ips } = this.addressesOf(row);
    if (networkId) {
      const used = this.usedIps.get(networkId);
      for (const ip of ips) used?.delete(ip);
      if (mac) this.usedMacs.get(networkId)?.delete(mac);
    }
    if (row.external_ids[OWNER_KEY] !== OWNER_VALUE) return;
    this.ports.delete(row.name);
    if (networkId) this.networks.get(networkId)?.portIds.delete(row.name);
    if (row.parent_name && row.tag !== null) {
      const m = this.children.get(row.parent_name);
      if (m?.get(row.tag) === row.name) m.delete(row.tag);
      if (m && m.size === 0) this.children.delete(row.parent_name);
    }
    const trunkId = trunkIdOfParentRow(row);
    if (trunkId && this.trunks.get(trunkId) === row.name) this.trunks.delete(trunkId);
    const memberOf = trunkIdOfSubportRow(row);
    const members = memberOf ? this.trunkSubports.get(memberOf) : undefined;
    if (memberOf && members) {
      members.delete(row.name);
      if (members.size === 0) this.trunkSubports.delete(memberOf);
    }
  }
}

function getOrCreate<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  return s;
}
