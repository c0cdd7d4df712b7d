// The OVSDB benchmark's workload with our client: N logical switch ports added to one switch,
// row for row what bench/ovsdb/python_baseline.py does (see README-python.md), plus the fixture
// every case starts from and the check every case ends with.

import { performance } from "node:perf_hooks";
import type { MonitorCache } from "../../src/ovsdb/cache.js";
import { OvsdbClient } from "../../src/ovsdb/client.js";
import { Database } from "../../src/ovsdb/database.js";
import type { NamedUuid } from "../../src/ovsdb/datum.js";
import type { NbTables } from "../../src/ovsdb/schemas/ovn-nb.generated.js";

export const NB = "OVN_Northbound";
/** Same names as the Python baseline is told to use (--switch / --prefix). */
export const SWITCH = "ls0";
export const PREFIX = "lsp-";
const EXTERNAL_IDS = { bench: "1" };

/** The "MAC IP" of port i (0-based), as port_address() in python_baseline.py: n = i + 1 in 3 bytes. */
export function portAddress(i: number): string {
  const n = i + 1;
  const a = (n >> 16) & 0xff;
  const b = (n >> 8) & 0xff;
  const c = n & 0xff;
  const h = (x: number) => x.toString(16).padStart(2, "0");
  return `0a:00:00:${h(a)}:${h(b)}:${h(c)} 10.${a}.${b}.${c}`;
}

export function portName(i: number): string {
  return `${PREFIX}${i}`;
}

async function open(
  remote: string,
  coalesce = false,
): Promise<{ client: OvsdbClient; nb: Database<NbTables> }> {
  const client = await OvsdbClient.connect({ remotes: remote, database: NB });
  try {
    return { client, nb: await Database.open<NbTables>(client, NB, { coalesce }) };
  } catch (e) {
    await client.close();
    throw e;
  }
}

/**
 * The fixture: what `ovn-nbctl init` does (one NB_Global row) and the switch the ports go on.
 * Done on its own connection, closed before anything is measured. Returns the switch's uuid.
 */
export async function prepareNb(remote: string): Promise<string> {
  const { client, nb } = await open(remote);
  try {
    if ((await nb.select("NB_Global", [], ["_uuid"])).length === 0) {
      const tx = nb.transaction();
      tx.insert("NB_Global", {});
      await tx.execute();
    }
    const tx = nb.transaction();
    const ls = tx.insert("Logical_Switch", { name: SWITCH });
    return (await tx.execute()).uuid(ls);
  } finally {
    await client.close();
  }
}

/**
 * Checks, on a fresh connection, that the NB holds exactly `n` ports, that they are ports 0..n-1
 * with the expected columns, and that the switch references every one. Throws otherwise.
 */
export async function verifyNb(remote: string, n: number): Promise<void> {
  const { client, nb } = await open(remote);
  try {
    const tx = nb.transaction();
    const lsps = tx.select("Logical_Switch_Port", [], ["name", "addresses", "external_ids"]);
    const lss = tx.select("Logical_Switch", [], ["name", "ports"]);
    const r = await tx.execute();
    const ports = r.rows(lsps);
    const switches = r.rows(lss);
    if (ports.length !== n) throw new Error(`NB has ${ports.length} Logical_Switch_Port rows, expected ${n}`);
    const expected = new Map<string, string>();
    for (let i = 0; i < n; i++) expected.set(portName(i), portAddress(i));
    for (const p of ports) {
      const addr = expected.get(p.name);
      if (addr === undefined) throw new Error(`unexpected port ${p.name} in the NB`);
      expected.delete(p.name);
      if (
        p.addresses.length !== 1 ||
        p.addresses[0] !== addr ||
        JSON.stringify(p.external_ids) !== '{"bench":"1"}'
      )
        throw new Error(`port ${p.name} has unexpected columns: ${JSON.stringify(p)}`);
    }
    if (switches.length !== 1 || switches[0]?.name !== SWITCH)
      throw new Error(
        `expected one logical switch ${SWITCH}, found ${JSON.stringify(switches.map((s) => s.name))}`,
      );
    const refs = new Set(switches[0].ports);
    const missing = ports.filter((p) => !refs.has(p._uuid)).length;
    if (missing > 0 || refs.size !== n)
      throw new Error(`switch ${SWITCH} references ${refs.size} ports, ${missing} of the ${n} are missing`);
  } finally {
    await client.close();
  }
}

export interface RunTiming {
  /** From the first transaction started to the last one done. */
  wallS: number;
  /** Per transaction, in ms. */
  latMs: Float64Array;
  /** Per transaction, when its reply arrived, in ms since the start of the run. */
  doneAtMs: Float64Array;
  transactions: number;
  /** CPU time of this whole Node process during the run (user + system). */
  clientCpuS: number;
}

export interface RunOptions {
  remote: string;
  switchUuid: string;
  ports: number;
  /** Transactions in flight at once on the one connection (1 = await each). */
  inflight: number;
  /** Ports per transaction (1 = one transaction per port). */
  batch: number;
  /** Keep a monitored replica of the touched columns, as the Python IDL does. */
  monitor: boolean;
  /** Group commit: transactions issued while one is in flight share the next server transaction. */
  coalesce?: boolean;
}

/**
 * Adds ports 0..N-1, `batch` per transaction (`batch` inserts and one mutate of the switch's
 * ports), with up to `inflight` transactions outstanding on one OvsdbClient connection.
 * A transaction's latency runs from just before it is built (building encodes the rows, the
 * work the Python IDL does inside commit()) to the moment its execute() resolves with the reply.
 */
export async function runOurs(o: RunOptions): Promise<RunTiming> {
  const { client, nb } = await open(o.remote, o.coalesce === true);
  let cancel: (() => Promise<void>) | undefined;
  let cache: MonitorCache<NbTables> | undefined;
  try {
    if (o.monitor) {
      const m = await nb.monitor({
        Logical_Switch: { columns: ["name", "ports"] },
        Logical_Switch_Port: { columns: ["name", "addresses", "external_ids"] },
      });
      cache = m.cache;
      cancel = m.cancel;
    }
    const where = [["_uuid", "==", o.switchUuid]] as const;
    const txCount = Math.ceil(o.ports / o.batch);
    const latMs = new Float64Array(txCount);
    const doneAtMs = new Float64Array(txCount);
    let next = 0;
    let t0 = 0;
    let failed = false;

    const one = async (t: number) => {
      const first = t * o.batch;
      const last = Math.min(o.ports, first + o.batch);
      const start = performance.now();
      const tx = nb.transaction();
      const added: NamedUuid[] = [];
      for (let i = first; i < last; i++) {
        added.push(
          tx.insert("Logical_Switch_Port", {
            name: portName(i),
            addresses: [portAddress(i)],
            external_ids: EXTERNAL_IDS,
          }),
        );
      }
      tx.mutate("Logical_Switch", where, [["ports", "insert", added]]);
      await tx.execute();
      const end = performance.now();
      latMs[t] = end - start;
      doneAtMs[t] = end - t0;
    };
    const worker = async () => {
      while (!failed && next < txCount) {
        const t = next++;
        try {
          await one(t);
        } catch (e) {
          failed = true;
          throw new Error(`transaction ${t} (ports ${t * o.batch}..) failed: ${(e as Error).message}`, {
            cause: e,
          });
        }
      }
    };

    const cpu0 = process.cpuUsage();
    t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(o.inflight, txCount) }, worker));
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);

    if (cache) {
      // As the Python script checks its replica: every port arrived, and the switch lists them.
      const lsps = cache.table("Logical_Switch_Port").size;
      const ls = cache.get("Logical_Switch", o.switchUuid);
      if (lsps !== o.ports || ls?.ports.length !== o.ports)
        throw new Error(
          `replica has ${lsps} ports and the switch ${ls?.ports.length ?? "no"} refs, expected ${o.ports}`,
        );
    }
    return { wallS, latMs, doneAtMs, transactions: txCount, clientCpuS: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await cancel?.().catch(() => {});
    await client.close();
  }
}
