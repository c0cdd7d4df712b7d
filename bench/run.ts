// The benchmark runner behind `npm run bench`:
//
//   npm run bench                         every suite, full size; rewrites docs/benchmarks.md
//   npm run bench -- ovsdb                one suite (several may be named)
//   npm run bench -- ovsdb --ports 500    scaled down for a quick check (docs left alone)
//   npm run bench -- ovsdb --repeat 5     more rounds of every case (medians are reported)
//   npm run bench -- ovsdb --only ours-16,python-16   some cases only (docs left alone)
//   npm run bench -- ovsdb --docs-from bench/results/ovsdb-T.json   re-render the docs, no run
//
// A suite is a module under bench/NAME/ exporting a Suite (see bench/common.ts); add it to
// SUITES below. Each suite prints its table, writes bench/results/NAME-TIMESTAMP.json and, on a
// full run, rewrites its own section of docs/benchmarks.md.

import path from "node:path";
import { parseArgs } from "node:util";
import { findRepoRoot, type Suite } from "./common.js";

/** In the order `npm run bench` runs them. Loaded lazily, so one suite's imports never slow another. */
const SUITES: Record<string, { description: string; load: () => Promise<Suite> }> = {
  ovsdb: {
    description: "our OVSDB client vs the Python OVS library and ovn-nbctl (NB port creation)",
    load: async () => (await import("./ovsdb/index.js")).ovsdbSuite,
  },
  server: {
    description:
      "network service: container ports via the Neutron API vs raw NB inserts, flat latency to 50k",
    load: async () => (await import("./server/index.js")).serverSuite,
  },
  agent: {
    description: "ovn-docker run (cold, warm pool) and rm vs bare docker run --net=none; first ping",
    load: async () => (await import("./agent/index.js")).agentSuite,
  },
  cni: {
    description: "ovn-cni ADD/DEL wall time vs the bridge plugin (host-local IPAM); VERSION floor",
    load: async () => (await import("./cni/index.js")).cniSuite,
  },
};

const USAGE = `usage: npm run bench [-- [SUITE...] [--ports N] [--repeat R] [--only CASE,...] [--docs|--no-docs] [--docs-from FILE]]

  SUITE        one of: ${Object.keys(SUITES).join(", ")} (default: all)
  --ports N    scale a suite down (or up) to N items for a quick run
  --repeat R   run every case R times, interleaved (default: the suite's; ovsdb: 3,
               server: 3 for its main cases, its long run once);
               tables show medians, the spread is reported
  --only IDS   run only these cases of the suite (comma-separated)
  --docs       rewrite docs/benchmarks.md even for a scaled-down or partial run
  --no-docs    never rewrite docs/benchmarks.md
  --docs-from FILE  measure nothing: rewrite the suite's section of docs/benchmarks.md
               from a results file of an earlier run (one suite only)

suites:
${Object.entries(SUITES)
  .map(([n, s]) => `  ${n.padEnd(8)} ${s.description}`)
  .join("\n")}`;

function commandLine(argv: string[]): string {
  const quoted = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`));
  if (process.env.npm_lifecycle_event === "bench")
    return `npm run bench${quoted.length ? ` -- ${quoted.join(" ")}` : ""}`;
  return ["node", "dist/bench/run.js", ...quoted].join(" ");
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const names = positionals.length ? positionals : Object.keys(SUITES);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length) {
    console.error(`bench: unknown suite(s) ${unknown.join(", ")}\n\n${USAGE}`);
    return 2;
  }
  let ports: number | undefined;
  if (values.ports !== undefined) {
    ports = Number(values.ports);
    if (!Number.isInteger(ports) || ports < 1) {
      console.error(`bench: --ports takes a positive integer, got ${values.ports}`);
      return 2;
    }
  }
  let repeat: number | undefined;
  if (values.repeat !== undefined) {
    repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1) {
      console.error(`bench: --repeat takes a positive integer, got ${values.repeat}`);
      return 2;
    }
  }
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const writeDocs = values["no-docs"] ? false : (values.docs ?? (ports === undefined && only === undefined));

  const repoRoot = findRepoRoot();
  const command = commandLine(argv);
  const docsFrom = values["docs-from"];
  if (docsFrom !== undefined && names.length !== 1) {
    console.error("bench: --docs-from needs exactly one suite");
    return 2;
  }
  for (const name of names) {
    const entry = SUITES[name];
    if (!entry) continue;
    const suite = await entry.load();
    const startedAt = new Date();
    const opts = {
      ports,
      repeat,
      only,
      writeDocs,
      command,
      repoRoot,
      startedAt,
      log: (line: string) => console.log(line),
    };
    try {
      if (docsFrom !== undefined) {
        if (!suite.renderDocs) throw new Error(`suite ${name} cannot render docs from a results file`);
        await suite.renderDocs(opts, path.resolve(docsFrom));
        continue;
      }
      console.log(`== bench/${name} (${startedAt.toISOString()}) ==`);
      await suite.run(opts);
    } catch (e) {
      console.error(`bench/${name} FAILED: ${(e as Error).stack ?? String(e)}`);
      return 1;
    }
  }
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ports: { type: "string" },
      repeat: { type: "string" },
      only: { type: "string" },
      docs: { type: "boolean" },
      "no-docs": { type: "boolean" },
      "docs-from": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

process.exitCode = await main(process.argv.slice(2));
