// Group commit against a real ovsdb-server: concurrent transactions share server
// transactions, yet each caller gets exactly its own result or its own error.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { OvsdbClient } from "../../src/ovsdb/client.js";
import { Database } from "../../src/ovsdb/database.js";
import type { NbTables } from "../../src/ovsdb/schemas/ovn-nb.generated.js";
import { TransactionError } from "../../src/ovsdb/transaction.js";
import { startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";

let dir: string;
let client: OvsdbClient;
let nb: Database<NbTables>;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ovsdb-coalesce-"));
  const server = await startOvsdbServer({ dir, schema: "/usr/share/ovn/ovn-nb.ovsschema" });
  client = await OvsdbClient.connect({ remotes: server.unixRemote });
  nb = await Database.open<NbTables>(client, "OVN_Northbound", { coalesce: true });
  const tx = nb.transaction();
  tx.insert("Logical_Switch", { name: "LS1" });
  await tx.execute();
});

after(async () => {
  await client?.close();
  await stopAllOvsdbServers();
  await rm(dir, { recursive: true, force: true });
});

/** One logical port add: insert + reference from the switch, with a named-uuid. */
function addPort(name: string, tag: number) {
  const tx = nb.transaction();
  const p = tx.insert("Logical_Switch_Port", { name, tag, parent_name: "vm" }, "port");
  tx.mutate("Logical_Switch", [["name", "==", "LS1"]], [["ports", "insert", [p]]]);
  return tx.execute().then((r) => r.uuid(p));
}

test("200 concurrent transactions: fewer server transactions, every caller its own uuid, every row referenced", async () => {
  const before = { ...(nb.coalescer?.stats ?? { submitted: 0, sent: 0, split: 0 }) };
  const uuids = await Promise.all(Array.from({ length: 200 }, (_, i) => addPort(`p${i}`, (i % 4000) + 1)));
  const stats = nb.coalescer?.stats;
  assert.ok(stats);
  assert.equal(stats.submitted - before.submitted, 200);
  assert.ok(stats.sent - before.sent < 50, `merged: ${stats.sent - before.sent} server transactions for 200`);
  assert.equal(new Set(uuids).size, 200);
  const ports = await nb.select("Logical_Switch_Port", [], ["name"]);
  const byUuid = new Map(ports.map((p) => [p._uuid, p.name]));
  for (const [i, u] of uuids.entries())
    assert.equal(byUuid.get(u), `p${i}`, "each caller got the uuid of its own row");
  const [ls] = await nb.select("Logical_Switch", [["name", "==", "LS1"]], ["ports"]);
  assert.equal(ls?.ports.length, 200);
});

test("one bad transaction among many fails alone; the others commit", async () => {
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => addPort(`q${i}`, i === 17 ? 5000 : i + 1)),
  );
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [[i, r.reason]] : []));
  assert.equal(failed.length, 1);
  assert.equal(failed[0]?.[0], 17);
  assert.ok(failed[0]?.[1] instanceof TransactionError && /constraint violation/.test(failed[0][1].error));
  const names = new Set((await nb.select("Logical_Switch_Port", [], ["name"])).map((p) => p.name));
  for (let i = 0; i < 40; i++) assert.equal(names.has(`q${i}`), i !== 17, `q${i}`);
  assert.ok((nb.coalescer?.stats.split ?? 0) >= 1);
});

test("compare-and-swap guards keep their meaning when merged: exactly one of N racing creators wins", async () => {
  const create = async (who: number) => {
    const tx = nb.transaction();
    tx.wait("Logical_Switch", [["name", "==", "contested"]], ["name"], "==", [], 0);
    tx.insert("Logical_Switch", { name: "contested", external_ids: { who: String(who) } });
    await tx.execute();
    return who;
  };
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => create(i)));
  const winners = results.filter((r) => r.status === "fulfilled");
  assert.equal(winners.length, 1);
  for (const r of results) {
    if (r.status === "rejected")
      assert.ok(r.reason instanceof TransactionError && r.reason.error === "timed out");
  }
  assert.equal((await nb.select("Logical_Switch", [["name", "==", "contested"]])).length, 1);
});
