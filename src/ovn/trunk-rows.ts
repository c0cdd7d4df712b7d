// Neutron trunks in OVN Northbound. OVN has no trunk table: ML2/OVN's trunk driver writes
// each subport's Logical_Switch_Port with `parent_name` = the trunk's parent port and `tag` =
// its segmentation id (exactly a binding:profile container port), and keeps the trunk object
// itself in Neutron's SQL database. Here NB is the system of record, so the trunk object lives
// in the parent port's external_ids under this product's prefix, and each subport's row is
// marked with the trunk it belongs to:
//
//   parent LSP   external_ids ovn-docker:trunk_id, trunk_name, trunk_description,
//                trunk_admin_state_up, trunk_project_id, trunk_revision,
//                trunk_created_at, trunk_updated_at
//   subport LSP  parent_name = parent port id, tag = segmentation id,
//                external_ids ovn-docker:trunk_id, neutron:device_owner = trunk:subport,
//                neutron:device_id = trunk id (what Neutron's trunk plugin sets on subports)
//
// A row is the trunk's parent when it carries ovn-docker:trunk_id and has no parent_name; it
// is a subport when it carries ovn-docker:trunk_id and has a parent_name and a tag.

import { KEY_PREFIX } from "./neutron-rows.js";

/** Every key this module writes starts with this; port updates carry such keys over unchanged. */
export const TRUNK_KEY_PREFIX = `${KEY_PREFIX}trunk_`;
export const TRUNK_ID_KEY = `${TRUNK_KEY_PREFIX}id`;

const K = {
  name: `${TRUNK_KEY_PREFIX}name`,
  description: `${TRUNK_KEY_PREFIX}description`,
  admin_state_up: `${TRUNK_KEY_PREFIX}admin_state_up`,
  project_id: `${TRUNK_KEY_PREFIX}project_id`,
  revision: `${TRUNK_KEY_PREFIX}revision`,
  created_at: `${TRUNK_KEY_PREFIX}created_at`,
  updated_at: `${TRUNK_KEY_PREFIX}updated_at`,
} as const;

/** Neutron's device_owner for subports (neutron_lib.services.trunk.constants.TRUNK_SUBPORT_OWNER). */
export const TRUNK_SUBPORT_OWNER = "trunk:subport";

export type SegmentationType = "vlan";

/** The trunk object, as Neutron keeps it in its `trunks` table. */
export interface TrunkFields {
  id: string;
  /** The parent port. */
  port_id: string;
  project_id: string;
  name: string;
  description: string;
  admin_state_up: boolean;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface SubPort {
  port_id: string;
  segmentation_type: SegmentationType;
  segmentation_id: number;
}

/** The trunk's keys for the parent port's external_ids. */
export function trunkToExternalIds(t: TrunkFields): Record<string, string> {
  return {
    [TRUNK_ID_KEY]: t.id,
    [K.name]: t.name,
    [K.description]: t.description,
    [K.admin_state_up]: String(t.admin_state_up),
    [K.project_id]: t.project_id,
    [K.revision]: String(t.revision_number),
    [K.created_at]: t.created_at,
    [K.updated_at]: t.updated_at,
  };
}

/** external_ids without any trunk key (what a parent keeps when its trunk is deleted). */
export function withoutTrunkKeys(x: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(x).filter(([k]) => !k.startsWith(TRUNK_KEY_PREFIX)));
}

/** Only the trunk keys of a row's external_ids (what a port update must carry over). */
export function trunkKeysOf(x: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(x).filter(([k]) => k.startsWith(TRUNK_KEY_PREFIX)));
}

interface LspLike {
  name: string;
  parent_name: string | null;
  tag: number | null;
  external_ids: Record<string, string>;
}

/** The id of the trunk whose parent this row is, if it is one. */
export function trunkIdOfParentRow(row: LspLike): string | undefined {
  const id = row.external_ids[TRUNK_ID_KEY];
  return id && !row.parent_name ? id : undefined;
}

/** The id of the trunk this row is a subport of, if it is one. */
export function trunkIdOfSubportRow(row: LspLike): string | undefined {
  const id = row.external_ids[TRUNK_ID_KEY];
  return id && row.parent_name && row.tag !== null ? id : undefined;
}

/** The trunk whose parent port this row is; undefined for any other row. */
export function parentRowToTrunk(row: LspLike): TrunkFields | undefined {
  const id = trunkIdOfParentRow(row);
  if (!id) return undefined;
  const x = row.external_ids;
  return {
    id,
    port_id: row.name,
    project_id: x[K.project_id] ?? x["neutron:project_id"] ?? "",
    name: x[K.name] ?? "",
    description: x[K.description] ?? "",
    admin_state_up: x[K.admin_state_up] !== "false",
    revision_number: Number(x[K.revision] ?? 0),
    created_at: x[K.created_at] ?? "",
    updated_at: x[K.updated_at] ?? "",
  };
}
