// Two real `ovn-docker server` processes on one real NB ovsdb-server, under load, and one of
// them killed with SIGKILL in the middle of it. NB is the only system of record, so what must
// hold is about NB: no IP, MAC or (parent, tag) handed out twice; every port answered with 201
// is in NB exactly as answered; nothing half-written (an owned port row not on its switch,
// without addresses or with a malformed neutron:cidrs, a DHCP_Options row without its switch);
// and a restarted server serves everything NB holds.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  freeLoopbackPort,
  type OvsdbServer,
  startOvsdbServer,
  stopAllOvsdbServers,
} from "../../src/sandbox/ovsdb-process.js";
import type { InitResult } from "../../src/server/config.js";
import { addressOf, isOwned, type NbOwned, NbProbe, ownedRowProblems } from "../helpers/nb-probe.js";
import {
  type ServerProcess,
  serverInit,
  startServerProcess,
  stopAllServerProcesses,
} from "../helpers/server-process.js";

type Body = Record<string, unknown>;
/** An HTTP answer, or `error` when the connection failed (refused, reset, closed mid-request). */
type Answer = { status: number; body: Body } | { status: undefined; error: string };

let dir: string;
let nb: OvsdbServer;
let probe: NbProbe;
let init: InitResult;
const servers: ServerProcess[] = [];
const ports: number[] = [];
let token: string;
let ls1: string;
let parents: string[] = [];

async function call(server: number, method: string, url: string, body?: unknown): Promise<Answer> {
  const base = `http://127.0.0.1:${ports[server]}`;
  try {
    const r = await fetch(`${base}${url}`, {
      method,
      headers: {
        "x-auth-token": token,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30000),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Body) : {} };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { status: undefined, error: `${(e as Error).message}: ${cause?.code ?? cause?.message ?? ""}` };
  }
}

function created(a: Answer, what: string): Body {
  assert.equal(a.status, 201, `${what}: ${JSON.stringify(a)}`);
  return a.status === 201 ? a.body : {};
}

async function login(server: number, user: "demo" | "admin"): Promise<string> {
  const u = init.users.find((x) => x.name === user);
  const r = await fetch(`http://127.0.0.1:${ports[server]}/v3/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: user, domain: { id: "default" }, password: u?.password } },
        },
        scope: { project: { id: init.project.id } },
      },
    }),
  });
  const t = r.headers.get("x-subject-token");
  if (r.status !== 201 || !t) throw new Error(`login as ${user}: ${r.status} ${await r.text()}`);
  return t;
}

async function startServer(i: number): Promise<ServerProcess> {
  const s = await startServerProcess({
    name: `server-${i}`,
    dir,
    config: init.config_file,
    nb: nb.unixRemote,
    port: ports[i] as number,
    // One replica decides batches while earlier ones are in flight, the other one at a time.
    args: i === 1 ? ["--port-batches", "4"] : [],
  });
  servers[i] = s;
  return s;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "server-crash-"));
  nb = await startOvsdbServer({ dir: path.join(dir, "nb"), schema: "/usr/share/ovn/ovn-nb.ovsschema" });
  probe = await NbProbe.open(nb.unixRemote);
  init = await serverInit(path.join(dir, "etc"));
  while (ports.length < 2) {
    const p = await freeLoopbackPort();
    if (!ports.includes(p)) ports.push(p);
  }
  await Promise.all([startServer(0), startServer(1)]);
  token = await login(0, "demo");

  const mgmt = created(await call(0, "POST", "/v2.0/networks", { network: { name: "mgmt" } }), "mgmt")
    .network as Body;
  created(
    await call(1, "POST", "/v2.0/subnets", {
      subnet: { network_id: mgmt.id, cidr: "10.0.0.0/24", ip_version: 4 },
    }),
    "mgmt subnet",
  );
  ls1 = String(
    (created(await call(1, "POST", "/v2.0/networks", { network: { name: "LS1" } }), "LS1").network as Body)
      .id,
  );
  created(
    await call(0, "POST", "/v2.0/subnets", {
      subnet: { network_id: ls1, cidr: "10.20.0.0/16", ip_version: 4 },
    }),
    "LS1 subnet",
  );
  const vms = created(
    await call(0, "POST", "/v2.0/ports", {
      ports: [0, 1, 2, 3].map((i) => ({
        network_id: mgmt.id,
        name: `vm-${i}`,
        device_owner: "compute:nova",
      })),
    }),
    "parent ports",
  ).ports as Body[];
  parents = vms.map((p) => String(p.id));
});

after(async () => {
  await stopAllServerProcesses();
  await probe?.close();
  await stopAllOvsdbServers();
  // KEEP_TMP=1 keeps the servers' logs and the NB database for a look after a failure.
  if (dir && !process.env.KEEP_TMP) await rm(dir, { recursive: true, force: true });
  else if (dir) console.error(`kept ${dir}`);
});

interface Request {
  i: number;
  server: number;
  parent: string;
  tag: number;
  name: string;
}

/** Child port requests: parents round-robin, distinct tags per parent, both servers for each parent. */
function requests(count: number, firstTag: number, prefix: string): Request[] {
  return Array.from({ length: count }, (_, i) => {
    const round = Math.floor(i / parents.length);
    return {
      i,
      server: (i + round) % 2,
      parent: parents[i % parents.length] as string,
      tag: firstTag + round,
      name: `${prefix}-${i}`,
    };
  });
}

const createBody = (r: Request) => ({
  port: { network_id: ls1, name: r.name, "binding:profile": { parent_name: r.parent, tag: r.tag } },
});

/** Every port answered 201 is in NB exactly as answered (name, MAC, IP, parent, tag, cidrs). */
function checkAnswered(state: NbOwned, answered: Array<{ req: Request; port: Body }>): void {
  const byName = new Map(state.ports.map((p) => [p.name, p]));
  for (const { req, port } of answered) {
    const row = byName.get(String(port.id));
    assert.ok(row, `port ${String(port.id)} (${req.name}) was answered 201 but is not in NB`);
    const ips = (port.fixed_ips as Array<{ ip_address: string }>).map((x) => x.ip_address);
    assert.deepEqual(
      { profile: port["binding:profile"], name: port.name, network: port.network_id },
      { profile: { parent_name: req.parent, tag: req.tag }, name: req.name, network: ls1 },
      `${req.name}: the answer is not what was asked for`,
    );
    assert.equal(ips.length, 1, `${req.name}: one IPv4 address expected, got ${JSON.stringify(ips)}`);
    assert.deepEqual(
      {
        address: addressOf(row),
        parent: row.parent_name,
        tag: row.tag,
        cidrs: row.external_ids["neutron:cidrs"],
        net: row.external_ids["neutron:network_name"],
        port_name: row.external_ids["neutron:port_name"],
      },
      {
        address: { mac: port.mac_address, ips },
        parent: req.parent,
        tag: req.tag,
        cidrs: `${ips[0]}/16`,
        net: `neutron-${ls1}`,
        port_name: req.name,
      },
      `${req.name}: the NB row differs from the 201 answer`,
    );
  }
}

const childrenOnLs1 = (state: NbOwned) =>
  state.ports.filter((p) => isOwned(p) && p.external_ids["neutron:network_name"] === `neutron-${ls1}`);

test("500 concurrent child ports over two server processes: no duplicates, every 201 in NB as answered", async (t) => {
  const reqs = requests(500, 1, "c1");
  const t0 = Date.now();
  const answers = await Promise.all(reqs.map((r) => call(r.server, "POST", "/v2.0/ports", createBody(r))));
  const elapsed = Date.now() - t0;
  const statuses = new Map<string, number>();
  for (const a of answers) {
    const k = a.status === undefined ? `error ${a.error}` : String(a.status);
    statuses.set(k, (statuses.get(k) ?? 0) + 1);
  }
  const answered = reqs.flatMap((req, i) => {
    const a = answers[i];
    return a?.status === 201 ? [{ req, port: a.body.port as Body }] : [];
  });
  // Contention between the replicas may end in 503 (ServiceUnavailable, "try again"); nothing else may fail.
  for (const [i, a] of answers.entries()) {
    if (a.status === 201) continue;
    assert.equal(a.status, 503, `request ${i}: ${JSON.stringify(a)}`);
    assert.equal(
      (a.body.NeutronError as Body | undefined)?.type,
      "ServiceUnavailable",
      JSON.stringify(a.body),
    );
  }
  const state = await probe.rows();
  assert.deepEqual(ownedRowProblems(state), []);
  checkAnswered(state, answered);
  assert.equal(childrenOnLs1(state).length, answered.length, "NB holds a port for every 201 and no other");
  t.diagnostic(`500 concurrent creations in ${elapsed} ms: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.ok(answered.length >= 450, `only ${answered.length} of 500 creations succeeded`);
});

test("a server process SIGKILLed mid-load: every 201 in NB as answered, nothing half-written, restart serves all", async (t) => {
  const before = childrenOnLs1(await probe.rows()).length;
  const reqs = requests(300, 126, "c2");
  const queues = [reqs.filter((r) => r.server === 0), reqs.filter((r) => r.server === 1)];
  const answers = new Map<number, Answer>();
  const victim = servers[1] as ServerProcess;
  const killAfter = 40;
  let victimAnswered = 0;
  let killed: Promise<void> | undefined;
  let inFlightAtKill = 0;
  let inFlight = 0;
  // 16 clients per server, each sending its next request when the last one is answered.
  const worker = async (server: number) => {
    const q = queues[server] as Request[];
    for (let r = q.shift(); r; r = q.shift()) {
      if (server === 1) inFlight++;
      const a = await call(server, "POST", "/v2.0/ports", createBody(r));
      if (server === 1) inFlight--;
      answers.set(r.i, a);
      if (server === 1 && a.status !== undefined && ++victimAnswered === killAfter) {
        inFlightAtKill = inFlight;
        killed = victim.stop("SIGKILL");
      }
    }
  };
  await Promise.all([0, 1].flatMap((s) => Array.from({ length: 16 }, () => worker(s))));
  await killed;
  assert.ok(killed, "the victim was never killed");
  assert.equal((await victim.exit).signal, "SIGKILL");

  const answered: Array<{ req: Request; port: Body }> = [];
  const count: Record<"ok" | "busy" | "connErrors", [number, number]> = {
    ok: [0, 0],
    busy: [0, 0],
    connErrors: [0, 0],
  };
  for (const req of reqs) {
    const a = answers.get(req.i);
    assert.ok(a, `request ${req.i} has no outcome`);
    if (a.status === undefined) {
      // Only the killed server may fail to answer; those requests are not counted.
      assert.equal(req.server, 1, `request ${req.i} to the live server failed: ${a.error}`);
      count.connErrors[1]++;
      continue;
    }
    if (a.status === 201) {
      answered.push({ req, port: a.body.port as Body });
      count.ok[req.server as 0 | 1]++;
      continue;
    }
    assert.equal(a.status, 503, `request ${req.i} to server ${req.server}: ${JSON.stringify(a)}`);
    count.busy[req.server as 0 | 1]++;
  }
  assert.ok(count.connErrors[1] > 0, "no request to the killed server failed: it was not killed mid-load");

  const state = await probe.rows();
  assert.deepEqual(ownedRowProblems(state), [], "half-written or duplicated rows in NB");
  checkAnswered(state, answered);
  // Ports written by the victim but never answered may exist; nothing else beyond the 201s.
  const after = childrenOnLs1(state).length;
  assert.ok(
    after - before >= answered.length && after - before <= answered.length + count.connErrors[1],
    `NB gained ${after - before} ports for ${answered.length} answered 201 and ${count.connErrors[1]} unanswered`,
  );
  t.diagnostic(
    `kill mid-load: ${JSON.stringify(count)}, ${inFlightAtKill} in flight at the kill, ` +
      `${after - before - answered.length} written but unanswered`,
  );

  // The restarted server serves everything NB holds, as does the one that stayed up.
  await startServer(1);
  const ours = state.ports
    .filter(isOwned)
    .map((p) => p.name)
    .sort();
  for (const server of [1, 0]) {
    const list = await call(server, "GET", "/v2.0/ports?fields=id");
    assert.equal(list.status, 200, JSON.stringify(list));
    const ids = (list.status === 200 ? (list.body.ports as Body[]) : []).map((p) => String(p.id)).sort();
    assert.equal(
      ids.length,
      ours.length,
      `server ${server} lists ${ids.length} ports, NB holds ${ours.length}`,
    );
    assert.deepEqual(ids, ours);
  }
  // And it writes again: a tag taken while it was down is refused, a free one is given.
  const taken = answered.find((a) => a.req.server === 0)?.req as Request;
  const dup = await call(1, "POST", "/v2.0/ports", createBody({ ...taken, name: "dup" }));
  assert.equal(dup.status, 409, JSON.stringify(dup));
  created(
    await call(1, "POST", "/v2.0/ports", createBody({ ...taken, tag: 4000, name: "after-restart" })),
    "after restart",
  );
  assert.deepEqual(ownedRowProblems(await probe.rows()), []);
});
