// Benchmark suite "agent": `ovn-docker run -d` against bare `docker run -d --net=none` of the same
// image and command, in the same sandbox VM and the same run (cold: a network sandbox and a port
// are created on the way; warm: a ready sandbox is taken from the pool), the first ping right
// after `run` returns, and `rm`. Everything runs on a real sandbox (real OVN, dockerd, OVS).
// Each case is measured `repeat` times, interleaved; tables show medians.

import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { IMAGE, type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import {
  finishRun,
  type Goal,
  machineInfo,
  markdownTable,
  median,
  num,
  renderDocsFromFile,
  type Suite,
  type SuiteOptions,
  textTable,
} from "../common.js";

const CMD = ["sleep", "3600"];

interface Sample {
  case: string;
  ms: number;
}

interface Result {
  suite: "agent";
  machine: Record<string, unknown>;
  command: string;
  repeat: number;
  cases: Array<{ case: string; median_ms: number; min_ms: number; max_ms: number; n: number }>;
  firstPing: { attempts: number; atOnce: number; medianRttMs: number };
  goals: Goal[];
  partial?: boolean;
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await f();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

async function must(
  sb: Sandbox,
  vm: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const r = await sb.exec(vm, argv, { env });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} in ${vm}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function poolReady(sb: Sandbox, network: string): Promise<number> {
  const s = JSON.parse(await must(sb, "vm1", ["ovn-docker", "pool", "status", "-f", "json"])) as Array<{
    network: string;
    ready: number;
  }>;
  return s.find((x) => x.network === network)?.ready ?? 0;
}

export const agentSuite: Suite = {
  name: "agent",
  description: "ovn-docker run (cold, warm pool) and rm vs bare docker run --net=none; first ping",
  async run(opts: SuiteOptions): Promise<void> {
    const repeat = opts.repeat ?? 10;
    const dir = await mkdtemp(path.join(os.tmpdir(), "ovn-docker-bench-agent-"));
    const samples: Sample[] = [];
    const pings: Array<{ ok: boolean; rtt: number }> = [];
    let sb: Sandbox | undefined;
    try {
      opts.log("bringing the sandbox up (2 VMs)...");
      sb = await startSandbox({ dir, vms: 2 });
      const s = sb;
      await must(s, "vm1", ["ovn-docker", "create", "network", "BENCH", "--subnet", "10.77.0.0/22"]);
      const peer = await must(s, "vm2", ["ovn-docker", "--network=BENCH", "run", "-d", IMAGE, ...CMD]);
      const peerId = peer.split("\n").pop() as string;
      const peerIp = (
        JSON.parse(await must(s, "vm2", ["ovn-docker", "ps", "-f", "json"])) as Array<{ ips: string[] }>
      )[0]?.ips[0] as string;
      // warm-up: the pause image, the engine's caches
      const w = await must(s, "vm1", ["ovn-docker", "--network=BENCH", "run", "-d", IMAGE, ...CMD]);
      await must(s, "vm1", ["ovn-docker", "rm", w.split("\n").pop() as string]);
      await must(s, "vm1", [
        "docker",
        "rm",
        "-f",
        await must(s, "vm1", ["docker", "run", "-d", "--net=none", IMAGE, ...CMD]),
      ]);

      const only = (c: string) => !opts.only || opts.only.includes(c);
      for (let i = 0; i < repeat; i++) {
        opts.log(`round ${i + 1}/${repeat}`);
        if (only("bare-run")) {
          const r = await timed(() => must(s, "vm1", ["docker", "run", "-d", "--net=none", IMAGE, ...CMD]));
          samples.push({ case: "bare-run", ms: r.ms });
          const rmT = await timed(() => must(s, "vm1", ["docker", "rm", "-f", r.value]));
          samples.push({ case: "bare-rm", ms: rmT.ms });
        }
        if (only("ovn-run-cold")) {
          // Cold means no ready sandbox: the previous round's warm case left the pool full.
          await must(s, "vm1", ["ovn-docker", "pool", "drain"]);
          const r = await timed(() =>
            must(s, "vm1", ["ovn-docker", "--network=BENCH", "run", "-d", IMAGE, ...CMD]),
          );
          samples.push({ case: "ovn-run-cold", ms: r.ms });
          const id = r.value.split("\n").pop() as string;
          // The first ping, right after run returned: one echo, no retry.
          const p = await s.exec("vm1", ["docker", "exec", id, "ping", "-c", "1", "-W", "1", peerIp]);
          const rtt = Number(/time=([\d.]+) ms/.exec(p.stdout)?.[1] ?? Number.NaN);
          pings.push({ ok: p.code === 0, rtt });
          const rmT = await timed(() => must(s, "vm1", ["ovn-docker", "rm", id]));
          samples.push({ case: "ovn-rm", ms: rmT.ms });
        }
        if (only("ovn-run-warm")) {
          await must(s, "vm1", [
            "ovn-docker",
            "pool",
            "fill",
            "--network",
            "BENCH",
            "--min",
            "2",
            "--max",
            "4",
          ]);
          const r = await timed(() =>
            must(s, "vm1", ["ovn-docker", "--network=BENCH", "run", "-d", IMAGE, ...CMD]),
          );
          samples.push({ case: "ovn-run-warm", ms: r.ms });
          // Let the background refill finish before the next measurement.
          for (let k = 0; k < 100 && (await poolReady(s, "BENCH")) < 2; k++)
            await new Promise((res) => setTimeout(res, 100));
          await must(s, "vm1", ["ovn-docker", "rm", r.value.split("\n").pop() as string]);
        }
      }
      await must(s, "vm1", ["ovn-docker", "pool", "drain"]);
      await must(s, "vm2", ["ovn-docker", "rm", peerId]);
    } finally {
      await sb?.down().catch((e: unknown) => opts.log(`sandbox down: ${(e as Error).message}`));
      await rm(dir, { recursive: true, force: true });
    }

    const names = ["bare-run", "ovn-run-cold", "ovn-run-warm", "bare-rm", "ovn-rm"];
    const cases = names
      .map((c) => {
        const v = samples.filter((x) => x.case === c).map((x) => x.ms);
        return v.length
          ? { case: c, median_ms: median(v), min_ms: Math.min(...v), max_ms: Math.max(...v), n: v.length }
          : undefined;
      })
      .filter((x): x is NonNullable<typeof x> => x !== undefined);
    const med = (c: string) => cases.find((x) => x.case === c)?.median_ms;
    const bare = med("bare-run");
    const warm = med("ovn-run-warm");
    const okPings = pings.filter((p) => p.ok);
    const rtts = okPings.map((p) => p.rtt).filter((x) => Number.isFinite(x));
    const firstPing = {
      attempts: pings.length,
      atOnce: okPings.length,
      medianRttMs: rtts.length ? median(rtts) : Number.NaN,
    };
    const goals: Goal[] = [
      {
        goal: "warm-pool run within 1.3x of bare docker run",
        met: bare && warm ? warm / bare <= 1.3 : undefined,
        detail:
          bare && warm ? `${num(warm / bare, 2)}x (${num(warm)} ms vs ${num(bare)} ms)` : "not measured",
      },
      {
        goal: "first ping succeeds at once when run returns, within 50 ms",
        met: pings.length ? okPings.length === pings.length && firstPing.medianRttMs <= 50 : undefined,
        detail: `${okPings.length}/${pings.length} at once, median first-echo RTT ${num(firstPing.medianRttMs, 1)} ms`,
      },
    ];
    const res: Result = {
      suite: "agent",
      machine: machineInfo(),
      command: opts.command,
      repeat,
      cases,
      firstPing,
      goals,
      ...(opts.only ? { partial: true } : {}),
    };
    const header = ["case", "median ms", "min", "max", "vs bare run", "n"];
    const rows = cases.map((c) => [
      c.case,
      num(c.median_ms),
      num(c.min_ms),
      num(c.max_ms),
      bare && c.case.includes("run") ? `${num(c.median_ms / bare, 2)}x` : "",
      String(c.n),
    ]);
    opts.log(textTable(header, rows, ["l", "r", "r", "r", "r", "r"]));
    await finishRun(opts, "agent", res, async () => docsBody(res));
  },
  async renderDocs(opts, file) {
    await renderDocsFromFile<Result>(opts, "agent", file, async (r) => docsBody(r));
  },
};

/** Written by hand from traces (OVN_DOCKER_TRACE=1); kept with the numbers on every run. Re-check when the run path changes. */
const NOTES = `Where the time goes (\`OVN_DOCKER_TRACE=1\`, quiet machine): node start and module loading ~0.25 s;
a cold \`run\` starts two containers (the network sandbox, then the application: ~0.6 s each) with
the tag, API port, veth and ACTIVE in between (~0.2 s); a warm \`run\` starts only the application.
\`rm\` is one \`docker rm -f\` of two containers (~0.45 s) while the port, veth and tag are freed.
Not done yet: starting the sandbox container concurrently with the tag and API port of a cold run.
With 100 \`run\`s at once in one VM (the e2e test) the two cores are the limit: 5 to 9 minutes,
almost all of it in dockerd and in starting 100 node processes.`;

function docsBody(r: Result): string {
  const bare = r.cases.find((c) => c.case === "bare-run")?.median_ms;
  return [
    `Command: \`${r.command}\` (${r.repeat} rounds, interleaved; medians). Every command runs inside sandbox VM vm1`,
    "through `nsenter`, the same way for both sides; the image is the local busybox, the command `sleep 3600`.",
    "",
    markdownTable(
      ["case", "median ms", "min", "max", "vs bare `docker run`"],
      r.cases.map((c) => [
        c.case,
        num(c.median_ms),
        num(c.min_ms),
        num(c.max_ms),
        bare && c.case.includes("run") ? `${num(c.median_ms / bare, 2)}x` : "",
      ]),
      ["l", "r", "r", "r", "r"],
    ),
    "",
    `First ping after a cold \`run\` returned: ${r.firstPing.atOnce}/${r.firstPing.attempts} succeeded at the first echo, median RTT ${num(r.firstPing.medianRttMs, 1)} ms (includes ARP).`,
    "",
    ...r.goals.map(
      (g) =>
        `- ${g.goal}: **${g.met === undefined ? "not measured" : g.met ? "met" : "not met"}** (${g.detail})`,
    ),
    "",
    NOTES,
  ].join("\n");
}
