// The server benchmark's workload: the fixture every case starts from (a management network
// with the VMs' ports, the containers' network with a /16 subnet), container ports created
// through the Neutron API by a keep-alive HTTP client (http-client.ts: one connection per
// outstanding request; the fixture itself uses fetch), the same NB rows
// inserted directly through our OVSDB client (the baseline), and the check every case ends with.

import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  dhcpOptionsToSubnet,
  type PortFields,
  portToSwitchPort,
  type SubnetFields,
} from "../../src/ovn/neutron-rows.js";
import { NeutronView } from "../../src/ovn/neutron-view.js";
import { OvsdbClient } from "../../src/ovsdb/client.js";
import { Database } from "../../src/ovsdb/database.js";
import type { NbTables } from "../../src/ovsdb/schemas/ovn-nb.generated.js";
import { BenchHttpClient } from "./http-client.js";

export const NB = "OVN_Northbound";
/** Tags a parent (VM) port can carry: VLAN 1..4094 (4095 is reserved on the wire). */
export const TAGS_PER_PARENT = 4094;
export const MGMT_CIDR = "10.0.0.0/20";
/** Big enough for the largest run: 65,533 assignable addresses. */
export const CHILD_CIDR = "10.128.0.0/16";
export const MAX_CHILDREN = 60_000;

type Body = Record<string, unknown>;

export interface Fixture {
  url: string;
  token: string;
  projectId: string;
  mgmtNetworkId: string;
  networkId: string;
  subnetId: string;
  /** Parent (VM) port ids on the management network; child i goes under parents[i % P]. */
  parents: string[];
}

/** The parent and VLAN of child i: round-robin over the parents, so concurrent requests hit different VMs. */
export function childSlot(i: number, parents: readonly string[]): { parent: string; tag: number } {
  const p = parents.length;
  return { parent: parents[i % p] as string, tag: Math.floor(i / p) + 1 };
}

export function parentsFor(children: number): number {
  return Math.max(1, Math.ceil(children / TAGS_PER_PARENT));
}

async function call(url: string, token: string, method: string, p: string, body?: unknown): Promise<Body> {
  const r = await fetch(`${url}${p}`, {
    method,
    headers: { "x-auth-token": token, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return text ? (JSON.parse(text) as Body) : {};
}

/**
 * The fixture, through the API (not measured): networks "mgmt" (with MGMT_CIDR) and "LS1" (with
 * CHILD_CIDR), and `parents` VM ports on mgmt, enough for `children` ports at 4094 tags each.
 */
export async function createFixture(
  url: string,
  token: string,
  projectId: string,
  children: number,
): Promise<Fixture> {
  const net = async (name: string, cidr: string) => {
    const n = (await call(url, token, "POST", "/v2.0/networks", { network: { name } })).network as Body;
    const s = (
      await call(url, token, "POST", "/v2.0/subnets", {
        subnet: { network_id: n.id, cidr, ip_version: 4, name: `${name}-v4` },
      })
    ).subnet as Body;
    return { networkId: String(n.id), subnetId: String(s.id) };
  };
  const mgmt = await net("mgmt", MGMT_CIDR);
  const ls1 = await net("LS1", CHILD_CIDR);
  const parents: string[] = [];
  for (let i = 0; i < parentsFor(children); i++) {
    const p = (
      await call(url, token, "POST", "/v2.0/ports", {
        port: {
          network_id: mgmt.networkId,
          name: `vm-${i}`,
          device_owner: "compute:nova",
          device_id: `vm-${i}`,
        },
      })
    ).port as Body;
    parents.push(String(p.id));
  }
  return {
    url,
    token,
    projectId,
    mgmtNetworkId: mgmt.networkId,
    networkId: ls1.networkId,
    subnetId: ls1.subnetId,
    parents,
  };
}

export interface RunTiming {
  /** From the first request sent to the last response read. */
  wallS: number;
  /** Per port i (in issue order), ms from just before it was sent to its response read in full. */
  latMs: Float64Array;
  /** Per port i, when its response was read, ms since the start of the run. */
  doneAtMs: Float64Array;
  /** CPU of this (client) process during the run, user + system. */
  clientCpuS: number;
  /** What each created port got: id, MAC, IP (index i). */
  created: Array<{ id: string; mac: string; ip: string; parent: string; tag: number }>;
}

/** Runs `one(i)` for i in 0..n-1 with `concurrency` workers; stops at the first failure. */
async function drive(
  n: number,
  concurrency: number,
  one: (i: number) => Promise<void>,
): Promise<{ wallS: number; clientCpuS: number; doneAtMs: Float64Array; latMs: Float64Array }> {
  const latMs = new Float64Array(n);
  const doneAtMs = new Float64Array(n);
  let next = 0;
  let failed = false;
  let t0 = 0;
  const worker = async () => {
    while (!failed && next < n) {
      const i = next++;
      const start = performance.now();
      try {
        await one(i);
      } catch (e) {
        failed = true;
        throw new Error(`port ${i} of ${n}: ${(e as Error).message}`, { cause: e });
      }
      const end = performance.now();
      latMs[i] = end - start;
      doneAtMs[i] = end - t0;
    }
  };
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wallS, clientCpuS: (cpu.user + cpu.system) / 1e6, doneAtMs, latMs };
}

/**
 * Creates `n` container ports on the fixture's LS1 through POST /v2.0/ports, `concurrency`
 * requests outstanding at once (each worker on its own keep-alive connection).
 * Each body is what the in-VM plugin sends: network, name, binding:profile {parent_name, tag}.
 */
export async function runApi(f: Fixture, n: number, concurrency: number, first = 0): Promise<RunTiming> {
  const created: RunTiming["created"] = new Array(n);
  const client = new BenchHttpClient(f.url, { "X-Auth-Token": f.token, "Content-Type": "application/json" });
  const t = await drive(n, concurrency, async (k) => {
    const i = first + k;
    const { parent, tag } = childSlot(i, f.parents);
    const body = JSON.stringify({
      port: { network_id: f.networkId, name: `c${i}`, "binding:profile": { parent_name: parent, tag } },
    });
    const r = await client.request("POST", "/v2.0/ports", body);
    const text = r.text;
    if (r.status !== 201) throw new Error(`POST /v2.0/ports: ${r.status} ${text}`);
    const p = (JSON.parse(text) as { port: Body }).port;
    const fixed = p.fixed_ips as Array<{ ip_address: string }>;
    created[k] = {
      id: String(p.id),
      mac: String(p.mac_address),
      ip: String(fixed[0]?.ip_address),
      parent,
      tag,
    };
  }).finally(() => client.close());
  return { ...t, created };
}

/**
 * The HTTP floor: `n` authenticated GET /v2.0/networks/{LS1} (no NB transaction, the answer comes
 * from the service's view), what a request costs before any port is created: HTTP, the token
 * check, routing, rendering, logging, and the client's own cost (the same client).
 */
export async function runFloor(f: Fixture, n: number, concurrency: number): Promise<RunTiming> {
  const path = `/v2.0/networks/${f.networkId}`;
  const client = new BenchHttpClient(f.url, { "X-Auth-Token": f.token });
  const t = await drive(n, concurrency, async () => {
    const r = await client.request("GET", path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
    JSON.parse(r.text);
  }).finally(() => client.close());
  return { ...t, created: [] };
}

// ---------------------------------------------------------------------------------------------
// the raw NB baseline

async function open(remote: string): Promise<{ client: OvsdbClient; nb: Database<NbTables> }> {
  const client = await OvsdbClient.connect({ remotes: remote, database: NB });
  try {
    return { client, nb: await Database.open<NbTables>(client, NB) };
  } catch (e) {
    await client.close();
    throw e;
  }
}

function hex2(x: number): string {
  return x.toString(16).padStart(2, "0");
}

/** The MAC and address the baseline gives child i: distinct, in the subnet's pool (from .2). */
function rawAddress(i: number): { mac: string; ip: string } {
  const n = i + 1;
  const a = i + 2;
  return {
    mac: `fa:16:3e:${hex2((n >> 16) & 255)}:${hex2((n >> 8) & 255)}:${hex2(n & 255)}`,
    ip: `10.128.${(a >> 8) & 255}.${a & 255}`,
  };
}

type Nb = Database<NbTables>;
type NbTx = ReturnType<Nb["transaction"]>;

/** LS1 as the baselines write to it: the switch, and the subnet's DHCP_Options. */
interface Ls1 {
  switchUuid: string;
  switchIds: Record<string, string>;
  dhcpUuid: string;
  subnets: Map<string, SubnetFields>;
  subnetId: string;
}

async function ls1Of(nb: Nb, f: Pick<Fixture, "networkId" | "subnetId">, what: string): Promise<Ls1> {
  const tx = nb.transaction();
  const lss = tx.select(
    "Logical_Switch",
    [["name", "==", `neutron-${f.networkId}`]],
    ["_uuid", "external_ids"],
  );
  const dhcps = tx.select("DHCP_Options", [], ["_uuid", "cidr", "external_ids"]);
  const r = await tx.execute();
  const sw = r.rows(lss)[0];
  const dhcp = r.rows(dhcps).find((d) => d.external_ids.subnet_id === f.subnetId);
  const subnet = dhcp ? dhcpOptionsToSubnet(dhcp) : undefined;
  if (!sw || !dhcp || !subnet) throw new Error(`${what}: LS1 or its subnet is not in the NB`);
  return {
    switchUuid: sw._uuid,
    switchIds: sw.external_ids,
    dhcpUuid: dhcp._uuid,
    subnets: new Map([[subnet.id, subnet]]),
    subnetId: subnet.id,
  };
}

/**
 * Adds child i to `tx` as the service writes it for the same request: its Logical_Switch_Port
 * row (portToSwitchPort, with the subnet's DHCP_Options) and LS1's `ports` mutated to insert it.
 */
function addChild(
  tx: NbTx,
  f: Omit<Fixture, "url" | "token">,
  ls1: Ls1,
  i: number,
  now: string,
): RunTiming["created"][number] {
  const { parent, tag } = childSlot(i, f.parents);
  const { mac, ip } = rawAddress(i);
  const port: PortFields = {
    id: randomUUID(),
    network_id: f.networkId,
    project_id: f.projectId,
    name: `c${i}`,
    description: "",
    mac_address: mac,
    fixed_ips: [{ subnet_id: ls1.subnetId, ip_address: ip }],
    device_id: "",
    device_owner: "",
    admin_state_up: true,
    port_security_enabled: true,
    parent_name: parent,
    tag,
    revision_number: 1,
    created_at: now,
    updated_at: now,
  };
  const row = tx.insert("Logical_Switch_Port", {
    ...portToSwitchPort(port, ls1.subnets),
    dhcpv4_options: ls1.dhcpUuid,
    dhcpv6_options: null,
  });
  tx.mutate("Logical_Switch", [["_uuid", "==", ls1.switchUuid]], [["ports", "insert", [row]]]);
  return { id: port.id, mac, ip, parent, tag };
}

const nowSeconds = () => `${new Date().toISOString().slice(0, 19)}Z`;

/**
 * The same rows written straight to NB by our OVSDB client, one transaction per port (addChild).
 * One connection, `concurrency` transactions in flight, no group commit. What the service adds
 * on top of this per port: HTTP, auth, policy, IPAM/MAC choice, the compare-and-swap guards on
 * the switch and the parent (a wait and an update each), and waiting for its view to show the port.
 */
export async function runRaw(
  remote: string,
  f: Omit<Fixture, "url" | "token">,
  n: number,
  concurrency: number,
  first = 0,
): Promise<RunTiming> {
  const { client, nb } = await open(remote);
  try {
    const ls1 = await ls1Of(nb, f, "raw baseline");
    const created: RunTiming["created"] = new Array(n);
    const now = nowSeconds();
    const t = await drive(n, concurrency, async (k) => {
      const tx = nb.transaction();
      const c = addChild(tx, f, ls1, first + k, now);
      await tx.execute();
      created[k] = c;
    });
    return { ...t, created };
  } finally {
    await client.close();
  }
}

/**
 * The raw transaction plus what NB does for the service's: the same rows, one transaction per
 * port, one at a time, each also carrying the service's compare-and-swap guards (a `wait` on
 * the switch's and on the parent's external_ids as last written, and an `update` bumping a
 * generation key in each), while a second connection of this process keeps a NeutronView (the
 * service's monitor and indexes) current. What the service adds on top of this: HTTP, the token
 * check, policy, address and MAC choice, and its own scheduling. Sequential only: the guards of
 * two transactions in flight would collide.
 */
export async function runGuarded(
  remote: string,
  f: Omit<Fixture, "url" | "token">,
  n: number,
  first = 0,
): Promise<RunTiming> {
  const { client, nb } = await open(remote);
  const watcher = await open(remote);
  try {
    const { view, cancel } = await NeutronView.start(watcher.nb);
    try {
      const ls1 = await ls1Of(nb, f, "guarded baseline");
      const tx = nb.transaction();
      const lsps = tx.select("Logical_Switch_Port", [], ["_uuid", "name", "external_ids"]);
      const r = await tx.execute();
      // The guarded rows' external_ids as last written, by uuid; the parents' uuids by name.
      const ids = new Map<string, Record<string, string>>([[ls1.switchUuid, ls1.switchIds]]);
      const parentUuid = new Map<string, string>();
      for (const p of r.rows(lsps))
        if (f.parents.includes(p.name)) {
          parentUuid.set(p.name, p._uuid);
          ids.set(p._uuid, p.external_ids);
        }
      const guard = (t: NbTx, table: "Logical_Switch" | "Logical_Switch_Port", uuid: string) => {
        const was = ids.get(uuid) ?? {};
        const next = { ...was, "ovn-docker:gen": String(Number(was["ovn-docker:gen"] ?? 0) + 1) };
        t.wait(table, [["_uuid", "==", uuid]], ["external_ids"], "==", [{ external_ids: was }], 0);
        t.update(table, [["_uuid", "==", uuid]], { external_ids: next });
        return () => ids.set(uuid, next);
      };
      const created: RunTiming["created"] = new Array(n);
      const now = nowSeconds();
      const t = await drive(n, 1, async (k) => {
        const tx = nb.transaction();
        const i = first + k;
        const parent = childSlot(i, f.parents).parent;
        const pu = parentUuid.get(parent);
        if (!pu) throw new Error(`guarded baseline: parent ${parent} is not in the NB`);
        const bumped = [guard(tx, "Logical_Switch", ls1.switchUuid), guard(tx, "Logical_Switch_Port", pu)];
        const c = addChild(tx, f, ls1, i, now);
        await tx.execute();
        for (const b of bumped) b();
        // As the service does: the port counts once its view shows it.
        await view.until(() => view.ports.has(c.id), 5000, `port ${c.id}`);
        created[k] = c;
      });
      return { ...t, created };
    } finally {
      await cancel();
    }
  } finally {
    await watcher.client.close();
    await client.close();
  }
}

/**
 * Takes the ports named `names` off the fixture's LS1 in one NB transaction (NB then deletes
 * their rows: a Logical_Switch_Port nothing references is garbage). Used after a warm-up.
 */
export async function removePorts(
  remote: string,
  networkId: string,
  names: readonly string[],
): Promise<void> {
  const { client, nb } = await open(remote);
  try {
    const tx = nb.transaction();
    const lss = tx.select("Logical_Switch", [["name", "==", `neutron-${networkId}`]], ["_uuid"]);
    const lsps = tx.select("Logical_Switch_Port", [], ["_uuid", "name"]);
    const r = await tx.execute();
    const switchUuid = r.rows(lss)[0]?._uuid;
    if (!switchUuid) throw new Error(`removing ports: switch neutron-${networkId} is not in the NB`);
    const want = new Set(names);
    const uuids = r.rows(lsps).flatMap((p) => (want.has(p.name) ? [p._uuid] : []));
    if (uuids.length !== want.size)
      throw new Error(`removing ports: ${want.size} asked, ${uuids.length} found in the NB`);
    const del = nb.transaction();
    del.mutate("Logical_Switch", [["_uuid", "==", switchUuid]], [["ports", "delete", uuids]]);
    await del.execute();
  } finally {
    await client.close();
  }
}

/** Resolves once GET /v2.0/ports/{id} answers 404 (the service's view has let the port go). */
export async function untilPortGone(f: Fixture, id: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${f.url}/v2.0/ports/${id}`, { headers: { "x-auth-token": f.token } });
    await r.arrayBuffer();
    if (r.status === 404) return;
    if (r.status !== 200) throw new Error(`GET /v2.0/ports/${id}: ${r.status}`);
    if (Date.now() > deadline) throw new Error(`port ${id} still shown by the service after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

// ---------------------------------------------------------------------------------------------
// the check

export interface VerifyResult {
  lsps: number;
  children: number;
}

/**
 * On a fresh connection: the NB holds exactly the fixture's parents and the `created` children
 * (no more, no less); LS1 references exactly the children and mgmt exactly the parents; every
 * child has the parent and tag it was asked for and the MAC and IP it was given, inside the
 * /16; no IP, MAC or (parent, tag) appears twice. Throws on the first problem.
 */
export async function verifyNb(
  remote: string,
  f: Pick<Fixture, "networkId" | "mgmtNetworkId" | "parents">,
  created: RunTiming["created"],
): Promise<VerifyResult> {
  const { client, nb } = await open(remote);
  try {
    const tx = nb.transaction();
    const lspsRef = tx.select(
      "Logical_Switch_Port",
      [],
      ["name", "addresses", "parent_name", "tag", "external_ids"],
    );
    const lssRef = tx.select("Logical_Switch", [], ["name", "ports"]);
    const r = await tx.execute();
    const lsps = r.rows(lspsRef);
    const lss = r.rows(lssRef);
    const fail = (m: string) => {
      throw new Error(`NB check: ${m}`);
    };
    const n = created.length;
    if (lsps.length !== f.parents.length + n)
      fail(`${lsps.length} Logical_Switch_Port rows, expected ${f.parents.length} parents + ${n} children`);
    const ls1 = lss.find((s) => s.name === `neutron-${f.networkId}`);
    const mgmt = lss.find((s) => s.name === `neutron-${f.mgmtNetworkId}`);
    if (!ls1 || !mgmt || lss.length !== 2)
      fail(`expected the two switches mgmt and LS1, found ${lss.length}`);
    const byUuid = new Map(lsps.map((p) => [p._uuid, p]));
    const ls1Ports = new Set(ls1?.ports ?? []);
    const mgmtNames = new Set((mgmt?.ports ?? []).map((u) => byUuid.get(u)?.name));
    if (mgmtNames.size !== f.parents.length || !f.parents.every((p) => mgmtNames.has(p)))
      fail(`mgmt references ${mgmtNames.size} ports, expected exactly the ${f.parents.length} parents`);
    if (ls1Ports.size !== n) fail(`LS1 references ${ls1Ports.size} ports, expected ${n}`);
    const want = new Map(created.map((c) => [c.id, c]));
    if (want.size !== n) fail(`the run reports ${want.size} distinct port ids for ${n} ports`);
    const ips = new Set<string>();
    const macs = new Set<string>();
    const slots = new Set<string>();
    let children = 0;
    for (const uuid of ls1Ports) {
      const p = byUuid.get(uuid);
      if (!p) fail(`LS1 references a missing row ${uuid}`);
      const row = p as NonNullable<typeof p>;
      const c = want.get(row.name);
      if (!c) fail(`unexpected port ${row.name} on LS1`);
      const exp = c as NonNullable<typeof c>;
      if (row.addresses.length !== 1) fail(`port ${row.name} has addresses ${JSON.stringify(row.addresses)}`);
      const [mac = "", ip = "", ...more] = (row.addresses[0] ?? "").split(" ");
      if (more.length || mac !== exp.mac || ip !== exp.ip)
        fail(`port ${row.name} holds "${row.addresses[0]}", the run was given ${exp.mac} ${exp.ip}`);
      if (
        !/^10\.128\.\d+\.\d+$/.test(ip) ||
        ip === "10.128.0.0" ||
        ip === "10.128.0.1" ||
        ip === "10.128.255.255"
      )
        fail(`port ${row.name} has IP ${ip}, not an assignable address of ${CHILD_CIDR}`);
      if (row.parent_name !== exp.parent || row.tag !== exp.tag)
        fail(
          `port ${row.name} has parent ${row.parent_name} tag ${row.tag}, asked for ${exp.parent} ${exp.tag}`,
        );
      const slot = `${row.parent_name}/${row.tag}`;
      if (ips.has(ip)) fail(`IP ${ip} is used twice`);
      if (macs.has(mac)) fail(`MAC ${mac} is used twice`);
      if (slots.has(slot)) fail(`(parent, tag) ${slot} is used twice`);
      ips.add(ip);
      macs.add(mac);
      slots.add(slot);
      children++;
    }
    if (children !== n) fail(`${children} children found, expected ${n}`);
    return { lsps: lsps.length, children };
  } finally {
    await client.close();
  }
}

/**
 * NB alone, one port per transaction on the fixture's switch, `n` times: insert a bare
 * Logical_Switch_Port and add it to the switch's `ports` (what every port creation does to
 * NB), each taken away again by a second, unmeasured transaction, so NB ends as it began.
 * The rows carry no Neutron keys, so the service's view ignores them. Latencies in ms, after
 * 50 unmeasured transactions of the same kind.
 */
export async function probeNbInserts(remote: string, networkId: string, n: number): Promise<Float64Array> {
  const { client, nb } = await open(remote);
  try {
    const tx = nb.transaction();
    const lss = tx.select("Logical_Switch", [["name", "==", `neutron-${networkId}`]], ["_uuid"]);
    const switchUuid = (await tx.execute()).rows(lss)[0]?._uuid;
    if (!switchUuid) throw new Error(`NB probe: switch neutron-${networkId} is not in the NB`);
    const where = [["_uuid", "==", switchUuid]] as const;
    const lat = new Float64Array(n);
    const warmUp = 50;
    for (let i = -warmUp; i < n; i++) {
      const ins = nb.transaction();
      const row = ins.insert("Logical_Switch_Port", { name: `nb-probe-${i}` });
      ins.mutate("Logical_Switch", where, [["ports", "insert", [row]]]);
      const t0 = performance.now();
      const r = await ins.execute();
      if (i >= 0) lat[i] = performance.now() - t0;
      const del = nb.transaction();
      del.mutate("Logical_Switch", where, [["ports", "delete", [r.uuid(row)]]]);
      await del.execute();
    }
    return lat;
  } finally {
    await client.close();
  }
}
