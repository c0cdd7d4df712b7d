// Port creation with several batches in flight (src/server/neutron/ports.ts PortCreator,
// src/ovn/in-flight.ts): a batch decided while earlier ones are unanswered avoids what they
// reserved and expects what they write, so the NB client can merge and send it the moment the
// earlier one is answered; and when a guarded row changes under it, every batch chained on
// the failed one decides again. Against a real NB.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

const run = promisify(execFile);
type Body = Record<string, unknown>;

interface Bed {
  f: Fixture;
  token: string;
  ls1: string;
  parents: string[];
  /** Child ports created so far (the next one's index, so tags never repeat). */
  made: number;
}

const ok = (r: { status: number; body: Body }, status = 201) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body;
};

async function bed(portBatchesInFlight: number): Promise<Bed> {
  const f = await startFixture(1, { portBatchesInFlight });
  const token = await f.token("demo");
  const net = async (name: string, cidr: string) => {
    const n = ok(await f.call("POST", "/v2.0/networks", { token, body: { network: { name } } }))
      .network as Body;
    ok(
      await f.call("POST", "/v2.0/subnets", {
        token,
        body: { subnet: { network_id: n.id, cidr, ip_version: 4 } },
      }),
    );
    return String(n.id);
  };
  const mgmt = await net("mgmt", "10.0.0.0/24");
  const ls1 = await net("LS1", "10.128.0.0/20");
  const parents: string[] = [];
  for (let i = 0; i < 2; i++) {
    const p = ok(await f.call("POST", "/v2.0/ports", { token, body: { port: { network_id: mgmt } } }))
      .port as Body;
    parents.push(String(p.id));
  }
  return { f, token, ls1, parents, made: 0 };
}

/** `n` child ports created with `concurrency` requests outstanding; every answer must be 201. */
async function storm(b: Bed, n: number, concurrency: number): Promise<Body[]> {
  const out: Body[] = [];
  const end = b.made + n;
  const worker = async () => {
    for (let i = b.made++; i < end; i = b.made++) {
      const parent = b.parents[i % b.parents.length] as string;
      const tag = Math.floor(i / b.parents.length) + 1;
      const r = await b.f.call("POST", "/v2.0/ports", {
        token: b.token,
        body: { port: { network_id: b.ls1, "binding:profile": { parent_name: parent, tag } } },
      });
      out.push(ok(r).port as Body);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Every answered port is in NB as answered, and no address, MAC or (parent, tag) is there twice. */
async function assertUniqueInNb(b: Bed, ports: Body[]): Promise<void> {
  const { stdout } = await run("ovn-nbctl", [
    `--db=${b.f.nb.unixRemote}`,
    "--format=csv",
    "--data=bare",
    "--no-headings",
    "--columns=name,addresses,parent_name,tag",
    "list",
    "Logical_Switch_Port",
  ]);
  const rows = new Map(
    stdout
      .trim()
      .split("\n")
      .map((l) => l.split(","))
      .map(([name, addresses, parent, tag]) => [name, { addresses, pt: `${parent}/${tag}` }]),
  );
  const macs = new Set<string>();
  const ips = new Set<string>();
  const pts = new Set<string>();
  for (const p of ports) {
    const row = rows.get(String(p.id));
    assert.ok(row, `port ${p.id} was answered 201 but is not in NB`);
    const ip = (p.fixed_ips as Array<{ ip_address: string }>)[0]?.ip_address as string;
    assert.equal(row.addresses, `${p.mac_address} ${ip}`);
    const profile = p["binding:profile"] as { parent_name?: string; tag?: number };
    const child = profile.parent_name !== undefined;
    assert.equal(row.pt, child ? `${profile.parent_name}/${profile.tag}` : "/");
    for (const [set, v] of [
      [macs, String(p.mac_address)],
      [ips, ip],
      ...(child ? ([[pts, row.pt]] as const) : []),
    ] as const) {
      assert.ok(!set.has(v), `${v} handed out twice`);
      set.add(v);
    }
  }
}

/** One child port request, not awaited. */
function child(b: Bed, body: Body = {}): Promise<{ status: number; body: Body }> {
  const i = b.made++;
  return b.f.call("POST", "/v2.0/ports", {
    token: b.token,
    body: {
      port: {
        network_id: b.ls1,
        "binding:profile": { parent_name: b.parents[i % b.parents.length], tag: Math.floor(i / 2) + 1 },
        ...body,
      },
    },
  });
}

async function conflicts(b: Bed): Promise<number> {
  const r = await fetch(`${b.f.servers[0]?.url}/metrics`);
  const m = /nb_transaction_duration_seconds_count\{outcome="conflict"\} (\d+)/.exec(await r.text());
  return Number(m?.[1] ?? 0);
}

/** Polls until `pred` holds (at most 5 s). */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (let t = 0; !pred(); t += 5) {
    if (t > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs `f` with NB stopped (SIGSTOP), so whatever the service sends stays unanswered, then
 * lets NB go on (SIGCONT) whatever happens.
 */
async function withNbPaused<T>(b: Bed, f: () => Promise<T>): Promise<T> {
  process.kill(b.f.nb.pid, "SIGSTOP");
  try {
    return await f();
  } finally {
    process.kill(b.f.nb.pid, "SIGCONT");
  }
}

let one: Bed;
let many: Bed;
before(async () => {
  one = await bed(1);
  many = await bed(4);
});
after(async () => {
  await one?.f.close();
  await many?.f.close();
  await stopAllOvsdbServers();
});

test("a batch is decided and sent while the one before is unanswered, chained on it (one at a time when so configured)", async () => {
  for (const b of [many, one]) {
    const creator = b.f.servers[0]?.svc.portCreator;
    assert.ok(creator);
    const start = { batches: creator.batches, overlapped: creator.overlapped, conflicts: await conflicts(b) };
    const [first, second] = await withNbPaused(b, async () => {
      const first = child(b);
      await until(() => creator.batches === start.batches + 1, "the first batch to be sent");
      const second = child(b);
      if (b === many) {
        await until(() => creator.batches === start.batches + 2, "the second batch to be sent");
      } else {
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(creator.batches, start.batches + 1, "one at a time: the second waits for the first");
      }
      return [first, second];
    });
    const ports = [ok(await first).port as Body, ok(await second).port as Body];
    await assertUniqueInNb(b, ports);
    assert.equal(creator.overlapped - start.overlapped, b === many ? 1 : 0);
    // Chained on the first batch's writes, the second batch's guards held: no decision again.
    assert.equal(await conflicts(b), start.conflicts, "a guard failed");
  }
});

test("the same address and (parent, tag) asked for while a batch holding them is in flight: 409, handed out once", async () => {
  const b = many;
  const creator = b.f.servers[0]?.svc.portCreator;
  assert.ok(creator);
  const ip = "10.128.9.9";
  const tag = 4000;
  const same = { fixed_ips: [{ ip_address: ip }], "binding:profile": { parent_name: b.parents[0], tag } };
  const before = creator.batches;
  const [first, again] = await withNbPaused(b, async () => {
    const first = child(b, same);
    await until(() => creator.batches === before + 1, "the first batch to be sent");
    // NB has not answered: the view does not have the first port, only the reservations do.
    const again = await child(b, same);
    return [first, again];
  });
  assert.equal(again.status, 409, JSON.stringify(again.body));
  const port = ok(await first).port as Body;
  await assertUniqueInNb(b, [port]);
  const other = await child(b, { fixed_ips: [{ ip_address: ip }] });
  assert.equal(other.status, 409, "the address is taken in NB now");
});

test("a guarded row changed by another writer mid-storm: chained batches decide again, nothing twice", async () => {
  const b = many;
  const before = await conflicts(b);
  let stop = false;
  // Another writer keeps changing LS1's external_ids: every batch in flight then fails its guard.
  const meddler = (async () => {
    for (let i = 0; !stop; i++) {
      await run("ovn-nbctl", [
        `--db=${b.f.nb.unixRemote}`,
        "set",
        "Logical_Switch",
        `neutron-${b.ls1}`,
        `external_ids:test-meddler=${i}`,
      ]);
    }
  })();
  let ports: Body[];
  try {
    ports = await storm(b, 400, 32);
  } finally {
    stop = true;
    await meddler;
  }
  assert.ok((await conflicts(b)) > before, "no batch met a changed guard: the test did not test it");
  await assertUniqueInNb(b, ports);
  assert.equal(b.f.servers[0]?.svc.view.inFlight.size, 0, "expectations of settled writes left behind");
  const creator = b.f.servers[0]?.svc.portCreator;
  assert.ok(creator);
  const { held } = creator as unknown as { held: Record<string, Map<string, Set<unknown>>> };
  for (const kind of ["ips", "macs", "tags"])
    assert.equal(held[kind]?.size, 0, `reservations (${kind}) left behind once every batch is in the view`);
});

test("another replica's write from the same starting point never passes for the batch a chained one expects", async () => {
  // Two replicas; NB paused while replica 0 sends b1 and replica 1 sends a1, then a2 chained on
  // a1. b1 and a1 were decided on the same view; b1 asks for the address a2 asks for. Whichever
  // NB applies first, the address must end up in NB once: a2 expected a1's write, not b1's.
  const f = await startFixture(2, { portBatchesInFlight: 4 });
  try {
    const token = await f.token("demo");
    const net = ok(await f.call("POST", "/v2.0/networks", { token, body: { network: { name: "LS2" } } }))
      .network as Body;
    ok(
      await f.call("POST", "/v2.0/subnets", {
        token,
        body: { subnet: { network_id: net.id, cidr: "10.99.0.0/24", ip_version: 4 } },
      }),
    );
    const make = (server: number, ip: string) =>
      f.call("POST", "/v2.0/ports", {
        token,
        server,
        body: { port: { network_id: net.id, fixed_ips: [{ ip_address: ip }] } },
      });
    const a = f.servers[1]?.svc.portCreator;
    const b = f.servers[0]?.svc.portCreator;
    assert.ok(a && b);
    for (let round = 0; round < 5; round++) {
      const x = `10.99.0.${100 + round}`;
      const y = `10.99.0.${200 + round}`;
      const start = { a: a.batches, b: b.batches };
      const [b1, a1, a2] = await withNbPaused({ f } as Bed, async () => {
        const b1 = make(0, x);
        await until(() => b.batches === start.b + 1, "b1 to be sent");
        const a1 = make(1, y);
        await until(() => a.batches === start.a + 1, "a1 to be sent");
        const a2 = make(1, x);
        await until(() => a.batches === start.a + 2, "a2 to be sent");
        return [b1, a1, a2];
      });
      const answers = [await b1, await a1, await a2];
      assert.equal(answers[1]?.status, 201, JSON.stringify(answers[1]?.body));
      const statuses = [answers[0]?.status, answers[2]?.status].sort();
      assert.deepEqual(
        statuses,
        [201, 409],
        `${x} asked for by both: ${JSON.stringify(answers.map((r) => r.body))}`,
      );
      const { stdout } = await run("ovn-nbctl", [
        `--db=${f.nb.unixRemote}`,
        "--bare",
        "--columns=addresses",
        "list",
        "Logical_Switch_Port",
      ]);
      assert.equal(stdout.split(/\s+/).filter((w) => w === x).length, 1, `${x} in NB more than once`);
    }
  } finally {
    await f.close();
  }
});

test("a batch holds at most 1,024 ports: two bulk requests of 600 that arrive together are written apart", async () => {
  const b = one;
  const creator = b.f.servers[0]?.svc.portCreator;
  assert.ok(creator);
  const start = creator.batches;
  const bulk = () =>
    b.f.call("POST", "/v2.0/ports", {
      token: b.token,
      body: { ports: Array.from({ length: 600 }, () => ({ network_id: b.ls1 })) },
    });
  const [x, y] = await withNbPaused(b, async () => {
    const both = [bulk(), bulk()] as const;
    await until(() => creator.batches === start + 1, "the first batch to be sent");
    return both;
  });
  const ports = [...((ok(await x).ports as Body[]) ?? []), ...((ok(await y).ports as Body[]) ?? [])];
  assert.equal(ports.length, 1200);
  assert.equal(creator.batches - start, 2, "one batch per bulk request");
  await assertUniqueInNb(b, ports);
});

test("the NB session lost with a batch in flight and another chained on it: nothing chains past the lost one", async () => {
  const b = many;
  const svc = b.f.servers[0]?.svc;
  const creator = svc?.portCreator;
  assert.ok(svc && creator);
  const start = creator.batches;
  let second: Promise<{ status: number; body: Body }> | undefined;
  try {
    const firstAnswer = await withNbPaused(b, async () => {
      const first = child(b);
      await until(() => creator.batches === start + 1, "the first batch to be sent");
      second = child(b);
      await until(() => creator.batches === start + 2, "the chained batch to be sent");
      assert.ok(svc.view.inFlight.size > 0, "the chained batch expects what the first one writes");
      // The session drops before NB answers: whether the first batch committed is unknown.
      (svc.client as unknown as { conn: { close(e?: Error): void } }).conn.close(
        new Error("test: session lost"),
      );
      const answer = await first;
      // The chained batch is still waiting for NB, but nothing may chain on it any more.
      assert.equal(svc.view.inFlight.size, 0, "expectations of a write with an unknown outcome kept");
      return answer;
    });
    assert.equal(firstAnswer.status, 503, JSON.stringify(firstAnswer.body));
  } finally {
    await second;
  }
  const after = ok(await child(b)).port as Body;
  await assertUniqueInNb(b, [after]);
});
