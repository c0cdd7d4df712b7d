// Helpers shared by the benchmark suites: statistics, where the repository is, results files,
// plain-text and Markdown tables, and the per-suite sections of docs/benchmarks.md.

import { existsSync, readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** What the runner hands to every suite. */
export interface SuiteOptions {
  /** Scale: the number of items (ports, containers, ...) a suite creates; undefined = its default. */
  ports: number | undefined;
  /** Write docs/benchmarks.md (the runner turns it off for scaled-down runs unless asked). */
  writeDocs: boolean;
  /** Rounds of every case (each on fresh fixtures); tables show per-metric medians. undefined = suite default. */
  repeat: number | undefined;
  /** Only these cases of the suite (`--only a,b`); undefined = all. Partial runs never write docs. */
  only: string[] | undefined;
  /** The command line that started this run, for the docs. */
  command: string;
  /** The repository root (where package.json is); source files like .py live under it, not dist/. */
  repoRoot: string;
  /** Timestamp of this run (also in the results file name). */
  startedAt: Date;
  log: (line: string) => void;
}

export interface Suite {
  name: string;
  /** One line for `--help`. */
  description: string;
  run(opts: SuiteOptions): Promise<void>;
  /** Rewrites the suite's docs section from a results file written by an earlier run (no measuring). */
  renderDocs?(opts: SuiteOptions, resultsFile: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// repository

/** The nearest directory above this module holding the project's package.json (works from dist/ too). */
export function findRepoRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "ovn-docker") return dir;
      } catch {
        // not ours, keep climbing
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`no ovn-docker package.json above ${from}`);
  }
}

// ---------------------------------------------------------------------------------------------
// statistics

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array, as python_baseline.py computes it. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** p50/p90/p99/max of latencies in ms, rounded to µs. */
export function summarize(latMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(latMs).sort();
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: r(percentile(sorted, 50)),
    p90: r(percentile(sorted, 90)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted.length ? (sorted[sorted.length - 1] as number) : 0),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

// ---------------------------------------------------------------------------------------------
// machine and results

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

/** "2025-11-29T02-47-14Z": sortable, and safe in a file name. */
export function fileTimestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/:/g, "-");
}

/** Writes bench/results/SUITE-TIMESTAMP.json (bench/results/ is git-ignored) and returns its path. */
export async function writeResults(opts: SuiteOptions, suite: string, data: unknown): Promise<string> {
  const dir = path.join(opts.repoRoot, "bench", "results");
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${suite}-${fileTimestamp(opts.startedAt)}.json`);
  await fs.writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** Earlier results files of a suite, oldest first, parsed (unreadable ones skipped). */
export async function readPastResults<T>(
  repoRoot: string,
  suite: string,
): Promise<Array<{ file: string; data: T }>> {
  const dir = path.join(repoRoot, "bench", "results");
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const out: Array<{ file: string; data: T }> = [];
  for (const n of names.filter((x) => x.startsWith(`${suite}-`) && x.endsWith(".json")).sort()) {
    try {
      out.push({ file: n, data: JSON.parse(await fs.readFile(path.join(dir, n), "utf8")) as T });
    } catch {
      // a half-written or foreign file: ignore
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// tables

export type Align = "l" | "r";

/** A fixed-width text table for the console. */
export function textTable(header: string[], rows: string[][], align: Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => ((align[i] ?? "l") === "r" ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}

/** A Markdown table with padded columns (so it reads well as text and passes formatters unchanged). */
export function markdownTable(header: string[], rows: string[][], align: Align[] = []): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    `| ${cells
      .map((c, i) => ((align[i] ?? "l") === "r" ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => ((align[i] ?? "l") === "r" ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [fmt(header), rule, ...rows.map(fmt)].join("\n");
}

/** A number with a fixed count of decimals, or "-" when not finite. */
export function num(x: number | undefined, decimals = 0): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  return x.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

// ---------------------------------------------------------------------------------------------
// docs/benchmarks.md

const DOCS_INTRO = `# Benchmarks

\`npm run bench\` (after \`npx tsc -p tsconfig.json\`) runs every benchmark suite;
\`npm run bench -- SUITE\` runs one, and \`--ports N\` scales a suite down for a quick
check (scaled-down runs do not rewrite this file unless \`--docs\` is given). Each run
also writes its raw numbers to \`bench/results/SUITE-TIMESTAMP.json\` (not committed).

Every suite compares our code with the reference implementation people use today for
the same job, run on the same machine, in the same run, against identical fresh
fixtures. The machine is a 2-core VM that is shared with other work and noisy: runs
vary by ±20 % or more. So the numbers that mean something are **medians and ratios
taken within one run**, never absolute wall-clock times, and no test asserts on
timing. Each section says which command produced it, when, and what spread was seen
between runs.

Each suite owns one section below, between its \`bench:NAME\` markers; a run of a
suite rewrites only its own section.
`;

function markers(suite: string): [string, string] {
  return [`<!-- bench:${suite}:start -->`, `<!-- bench:${suite}:end -->`];
}

/** Replaces (or appends) the section of `suite` in docs/benchmarks.md, keeping everything else. */
export async function updateDocsSection(repoRoot: string, suite: string, body: string): Promise<string> {
  const file = path.join(repoRoot, "docs", "benchmarks.md");
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch {
    text = DOCS_INTRO;
  }
  const [start, end] = markers(suite);
  const section = `${start}\n\n${body.trim()}\n\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + section + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${section}\n`;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text.endsWith("\n") ? text : `${text}\n`);
  return file;
}

/** utime + stime of a process, in seconds (NaN once it is gone). */
export function processCpuS(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of a process in MiB (NaN once it is gone). */
export function processRssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface Goal {
  goal: string;
  met: boolean | undefined;
  detail: string;
}

/** One line per goal, as every suite prints them. */
export function goalLines(goals: readonly Goal[]): string[] {
  return goals.map(
    (g) =>
      `goal: ${g.goal}: ${g.met === undefined ? "not measured" : g.met ? "MET" : "NOT MET"} (${g.detail})`,
  );
}

/** The end of a run: print the goals, save the results file, and (full runs) rewrite the suite's docs section. */
export async function finishRun(
  opts: SuiteOptions,
  suite: string,
  res: { goals: readonly Goal[] },
  docsBody: () => Promise<string>,
): Promise<void> {
  for (const l of goalLines(res.goals)) opts.log(l);
  const file = await writeResults(opts, suite, res);
  opts.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (opts.writeDocs && !opts.only) {
    const docs = await updateDocsSection(opts.repoRoot, suite, await docsBody());
    opts.log(`docs: ${path.relative(process.cwd(), docs)} (section bench:${suite})`);
  }
}

/** --docs-from: rewrite a suite's docs section from a saved results file of a full run. */
export async function renderDocsFromFile<T extends { suite: string; cases: unknown; partial?: boolean }>(
  opts: SuiteOptions,
  suite: string,
  resultsFile: string,
  docsBody: (res: T) => Promise<string>,
): Promise<void> {
  const res = JSON.parse(await fs.readFile(resultsFile, "utf8")) as T;
  if (res.suite !== suite || !Array.isArray(res.cases))
    throw new Error(`${resultsFile} is not a ${suite} result`);
  if (res.partial) throw new Error(`${resultsFile} is a partial run (--only): not fit for the docs`);
  const docs = await updateDocsSection(opts.repoRoot, suite, await docsBody(res));
  opts.log(
    `docs: ${path.relative(process.cwd(), docs)} (section bench:${suite}, from ${path.basename(resultsFile)})`,
  );
}
