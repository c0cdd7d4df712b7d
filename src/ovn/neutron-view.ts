// The Neutron resources that OVN Northbound holds, as a monitor-fed view with the indexes
// the network service needs on every request: networks, subnets and ports by id, the
// addresses and MACs in use, and each parent port's children by VLAN tag. It is derived
// from NB alone and rebuilt from NB on every (re)connection, so it is not state of its
// own: kill the process and nothing is lost.

import { MonitorCache } from "../ovsdb/cache.js";
import type { Database } from "../ovsdb/database.js";
import type { DatabaseSchema } from "../ovsdb/schema.js";
import type {
  DHCPOptions,
  LogicalSwitch,
  LogicalSwitchPort,
  NbTables,
} from "../ovsdb/schemas/ovn-nb.generated.js";
import { CountedSet } from "./counted-set.js";
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
import { TRUNK_ID_KEY, trunkIdOfParentRow, trunkIdOfSubportRow } from "./trunk-rows.js";

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

/** A port's row as the view holds it: the monitored columns only. */
export type ViewedPort = Pick<LogicalSwitchPort, "_uuid" | (typeof COLUMNS)["Logical_Switch_Port"][number]>;

export interface PortEntry {
  lspUuid: string;
  row: ViewedPort;
  /** OVN reports the port bound and up. */
  up: boolean;
}

/**
 * The NB columns the view is derived from. Not Logical_Switch.ports: a switch's port list
 * changes with every port created on it, and keeping a copy of it current cost O(ports on
 * the switch) per transaction; a port's network is in its own external_ids. Nor a port's
 * port_security and options, which nothing reads back (what the API shows is in its
 * external_ids and addresses): NB would send them with every port created.
 */
const COLUMNS = {
  Logical_Switch: ["name", "external_ids"],
  Logical_Switch_Port: ["name", "addresses", "parent_name", "tag", "enabled", "up", "external_ids"],
  DHCP_Options: ["cidr", "external_ids", "options"],
} as const;

export class NeutronView {
  readonly networks = new Map<string, NetworkEntry>();
  readonly subnets = new Map<string, SubnetEntry>();
  readonly ports = new Map<string, PortEntry>();
  /**
   * Addresses in use per network (every port on the switch, ours or not), counted by the rows
   * holding each: one stays in use until the last row holding it is gone.
   */
  readonly usedIps = new Map<string, CountedSet<string>>();
  readonly usedMacs = new Map<string, CountedSet<string>>();
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
        this.onPort(old as ViewedPort | undefined, row as ViewedPort | undefined);
      else if (table === "DHCP_Options")
        this.onDhcp(uuid, old as DHCPOptions | undefined, row as DHCPOptions | undefined);
    });
  }

  /** A cache for the columns the view reads, and the view fed by it (start() then monitors NB into it). */
  static over(schema: DatabaseSchema): NeutronView {
    return new NeutronView(new MonitorCache<NbTables>(schema, COLUMNS));
  }

  static async start(nb: Database<NbTables>): Promise<{ view: NeutronView; cancel: () => Promise<void> }> {
    const view = NeutronView.over(nb.schema);
    const cache = view.cache;
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

  /**
   * A port row inserted, deleted or modified. A modification (the parent's guard bump on every
   * child created, `up`, ...) forgets only what the old row had and the new one no longer has,
   * and overwrites the rest in place: deleting a key of a big Map or Set and adding it back
   * leaves a hole that V8 compacts by rehashing the whole table, so a delete-and-add per
   * modification made every port creation cost O(ports) (7 µs at 50,000 ports, measured).
   */
  private onPort(old: ViewedPort | undefined, row: ViewedPort | undefined): void {
    if (old && row && sameFacts(old, row)) {
      // The common modification (a guard's generation, `up`): only the row itself changed.
      if (row.external_ids[OWNER_KEY] === OWNER_VALUE)
        this.ports.set(row.name, { lspUuid: row._uuid, row, up: row.up === true });
      return;
    }
    const before = old ? this.factsOf(old) : undefined;
    const after = row ? this.factsOf(row) : undefined;
    if (before) this.forget(before, after);
    if (after) this.learn(after, before);
  }

  private addressesOf(row: ViewedPort): { mac: string | undefined; ips: string[] } {
    const first = row.addresses.find((a) => a !== "unknown" && a !== "router" && a !== "dynamic");
    if (!first) return { mac: undefined, ips: [] };
    const [mac, ...ips] = first.split(" ").filter(Boolean);
    // Each address once: the counts in usedIps are of rows holding it.
    return { mac: mac?.toLowerCase(), ips: ips.length > 1 ? [...new Set(ips)] : ips };
  }

  /** What one port row contributes to the view's indexes. */
  private factsOf(row: ViewedPort): PortFacts {
    const { mac, ips } = this.addressesOf(row);
    const ours = row.external_ids[OWNER_KEY] === OWNER_VALUE;
    return {
      row,
      networkId: networkIdOf(row.external_ids["neutron:network_name"] ?? ""),
      mac,
      ips,
      ours,
      child:
        ours && row.parent_name && row.tag !== null ? { parent: row.parent_name, tag: row.tag } : undefined,
      trunkId: ours ? trunkIdOfParentRow(row) : undefined,
      memberOf: ours ? trunkIdOfSubportRow(row) : undefined,
    };
  }

  /** Puts in what `f` holds, except the addresses `prev` (the same row's old version, if any) kept. */
  private learn(f: PortFacts, prev: PortFacts | undefined): void {
    const { row, networkId } = f;
    if (networkId) {
      const sameNet = prev !== undefined && prev.networkId === networkId;
      const used = getOrCreate(this.usedIps, networkId, newCountedSet);
      for (const ip of f.ips) if (!(sameNet && prev.ips.includes(ip))) used.add(ip);
      if (f.mac && !(sameNet && prev.mac === f.mac))
        getOrCreate(this.usedMacs, networkId, newCountedSet).add(f.mac);
    }
    if (!f.ours) return;
    this.ports.set(row.name, { lspUuid: row._uuid, row, up: row.up === true });
    if (networkId) this.networks.get(networkId)?.portIds.add(row.name);
    if (f.child)
      getOrCreate(this.children, f.child.parent, () => new Map<number, string>()).set(f.child.tag, row.name);
    if (f.trunkId) this.trunks.set(f.trunkId, row.name);
    if (f.memberOf) getOrCreate(this.trunkSubports, f.memberOf, () => new Set<string>()).add(row.name);
  }

  /** Takes out what `old` put in, except what `next` (the same row's new version, if any) puts back. */
  private forget(old: PortFacts, next: PortFacts | undefined): void {
    const name = old.row.name;
    const sameNet = next !== undefined && next.networkId === old.networkId;
    if (old.networkId) {
      const used = this.usedIps.get(old.networkId);
      for (const ip of old.ips) if (!(sameNet && next.ips.includes(ip))) used?.delete(ip);
      if (old.mac && !(sameNet && next.mac === old.mac)) this.usedMacs.get(old.networkId)?.delete(old.mac);
    }
    if (!old.ours) return;
    const kept = next?.ours && next.row.name === name;
    if (!kept) this.ports.delete(name);
    if (old.networkId && !(kept && sameNet)) this.networks.get(old.networkId)?.portIds.delete(name);
    if (old.child) {
      const { parent, tag } = old.child;
      const same = kept && next.child?.parent === parent && next.child.tag === tag;
      const m = this.children.get(parent);
      if (!same && m?.get(tag) === name) m.delete(tag);
      if (m && m.size === 0) this.children.delete(parent);
    }
    if (old.trunkId && !(kept && next.trunkId === old.trunkId) && this.trunks.get(old.trunkId) === name)
      this.trunks.delete(old.trunkId);
    const members = old.memberOf ? this.trunkSubports.get(old.memberOf) : undefined;
    if (old.memberOf && members && !(kept && next.memberOf === old.memberOf)) {
      members.delete(name);
      if (members.size === 0) this.trunkSubports.delete(old.memberOf);
    }
  }
}

/** The external_ids keys the view's indexes are derived from (see factsOf). */
const FACT_KEYS = ["neutron:network_name", OWNER_KEY, TRUNK_ID_KEY] as const;

/** True when a port row's new version contributes to the indexes exactly as the old one did. */
function sameFacts(a: ViewedPort, b: ViewedPort): boolean {
  if (a.name !== b.name || a.parent_name !== b.parent_name || a.tag !== b.tag) return false;
  if (a.addresses !== b.addresses) {
    if (a.addresses.length !== b.addresses.length) return false;
    for (let i = 0; i < a.addresses.length; i++) if (a.addresses[i] !== b.addresses[i]) return false;
  }
  for (const k of FACT_KEYS) if (a.external_ids[k] !== b.external_ids[k]) return false;
  return true;
}

/** One port row's contribution to the view (see NeutronView.factsOf). */
interface PortFacts {
  row: ViewedPort;
  networkId: string | undefined;
  mac: string | undefined;
  ips: string[];
  /** Written by this project (the owner key): only such rows are Neutron ports of the API. */
  ours: boolean;
  child: { parent: string; tag: number } | undefined;
  trunkId: string | undefined;
  memberOf: string | undefined;
}

const newCountedSet = () => new CountedSet<string>();

/** The entry of `m` under `k`, made by `make` the first time. */
function getOrCreate<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}
