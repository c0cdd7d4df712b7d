// Logical switches in OVN Northbound, as this product reads and writes them.
// (The Neutron-compatible rows of the network service build on this in src/ovn/.)

import type { Database } from "../ovsdb/database.js";
import type { LogicalSwitch, NbTables } from "../ovsdb/schemas/ovn-nb.generated.js";

export type SwitchSummary = Pick<LogicalSwitch, "_uuid" | "name" | "external_ids"> & { ports: number };

export class SwitchExistsError extends Error {
  override name = "SwitchExistsError";
}

/**
 * Creates a logical switch. The transaction fails unless no switch of that name exists
 * (a wait guard, evaluated atomically by the server), so two concurrent callers cannot
 * both create it.
 */
export async function createSwitch(
  nb: Database<NbTables>,
  name: string,
  externalIds: Record<string, string> = {},
): Promise<string> {
  const tx = nb.transaction();
  tx.wait("Logical_Switch", [["name", "==", name]], ["name"], "==", [], 0);
  const ls = tx.insert("Logical_Switch", { name, external_ids: externalIds });
  try {
    return (await tx.execute()).uuid(ls);
  } catch (e) {
    if ((e as { error?: string }).error === "timed out") {
      throw new SwitchExistsError(`logical switch ${name} already exists in ${nb.name}`);
    }
    throw e;
  }
}

export async function listSwitches(nb: Database<NbTables>): Promise<SwitchSummary[]> {
  const rows = await nb.select("Logical_Switch", [], ["name", "external_ids", "ports"]);
  return rows
    .map((r) => ({ _uuid: r._uuid, name: r.name, external_ids: r.external_ids, ports: r.ports.length }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Deletes the switch named `name`; false if there was none. */
export async function deleteSwitch(nb: Database<NbTables>, name: string): Promise<boolean> {
  const tx = nb.transaction();
  const del = tx.delete("Logical_Switch", [["name", "==", name]]);
  return (await tx.execute()).count(del) > 0;
}
