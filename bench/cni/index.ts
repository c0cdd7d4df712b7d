// Benchmark suite "cni": the wall time of one ovn-cni invocation (ADD, DEL) against the bridge
// plugin of containernetworking-plugins (/usr/lib/cni/bridge with host-local IPAM), both run the
// same way in the same sandbox VM in the same run, plus the floors under them: ovn-cni VERSION
// (node start-up and the plugin's first modules), `node -e 0`, and `nsenter ... true` (what
// entering the VM's netns costs every case alike). A runtime waits for the plugin once per
// container, so this is start-up plus work, end to end: from spawn() to the process's exit.
//
// Each round runs every case once, in an order rotated from round to round (interleaved);
// every ADD goes into a fresh network namespace, its DEL follows, and both are checked (the ADD
// gave an address; the DEL left no OVS port, veth or host-local lease). Besides the steady
// state (token cached), ovn-cni runs without a cached token, with vifId in its configuration,
// and with node's --liftoff-only. Spread over the rounds, a few traced ADDs and DELs
// (OVN_DOCKER_TRACE=1, plus bench/cni/preload.ts for sockets, API requests and child
// processes) and bench/cni/load-probe.ts give a breakdown of where ovn-cni's time goes; they
// are not in the main numbers.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { layout, type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import {
  finishRun,
  type Goal,
  machineInfo,
  markdownTable,
  median,
  num,
  percentile,
  readPastResults,
  renderDocsFromFile,
  type Suite,
  type SuiteOptions,
  textTable,
} from "../common.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PRELOAD = path.join(HERE, "preload.js");
const LOAD_PROBE = path.join(HERE, "load-probe.js");
const BRIDGE = "/usr/lib/cni/bridge";
const HOST_LOCAL = "/usr/lib/cni/host-local";
const CNI_PATH = "/usr/lib/cni";
/** The spec version both plugins are asked to speak (the bridge plugin of Debian 12 stops at 1.0.0). */
const CNI_VERSION = "1.0.0";
const NETWORK = "BENCH";
const SUBNET = "10.31.0.0/22";
const BRIDGE_NAME = "cnibench0";
const BRIDGE_SUBNET = "10.199.0.0/22";
const DEFAULT_PAIRS = 30;
const TRACED = 5;

/** Case ids, in the order of the tables; --only takes the group names (GROUPS). */
const CASES = [
  "bridge ADD",
  "ovn-cni ADD",
  "ovn-cni ADD, no token cached",
  "ovn-cni ADD, vifId in conf",
  "ovn-cni ADD, node --liftoff-only",
  "bridge DEL",
  "ovn-cni DEL",
  "ovn-cni DEL, node --liftoff-only",
  "ovn-cni VERSION",
  "node -e 0",
  "nsenter true",
] as const;
type CaseId = (typeof CASES)[number];
const GROUPS = [
  "bridge",
  "ovn-cni",
  "ovn-cni-cold",
  "ovn-cni-vifid",
  "ovn-cni-liftoff",
  "version",
  "floor",
] as const;
type Group = (typeof GROUPS)[number];

interface Sample {
  case: CaseId;
  round: number;
  ms: number;
}

interface CaseSummary {
  case: CaseId;
  n: number;
  median_ms: number;
  p10_ms: number;
  p90_ms: number;
  min_ms: number;
  max_ms: number;
}

interface TraceStep {
  step: string;
  /** ms since spawn(), median over the traced invocations. */
  at_ms: number;
}

interface Breakdown {
  runs: number;
  /** Medians over the traced invocations, ms. */
  wall_ms: number;
  before_node_ms: number;
  node_boot_ms: number;
  api_ms: number;
  api_requests: number;
  exec_ms: number;
  execs: number;
  wait_active_ms: number | undefined;
  after_exit_mark_ms: number;
  /** The timeline: medians when all traced invocations had the same steps, else the median-wall one's. */
  steps: TraceStep[];
  /** Whether `steps` are medians over all traced invocations. */
  stepsAreMedians: boolean;
}

interface Result {
  suite: "cni";
  machine: Record<string, unknown>;
  loadavgAtEnd: number[];
  command: string;
  startedAt: string;
  pairs: number;
  bridgeVersion: string;
  cases: CaseSummary[];
  firstAdd: { add_ms: number; del_ms: number } | undefined;
  /** Per-round ratios (a / b of the same round): medians and spread. */
  ratios: Array<{ a: CaseId; b: CaseId; n: number; median: number; p10: number; p90: number }>;
  moduleLoad: { bootMs: number; staticMs: number; dynamicMs: number } | undefined;
  breakdown: { add: Breakdown | undefined; del: Breakdown | undefined };
  /** stderr of the traced invocations, as they came. */
  traces: { add: string[]; del: string[] };
  checks: { ovnAdds: number; bridgeAdds: number; leaks: string[] };
  samples: Sample[];
  goals: Goal[];
  partial?: boolean;
}

interface Invocation {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Epoch ms (sub-ms precision) just before spawn(). */
  spawnEpochMs: number;
  /** ms since spawn() when the process exited. */
  exitMs: number;
}

/**
 * Spawns `argv` inside the VM (`nsenter --net=/run/netns/VM --`, the VM's environment), writes
 * `input` to its stdin, and times it from just before spawn() until it exits.
 */
function invoke(
  sb: Sandbox,
  argv: readonly string[],
  env: Record<string, string>,
  input: string,
  timeoutMs = 120_000,
): Promise<Invocation> {
  const full = sb.execArgv("vm1", argv);
  const fullEnv = sb.execEnv("vm1", env);
  if (env.OVN_DOCKER_TRACE === undefined) delete fullEnv.OVN_DOCKER_TRACE;
  if (env.NODE_OPTIONS === undefined) delete fullEnv.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = full;
    const spawnEpochMs = performance.timeOrigin + performance.now();
    const t0 = process.hrtime.bigint();
    let exitAt: bigint | undefined;
    const child = spawn(cmd as string, args, { env: fullEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      exitAt = process.hrtime.bigint();
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(" ")}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const ms = Number((exitAt ?? process.hrtime.bigint()) - t0) / 1e6;
      resolve({
        ms,
        code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15),
        stdout,
        stderr,
        spawnEpochMs,
        exitMs: ms,
      });
    });
    child.stdin.on("error", () => {}); // EPIPE from a command that does not read its input
    child.stdin.end(input);
  });
}

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd as string, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

function summarizeCase(c: CaseId, v: number[]): CaseSummary {
  const s = [...v].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    case: c,
    n: v.length,
    median_ms: r(median(v)),
    p10_ms: r(percentile(s, 10)),
    p90_ms: r(percentile(s, 90)),
    min_ms: r(s[0] ?? Number.NaN),
    max_ms: r(s[s.length - 1] ?? Number.NaN),
  };
}

function spreadOf(v: number[]): { median: number; p10: number; p90: number } | undefined {
  if (v.length === 0) return undefined;
  const s = [...v].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { median: r(median(v)), p10: r(percentile(s, 10)), p90: r(percentile(s, 90)) };
}

/**
 * The sandbox's ovn-cni wrapper (`exec 'NODE' 'MAIN' "$@"`) with `--liftoff-only` for node: V8
 * then compiles WebAssembly (undici's HTTP parser, which fetch loads) with its baseline compiler
 * only, and never starts the optimizing compile jobs that node waits for when it exits.
 */
function liftoffWrapper(wrapper: string): string {
  const out = wrapper.replace(/^exec ('[^']*'|\S+) /m, "exec $1 --liftoff-only ");
  if (out === wrapper) throw new Error(`unexpected ovn-cni wrapper, no "exec NODE ...": ${wrapper}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// traces

interface TraceEvent {
  /** ms since spawn() */
  at: number;
  step: string;
}

/** The trace lines of one traced invocation, on the parent's clock (ms since spawn()). */
function traceEvents(inv: Invocation): { events: TraceEvent[]; beforeNodeMs: number } | undefined {
  const lines = inv.stderr.split("\n");
  const origin = /bench:origin ([\d.]+)/.exec(inv.stderr);
  if (!origin) return undefined;
  const beforeNodeMs = Number(origin[1]) - inv.spawnEpochMs;
  const events: TraceEvent[] = [{ at: 0, step: "spawn (nsenter, sh wrapper, exec node)" }];
  events.push({ at: beforeNodeMs, step: "node process started" });
  for (const l of lines) {
    const m = /^trace ([\d.]+)s (.*)$/.exec(l);
    if (!m || (m[2] as string).startsWith("bench:origin")) continue;
    events.push({ at: beforeNodeMs + Number(m[1]) * 1000, step: m[2] as string });
  }
  events.push({ at: inv.exitMs, step: "exited (seen by the parent)" });
  return { events, beforeNodeMs };
}

/** Total length of the union of [start, end) intervals. */
function unionMs(iv: Array<[number, number]>): number {
  const s = [...iv].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of s) {
    if (!cur || a > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    } else cur[1] = Math.max(cur[1], b);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

/** Pairs "bench:fetch> X" with the next "bench:fetch< X ..." (and exec the same way). */
function intervals(events: TraceEvent[], kind: "fetch" | "exec"): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const open: Array<{ what: string; at: number }> = [];
  for (const e of events) {
    if (e.step.startsWith(`bench:${kind}> `)) open.push({ what: e.step.slice(kind.length + 8), at: e.at });
    else if (e.step.startsWith(`bench:${kind}< `)) {
      const rest = e.step.slice(kind.length + 8);
      const i = open.findIndex((o) => rest.startsWith(o.what));
      if (i >= 0) {
        out.push([open[i]?.at as number, e.at]);
        open.splice(i, 1);
      }
    }
  }
  return out;
}

/** A step without what differs between invocations (VLAN, interface, port id). */
function normalStep(step: string): string {
  return step
    .replace(/unix:\S*\/(vm\d+\/run\/db\.sock)/, "unix:…/$1 (the VM's OVSDB)")
    .replace(/tcp:127\.0\.0\.1:\d+/, "tcp:127.0.0.1:PORT (the API)")
    .replace(/VLAN \d+/g, "VLAN N")
    .replace(/ovd\d+/g, "ovdN")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "{id}");
}

function breakdownOf(invs: Invocation[]): Breakdown | undefined {
  const traced = invs.map(traceEvents).filter((t): t is NonNullable<typeof t> => t !== undefined);
  if (traced.length === 0) return undefined;
  const at = (ev: TraceEvent[], prefix: string) => ev.find((e) => e.step.startsWith(prefix))?.at;
  const med = (f: (ev: TraceEvent[], before: number) => number | undefined) => {
    const v = traced.map((t) => f(t.events, t.beforeNodeMs)).filter((x): x is number => x !== undefined);
    return v.length ? Math.round(median(v) * 10) / 10 : undefined;
  };
  // One timeline when every traced invocation went through the same steps.
  const key = (ev: TraceEvent[]) => ev.map((e) => normalStep(e.step)).join("\n");
  const first = traced[0]?.events as TraceEvent[];
  const same = traced.every((t) => key(t.events) === key(first));
  // Else (e.g. ACTIVE took a second poll once): the timeline of the invocation of median wall time.
  const byWall = [...traced].sort(
    (a, b) => (a.events[a.events.length - 1]?.at ?? 0) - (b.events[b.events.length - 1]?.at ?? 0),
  );
  const mid = byWall[Math.floor((byWall.length - 1) / 2)]?.events as TraceEvent[];
  const steps = same
    ? first.map((e, i) => ({
        step: normalStep(e.step),
        at_ms: Math.round(median(traced.map((t) => t.events[i]?.at as number)) * 10) / 10,
      }))
    : mid.map((e) => ({ step: normalStep(e.step), at_ms: Math.round(e.at * 10) / 10 }));
  return {
    runs: traced.length,
    wall_ms: med((ev) => ev[ev.length - 1]?.at) as number,
    before_node_ms: med((_ev, b) => b) as number,
    node_boot_ms: med((ev, b) => {
      const p = at(ev, "bench:preload");
      return p === undefined ? undefined : p - b;
    }) as number,
    api_ms: med((ev) => unionMs(intervals(ev, "fetch"))) as number,
    api_requests: median(traced.map((t) => intervals(t.events, "fetch").length)),
    exec_ms: med((ev) => unionMs(intervals(ev, "exec"))) as number,
    execs: median(traced.map((t) => intervals(t.events, "exec").length)),
    wait_active_ms: med((ev) => {
      const a = at(ev, "plumbed");
      const b = at(ev, "ACTIVE and opened");
      return a !== undefined && b !== undefined ? b - a : undefined;
    }),
    after_exit_mark_ms: med((ev) => {
      const x = at(ev, "bench:exit");
      const end = ev[ev.length - 1]?.at;
      return x !== undefined && end !== undefined ? end - x : undefined;
    }) as number,
    steps,
    stepsAreMedians: same,
  };
}

// ---------------------------------------------------------------------------------------------
// the suite

export const cniSuite: Suite = {
  name: "cni",
  description: "ovn-cni ADD/DEL wall time vs the bridge plugin (host-local IPAM); VERSION floor",
  async run(opts: SuiteOptions): Promise<void> {
    const pairs = opts.ports ?? opts.repeat ?? DEFAULT_PAIRS;
    const only = (g: Group) => !opts.only || opts.only.includes(g);
    if (opts.only) {
      const bad = opts.only.filter((g) => !(GROUPS as readonly string[]).includes(g));
      if (bad.length) throw new Error(`unknown case group(s) ${bad.join(", ")}; use ${GROUPS.join(", ")}`);
    }
    for (const f of [BRIDGE, HOST_LOCAL]) {
      await access(f).catch(() => {
        throw new Error(`${f} is missing: install containernetworking-plugins (scripts/setup.sh does)`);
      });
    }

    const dpkgVersion =
      (await run(["dpkg-query", "-W", "containernetworking-plugins"]).catch(() => ({ stdout: "" }))).stdout
        .trim()
        .split("\t")[1] ?? "";

    const machine = machineInfo(); // at the start: its load average is the one before the run
    const dir = await mkdtemp("/tmp/ovd-bcni-");
    const namespaces = new Set<string>();
    const samples: Sample[] = [];
    const leaks: string[] = [];
    let ovnAdds = 0;
    let bridgeAdds = 0;
    let firstAdd: Result["firstAdd"];
    let moduleLoad: Result["moduleLoad"];
    const tracedAdds: Invocation[] = [];
    const tracedDels: Invocation[] = [];
    let sb: Sandbox | undefined;

    const newNetns = async (): Promise<string> => {
      const name = `ovd-bcni-${randomBytes(4).toString("hex")}`;
      await must(["ip", "netns", "add", name]);
      namespaces.add(name);
      return name;
    };
    const delNetns = async (name: string): Promise<void> => {
      await run(["ip", "netns", "del", name]);
      namespaces.delete(name);
    };

    try {
      opts.log("bringing the sandbox up (1 VM, podman)...");
      sb = await startSandbox({ dir: path.join(dir, "sb"), vms: 1, engine: "podman" });
      const s = sb;
      const vm = s.vm("vm1");
      const plugin = path.join(layout(s.dir).cniBin, "ovn-cni");
      const stateDir = path.join(vm.dir, "cni-bench-state");
      const liftoffPlugin = path.join(dir, "ovn-cni-liftoff");
      await writeFile(liftoffPlugin, liftoffWrapper(await readFile(plugin, "utf8")), { mode: 0o755 });
      const hostLocalDir = path.join(dir, "host-local");
      // The API credentials as a conflist names them: a file of OS_* variables.
      const openrc = path.join(vm.dir, "cni-bench-openrc");
      await writeFile(
        openrc,
        Object.entries(vm.env)
          .filter(([k]) => k.startsWith("OS_"))
          .map(([k, v]) => `export ${k}='${v}'\n`)
          .join(""),
        { mode: 0o600 },
      );
      const api = s.client("demo");
      const net = await api.createNetwork({ name: NETWORK });
      await api.createSubnet({ network_id: net.id, cidr: SUBNET, ip_version: 4 });

      const ovnConf = {
        cniVersion: CNI_VERSION,
        name: NETWORK,
        type: "ovn-cni",
        credentials: openrc,
        ovsdb: vm.ovsdbRemote,
        stateDir,
      };
      const bridgeConf = {
        cniVersion: CNI_VERSION,
        name: "benchbr",
        type: "bridge",
        bridge: BRIDGE_NAME,
        isGateway: false,
        ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet: BRIDGE_SUBNET }]], dataDir: hostLocalDir },
      };
      const cniEnv = (command: string, id: string, netns: string) => ({
        CNI_COMMAND: command,
        CNI_CONTAINERID: id,
        CNI_NETNS: `/run/netns/${netns}`,
        CNI_IFNAME: "eth0",
        CNI_PATH,
      });

      const ovsPorts = async () =>
        (await must(["ovs-vsctl", `--db=${vm.ovsdbRemote}`, "list-ports", "br-vm"]))
          .split("\n")
          .filter((p) => p.startsWith("ovd"));
      const vmLinks = async (prefix: string) =>
        (await must(["ip", "-n", vm.netns, "-o", "link", "show"]))
          .split("\n")
          .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
          .filter((l) => l.startsWith(prefix));

      /** One ADD + DEL of a plugin into a fresh namespace; checks both. */
      const addDel = async (
        which: "bridge" | "ovn-cni",
        extraEnv: Record<string, string> = {},
        extraConf: Record<string, unknown> = {},
        binary?: string,
      ): Promise<{ add: Invocation; del: Invocation }> => {
        const ns = await newNetns();
        const id = `bench-${randomBytes(6).toString("hex")}`;
        const bin = binary ?? (which === "bridge" ? BRIDGE : plugin);
        const conf = { ...(which === "bridge" ? bridgeConf : ovnConf), ...extraConf };
        try {
          const add = await invoke(s, [bin], { ...cniEnv("ADD", id, ns), ...extraEnv }, JSON.stringify(conf));
          let result: { ips?: Array<{ address?: string }> } = {};
          try {
            result = JSON.parse(add.stdout) as typeof result;
          } catch {
            // checked below
          }
          const ip = result.ips?.[0]?.address;
          if (add.code !== 0 || !ip) {
            throw new Error(
              `${which} ADD failed (exit ${add.code}): ${add.stdout.trim()} ${add.stderr.trim().slice(-500)}`,
            );
          }
          if (which === "bridge") bridgeAdds++;
          else ovnAdds++;
          const del = await invoke(
            s,
            [bin],
            { ...cniEnv("DEL", id, ns), ...extraEnv },
            JSON.stringify({ ...conf, prevResult: result }),
          );
          if (del.code !== 0) {
            throw new Error(
              `${which} DEL failed (exit ${del.code}): ${del.stdout.trim()} ${del.stderr.trim()}`,
            );
          }
          // Nothing left behind.
          if (which === "ovn-cni") {
            const ports = await ovsPorts();
            if (ports.length) leaks.push(`after ovn-cni DEL of ${id}: OVS ports ${ports.join(", ")}`);
          } else {
            const leases = (
              await readdir(path.join(hostLocalDir, "benchbr")).catch(() => [] as string[])
            ).filter((f) => f !== "lock" && !f.startsWith("last_reserved_ip"));
            if (leases.length)
              leaks.push(`after bridge DEL of ${id}: host-local leases ${leases.join(", ")}`);
            const veths = (await must(["ip", "-n", vm.netns, "-o", "link", "show", "master", BRIDGE_NAME]))
              .trim()
              .split("\n")
              .filter(Boolean);
            if (veths.length)
              leaks.push(`after bridge DEL of ${id}: ${veths.length} veth(s) on ${BRIDGE_NAME}`);
          }
          return { add, del };
        } catch (e) {
          // Leave nothing behind even on failure (DEL is idempotent for both plugins).
          await invoke(s, [bin], cniEnv("DEL", id, ns), JSON.stringify(conf)).catch(() => undefined);
          throw e;
        } finally {
          await delNetns(ns);
        }
      };

      const version = () =>
        invoke(
          s,
          [plugin],
          { CNI_COMMAND: "VERSION", CNI_PATH },
          JSON.stringify({ cniVersion: CNI_VERSION }),
        );
      const floorNode = () => invoke(s, [process.execPath, "-e", "0"], {}, "");
      const floorNsenter = () => invoke(s, ["true"], {}, "");

      const groups: Record<Group, (round: number, record: boolean) => Promise<void>> = {
        bridge: async (round, record) => {
          const r = await addDel("bridge");
          if (record)
            samples.push(
              { case: "bridge ADD", round, ms: r.add.ms },
              { case: "bridge DEL", round, ms: r.del.ms },
            );
        },
        "ovn-cni": async (round, record) => {
          const r = await addDel("ovn-cni");
          if (record)
            samples.push(
              { case: "ovn-cni ADD", round, ms: r.add.ms },
              { case: "ovn-cni DEL", round, ms: r.del.ms },
            );
        },
        "ovn-cni-cold": async (round, record) => {
          // No token cached: this ADD logs in to Keystone first (the vif-id stays cached).
          await rm(path.join(stateDir, "token.json"), { force: true });
          const r = await addDel("ovn-cni");
          if (record) samples.push({ case: "ovn-cni ADD, no token cached", round, ms: r.add.ms });
        },
        "ovn-cni-vifid": async (round, record) => {
          // The VM's port id given in the configuration: no discovery (two `ip link show`).
          const r = await addDel("ovn-cni", {}, { vifId: vm.vifId });
          if (record) samples.push({ case: "ovn-cni ADD, vifId in conf", round, ms: r.add.ms });
        },
        "ovn-cni-liftoff": async (round, record) => {
          // The same plugin, its wrapper passing --liftoff-only to node (see liftoffWrapper).
          const r = await addDel("ovn-cni", {}, {}, liftoffPlugin);
          if (record)
            samples.push(
              { case: "ovn-cni ADD, node --liftoff-only", round, ms: r.add.ms },
              { case: "ovn-cni DEL, node --liftoff-only", round, ms: r.del.ms },
            );
        },
        version: async (round, record) => {
          const r = await version();
          const v = JSON.parse(r.stdout || "{}") as { supportedVersions?: string[] };
          if (r.code !== 0 || !v.supportedVersions?.length)
            throw new Error(`VERSION failed: ${r.stdout}${r.stderr}`);
          if (record) samples.push({ case: "ovn-cni VERSION", round, ms: r.ms });
        },
        floor: async (round, record) => {
          const n = await floorNode();
          const t = await floorNsenter();
          if (n.code !== 0 || t.code !== 0) throw new Error(`floor commands failed: ${n.stderr}${t.stderr}`);
          if (record)
            samples.push({ case: "node -e 0", round, ms: n.ms }, { case: "nsenter true", round, ms: t.ms });
        },
      };

      // The very first ADD in this VM: no token, no vif-id cached, nothing in the page cache
      // that the plugin has not loaded before. Measured once.
      if (only("ovn-cni") || only("ovn-cni-cold")) {
        const r = await addDel("ovn-cni");
        firstAdd = { add_ms: Math.round(r.add.ms * 100) / 100, del_ms: Math.round(r.del.ms * 100) / 100 };
        opts.log(`first ovn-cni ADD (nothing cached): ${num(r.add.ms)} ms, its DEL ${num(r.del.ms)} ms`);
      }
      const active = GROUPS.filter(only);
      // The breakdown: traced ADDs and DELs (not in the numbers above) and module loading,
      // spread over the rounds so that they see the same machine as the measured cases.
      const traceEnv = { OVN_DOCKER_TRACE: "1", NODE_OPTIONS: `--import=${pathToFileURL(PRELOAD).href}` };
      const traceEvery = Math.max(1, Math.floor(pairs / TRACED));
      const probes: Array<{ bootMs: number; staticMs: number; dynamicMs: number }> = [];
      const traced = async () => {
        const r = await addDel("ovn-cni", traceEnv);
        tracedAdds.push(r.add);
        tracedDels.push(r.del);
        const p = await invoke(s, [process.execPath, LOAD_PROBE], {}, "");
        if (p.code !== 0) throw new Error(`load probe failed: ${p.stderr}`);
        probes.push(JSON.parse(p.stdout) as (typeof probes)[number]);
      };
      // One unrecorded round: the bridge plugin creates its bridge, caches warm up.
      for (const g of active) await groups[g](-1, false);
      for (let round = 0; round < pairs; round++) {
        if (round % 10 === 0) opts.log(`round ${round + 1}/${pairs}`);
        // Interleaved: every case once per round, the order rotated from round to round.
        for (let k = 0; k < active.length; k++) {
          await groups[active[(round + k) % active.length] as Group](round, true);
        }
        if (only("ovn-cni") && round % traceEvery === traceEvery - 1 && tracedAdds.length < TRACED)
          await traced();
      }
      if (only("ovn-cni")) while (tracedAdds.length < TRACED) await traced();
      if (probes.length) {
        const m = (f: (p: (typeof probes)[number]) => number) => Math.round(median(probes.map(f)) * 10) / 10;
        moduleLoad = {
          bootMs: m((p) => p.bootMs),
          staticMs: m((p) => p.staticMs),
          dynamicMs: m((p) => p.dynamicMs),
        };
      }

      // Nothing left at the end: OVS ports, veths, API ports of this VM.
      const ports = await ovsPorts();
      if (ports.length) leaks.push(`at the end: OVS ports ${ports.join(", ")}`);
      const links = await vmLinks("ovd");
      if (links.length) leaks.push(`at the end: veths ${links.join(", ")} in the VM`);
      const apiPorts = (await api.listPorts({ device_owner: "ovn-docker:container" })).filter(
        (p) => p["binding:profile"]?.parent_name === vm.vifId,
      );
      if (apiPorts.length) leaks.push(`at the end: API ports ${apiPorts.map((p) => p.id).join(", ")}`);
    } finally {
      for (const n of [...namespaces]) await delNetns(n).catch(() => undefined);
      await sb?.down().catch((e: unknown) => opts.log(`sandbox down: ${(e as Error).message}`));
      await rm(dir, { recursive: true, force: true });
    }

    const cases = CASES.map((c) => {
      const v = samples.filter((x) => x.case === c).map((x) => x.ms);
      return v.length ? summarizeCase(c, v) : undefined;
    }).filter((x): x is CaseSummary => x !== undefined);
    const paired = (a: CaseId, b: CaseId) => {
      const out: number[] = [];
      for (const x of samples.filter((y) => y.case === a)) {
        const y = samples.find((z) => z.case === b && z.round === x.round);
        if (y && y.ms > 0) out.push(x.ms / y.ms);
      }
      return out;
    };
    const res: Result = {
      suite: "cni",
      machine,
      loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
      command: opts.command,
      startedAt: opts.startedAt.toISOString(),
      pairs,
      bridgeVersion: dpkgVersion ? `containernetworking-plugins ${dpkgVersion}` : "version unknown",
      cases,
      firstAdd,
      ratios: RATIOS.flatMap(([a, b]) => {
        const v = paired(a, b);
        const x = spreadOf(v);
        return x ? [{ a, b, n: v.length, ...x }] : [];
      }),
      moduleLoad,
      breakdown: { add: breakdownOf(tracedAdds), del: breakdownOf(tracedDels) },
      traces: { add: tracedAdds.map((x) => x.stderr), del: tracedDels.map((x) => x.stderr) },
      checks: { ovnAdds, bridgeAdds, leaks },
      samples: samples.map((x) => ({ ...x, ms: Math.round(x.ms * 100) / 100 })),
      goals: [
        {
          goal: "every ovn-cni ADD returns an address and every DEL leaves nothing behind",
          met: ovnAdds > 0 ? leaks.length === 0 : undefined,
          detail: `${ovnAdds} ovn-cni and ${bridgeAdds} bridge ADDs, each with an address; ${leaks.length} leak(s)${leaks.length ? `: ${leaks.slice(0, 3).join("; ")}` : ""}`,
        },
      ],
      ...(opts.only ? { partial: true } : {}),
    };
    for (const l of consoleLines(res)) opts.log(l);
    await finishRun(opts, "cni", res, async () => docsBody(res, await pastRuns(opts.repoRoot, res)));
  },
  async renderDocs(opts, file) {
    await renderDocsFromFile<Result>(opts, "cni", file, async (r) =>
      docsBody(r, await pastRuns(opts.repoRoot, r)),
    );
  },
};

/** Earlier full runs of the default size (for the run-to-run spread), this one included, last 5. */
async function pastRuns(repoRoot: string, res: Result): Promise<Result[]> {
  const past = (await readPastResults<Result>(repoRoot, "cni"))
    .map((p) => p.data)
    .filter((d) => d.suite === "cni" && !d.partial && d.pairs === res.pairs && d.startedAt !== res.startedAt);
  return [...past, res].slice(-5);
}

// ---------------------------------------------------------------------------------------------
// output

const ratioOf = (r: Result, c: CaseId, base: CaseId): number | undefined => {
  const a = r.cases.find((x) => x.case === c)?.median_ms;
  const b = r.cases.find((x) => x.case === base)?.median_ms;
  return a !== undefined && b ? a / b : undefined;
};

function baseOf(c: CaseId): CaseId | undefined {
  if (c.startsWith("ovn-cni ADD")) return "bridge ADD";
  if (c.startsWith("ovn-cni DEL")) return "bridge DEL";
  if (c === "ovn-cni VERSION") return "bridge ADD";
  return undefined;
}

function caseRows(r: Result): string[][] {
  return r.cases.map((c) => {
    const base = baseOf(c.case);
    const ratio = base ? ratioOf(r, c.case, base) : undefined;
    return [
      c.case,
      num(c.median_ms, 1),
      num(c.p10_ms, 1),
      num(c.p90_ms, 1),
      `${num(c.min_ms, 1)}–${num(c.max_ms, 1)}`,
      ratio !== undefined ? `${num(ratio, 2)}x ${base === "bridge ADD" ? "bridge ADD" : "bridge DEL"}` : "",
      String(c.n),
    ];
  });
}

const CASE_HEADER = ["case", "median ms", "p10", "p90", "min–max", "median vs bridge", "n"];
const CASE_ALIGN: Array<"l" | "r"> = ["l", "r", "r", "r", "r", "r", "r"];

/** The per-round ratios reported: [a, b] for a / b. */
const RATIOS: Array<[CaseId, CaseId]> = [
  ["ovn-cni ADD", "bridge ADD"],
  ["ovn-cni DEL", "bridge DEL"],
  ["ovn-cni VERSION", "bridge ADD"],
  ["ovn-cni ADD, no token cached", "ovn-cni ADD"],
  ["ovn-cni ADD, vifId in conf", "ovn-cni ADD"],
  ["ovn-cni ADD, node --liftoff-only", "ovn-cni ADD"],
  ["ovn-cni DEL, node --liftoff-only", "ovn-cni DEL"],
];

function ratioRows(r: Result): string[][] {
  return (Array.isArray(r.ratios) ? r.ratios : []).map((x) => [
    `${x.a} / ${x.b}`,
    `${num(x.median, 2)}x`,
    `${num(x.p10, 2)}x–${num(x.p90, 2)}x`,
    String(x.n),
  ]);
}
const RATIO_HEADER = ["per-round ratio", "median", "p10–p90", "rounds"];
const RATIO_ALIGN: Array<"l" | "r"> = ["l", "r", "r", "r"];

function consoleLines(r: Result): string[] {
  const out = [textTable(CASE_HEADER, caseRows(r), CASE_ALIGN), ""];
  if (r.firstAdd) out.push(`first ovn-cni ADD (nothing cached): ${num(r.firstAdd.add_ms)} ms`);
  out.push("", textTable(RATIO_HEADER, ratioRows(r), RATIO_ALIGN));
  if (r.moduleLoad) {
    out.push(
      `module loading: node boot ${num(r.moduleLoad.bootMs, 1)} ms before the first module, static imports ${num(r.moduleLoad.staticMs, 1)} ms, ADD's dynamic imports ${num(r.moduleLoad.dynamicMs, 1)} ms`,
    );
  }
  for (const [name, b] of [
    ["ADD", r.breakdown.add],
    ["DEL", r.breakdown.del],
  ] as const) {
    if (!b) continue;
    out.push("", `traced ovn-cni ${name} (median of ${b.runs}): ${summaryLine(b)}`);
    out.push(textTable(TIMELINE_HEADER, timelineRows(b), ["r", "r", "l"]));
  }
  return out;
}

function summaryLine(b: Breakdown): string {
  return (
    `wall ${num(b.wall_ms, 1)} ms; before node runs (nsenter, sh, exec) ${num(b.before_node_ms, 1)} ms; ` +
    `node bootstrap ${num(b.node_boot_ms, 1)} ms; API requests ${num(b.api_ms, 1)} ms (${b.api_requests}); ` +
    `child processes ${num(b.exec_ms, 1)} ms (${b.execs})` +
    (b.wait_active_ms !== undefined ? `; plumbed → ACTIVE and opened ${num(b.wait_active_ms, 1)} ms` : "") +
    `; exit ${num(b.after_exit_mark_ms, 1)} ms`
  );
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : ""}${num(x, 1)}`;
}

function stepLabel(step: string): string {
  if (step === "bench:preload") return "node bootstrap done (the preload runs; then main.js loads)";
  if (step === "bench:exit") return "process `exit` event (work done)";
  return step.replace(/^bench:/, "");
}

const TIMELINE_HEADER = ["ms since spawn", "since previous", "step"];

function timelineRows(b: Breakdown): string[][] {
  return b.steps.map((s, i) => [
    num(s.at_ms, 1),
    i > 0 ? signed(s.at_ms - (b.steps[i - 1]?.at_ms ?? 0)) : "",
    stepLabel(s.step),
  ]);
}

function docsBody(r: Result, runs: Result[]): string {
  const m = r.machine as {
    cpus?: number;
    cpuModel?: string;
    memGiB?: number;
    loadavgAtStart?: number[];
    node?: string;
  };
  const med = (c: CaseId) => r.cases.find((x) => x.case === c)?.median_ms;
  const out: string[] = [];
  out.push(
    "## `bench/cni`: one CNI invocation, ovn-cni against the bridge plugin",
    "",
    "**What it measures.** A container runtime runs the CNI plugin once per container and waits",
    "for it, so what counts is the wall time of one invocation, start-up included: from just before",
    "`spawn()` until the process exits. Both plugins run the same way, in sandbox VM vm1 of a",
    "fresh sandbox (one VM, podman): `nsenter --net=/run/netns/<vm1> -- PLUGIN` with the VM's",
    "environment and the `CNI_*` variables, the network configuration on stdin (cniVersion",
    `${CNI_VERSION}), every ADD into a fresh network namespace (\`ip netns add\`, not timed), its DEL`,
    "(with `prevResult`) right after it.",
    "",
    `- **bridge**: the baseline, \`${BRIDGE}\` (${r.bridgeVersion}) with \`host-local\` IPAM:`,
    `  its own bridge \`${BRIDGE_NAME}\` in the VM, ${BRIDGE_SUBNET}, \`isGateway\` and \`ipMasq\` false. A veth pair`,
    "  and an address from a local file: no network service, no OVS.",
    "- **ovn-cni**: `ovn-cni` as the sandbox installs it (a `/bin/sh` wrapper that execs node on",
    "  dist/src/cni/main.js), configured as in test/e2e/cni.test.ts: an openrc `credentials` file",
    "  (user demo), the VM's `ovsdb` socket, a `stateDir` (token and vif-id caches). ADD takes a",
    "  VLAN tag in the VM's OVS, creates the API port (child of the VM's port), plumbs the veth",
    "  and waits until OVN reports the port ACTIVE; DEL deletes the API port, the veth and the OVS",
    "  port. **ovn-cni ADD** runs with the Keystone token cached by earlier invocations (the",
    "  steady state); **no token cached** removes stateDir/token.json first, so that ADD logs in;",
    "  **vifId in conf** adds the VM's port id to the configuration (no discovery of the VM's",
    "  port from its MAC, which otherwise runs `ip -j link show` twice on every ADD);",
    "  **node --liftoff-only** runs the same plugin through a copy of the sandbox's wrapper that",
    "  passes `--liftoff-only` to node (see the observations below).",
    "- **floors**: `ovn-cni` VERSION (node start-up, the plugin's first modules, stdin, one JSON",
    "  line), `node -e 0` (node alone) and `nsenter ... true` (entering the VM, common to all).",
    "",
    "Each ADD's result must have an address; after each DEL the VM's `br-vm` must have no `ovd*`",
    "port (ovn-cni), or the bridge no veth and host-local no lease (bridge); at the end no `ovd*`",
    "veth and no API port of the VM may be left.",
    `Every case ran ${r.pairs} times, one round after another, each round running every case once`,
    "in an order rotated from round to round; a first round was not recorded (the bridge plugin",
    "creates its bridge, caches warm up). Ratios are also taken **per round** (one case's",
    "invocation over another's of the same round) and their spread is shown.",
    "",
    `**Command:** \`${r.command}\` — run of ${r.startedAt.slice(0, 10)} (${r.startedAt}), on ${m.cpus ?? "?"} × ${m.cpuModel ?? "?"},`,
    `${m.memGiB ?? "?"} GiB, load average at start [${(m.loadavgAtStart ?? []).join(", ")}], at the end [${(r.loadavgAtEnd ?? []).join(", ")}], Node ${m.node ?? "?"}.`,
    "",
    markdownTable(CASE_HEADER, caseRows(r), CASE_ALIGN),
    "",
  );
  const addB = med("bridge ADD");
  const addO = med("ovn-cni ADD");
  const delB = med("bridge DEL");
  const delO = med("ovn-cni DEL");
  const ver = med("ovn-cni VERSION");
  out.push(
    "Ratios taken per round (each round's a over the same round's b; median and spread over the rounds):",
    "",
    markdownTable(RATIO_HEADER, ratioRows(r), RATIO_ALIGN),
    "",
    "In this run:",
    "",
  );
  if (addB && addO)
    out.push(
      `- ADD: ovn-cni ${num(addO, 1)} ms vs bridge ${num(addB, 1)} ms (medians), **${num(addO / addB, 2)}x**`,
    );
  if (delB && delO)
    out.push(
      `- DEL: ovn-cni ${num(delO, 1)} ms vs bridge ${num(delB, 1)} ms (medians), **${num(delO / delB, 2)}x**`,
    );
  if (ver && addO && addB)
    out.push(
      `- the VERSION floor (${num(ver, 1)} ms) is ${num((ver / addO) * 100, 0)} % of ovn-cni's ADD, and ${num(ver / addB, 2)}x the bridge plugin's whole ADD`,
    );
  if (r.firstAdd)
    out.push(
      `- the very first ovn-cni ADD in the VM (no token, no vif-id cached, measured once): ${num(r.firstAdd.add_ms, 1)} ms`,
    );
  for (const g of r.goals)
    out.push(`- ${g.goal}: **${g.met === undefined ? "not measured" : g.met ? "yes" : "NO"}** (${g.detail})`);
  out.push("");

  if (r.breakdown.add || r.moduleLoad) {
    out.push(
      `**Where ovn-cni's time goes.** Spread over the rounds, ${TRACED} more ovn-cni ADD/DEL pairs ran with`,
      "`OVN_DOCKER_TRACE=1` (the agent's step lines) and `NODE_OPTIONS=--import=bench/cni/preload`",
      "(which adds a line at node's bootstrap, around each socket connect, API request and child",
      "process, and at the `exit` event; it costs a little itself, so these are not in the table",
      'above). Times are ms since `spawn()`; "node process started" is the child\'s',
      "`performance.timeOrigin` on the parent's clock. The summary lines are medians over the",
      "traced invocations.",
      "",
    );
    if (r.moduleLoad)
      out.push(
        `- module loading, measured by bench/cni/load-probe in its own process: node's bootstrap ${num(r.moduleLoad.bootMs, 1)} ms` +
          ` before the first module runs; the plugin's static imports (config, errors: what VERSION loads) ${num(r.moduleLoad.staticMs, 1)} ms;` +
          ` ADD's dynamic imports (agent, settings, verbs and what they import: client, vswitch, ovsdb) **${num(r.moduleLoad.dynamicMs, 1)} ms**`,
      );
    for (const [name, b] of [
      ["ADD", r.breakdown.add],
      ["DEL", r.breakdown.del],
    ] as const) {
      if (b) out.push(`- traced ${name} (median of ${b.runs}): ${summaryLine(b)}`);
    }
    out.push("");
    for (const [name, b] of [
      ["ADD", r.breakdown.add],
      ["DEL", r.breakdown.del],
    ] as const) {
      if (!b) continue;
      out.push(
        `Traced ${name}, timeline (${b.stepsAreMedians ? `medians over ${b.runs} invocations` : `the one of median wall time of ${b.runs}; their steps differed`}; "fetch>"/"fetch<" an API request sent/answered, "exec>"/"exec<" a child process spawned/exited):`,
        "",
        markdownTable(TIMELINE_HEADER, timelineRows(b), ["r", "r", "l"]),
        "",
      );
    }
  }

  if (runs.length > 1) {
    const rows = (
      ["bridge ADD", "ovn-cni ADD", "bridge DEL", "ovn-cni DEL", "ovn-cni VERSION"] as CaseId[]
    ).map((c) => {
      const v = runs
        .map((x) => x.cases.find((y) => y.case === c)?.median_ms)
        .filter((x): x is number => x !== undefined);
      return [c, String(v.length), v.length ? `${num(Math.min(...v), 1)}–${num(Math.max(...v), 1)}` : "-"];
    });
    for (const [label, f] of [
      ["ratio ADD ovn-cni / bridge (medians)", (x: Result) => ratioOf(x, "ovn-cni ADD", "bridge ADD")],
      ["ratio DEL ovn-cni / bridge (medians)", (x: Result) => ratioOf(x, "ovn-cni DEL", "bridge DEL")],
    ] as const) {
      const v = runs.map(f).filter((x): x is number => x !== undefined);
      rows.push([
        label,
        String(v.length),
        v.length ? `${num(Math.min(...v), 2)}–${num(Math.max(...v), 2)}` : "-",
      ]);
    }
    out.push(
      `**Run-to-run spread** (the last ${runs.length} full runs in \`bench/results/\` on this machine, this one included: ${runs.map((x) => x.startedAt).join(", ")}):`,
      "",
      markdownTable(["case", "runs", "median ms min–max"], rows, ["l", "r", "r"]),
      "",
    );
  } else {
    out.push("**Run-to-run spread:** only this full run is recorded in `bench/results/` so far.", "");
  }
  out.push(NOTES);
  return out.join("\n");
}

const NOTES = `**Observations** (2026-11-29, by hand; re-check them when the plugin changes):

- Before the plugin's two fixes below (three full runs, 08:21–08:37 UTC) ovn-cni's ADD took
  12.8–14.2x the bridge plugin's, its DEL 8.5–9.1x. The bridge plugin is a Go binary that
  makes a veth pair and takes an address from a local file; ovn-cni is a node process that
  talks to the VM's OVSDB and to the network API and waits for OVN. Its VERSION floor alone
  (node's start-up and the plugin's first modules) is ~2.4x the bridge plugin's whole ADD: as
  long as every ADD starts node, bridge-like times are out of reach.
- Where one ADD went (traced, 1.2–1.4 s on a machine where \`node -e 0\` took 175–185 ms):
  start-up ~30–35 % (nsenter, sh and exec ~50 ms; node's bootstrap ~150–240 ms; ADD's imports
  140–156 ms); API ~15 % (GET networks, GET subnets, POST port, one GET port, which was ACTIVE
  at the first poll); child processes ~25–30 % (two \`ip -j link show\` for the vif-id,
  ~90–125 ms, and the plumbing: one \`sh -c\` running ~10 processes, 175–350 ms, the largest
  single step); exit ~13–20 % (130–320 ms after the \`exit\` event).
- The exit wait, found with \`node --trace-wasm-compilation-times\`: fetch() (undici) parses
  HTTP with llhttp compiled to WebAssembly, and after a few port-sized answers V8 recompiles
  its main function with TurboFan on a background thread: ~620 ms of CPU and 24 MB per ADD,
  which node waits for before exiting and which takes a core from the ADD meanwhile.
  **Fixed in the plugin**: it now uses node:http (src/client/http-fetch.ts; native parser),
  and finds its cached vif-id from getifaddrs (\`os.networkInterfaces()\`) without starting
  \`ip\`. In a 12-round check right after (same machine state, same run): ADD 1,078 -> 666 ms,
  DEL 851 -> 517 ms; the "node --liftoff-only" rows, which were 0.75x of ADD before, are now
  no faster than the plugin as installed (1.1x), so they measure nothing any more. The full
  run above (08:50 UTC, after both fixes, on a quieter machine): ADD 7.8x, DEL 5.5x the bridge
  plugin's, against 12.8–14.2x and 8.5–9.1x before. The run in the table (09:38) is after a
  third change, three processes fewer in the plumbing script: no difference (ADD 430.7 vs
  429.8 ms at 08:50), so the forks it saved were not where the time is.
- A login (no token cached) costs ~1.25x; the vifId in the configuration is within the noise.

**Ideas to make ADD faster** (not done):

1. Plumbing in fewer processes (~8 now): one \`ip -batch\` on each side. Removing three forks
   measured nothing, so expect little. (\`ip link add ... up\` for a veth pair is refused with
   ENOTCONN by this kernel: the link-up stays separate.)
2. The network (id, subnets, gateways, MTU) cached in stateDir like the token: two API round
   trips less per ADD.
3. Less start-up: the plugin bundled into one file, or a V8 startup snapshot of its modules.
4. The big one: a per-VM daemon that the plugin hands each call to over a unix socket (as
   ovn-kubernetes does): warm connections and caches, JIT-warm code; what is left per container
   is a small shim's start-up, the POST, the plumbing and OVN's binding.`;
