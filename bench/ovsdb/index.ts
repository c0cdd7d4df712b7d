// Benchmark suite "ovsdb": our OVSDB client against the Python OVS library (and ovn-nbctl) adding
// logical switch ports to an OVN Northbound database, one transaction per port, plus our client
// batching many ports per transaction as the server's own ceiling. Every case gets a fresh
// ovsdb-server with the same fixture, and its result is checked in the database afterwards.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type OvsdbServer, startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import {
  type Align,
  finishRun,
  type LatencySummary,
  machineInfo,
  markdownTable,
  median,
  num,
  processCpuS,
  readPastResults,
  renderDocsFromFile,
  type Suite,
  type SuiteOptions,
  summarize,
  textTable,
} from "../common.js";
import { PYTHON, runPythonBaseline } from "./python.js";
import { prepareNb, runOurs, verifyNb } from "./workload.js";

const execFileP = promisify(execFile);

const NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema";
const DEFAULT_PORTS = 10_000;
const INFLIGHT = 16;
const NBCTL_SAMPLE = 200;
const BATCHES = [16, 100, 1000] as const;
const DEFAULT_REPEAT = 3;

/**
 * Hand-written observations that the numbers alone do not show, printed at the end of the docs
 * section. They are dated: re-check and edit them when the client or the machine changes.
 */
const NOTES = `**Observations** (2026-11-29, by hand; re-check them when the client changes):

- Noise. Before cases were repeated, two single-round full runs gave ours at 16 in flight
  2,403 and 2,604 tx/s against python-ovs 2,601 and 2,468 in the same runs (ratio 0.92 and
  1.06), while ours at 16 in flight run alone ranged 2,708–4,669 tx/s. That is why every case
  now runs 3 times, interleaved, and the table shows medians. The 16-in-flight comparison is
  the noisiest one: ours is then limited by ovsdb-server (python-ovs by its own CPU as much),
  and the two processes share 2 cores with whatever else runs on the machine.
- The gap between plain 16-in-flight and the batched ceiling is the server's cost per
  transaction, which grows with the switch's \`ports\` set: tx/s falls by tenths of the run as
  the set grows (above), and the same 10,000 ports at 16 in flight spread over 100 switches (a
  one-off script, not part of this suite) ran at 11,800 tx/s with ovsdb-server at 65 µs of CPU
  per transaction against 4,400 tx/s and 208 µs with one switch. So the client closes the gap
  only by sending fewer transactions: the "group commit" row is the Database \`coalesce\`
  option (src/ovsdb/coalescer.ts), which sends the transactions issued while one is in flight
  together as one, each caller still getting its own result or error. With 16 callers each
  waiting for its reply, a server transaction can hold at most 16 ports, so "batched 16/tx"
  is the ceiling at this concurrency: group commit runs within 1.6–2.0x of it (two full runs); the 2x
  goal against batched-1000 would need more than 16 requests in flight.
- An earlier \`MonitorCache\` spent 84 % of the client's time in \`applyDiff\` rebuilding the
  whole \`ports\` set for every one-element diff (O(N²) over the run); set diffs now carry
  their membership from value to value.`;

type Kind = "ours" | "python" | "nbctl";

interface CaseSpec {
  id: string;
  label: string;
  kind: Kind;
  inflight: number;
  /** Ports per transaction. */
  batch: number;
  /** Our client keeps a monitored replica (what the Python IDL always does). */
  monitor: boolean;
  /** Our client with group commit (Database coalesce option). */
  coalesce?: boolean;
}

export interface CaseResult {
  id: string;
  label: string;
  client: string;
  method: string;
  /** Rows (ports) created. */
  ports: number;
  transactions: number;
  inflight: number;
  batch: number;
  monitor: boolean;
  wall_s: number;
  tx_per_s: number;
  rows_per_s: number;
  /** Wall time per port created, µs. */
  per_row_us: number;
  lat_ms: LatencySummary;
  /** CPU of the client process(es) during the run, and of ovsdb-server. */
  client_cpu_s: number;
  server_cpu_s: number;
  /**
   * Our cases only: tx/s within each tenth of the run (by completion order), to show how the
   * per-transaction cost grows with the switch's `ports` set.
   */
  tx_per_s_by_decile?: number[];
  /** Every repetition's tx/s and p50, in the order run (the row's other numbers are medians over them). */
  reps?: { tx_per_s: number[]; p50_ms: number[] };
}

interface Ratio {
  /** python p50 / our p50 (> 1: we are faster). */
  p50: number;
  /** our tx/s / python tx/s (> 1: we are faster). */
  tps: number;
}

export interface OvsdbResults {
  suite: "ovsdb";
  startedAt: string;
  command: string;
  machine: Record<string, unknown>;
  versions: Record<string, string>;
  ports: number;
  inflight: number;
  /** Rounds: every case ran this many times, interleaved; each row holds per-metric medians. */
  repeat: number;
  /** Only some cases were run (--only): not used for the run-to-run spread. */
  partial: boolean;
  cases: CaseResult[];
  ratios: {
    seq?: Ratio;
    inflight?: Ratio;
    seqMonitored?: Ratio;
    inflightMonitored?: Ratio;
    /** our 16-in-flight µs/row ÷ batched-1000 µs/row (goal: ≤ 2). */
    perRowVsCeiling?: number;
    perRowMonitoredVsCeiling?: number;
    /** the same with group commit (the Database coalesce option). */
    perRowCoalescedVsCeiling?: number;
  };
  goals: Array<{ goal: string; met: boolean | undefined; detail: string }>;
}

function caseSpecs(ports: number): CaseSpec[] {
  const k = INFLIGHT;
  const specs: CaseSpec[] = [
    // Same in-flight level back to back, so that they see the same machine weather.
    { id: "ours-1", label: "ours, sequential", kind: "ours", inflight: 1, batch: 1, monitor: false },
    { id: "python-1", label: "python-ovs, sequential", kind: "python", inflight: 1, batch: 1, monitor: true },
    { id: `ours-${k}`, label: `ours, ${k} in flight`, kind: "ours", inflight: k, batch: 1, monitor: false },
    {
      id: `python-${k}`,
      label: `python-ovs, ${k} in flight`,
      kind: "python",
      inflight: k,
      batch: 1,
      monitor: true,
    },
    {
      id: `ours-coalesced-${k}`,
      label: `ours, ${k} in flight, group commit`,
      kind: "ours",
      inflight: k,
      batch: 1,
      monitor: false,
      coalesce: true,
    },
    {
      id: "ours-mon-1",
      label: "ours + replica, sequential",
      kind: "ours",
      inflight: 1,
      batch: 1,
      monitor: true,
    },
    {
      id: `ours-mon-${k}`,
      label: `ours + replica, ${k} in flight`,
      kind: "ours",
      inflight: k,
      batch: 1,
      monitor: true,
    },
  ];
  for (const b of BATCHES) {
    const size = Math.min(b, ports);
    specs.push({
      id: `batch-${b}`,
      label: `ours, batched ${size}/tx`,
      kind: "ours",
      inflight: 1,
      batch: size,
      monitor: false,
    });
  }
  specs.push({
    id: "nbctl",
    label: `ovn-nbctl, ${Math.min(NBCTL_SAMPLE, ports)} sampled`,
    kind: "nbctl",
    inflight: 1,
    batch: 1,
    monitor: false,
  });
  return specs;
}

async function runCase(spec: CaseSpec, ports: number, opts: SuiteOptions): Promise<CaseResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "ovn-docker-bench-ovsdb-"));
  let server: OvsdbServer | undefined;
  try {
    server = await startOvsdbServer({ dir: path.join(dir, "nb"), schema: NB_SCHEMA, tcpPort: "auto" });
    const remote = server.tcpRemote;
    if (!remote) throw new Error("ovsdb-server has no TCP remote");
    const switchUuid = await prepareNb(remote);
    const pid = server.pid;

    let r: CaseResult;
    if (spec.kind === "ours") {
      const s0 = processCpuS(pid);
      const t = await runOurs({
        remote,
        switchUuid,
        ports,
        inflight: spec.inflight,
        batch: spec.batch,
        monitor: spec.monitor,
        coalesce: spec.coalesce === true,
      });
      const serverCpu = processCpuS(pid) - s0;
      r = {
        ...base(spec, "ours", ports, t.transactions, t.wallS, summarize(t.latMs)),
        method:
          `OvsdbClient, one connection, ${spec.batch === 1 ? "insert + mutate per port" : `${spec.batch} inserts + 1 mutate per tx`}` +
          `, ${spec.inflight === 1 ? "await each" : `${spec.inflight} in flight`}${spec.monitor ? ", monitored replica (MonitorCache)" : ""}`,
        client_cpu_s: round(t.clientCpuS, 2),
        server_cpu_s: round(serverCpu, 2),
        tx_per_s_by_decile: byDecile(t.doneAtMs),
      };
    } else {
      const n = spec.kind === "nbctl" ? Math.min(NBCTL_SAMPLE, ports) : ports;
      const s0 = processCpuS(pid);
      const p = await runPythonBaseline(
        opts.repoRoot,
        remote,
        spec.kind === "nbctl" ? { nbctlSample: n } : { ports: n, inflight: spec.inflight },
      );
      const serverCpu = processCpuS(pid) - s0;
      if (p.result.ports !== n)
        throw new Error(`${spec.id}: the script reports ${p.result.ports} ports, asked for ${n}`);
      r = {
        ...base(spec, `${p.result.client} ${p.result.ovs_version}`, n, n, p.result.wall_s, p.result.lat_ms),
        method: p.result.method,
        client_cpu_s: round(p.cpuS, 2),
        server_cpu_s: round(serverCpu, 2),
      };
    }
    await verifyNb(remote, r.ports);
    return r;
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function base(
  spec: CaseSpec,
  client: string,
  ports: number,
  transactions: number,
  wallS: number,
  lat: LatencySummary,
): Omit<CaseResult, "method" | "client_cpu_s" | "server_cpu_s"> {
  return {
    id: spec.id,
    label: spec.label,
    client,
    ports,
    transactions,
    inflight: spec.inflight,
    batch: spec.batch,
    monitor: spec.monitor,
    wall_s: round(wallS, 4),
    tx_per_s: round(transactions / wallS, 1),
    rows_per_s: round(ports / wallS, 1),
    per_row_us: round((wallS / ports) * 1e6, 1),
    lat_ms: lat,
  };
}

function byDecile(doneAtMs: Float64Array): number[] | undefined {
  const n = doneAtMs.length;
  if (n < 10) return undefined;
  const done = Float64Array.from(doneAtMs).sort();
  const out: number[] = [];
  let prevIdx = 0;
  let prevT = 0;
  for (let d = 1; d <= 10; d++) {
    const idx = Math.round((d * n) / 10);
    const t = done[idx - 1] as number;
    out.push(round(((idx - prevIdx) / Math.max(t - prevT, 1e-3)) * 1000, 0));
    prevIdx = idx;
    prevT = t;
  }
  return out;
}

/** One row from the repetitions of a case: the median of every metric (tx/s from the median wall time). */
function combine(reps: CaseResult[]): CaseResult {
  const first = reps[0];
  if (!first) throw new Error("combine: no repetitions");
  const med = (f: (c: CaseResult) => number) => median(reps.map(f));
  const wall = med((c) => c.wall_s);
  const deciles = first.tx_per_s_by_decile?.map((_, i) =>
    median(reps.map((c) => c.tx_per_s_by_decile?.[i] ?? 0)),
  );
  return {
    ...first,
    wall_s: round(wall, 4),
    tx_per_s: round(first.transactions / wall, 1),
    rows_per_s: round(first.ports / wall, 1),
    per_row_us: round((wall / first.ports) * 1e6, 1),
    lat_ms: {
      p50: med((c) => c.lat_ms.p50),
      p90: med((c) => c.lat_ms.p90),
      p99: med((c) => c.lat_ms.p99),
      max: med((c) => c.lat_ms.max),
    },
    client_cpu_s: round(
      med((c) => c.client_cpu_s),
      2,
    ),
    server_cpu_s: round(
      med((c) => c.server_cpu_s),
      2,
    ),
    ...(deciles ? { tx_per_s_by_decile: deciles.map((x) => round(x, 0)) } : {}),
    reps: { tx_per_s: reps.map((c) => c.tx_per_s), p50_ms: reps.map((c) => c.lat_ms.p50) },
  };
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

// ---------------------------------------------------------------------------------------------
// analysis

function analyse(cases: CaseResult[]): Pick<OvsdbResults, "ratios" | "goals"> {
  const by = new Map(cases.map((c) => [c.id, c]));
  const k = INFLIGHT;
  const ratio = (ours: string, py: string): Ratio | undefined => {
    const a = by.get(ours);
    const b = by.get(py);
    if (!a || !b) return undefined;
    return { p50: round(b.lat_ms.p50 / a.lat_ms.p50, 2), tps: round(a.tx_per_s / b.tx_per_s, 2) };
  };
  const ceiling = by.get("batch-1000");
  const perRow = (id: string) => {
    const c = by.get(id);
    return c && ceiling ? round(c.per_row_us / ceiling.per_row_us, 2) : undefined;
  };
  const ratios: OvsdbResults["ratios"] = {
    seq: ratio("ours-1", "python-1"),
    inflight: ratio(`ours-${k}`, `python-${k}`),
    seqMonitored: ratio("ours-mon-1", "python-1"),
    inflightMonitored: ratio(`ours-mon-${k}`, `python-${k}`),
    perRowVsCeiling: perRow(`ours-${k}`),
    perRowCoalescedVsCeiling: perRow(`ours-coalesced-${k}`),
    perRowMonitoredVsCeiling: perRow(`ours-mon-${k}`),
  };

  const goals: OvsdbResults["goals"] = [];
  const g1parts: string[] = [];
  let g1: boolean | undefined = true;
  for (const [name, r] of [
    ["sequential", ratios.seq],
    [`${k} in flight`, ratios.inflight],
  ] as const) {
    if (!r) {
      g1 = undefined;
      continue;
    }
    const ok = r.p50 >= 1 && r.tps >= 1;
    if (g1 !== undefined) g1 = g1 && ok;
    g1parts.push(
      `${name}: python p50 / our p50 = ${r.p50.toFixed(2)}, our tx/s / python tx/s = ${r.tps.toFixed(2)} (${ok ? "met" : "NOT met"})`,
    );
  }
  goals.push({
    goal: "our client at least as fast as the Python library per transaction",
    met: g1,
    detail: g1parts.join("; "),
  });
  const pr = ratios.perRowVsCeiling;
  const pc = ratios.perRowCoalescedVsCeiling;
  goals.push({
    goal: `within 2x of the batched ceiling's per-row cost at ${k} in flight`,
    met: pc === undefined ? undefined : pc <= 2,
    detail:
      pc === undefined || pr === undefined
        ? "not measured in this run"
        : `with group commit: ours ${k} in flight ${num(by.get(`ours-coalesced-${k}`)?.per_row_us, 1)} µs/row vs ` +
          `batched-1000 ${num(ceiling?.per_row_us, 1)} µs/row = ${pc.toFixed(2)}x; without it (one server transaction ` +
          `per caller) ${num(by.get(`ours-${k}`)?.per_row_us, 1)} µs/row = ${pr.toFixed(2)}x`,
  });
  return { ratios, goals };
}

// ---------------------------------------------------------------------------------------------
// output

const HEADER = [
  "case",
  "tx",
  "wall s",
  "tx/s",
  "rows/s",
  "µs/row",
  "p50 ms",
  "p90 ms",
  "p99 ms",
  "max ms",
  "client CPU µs/row",
  "server CPU µs/row",
];
const ALIGN: Align[] = ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"];

function rowsOf(cases: CaseResult[]): string[][] {
  return cases.map((c) => [
    c.label,
    num(c.transactions),
    num(c.wall_s, 2),
    num(c.tx_per_s),
    num(c.rows_per_s),
    num(c.per_row_us, 1),
    num(c.lat_ms.p50, 3),
    num(c.lat_ms.p90, 3),
    num(c.lat_ms.p99, 3),
    num(c.lat_ms.max, 1),
    num((c.client_cpu_s / c.ports) * 1e6, 0),
    num((c.server_cpu_s / c.ports) * 1e6, 0),
  ]);
}

function ratioLines(res: OvsdbResults): string[] {
  const r = res.ratios;
  const k = res.inflight;
  const line = (what: string, x: Ratio | undefined) =>
    x
      ? `${what}: python p50 / our p50 = ${x.p50.toFixed(2)}x, our tx/s / python tx/s = ${x.tps.toFixed(2)}x`
      : `${what}: not measured`;
  return [
    line("sequential", r.seq),
    line(`${k} in flight`, r.inflight),
    line("sequential, ours with a replica like the IDL", r.seqMonitored),
    line(`${k} in flight, ours with a replica like the IDL`, r.inflightMonitored),
    r.perRowVsCeiling === undefined
      ? "per-row cost vs batched ceiling: not measured"
      : `per-row cost, ours ${k} in flight / batched 1000: ${r.perRowVsCeiling.toFixed(2)}x` +
        (r.perRowMonitoredVsCeiling === undefined
          ? ""
          : ` (with a replica: ${r.perRowMonitoredVsCeiling.toFixed(2)}x)`) +
        (r.perRowCoalescedVsCeiling === undefined
          ? ""
          : `; with group commit: ${r.perRowCoalescedVsCeiling.toFixed(2)}x`),
  ];
}

async function versions(): Promise<Record<string, string>> {
  const v: Record<string, string> = { node: process.version };
  const first = async (cmd: string, args: string[], re: RegExp) => {
    try {
      const { stdout } = await execFileP(cmd, args);
      return re.exec(stdout)?.[1] ?? stdout.split("\n")[0] ?? "?";
    } catch {
      return "unavailable";
    }
  };
  v.ovsdbServer = await first("ovsdb-server", ["--version"], /\(Open vSwitch\)\s*(\S+)/);
  v.ovnNbctl = await first("ovn-nbctl", ["--version"], /ovn-nbctl\D*([\d.]+)/);
  v.pythonOvs = await first(
    PYTHON,
    ["-c", "import ovs.version,sys; print(ovs.version.VERSION, '(Python', sys.version.split()[0] + ')')"],
    /^(.+)$/m,
  );
  return v;
}

/** tx/s and p50 across the recorded full-size runs (this one included), newest last. */
interface Spread {
  runs: number;
  rows: string[][];
  when: string[];
}

async function spread(opts: SuiteOptions, res: OvsdbResults): Promise<Spread> {
  const past = (await readPastResults<OvsdbResults>(opts.repoRoot, "ovsdb"))
    .map((p) => p.data)
    .filter(
      (d) =>
        d.ports === res.ports &&
        d.startedAt !== res.startedAt &&
        !d.partial &&
        d.repeat === res.repeat &&
        Array.isArray(d.cases) &&
        res.cases.every((c) => d.cases.some((x) => x.id === c.id)),
    );
  const all = [...past.slice(-4), res];
  const rows = res.cases.map((c) => {
    const same = all.map((d) => d.cases.find((x) => x.id === c.id)).filter((x): x is CaseResult => !!x);
    const tps = same.map((x) => x.tx_per_s);
    const p50 = same.map((x) => x.lat_ms.p50);
    const range = (xs: number[], d: number) => `${num(Math.min(...xs), d)}–${num(Math.max(...xs), d)}`;
    return [c.label, String(same.length), range(tps, 0), range(p50, 3)];
  });
  const ratioRow = (label: string, get: (d: OvsdbResults) => number | undefined) => {
    const xs = all.map(get).filter((x): x is number => x !== undefined);
    return [
      label,
      String(xs.length),
      xs.length ? `${num(Math.min(...xs), 2)}–${num(Math.max(...xs), 2)}` : "-",
      "",
    ];
  };
  rows.push(ratioRow("ratio: our tx/s / python tx/s, sequential", (d) => d.ratios.seq?.tps));
  rows.push(
    ratioRow(`ratio: our tx/s / python tx/s, ${res.inflight} in flight`, (d) => d.ratios.inflight?.tps),
  );
  rows.push(ratioRow("ratio: per-row cost vs batched 1000", (d) => d.ratios.perRowVsCeiling));
  return { runs: all.length, rows, when: all.map((d) => d.startedAt) };
}

/** Where the time went, from this run's own numbers (CPU accounting and tx/s per tenth of the run). */
function timeLines(res: OvsdbResults): string[] {
  const k = res.inflight;
  const by = new Map(res.cases.map((c) => [c.id, c]));
  const out: string[] = [];
  const cpu = (c: CaseResult | undefined) =>
    c
      ? `${c.label}: ovsdb-server used ${num(c.server_cpu_s, 2)} s of CPU in ${num(c.wall_s, 2)} s of wall time ` +
        `(${num((100 * c.server_cpu_s) / c.wall_s)} % of a core), the client ${num(c.client_cpu_s, 2)} s ` +
        `(${num((100 * c.client_cpu_s) / c.wall_s)} %)`
      : undefined;
  for (const id of [`ours-${k}`, `python-${k}`, `ours-mon-${k}`]) {
    const l = cpu(by.get(id));
    if (l) out.push(l);
  }
  for (const id of ["ours-1", `ours-${k}`]) {
    const c = by.get(id);
    const d = c?.tx_per_s_by_decile;
    if (c && d)
      out.push(
        `${c.label}, tx/s in each tenth of the run (the switch's \`ports\` set growing from 0 to ${num(c.ports)}): ${d.map((x) => num(x)).join(", ")}`,
      );
  }
  const a = by.get("ours-1");
  const b = by.get("ours-mon-1");
  const py = by.get("python-1");
  if (a && b && py)
    out.push(
      `client CPU per port, sequential: ours ${num((a.client_cpu_s / a.ports) * 1e6)} µs, ours + replica ` +
        `${num((b.client_cpu_s / b.ports) * 1e6)} µs, python-ovs (always with its replica) ${num((py.client_cpu_s / py.ports) * 1e6)} µs`,
    );
  return out;
}

function docsBody(res: OvsdbResults, sp: Spread): string {
  const k = res.inflight;
  const by = new Map(res.cases.map((c) => [c.id, c]));
  const m = res.machine;
  const date = res.startedAt.slice(0, 10);
  const verdict = (g: OvsdbResults["goals"][number]) =>
    g.met === undefined ? "**not measured**" : g.met ? "**met**" : "**not met**";
  const monitorCost = (id: string, mon: string) => {
    const a = by.get(id);
    const b = by.get(mon);
    return a && b ? `${num(b.tx_per_s)} vs ${num(a.tx_per_s)} tx/s` : "-";
  };
  return `## \`bench/ovsdb\`: OVSDB client, one transaction per logical switch port

**What it measures.** The cost, seen by a client, of adding ${num(res.ports)} logical switch
ports to one logical switch in an OVN Northbound database, **one transaction per port**:
each transaction inserts a \`Logical_Switch_Port\` (name \`lsp-I\`, one address
\`"0a:00:00:HH:HH:HH 10.A.B.C"\`, \`external_ids {bench: "1"}\`) and _mutates_ the switch's
\`ports\` to insert it, exactly as \`bench/ovsdb/python_baseline.py\` does (see
\`bench/ovsdb/README-python.md\`). Every case gets a **fresh** standalone ovsdb-server
(TCP on 127.0.0.1) with the same fixture (one \`NB_Global\` row, as \`ovn-nbctl init\`
makes, and the switch \`ls0\`), and afterwards the database is checked to hold exactly
the expected ports, referenced by the switch.

- **ours**: our \`OvsdbClient\` on one connection, either awaiting each transaction or
  keeping ${k} in flight (a bounded-concurrency loop). Latency runs from just before the
  transaction is built (building encodes the rows) until \`execute()\` resolves.
- **ours + replica**: the same, while also monitoring the touched columns into a
  \`MonitorCache\`. The Python IDL always keeps such a replica (the server sends it an
  update for every transaction, and it applies it), so this is the like-for-like row.
- **python-ovs**: Open vSwitch's Python IDL (\`ovs.db.idl\`), the library ovsdbapp and
  Neutron build on, sequential (\`commit_block\`) and pipelined ${k} in flight on one \`Idl\`.
- **ovn-nbctl**: one process per port (what an operator script costs), sampled.
- **batched**: our client putting 100 or 1000 ports in each transaction: the server's own
  cost per row when per-transaction overhead is amortised, i.e. the ceiling.

Each case ran ${res.repeat} times, round-robin (every case once, then again...), each time on a
fresh server; every number in the table is the **median** over those runs (tx/s and µs/row
from the median wall time). µs/row is wall time per port created; the CPU columns divide the CPU time used during the
case by the ports created (client: the whole Node process, or the Python process and its
children; server: ovsdb-server).

**Command:** \`${res.command}\` — run of ${date} (${res.startedAt}), on ${String(m.cpus)} × ${String(m.cpuModel)},
${String(m.memGiB)} GiB, load average at start ${JSON.stringify(m.loadavgAtStart)}; ovsdb-server ${res.versions.ovsdbServer},
python-ovs ${res.versions.pythonOvs}, ovn-nbctl ${res.versions.ovnNbctl}, Node ${res.versions.node}.

${markdownTable(HEADER, rowsOf(res.cases), ALIGN)}

Ratios in this run:

${ratioLines(res)
  .map((l) => `- ${l}`)
  .join("\n")}

**Goals** (stated by the project for this suite):

${res.goals.map((g) => `- ${g.goal}: ${verdict(g)}. ${g.detail}.`).join("\n")}

With ${k} in flight, a transaction's latency is mostly time queued behind the others at
the server, so p50 there says more about how full a client keeps its window than about
its speed; tx/s is the number to compare. With a replica like the IDL's, ours runs at
${monitorCost("ours-1", "ours-mon-1")} sequentially and ${monitorCost(`ours-${k}`, `ours-mon-${k}`)} with
${k} in flight (with vs without).

**Where the time goes** (this run):

${timeLines(res)
  .map((l) => `- ${l}.`)
  .join("\n")}

**Spread within this run** (the ${res.repeat} repetitions of each case, in the order run):

${markdownTable(
  ["case", "tx/s", "p50 ms"],
  res.cases.map((c) => [
    c.label,
    (c.reps?.tx_per_s ?? [c.tx_per_s]).map((x) => num(x)).join(", "),
    (c.reps?.p50_ms ?? [c.lat_ms.p50]).map((x) => num(x, 3)).join(", "),
  ]),
  ["l", "r", "r"],
)}

**Run-to-run spread** of the medians (the last ${sp.runs} full runs of ${res.repeat} rounds recorded in
\`bench/results/\` on this machine, this one included: ${sp.when.join(", ")}):

${markdownTable(["case", "runs", "tx/s min–max", "p50 ms min–max"], sp.rows, ["l", "r", "r", "r"])}

${NOTES}
`;
}

// ---------------------------------------------------------------------------------------------

export const ovsdbSuite: Suite = {
  name: "ovsdb",
  description: `OVSDB client vs python-ovs / ovn-nbctl: ${DEFAULT_PORTS} ports, one transaction each (--ports N)`,
  async run(opts) {
    const ports = opts.ports ?? DEFAULT_PORTS;
    const repeat = opts.repeat ?? DEFAULT_REPEAT;
    if (!Number.isInteger(ports) || ports < 1 || ports >= 2 ** 24 - 1)
      throw new Error(`bad --ports ${ports}`);
    let specs = caseSpecs(ports);
    if (opts.only) {
      const only = opts.only;
      const unknown = only.filter((id) => !specs.some((s) => s.id === id));
      if (unknown.length)
        throw new Error(
          `unknown ovsdb case(s) ${unknown.join(", ")}; known: ${specs.map((s) => s.id).join(", ")}`,
        );
      specs = specs.filter((s) => only.includes(s.id));
    }

    const res: OvsdbResults = {
      suite: "ovsdb",
      startedAt: opts.startedAt.toISOString(),
      command: opts.command,
      machine: machineInfo(),
      versions: await versions(),
      ports,
      inflight: INFLIGHT,
      repeat,
      partial: opts.only !== undefined,
      cases: [],
      ratios: {},
      goals: [],
    };
    opts.log(
      `ovsdb: ${ports} ports per case, ${specs.length} cases × ${repeat} rounds, a fresh ovsdb-server each time`,
    );
    const reps = new Map<string, CaseResult[]>(specs.map((s) => [s.id, []]));
    try {
      // Round-robin, so that every case sees every phase of the machine's weather.
      for (let round = 1; round <= repeat; round++) {
        if (repeat > 1) opts.log(` round ${round}/${repeat}`);
        for (const spec of specs) {
          const c = await runCase(spec, ports, opts);
          reps.get(spec.id)?.push(c);
          opts.log(
            `  ${spec.label.padEnd(34)} ${num(c.tx_per_s).padStart(7)} tx/s  p50 ${num(c.lat_ms.p50, 3)} ms  wall ${num(c.wall_s, 2)} s  (verified ${num(c.ports)} ports)`,
          );
        }
      }
    } finally {
      await stopAllOvsdbServers();
    }
    res.cases = specs.map((s) => combine(reps.get(s.id) ?? []));
    Object.assign(res, analyse(res.cases));

    opts.log("");
    opts.log(textTable(HEADER, rowsOf(res.cases), ALIGN));
    opts.log("");
    for (const l of ratioLines(res)) opts.log(l);
    opts.log("");
    await finishRun(opts, "ovsdb", res, async () => docsBody(res, await spread(opts, res)));
  },

  async renderDocs(opts, resultsFile) {
    await renderDocsFromFile<OvsdbResults>(opts, "ovsdb", resultsFile, async (res) =>
      docsBody(res, await spread(opts, res)),
    );
  },
};
