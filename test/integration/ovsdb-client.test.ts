// The OVSDB client against real ovsdb-server processes (OVN NB and Open_vSwitch schemas):
// every method and operation, monitors fed by another client (ovn-nbctl), rows we write
// read back by ovn-nbctl / ovs-vsctl, and what happens when the server dies or goes silent.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import fc from "fast-check";
import type { MonitorCache } from "../../src/ovsdb/cache.js";
import { NotConnectedError, OvsdbClient } from "../../src/ovsdb/client.js";
import { Database } from "../../src/ovsdb/database.js";
import { NamedUuid } from "../../src/ovsdb/datum.js";
import { ConnectionClosedError, OvsdbRpcError } from "../../src/ovsdb/rpc.js";
import type { NbTables } from "../../src/ovsdb/schemas/ovn-nb.generated.js";
import type { VswitchTables } from "../../src/ovsdb/schemas/vswitch.generated.js";
import { TransactionError } from "../../src/ovsdb/transaction.js";
import { type OvsdbServer, startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { valueArb } from "../helpers/arbitraries.js";

const run = promisify(execFile);
const NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema";
const VS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";

let dir: string;
let nbServer: OvsdbServer;
let vsServer: OvsdbServer;
let client: OvsdbClient;
let nb: Database<NbTables>;
const clients: OvsdbClient[] = [];

async function connect(remote: string, extra: Partial<Parameters<typeof OvsdbClient.connect>[0]> = {}) {
  const c = await OvsdbClient.connect({ remotes: remote, ...extra });
  clients.push(c);
  return c;
}

async function nbctl(...args: string[]): Promise<string> {
  const { stdout } = await run("ovn-nbctl", [`--db=${nbServer.unixRemote}`, ...args]);
  return stdout.trim();
}

/** Resolves when pred holds after some update of the cache. */
function until<T extends Record<string, Record<string, unknown>>>(
  cache: MonitorCache<T>,
  pred: () => boolean,
  what: string,
): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
    const check = () => {
      if (pred()) {
        clearTimeout(timer);
        cache.off("updated", check);
        resolve();
      }
    };
    cache.on("updated", check);
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ovsdb-client-"));
  nbServer = await startOvsdbServer({ dir: path.join(dir, "nb"), schema: NB_SCHEMA, tcpPort: "auto" });
  vsServer = await startOvsdbServer({ dir: path.join(dir, "vs"), schema: VS_SCHEMA });
  await run("ovn-nbctl", [`--db=${nbServer.unixRemote}`, "init"]);
  client = await connect(nbServer.unixRemote, { database: "OVN_Northbound" });
  nb = await Database.open<NbTables>(client, "OVN_Northbound");
});

after(async () => {
  for (const c of clients) await c.close();
  await stopAllOvsdbServers();
  await rm(dir, { recursive: true, force: true });
});

describe("methods", () => {
  test("list_dbs and get_schema, over unix and tcp", async () => {
    assert.deepEqual((await client.listDbs()).sort(), ["OVN_Northbound", "_Server"]);
    const schema = await client.getSchema("OVN_Northbound");
    assert.equal(schema.name, "OVN_Northbound");
    assert.ok(schema.tables.Logical_Switch_Port?.columns.parent_name);
    const tcp = await connect(nbServer.tcpRemote as string);
    assert.ok((await tcp.listDbs()).includes("OVN_Northbound"));
  });

  test("echo", async () => {
    assert.deepEqual(await client.echo("a", 1, ["b"]), ["a", 1, ["b"]]);
  });

  test("the server's echo is answered: an idle session with no keepalive of ours survives its inactivity probe", async () => {
    // ovsdb-server probes an idle TCP session after 5 s and drops it 5 s later if unanswered.
    const idle = await connect(nbServer.tcpRemote as string, { keepaliveMs: 0 });
    await sleep(11_000);
    assert.equal(idle.sessions, 1, "never reconnected");
    assert.ok(idle.connected);
    assert.deepEqual(await idle.echo("ok"), ["ok"]);
  });

  test("get_schema of an unknown database names it", async () => {
    await assert.rejects(
      client.getSchema("Nope"),
      (e: Error) => e instanceof OvsdbRpcError && /Nope|unknown database/.test(e.message),
    );
  });
});

describe("transact: every operation", () => {
  test("insert with uuid-name referenced in the same transaction, then select", async () => {
    const tx = nb.transaction();
    const lsp = tx.insert("Logical_Switch_Port", {
      name: "c1",
      addresses: ["0a:00:00:00:10:01 10.10.0.11"],
      parent_name: "vm-a",
      tag: 10,
      external_ids: { "neutron:port_name": "c1", ünïcödé: "✓" },
    });
    const ls = tx.insert("Logical_Switch", { name: "LS1", ports: [lsp] }, "ls1");
    const sel = tx.select(
      "Logical_Switch_Port",
      [["name", "==", "c1"]],
      ["name", "tag", "parent_name", "external_ids"],
    );
    const r = await tx.execute();
    assert.match(r.uuid(ls), /^[0-9a-f-]{36}$/);
    const rows = r.rows(sel);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.tag, 10);
    assert.equal(rows[0]?.parent_name, "vm-a");
    assert.deepEqual(rows[0]?.external_ids, { "neutron:port_name": "c1", ünïcödé: "✓" });
    assert.equal(rows[0]?._uuid, r.uuid(lsp));
    // ovn-nbctl, another client, reads what we wrote
    assert.equal(await nbctl("lsp-get-parent", "c1"), "vm-a");
    assert.equal(await nbctl("lsp-get-tag", "c1"), "10");
    assert.equal(await nbctl("get", "Logical_Switch_Port", "c1", "external_ids:ünïcödé"), '"✓"');
    assert.equal(await nbctl("lsp-list", "LS1"), `${r.uuid(lsp)} (c1)`);
  });

  test("update, mutate (set, map, integer) and delete", async () => {
    const tx = nb.transaction();
    const upd = tx.update("Logical_Switch_Port", [["name", "==", "c1"]], {
      enabled: false,
      options: { a: "1", b: "2" },
    });
    const mut = tx.mutate(
      "Logical_Switch_Port",
      [["name", "==", "c1"]],
      [
        ["addresses", "insert", ["unknown"]],
        ["options", "delete", ["a"]],
        ["external_ids", "insert", { k: "v" }],
        ["tag", "+=", 5],
      ],
    );
    const r = await tx.execute();
    assert.equal(r.count(upd), 1);
    assert.equal(r.count(mut), 1);
    const [row] = await nb.select("Logical_Switch_Port", [["name", "==", "c1"]]);
    assert.equal(row?.enabled, false);
    assert.deepEqual(row?.options, { b: "2" });
    assert.deepEqual(row?.addresses.sort(), ["0a:00:00:00:10:01 10.10.0.11", "unknown"]);
    assert.equal(row?.external_ids.k, "v");
    assert.equal(row?.tag, 15);
    assert.equal(await nbctl("get", "Logical_Switch_Port", "c1", "enabled"), "false");

    const tx2 = nb.transaction();
    const ins = tx2.insert("Logical_Switch", { name: "doomed" });
    await tx2.execute();
    const tx3 = nb.transaction();
    const del = tx3.delete("Logical_Switch", [["name", "==", "doomed"]]);
    assert.equal((await tx3.execute()).count(del), 1);
    assert.ok(ins instanceof NamedUuid);
    assert.equal(await nbctl("--if-exists", "get", "Logical_Switch", "doomed", "name"), "");
  });

  test("wait: a compare-and-swap guard that holds, and one that fails the whole transaction", async () => {
    const ok = nb.transaction();
    ok.wait("Logical_Switch_Port", [["name", "==", "c1"]], ["tag"], "==", [{ tag: 15 }], 0);
    ok.update("Logical_Switch_Port", [["name", "==", "c1"]], { tag: 16 });
    await ok.execute();

    const stale = nb.transaction();
    stale.wait("Logical_Switch_Port", [["name", "==", "c1"]], ["tag"], "==", [{ tag: 15 }], 0);
    stale.update("Logical_Switch_Port", [["name", "==", "c1"]], { tag: 99 });
    await assert.rejects(
      stale.execute(),
      (e: Error) => e instanceof TransactionError && e.error === "timed out" && e.opIndex === 0,
    );
    assert.equal(await nbctl("lsp-get-tag", "c1"), "16", "a failed transaction wrote nothing");
  });

  test("comment, commit (durable), abort", async () => {
    const tx = nb.transaction();
    tx.comment("ovn-docker integration test");
    tx.update("Logical_Switch_Port", [["name", "==", "c1"]], { tag: 17 });
    tx.commit(true);
    await tx.execute();
    assert.equal(await nbctl("lsp-get-tag", "c1"), "17");

    const ab = nb.transaction();
    ab.update("Logical_Switch_Port", [["name", "==", "c1"]], { tag: 18 });
    ab.abort();
    await assert.rejects(ab.execute(), (e: Error) => e instanceof TransactionError && e.error === "aborted");
    assert.equal(await nbctl("lsp-get-tag", "c1"), "17");
  });

  test("errors name the operation: referential integrity, constraint violation", async () => {
    const tx = nb.transaction();
    tx.update("Logical_Switch", [["name", "==", "LS1"]], { ports: ["00000000-0000-0000-0000-000000000001"] });
    await assert.rejects(
      tx.execute(),
      (e: Error) => e instanceof TransactionError && e.error === "referential integrity violation",
    );
    const tx2 = nb.transaction();
    tx2.insert("Logical_Switch_Port", { name: "bad", tag: 5000 });
    await assert.rejects(
      tx2.execute(),
      (e: Error) => e instanceof TransactionError && /constraint violation/.test(e.error),
    );
  });

  test("a value the schema refuses never reaches the server", async () => {
    const tx = nb.transaction();
    assert.throws(
      () => tx.insert("Logical_Switch_Port", { name: "x", tag: "ten" as unknown as number }),
      /OVN_Northbound: Logical_Switch_Port.tag: expected an integer, got "ten"/,
    );
    assert.throws(() => tx.insert("Logical_Switch_Port", { nosuch: 1 } as never), /has no column nosuch/);
    assert.throws(() => tx.insert("No_Table" as never, {} as never), /has no table No_Table/);
  });

  test("cancel: an aborted long wait is canceled on the server", async () => {
    const tx = nb.transaction();
    tx.wait("Logical_Switch", [["name", "==", "LS1"]], ["name"], "!=", [{ name: "LS1" }], 60000);
    const ac = new AbortController();
    const p = tx.execute({ signal: ac.signal });
    await sleep(100);
    ac.abort();
    await assert.rejects(p, (e: Error) => e instanceof OvsdbRpcError && /canceled/.test(e.message));
    assert.deepEqual(await client.echo("still alive"), ["still alive"]);
  });
});

describe("monitors fed by another client", () => {
  for (const method of ["monitor", "monitor_cond", "monitor_cond_since"] as const) {
    test(`${method} sees inserts, updates and deletes made by ovn-nbctl`, async () => {
      const {
        cache,
        cancel,
        method: used,
      } = await nb.monitor(
        {
          Logical_Switch_Port: {
            columns: ["name", "tag", "tag_request", "parent_name", "external_ids", "addresses"],
          },
        },
        method,
      );
      assert.equal(used, method);
      const byName = (n: string) => cache.find("Logical_Switch_Port", (r) => r.name === n)[0];
      assert.equal(byName("c1")?.tag, 17, "initial rows");
      const name = `m-${method}`;
      await nbctl(
        "lsp-add",
        "LS1",
        name,
        "vm-b",
        "20",
        "--",
        "set",
        "Logical_Switch_Port",
        name,
        "external_ids:a=1",
      );
      // lsp-add PARENT TAG writes tag_request (northd would fill tag); columns left at their default come back as defaults
      await until(cache, () => byName(name)?.tag_request === 20, `${name} inserted`);
      assert.equal(byName(name)?.parent_name, "vm-b");
      assert.equal(byName(name)?.tag, null);
      assert.deepEqual(byName(name)?.addresses, []);
      assert.deepEqual(byName(name)?.external_ids, { a: "1" });
      await nbctl("set", "Logical_Switch_Port", name, "tag=21", "external_ids:b=2", "addresses=x,y");
      await until(
        cache,
        () => byName(name)?.tag === 21 && byName(name)?.external_ids.b === "2",
        `${name} modified`,
      );
      assert.deepEqual(byName(name)?.external_ids, { a: "1", b: "2" });
      assert.deepEqual(byName(name)?.addresses.sort(), ["x", "y"]);
      await nbctl(
        "remove",
        "Logical_Switch_Port",
        name,
        "external_ids",
        "a",
        "--",
        "clear",
        "Logical_Switch_Port",
        name,
        "addresses",
      );
      await until(cache, () => byName(name)?.external_ids.a === undefined, `${name} key removed`);
      assert.deepEqual(byName(name)?.addresses, []);
      // Columns of at most one element arrive as their new value: changed, then cleared.
      await nbctl("set", "Logical_Switch_Port", name, "tag=22");
      await until(cache, () => byName(name)?.tag === 22, `${name} tag changed`);
      await nbctl(
        "clear",
        "Logical_Switch_Port",
        name,
        "parent_name",
        "--",
        "clear",
        "Logical_Switch_Port",
        name,
        "tag",
      );
      await until(
        cache,
        () => byName(name)?.parent_name === null && byName(name)?.tag === null,
        `${name} cleared`,
      );
      await nbctl("lsp-del", name);
      await until(cache, () => byName(name) === undefined, `${name} deleted`);
      await cancel();
    });
  }

  test("monitor_cond with a condition sees only matching rows", async () => {
    const { cache, cancel } = await nb.monitor(
      { Logical_Switch_Port: { where: [["parent_name", "==", "vm-z"]] } },
      "monitor_cond",
    );
    await nbctl("lsp-add", "LS1", "z1", "vm-z", "30", "--", "lsp-add", "LS1", "other", "vm-y", "31");
    await until(cache, () => cache.table("Logical_Switch_Port").size === 1, "z1 only");
    assert.deepEqual(
      [...cache.table("Logical_Switch_Port").values()].map((r) => r.name),
      ["z1"],
    );
    await cancel();
  });
});

describe("locks", () => {
  test("lock, contention, steal and unlock between two clients", async () => {
    const a = await connect(nbServer.unixRemote);
    const b = await connect(nbServer.unixRemote);
    assert.equal(await a.lock("ovn_docker_test"), true);
    assert.equal(await b.lock("ovn_docker_test"), false);
    const stolen = new Promise<string>((resolve) => a.once("stolen", resolve));
    assert.equal(await b.steal("ovn_docker_test"), true);
    assert.equal(await stolen, "ovn_docker_test");
    // assert fails for the client that lost the lock, succeeds for the holder
    const aDb = await Database.open<NbTables>(a, "OVN_Northbound");
    const bDb = await Database.open<NbTables>(b, "OVN_Northbound");
    const ta = aDb.transaction();
    ta.assert("ovn_docker_test");
    await assert.rejects(
      ta.execute(),
      (e: Error) => e instanceof TransactionError && e.error === "not owner",
    );
    const tb = bDb.transaction();
    tb.assert("ovn_docker_test");
    await tb.execute();
    await b.unlock("ovn_docker_test");
    const relocked = new Promise<string>((resolve) => a.once("locked", resolve));
    assert.equal(await a.lock("ovn_docker_test"), true);
    assert.ok(relocked);
  });
});

describe("the Open_vSwitch database", () => {
  test("bridge, port with a VLAN tag and interface external_ids, read back by ovs-vsctl", async () => {
    const c = await connect(vsServer.unixRemote);
    const vs = await Database.open<VswitchTables>(c, "Open_vSwitch");
    const init = vs.transaction();
    init.insert("Open_vSwitch", {});
    await init.execute();
    const tx = vs.transaction();
    const iface = tx.insert("Interface", {
      name: "veth-c1",
      external_ids: { "container-id": "3f2a", "ovn-docker:ifname": "eth0" },
    });
    const port = tx.insert("Port", { name: "veth-c1", interfaces: [iface], tag: 10 });
    const bi = tx.insert("Interface", { name: "br-vm", type: "internal" });
    const bp = tx.insert("Port", { name: "br-vm", interfaces: [bi] });
    const br = tx.insert("Bridge", { name: "br-vm", ports: [port, bp], datapath_type: "netdev" });
    tx.mutate("Open_vSwitch", [], [["bridges", "insert", [br]]]);
    await tx.execute();
    const vsctl = (...a: string[]) =>
      run("ovs-vsctl", [`--db=${vsServer.unixRemote}`, "--no-wait", ...a]).then((r) => r.stdout.trim());
    assert.equal(await vsctl("list-br"), "br-vm");
    assert.equal(await vsctl("list-ports", "br-vm"), "veth-c1");
    assert.equal(await vsctl("get", "Port", "veth-c1", "tag"), "10");
    assert.equal(await vsctl("get", "Interface", "veth-c1", "external_ids:container-id"), '"3f2a"');
    assert.equal(await vsctl("get", "Bridge", "br-vm", "datapath_type"), "netdev");
    // and the other direction: ovs-vsctl writes, we read
    await vsctl("set", "Port", "veth-c1", "tag=11", "--", "add-port", "br-vm", "veth-c2", "tag=12");
    const ports = await vs.select("Port", [["tag", "!=", null]], ["name", "tag"]);
    assert.deepEqual(ports.map((p) => [p.name, p.tag]).sort(), [
      ["veth-c1", 11],
      ["veth-c2", 12],
    ]);
  });
});

describe("round trip through the real server", () => {
  test("property: random rows written and read back are equal (every non-reference column of the root tables)", async () => {
    const schema = nb.schema;
    const tables = [
      "Logical_Switch",
      "Logical_Router",
      "Load_Balancer",
      "Address_Set",
      "Port_Group",
    ] as const;
    for (const t of tables) {
      const ts = schema.tables[t];
      assert.ok(ts?.isRoot, `${t} is a root table`);
      const cols = Object.entries(ts.columns).filter(
        ([, c]) => !c.type.key.refTable && !c.type.value?.refTable,
      );
      const arb = fc.record(Object.fromEntries(cols.map(([c, s]) => [c, valueArb(s.type)])));
      let n = 0;
      await fc.assert(
        fc.asyncProperty(arb, async (row0) => {
          const row = { ...row0 } as Record<string, unknown>;
          if ("name" in row) row.name = `${t}-${n++}-${String(row.name)}`; // unique under name indexes
          const tx = nb.transaction();
          const id = tx.insert(t, row as never);
          const r = await tx.execute();
          const [back] = await nb.select(t, [["_uuid", "==", r.uuid(id)]], cols.map(([c]) => c) as never);
          const norm = (x: Record<string, unknown>) =>
            Object.fromEntries(
              Object.entries(x)
                .filter(([k]) => k !== "_uuid")
                .map(([k, v]) => [k, Array.isArray(v) ? [...v].sort() : v]),
            );
          assert.deepStrictEqual(norm(back as Record<string, unknown>), norm(row), t);
          const del = nb.transaction();
          del.delete(t, [["_uuid", "==", r.uuid(id)]]);
          await del.execute();
        }),
        { numRuns: 25 },
      );
    }
  });
});

describe("failures: nothing hangs", () => {
  test("a silent server (SIGSTOP) is detected by the keepalive; pending requests fail; then it recovers", async () => {
    const c = await connect(nbServer.unixRemote, { keepaliveMs: 300, waitForConnectionMs: 0 });
    const db = await Database.open<NbTables>(c, "OVN_Northbound");
    process.kill(nbServer.pid, "SIGSTOP");
    try {
      const t0 = Date.now();
      await assert.rejects(
        db.select("Logical_Switch"),
        (e: Error) => e instanceof ConnectionClosedError && /sent nothing for/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 3000, "detected within a few keepalive intervals");
    } finally {
      process.kill(nbServer.pid, "SIGCONT");
    }
    for (let i = 0; i < 50 && !c.connected; i++) await sleep(100);
    assert.ok(c.connected);
    assert.ok(c.sessions >= 2);
    assert.ok((await db.select("Logical_Switch", [["name", "==", "LS1"]])).length === 1);
  });

  test("server killed: pending requests fail at once, requests while down fail after the bounded wait, monitors resume after restart", async () => {
    const sdir = path.join(dir, "restart");
    let server = await startOvsdbServer({ dir: sdir, schema: NB_SCHEMA });
    const c = await connect(server.unixRemote, {
      waitForConnectionMs: 300,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const db = await Database.open<NbTables>(c, "OVN_Northbound");
    const seed = db.transaction();
    seed.insert("Logical_Switch", { name: "before" });
    await seed.execute();
    const { cache } = await db.monitor({ Logical_Switch: true });
    assert.equal(cache.table("Logical_Switch").size, 1);

    const waiting = db.transaction();
    waiting.wait("Logical_Switch", [["name", "==", "before"]], ["name"], "!=", [{ name: "before" }], 60000);
    const pending = waiting.execute().then(
      () => assert.fail("the wait cannot succeed"),
      (e: Error) => e,
    );
    await sleep(50);
    const t0 = Date.now();
    await server.kill();
    const err = await pending;
    assert.ok(err instanceof ConnectionClosedError && /transact got no reply/.test(err.message), String(err));
    assert.ok(Date.now() - t0 < 1000);
    await assert.rejects(
      db.select("Logical_Switch"),
      (e: Error) => e instanceof NotConnectedError && /after 300 ms/.test(e.message),
    );

    server = await startOvsdbServer({ dir: sdir, schema: NB_SCHEMA });
    await nbctlAt(server.unixRemote, "ls-add", "after");
    await until(
      cache,
      () => cache.find("Logical_Switch", (r) => r.name === "after").length === 1,
      "monitor resumed",
    );
    assert.deepEqual([...cache.table("Logical_Switch").values()].map((r) => r.name).sort(), [
      "after",
      "before",
    ]);
    await c.close();
    await server.stop();
  });
});

async function nbctlAt(remote: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("ovn-nbctl", [`--db=${remote}`, ...args]);
  return stdout.trim();
}
