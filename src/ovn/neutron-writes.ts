// Transactions that change the NB rows of Neutron resources. Every change that could race
// with another server replica is guarded by compare-and-swap: a `wait` (timeout 0) that the
// external_ids of the affected switch (and, for child ports, of the parent port) are still
// what this replica saw when it decided, followed by a bump of a generation key there. If
// another replica changed them first, the transaction fails with "timed out", nothing is
// written, and the caller decides again on the fresher view. No in-process lock is part of
// the guarantee. Port creation may go further (in-flight.ts): a batch decided while this
// process's earlier batches are still in flight, avoiding what they reserved, expects what
// they will write, so several batches can be on the wire at once.

import { randomBytes } from "node:crypto";
import type { Database } from "../ovsdb/database.js";
import type { NamedUuid } from "../ovsdb/datum.js";
import type { NbTables } from "../ovsdb/schemas/ovn-nb.generated.js";
import type { Transaction } from "../ovsdb/transaction.js";
import { TransactionError } from "../ovsdb/transaction.js";
import type { InFlightWrite } from "./in-flight.js";
import {
  KEY_PREFIX,
  type NetworkFields,
  networkIdOf,
  networkToSwitch,
  type PortFields,
  portToSwitchPort,
  type SubnetFields,
  subnetToDhcpOptions,
} from "./neutron-rows.js";
import type { NeutronView } from "./neutron-view.js";
import {
  TRUNK_ID_KEY,
  type TrunkFields,
  trunkKeysOf,
  trunkToExternalIds,
  withoutTrunkKeys,
} from "./trunk-rows.js";

export const GEN_KEY = `${KEY_PREFIX}gen`;

/** Another replica changed what this decision was based on: decide again on a fresher view. */
export class StaleViewError extends Error {
  override name = "StaleViewError";
}

type Nb = Database<NbTables>;
type Guarded = "Logical_Switch" | "Logical_Switch_Port";

/**
 * One transaction being built, on the view it was decided on. `by`: only for a write whose
 * decision accounted for this process's writes in flight (reservations included): it expects
 * what they write and records what it writes. Any other write guards on the view alone, so
 * a write of ours in flight on the same row makes it stale, and it decides again.
 */
interface Tx {
  tx: Transaction<NbTables>;
  view: NeutronView;
  by: InFlightWrite | undefined;
}

/** Guards a row's external_ids against concurrent change and bumps its generation. */
function guardAndBump(
  t: Tx,
  table: Guarded,
  uuid: string,
  seen: Record<string, string>,
  extra: Record<string, string> = {},
): void {
  const was = guard(t, table, uuid, seen);
  rewriteIds(t, table, uuid, { ...was, ...extra, [GEN_KEY]: nextGen(was) });
}

/**
 * The compare-and-swap half: the transaction fails unless the row's external_ids are still
 * what was seen (for a chained write: what the writes in flight leave there). Returns that value.
 */
function guard(t: Tx, table: Guarded, uuid: string, seen: Record<string, string>): Record<string, string> {
  const was = t.by ? t.view.inFlight.expected(uuid, seen) : seen;
  t.tx.wait(table, [["_uuid", "==", uuid]], ["external_ids"], "==", [{ external_ids: was }], 0);
  return was;
}

/** Sets a guarded row's external_ids, so that writes decided after this one expect them. */
function rewriteIds(t: Tx, table: Guarded, uuid: string, ids: Record<string, string>): void {
  t.tx.update(table, [["_uuid", "==", uuid]], { external_ids: ids });
  if (t.by) t.view.inFlight.record(uuid, ids, t.by);
}

/**
 * The generation a write leaves on a guarded row: the count, one more than seen, and a random
 * part, so that no two writes leave the same external_ids even when both started from the same
 * value. A batch chained on one still in flight (in-flight.ts) expects exactly that write's
 * value: with counts alone, another replica's write from the same starting point would look
 * the same, and the chained batch would pass its guard without having seen what that write took.
 */
function nextGen(seen: Record<string, string>): string {
  const count = Number.parseInt(seen[GEN_KEY] ?? "0", 10);
  return `${(Number.isNaN(count) ? 0 : count) + 1}.${WRITER}${(++writes).toString(36)}`;
}
/** This process, among all writers of NB: random, drawn once (a random value per write cost ~1 % of the service's CPU). */
const WRITER = `${randomBytes(6).toString("hex")}-`;
let writes = 0;

/** The subnets of a network, by id, as portToSwitchPort needs them. */
function subnetsOf(view: NeutronView, e: { subnetIds: ReadonlySet<string> }): Map<string, SubnetFields> {
  const out = new Map<string, SubnetFields>();
  for (const id of e.subnetIds) {
    const x = view.subnets.get(id);
    if (x) out.set(id, x.subnet);
  }
  return out;
}

/**
 * Builds and runs one guarded transaction. The transaction is handed to the NB client before
 * this returns its promise, so writes reach NB in the order they were decided. `by` (a
 * chained write, see Tx): the caller's in-flight claim, which the caller settles once its
 * view shows the write or it failed.
 */
async function guarded(
  nb: Nb,
  view: NeutronView,
  what: string,
  build: (t: Tx) => void,
  by?: InFlightWrite,
): Promise<void> {
  const t: Tx = { tx: nb.transaction(), view, by };
  try {
    build(t);
    await t.tx.execute();
  } catch (e) {
    if (e instanceof TransactionError && e.error === "timed out") {
      throw new StaleViewError(`${what}: changed concurrently by another writer`);
    }
    throw e;
  }
}

/** A new switch: nothing to guard (its id is new). */
export async function createNetwork(nb: Nb, n: NetworkFields): Promise<void> {
  const tx = nb.transaction();
  tx.insert("Logical_Switch", networkToSwitch(n));
  await tx.execute();
}

export async function updateNetwork(nb: Nb, view: NeutronView, n: NetworkFields): Promise<void> {
  const e = view.networks.get(n.id);
  if (!e) throw new StaleViewError(`network ${n.id} is gone`);
  await guarded(nb, view, `updating network ${n.id}`, (t) => {
    guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds, networkToSwitch(n).external_ids);
  });
}

/** Deletes the switch and its subnets' DHCP_Options, guarded: only while it has no ports. */
export async function deleteNetwork(nb: Nb, view: NeutronView, id: string): Promise<void> {
  const e = view.networks.get(id);
  if (!e) return;
  await guarded(nb, view, `deleting network ${id}`, (t) => {
    const where = [["_uuid", "==", e.switchUuid]] as const;
    t.tx.wait(
      "Logical_Switch",
      where,
      ["external_ids", "ports"],
      "==",
      [{ external_ids: e.externalIds, ports: [] }],
      0,
    );
    for (const s of e.subnetIds) {
      const sub = view.subnets.get(s);
      if (sub) t.tx.delete("DHCP_Options", [["_uuid", "==", sub.dhcpUuid]]);
    }
    t.tx.delete("Logical_Switch", where);
  });
}

/** Creates subnets (one request, or every item of a bulk request) in one guarded transaction. */
export async function createSubnets(
  nb: Nb,
  view: NeutronView,
  items: ReadonlyArray<{ subnet: SubnetFields; serverMac: string }>,
): Promise<void> {
  await guarded(nb, view, `creating ${items.length} subnet(s)`, (t) => {
    const done = new Set<string>();
    for (const { subnet: s, serverMac } of items) {
      const e = view.networks.get(s.network_id);
      if (!e) throw new StaleViewError(`network ${s.network_id} is gone`);
      if (!done.has(s.network_id)) {
        guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds);
        done.add(s.network_id);
      }
      t.tx.insert("DHCP_Options", subnetToDhcpOptions(s, e.network.mtu, serverMac));
    }
  });
}

export async function updateSubnet(
  nb: Nb,
  view: NeutronView,
  s: SubnetFields,
  serverMac: string,
): Promise<void> {
  const e = view.networks.get(s.network_id);
  const sub = view.subnets.get(s.id);
  if (!e || !sub) throw new StaleViewError(`subnet ${s.id} is gone`);
  await guarded(nb, view, `updating subnet ${s.id}`, (t) => {
    guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds);
    const row = subnetToDhcpOptions(s, e.network.mtu, serverMac);
    t.tx.update("DHCP_Options", [["_uuid", "==", sub.dhcpUuid]], {
      external_ids: row.external_ids,
      options: row.options,
    });
  });
}

/** Deletes a subnet; the guard on the network makes sure no port took an address in it meanwhile. */
export async function deleteSubnet(nb: Nb, view: NeutronView, id: string): Promise<void> {
  const sub = view.subnets.get(id);
  if (!sub) return;
  const e = view.networks.get(sub.subnet.network_id);
  await guarded(nb, view, `deleting subnet ${id}`, (t) => {
    if (e) guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds);
    t.tx.delete("DHCP_Options", [["_uuid", "==", sub.dhcpUuid]]);
  });
}

export interface PortWrite {
  port: PortFields;
  /** DHCP_Options uuids for the port's v4/v6 addresses, when the subnet has DHCP on. */
  dhcpv4?: string;
  dhcpv6?: string;
}

/**
 * Creates ports (one request or many, e.g. a bulk create or a batch of concurrent requests)
 * in one transaction, guarded on every network they go on and every parent they name, so
 * the addresses, MACs and (parent, tag) pairs chosen from this replica's view are still free.
 * `by`: the caller's in-flight claim (settled by the caller once its view shows the ports or
 * the write failed), for a batch decided with the reservations of the batches in flight, so
 * the caller can decide and send its next batch before this one is answered.
 */
export async function createPorts(
  nb: Nb,
  view: NeutronView,
  writes: readonly PortWrite[],
  by?: InFlightWrite,
): Promise<void> {
  const build = (t: Tx) => {
    const byNetwork = new Map<string, NamedUuid[]>();
    const parents = new Set<string>();
    for (const w of writes) {
      const p = w.port;
      const e = view.networks.get(p.network_id);
      if (!e) throw new StaleViewError(`network ${p.network_id} is gone`);
      const row = portToSwitchPort(p, subnetsOf(view, e));
      const name = t.tx.insert("Logical_Switch_Port", {
        ...row,
        dhcpv4_options: w.dhcpv4 ?? null,
        dhcpv6_options: w.dhcpv6 ?? null,
      });
      const list = byNetwork.get(p.network_id) ?? [];
      list.push(name);
      byNetwork.set(p.network_id, list);
      if (p.parent_name) parents.add(p.parent_name);
    }
    for (const [networkId, names] of byNetwork) {
      const e = view.networks.get(networkId);
      if (!e) throw new StaleViewError(`network ${networkId} is gone`);
      guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds);
      t.tx.mutate("Logical_Switch", [["_uuid", "==", e.switchUuid]], [["ports", "insert", names]]);
    }
    for (const parentId of parents) {
      const parent = view.ports.get(parentId);
      if (!parent) throw new StaleViewError(`parent port ${parentId} is gone`);
      guardAndBump(t, "Logical_Switch_Port", parent.lspUuid, parent.row.external_ids);
    }
  };
  await guarded(nb, view, `creating ${writes.length} port(s)`, build, by);
}

/** Rewrites a port's row (name, addresses, admin state, security, binding) under the same guards. */
export async function updatePort(
  nb: Nb,
  view: NeutronView,
  w: PortWrite,
  oldParent: string | null,
): Promise<void> {
  const p = w.port;
  const cur = view.ports.get(p.id);
  const e = view.networks.get(p.network_id);
  if (!cur || !e) throw new StaleViewError(`port ${p.id} is gone`);
  const row = portToSwitchPort(p, subnetsOf(view, e));
  await guarded(nb, view, `updating port ${p.id}`, (t) => {
    guardAndBump(t, "Logical_Switch", e.switchUuid, e.externalIds);
    // The port's own row is guarded too: a concurrent update of it makes this one stale.
    const was = guard(t, "Logical_Switch_Port", cur.lspUuid, cur.row.external_ids);
    // A trunk's parent or subport stays one: the trunk keys are not the port's to drop.
    t.tx.update("Logical_Switch_Port", [["_uuid", "==", cur.lspUuid]], {
      ...row,
      external_ids: { ...row.external_ids, ...trunkKeysOf(was) },
      dhcpv4_options: w.dhcpv4 ?? null,
      dhcpv6_options: w.dhcpv6 ?? null,
    });
    for (const parentId of new Set([p.parent_name, oldParent].filter((x): x is string => !!x))) {
      const parent = view.ports.get(parentId);
      if (parent) guardAndBump(t, "Logical_Switch_Port", parent.lspUuid, parent.row.external_ids);
    }
  });
}

/** Deletes a port; guarded on its own row, so a child created under it meanwhile makes this stale. */
export async function deletePort(nb: Nb, view: NeutronView, id: string): Promise<void> {
  const cur = view.ports.get(id);
  if (!cur) return;
  const e = view.networks.get(networkIdOf(cur.row.external_ids["neutron:network_name"] ?? "") ?? "");
  await guarded(nb, view, `deleting port ${id}`, (t) => {
    guard(t, "Logical_Switch_Port", cur.lspUuid, cur.row.external_ids);
    if (e)
      t.tx.mutate("Logical_Switch", [["_uuid", "==", e.switchUuid]], [["ports", "delete", [cur.lspUuid]]]);
    t.tx.delete("Logical_Switch_Port", [["_uuid", "==", cur.lspUuid]]);
  });
}

/** A port joining a trunk as a subport (trunkId set) or leaving it (trunkId null). */
export interface SubportWrite {
  /** The port as it will be: parent_name, tag, device_owner, device_id, revision, updated_at. */
  port: PortFields;
  trunkId: string | null;
}

/**
 * Writes a trunk change in one transaction: the trunk object in its parent port's
 * external_ids (`trunk` null: the trunk is deleted) and the subports joining or leaving it.
 * The parent's row and every subport's row are guarded on what this replica saw (the parent's
 * external_ids are also what a new binding:profile child bumps), so (parent, tag) pairs and
 * "not already a subport" decisions cannot be overtaken by another replica.
 */
export async function writeTrunk(
  nb: Nb,
  view: NeutronView,
  parentId: string,
  trunk: TrunkFields | null,
  subports: readonly SubportWrite[],
): Promise<void> {
  const parent = view.ports.get(parentId);
  if (!parent) throw new StaleViewError(`parent port ${parentId} is gone`);
  const what = trunk ? `writing trunk ${trunk.id}` : `deleting the trunk of port ${parentId}`;
  await guarded(nb, view, what, (t) => {
    const seen = guard(t, "Logical_Switch_Port", parent.lspUuid, parent.row.external_ids);
    rewriteIds(t, "Logical_Switch_Port", parent.lspUuid, {
      ...withoutTrunkKeys(seen),
      ...(trunk ? trunkToExternalIds(trunk) : {}),
      [GEN_KEY]: nextGen(seen),
    });
    for (const { port: p, trunkId } of subports) {
      const cur = view.ports.get(p.id);
      if (!cur) throw new StaleViewError(`port ${p.id} is gone`);
      const where = [["_uuid", "==", cur.lspUuid]] as const;
      const was = cur.row;
      const wasIds = was.external_ids;
      t.tx.wait(
        "Logical_Switch_Port",
        where,
        ["external_ids", "parent_name", "tag"],
        "==",
        [{ external_ids: wasIds, parent_name: was.parent_name, tag: was.tag }],
        0,
      );
      const ids = {
        ...withoutTrunkKeys(wasIds),
        "neutron:device_id": p.device_id,
        "neutron:device_owner": p.device_owner,
        "neutron:revision_number": String(p.revision_number),
        [`${KEY_PREFIX}updated_at`]: p.updated_at,
        ...(trunkId ? { [TRUNK_ID_KEY]: trunkId } : {}),
        [GEN_KEY]: nextGen(wasIds),
      };
      t.tx.update("Logical_Switch_Port", where, {
        parent_name: p.parent_name,
        tag: p.tag,
        external_ids: ids,
      });
    }
  });
}
