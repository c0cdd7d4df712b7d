// Reading OVN Northbound directly, for tests that check what the network service wrote:
// a digest of every row's _version in every table (did anything at all change?), and the rows
// of the tables the service owns, checked for the invariants a complete write leaves behind.

import { createHash } from "node:crypto";
import { OvsdbClient } from "../../src/ovsdb/client.js";

const DB = "OVN_Northbound";
const OWNER_KEY = "ovn-docker:owner";
const OWNER_VALUE = "ovn-docker";

type Wire = unknown;

/** An atom of a select result: uuids as their text, everything else as it is. */
function atom(v: Wire): unknown {
  if (Array.isArray(v) && (v[0] === "uuid" || v[0] === "named-uuid")) return v[1];
  return v;
}

/** A set column (a lone atom when it has one element, ["set", [...]] otherwise). */
export function asSet(v: Wire): unknown[] {
  if (Array.isArray(v) && v[0] === "set") return (v[1] as Wire[]).map(atom);
  return [atom(v)];
}

/** An optional column: the atom, or null when the set is empty. */
export function asOptional(v: Wire): unknown {
  const s = asSet(v);
  return s.length === 0 ? null : s[0];
}

/** A map column of strings. */
export function asMap(v: Wire): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === "map")
    for (const [k, x] of v[1] as Array<[Wire, Wire]>) out[String(atom(k))] = String(atom(x));
  return out;
}

export interface LspRow {
  uuid: string;
  name: string;
  addresses: string[];
  parent_name: string | null;
  tag: number | null;
  external_ids: Record<string, string>;
}

export interface LsRow {
  uuid: string;
  name: string;
  ports: string[];
  external_ids: Record<string, string>;
}

export interface DhcpRow {
  uuid: string;
  cidr: string;
  external_ids: Record<string, string>;
}

export interface NbOwned {
  switches: LsRow[];
  ports: LspRow[];
  dhcp: DhcpRow[];
}

export class NbProbe {
  private constructor(
    readonly client: OvsdbClient,
    private readonly tables: string[],
  ) {}

  static async open(remote: string): Promise<NbProbe> {
    const client = await OvsdbClient.connect({ remotes: remote, database: DB, initialWaitMs: 5000 });
    try {
      const schema = await client.getSchema(DB);
      return new NbProbe(client, Object.keys(schema.tables).sort());
    } catch (e) {
      await client.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /**
   * How many rows NB holds and a hash of every row's (table, _uuid, _version), read in one
   * transaction: equal digests mean no row was inserted, deleted or modified in between.
   */
  async digest(): Promise<{ rows: number; hash: string }> {
    const ops = this.tables.map((table) => ({
      op: "select",
      table,
      where: [],
      columns: ["_uuid", "_version"],
    }));
    const results = (await this.client.transact(DB, ops)) as Array<{ rows?: Array<Record<string, Wire>> }>;
    const lines: string[] = [];
    results.forEach((r, i) => {
      for (const row of r.rows ?? [])
        lines.push(`${this.tables[i]} ${String(atom(row._uuid))} ${String(atom(row._version))}`);
    });
    lines.sort();
    return { rows: lines.length, hash: createHash("sha256").update(lines.join("\n")).digest("hex") };
  }

  /** Logical_Switch, Logical_Switch_Port and DHCP_Options rows (all of them), in one transaction. */
  async rows(): Promise<NbOwned> {
    const [ls, lsp, dhcp] = (await this.client.transact(DB, [
      {
        op: "select",
        table: "Logical_Switch",
        where: [],
        columns: ["_uuid", "name", "ports", "external_ids"],
      },
      {
        op: "select",
        table: "Logical_Switch_Port",
        where: [],
        columns: ["_uuid", "name", "addresses", "parent_name", "tag", "external_ids"],
      },
      { op: "select", table: "DHCP_Options", where: [], columns: ["_uuid", "cidr", "external_ids"] },
    ])) as Array<{ rows: Array<Record<string, Wire>> }>;
    return {
      switches: (ls?.rows ?? []).map((r) => ({
        uuid: String(atom(r._uuid)),
        name: String(r.name),
        ports: asSet(r.ports).map(String),
        external_ids: asMap(r.external_ids),
      })),
      ports: (lsp?.rows ?? []).map((r) => ({
        uuid: String(atom(r._uuid)),
        name: String(r.name),
        addresses: asSet(r.addresses).map(String),
        parent_name: asOptional(r.parent_name) as string | null,
        tag: asOptional(r.tag) as number | null,
        external_ids: asMap(r.external_ids),
      })),
      dhcp: (dhcp?.rows ?? []).map((r) => ({
        uuid: String(atom(r._uuid)),
        cidr: String(r.cidr),
        external_ids: asMap(r.external_ids),
      })),
    };
  }
}

export const isOwned = (r: { external_ids: Record<string, string> }): boolean =>
  r.external_ids[OWNER_KEY] === OWNER_VALUE;

/** The MAC and IPs of a port row: the first addresses entry that is not a keyword. */
export function addressOf(p: LspRow): { mac: string; ips: string[] } | undefined {
  const first = p.addresses.find((a) => a !== "unknown" && a !== "router" && a !== "dynamic");
  if (!first) return undefined;
  const [mac = "", ...ips] = first.split(" ").filter(Boolean);
  return { mac: mac.toLowerCase(), ips };
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Everything wrong with the rows this product owns, as readable lines (empty: all is well):
 * every owned port is referenced by the switch its neutron:network_name names, has a MAC and a
 * neutron:cidrs that lists exactly its IPs with a prefix length; no IP or MAC twice on one
 * network; no (parent, tag) twice; every owned DHCP_Options row belongs to an existing owned
 * switch.
 */
export function ownedRowProblems(nb: NbOwned): string[] {
  const problems: string[] = [];
  const switchByName = new Map(nb.switches.map((s) => [s.name, s]));
  const referencedBy = new Map<string, string[]>();
  for (const s of nb.switches)
    for (const u of s.ports) referencedBy.set(u, [...(referencedBy.get(u) ?? []), s.name]);
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  const tags = new Map<string, string>();
  for (const p of nb.ports.filter(isOwned)) {
    const what = `port ${p.name}`;
    const net = p.external_ids["neutron:network_name"] ?? "";
    const refs = referencedBy.get(p.uuid) ?? [];
    if (refs.length !== 1 || refs[0] !== net)
      problems.push(`${what}: referenced by switch(es) [${refs.join(", ")}], expected exactly ${net}`);
    if (!switchByName.has(net)) problems.push(`${what}: its switch ${net} does not exist`);
    const a = addressOf(p);
    if (!a || !MAC.test(a.mac)) {
      problems.push(`${what}: no well-formed address in ${JSON.stringify(p.addresses)}`);
      continue;
    }
    const cidrs = (p.external_ids["neutron:cidrs"] ?? "").split(" ").filter(Boolean);
    const cidrIps = cidrs.map((c) => {
      const m = /^([0-9a-f.:]+)\/(\d{1,3})$/.exec(c);
      if (!m) problems.push(`${what}: malformed neutron:cidrs entry ${JSON.stringify(c)}`);
      return m?.[1] ?? c;
    });
    if (JSON.stringify([...cidrIps].sort()) !== JSON.stringify([...a.ips].sort()))
      problems.push(
        `${what}: neutron:cidrs ${JSON.stringify(cidrs)} do not match addresses ${JSON.stringify(a.ips)}`,
      );
    for (const ip of a.ips) {
      const k = `${net} ${ip}`;
      const other = ips.get(k);
      if (other) problems.push(`${what}: IP ${ip} on ${net} is also held by ${other}`);
      ips.set(k, p.name);
    }
    const mk = `${net} ${a.mac}`;
    const otherMac = macs.get(mk);
    if (otherMac) problems.push(`${what}: MAC ${a.mac} on ${net} is also held by ${otherMac}`);
    macs.set(mk, p.name);
    if (p.parent_name !== null || p.tag !== null) {
      if (p.parent_name === null || p.tag === null)
        problems.push(`${what}: parent_name ${p.parent_name} and tag ${p.tag} must be set together`);
      const tk = `${p.parent_name} ${p.tag}`;
      const otherTag = tags.get(tk);
      if (otherTag)
        problems.push(`${what}: (parent ${p.parent_name}, tag ${p.tag}) is also held by ${otherTag}`);
      tags.set(tk, p.name);
    }
  }
  for (const d of nb.dhcp.filter(isOwned)) {
    const net = `neutron-${d.external_ids["ovn-docker:network_id"] ?? ""}`;
    const s = switchByName.get(net);
    if (!s || !isOwned(s))
      problems.push(`DHCP_Options ${d.cidr} (subnet ${d.external_ids.subnet_id}): no switch ${net}`);
  }
  return problems;
}
