// A 3-member Raft-clustered OVN Northbound database (ovsdb-tool create-cluster/join-cluster):
// the client settles on the leader, follows it when the leader is killed mid-workload or
// hands leadership over (cluster/leave), and no acknowledged transaction is lost.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { OvsdbClient } from "../../src/ovsdb/client.js";
import { Database } from "../../src/ovsdb/database.js";
import type { NbTables } from "../../src/ovsdb/schemas/ovn-nb.generated.js";
import {
  type OvsdbCluster,
  readClusterStatus,
  startOvsdbCluster,
  stopAllOvsdbServers,
} from "../../src/sandbox/ovsdb-process.js";

const run = promisify(execFile);
let dir: string;
let cluster: OvsdbCluster;
let client: OvsdbClient;
let nb: Database<NbTables>;
const log: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ovsdb-cluster-"));
  cluster = await startOvsdbCluster({ dir, schema: "/usr/share/ovn/ovn-nb.ovsschema", size: 3 });
  client = await OvsdbClient.connect({
    remotes: cluster.remotes.join(","),
    database: "OVN_Northbound",
    keepaliveMs: 1000,
    backoff: { initialMs: 50, maxMs: 500 },
    waitForConnectionMs: 20000,
    log: (l) => log.push(`${new Date().toISOString()} ${l}`),
  });
  nb = await Database.open<NbTables>(client, "OVN_Northbound");
});

after(async () => {
  if (process.env.OVSDB_TEST_LOG) console.log(log.join("\n"));
  await client?.close();
  await stopAllOvsdbServers();
  await rm(dir, { recursive: true, force: true });
});

async function leaderRemote(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const idx = await cluster.leaderIndex();
    if (idx >= 0) return cluster.remotes[idx] as string;
    await sleep(100);
  }
  throw new Error("no leader elected within 10 s");
}

/**
 * Inserts switches one transaction at a time until `stop()` says so. A transaction that
 * fails (its connection died) may or may not have committed, so it is only counted as
 * unknown; every one the server acknowledged is recorded.
 */
async function workload(
  prefix: string,
  stop: () => boolean,
  acked: string[],
  unknown: string[],
): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const name = `${prefix}-${i}`;
    const tx = nb.transaction();
    tx.insert("Logical_Switch", { name, external_ids: { seq: String(i) } });
    try {
      await tx.execute();
      acked.push(name);
    } catch {
      unknown.push(name);
      await sleep(20);
    }
  }
}

test("the client connects to the leader, whichever member it is listed as", async () => {
  assert.equal(client.currentRemote, await leaderRemote());
  // Listing the followers first changes nothing: it still lands on the leader.
  const leader = await leaderRemote();
  const reordered = [...cluster.remotes.filter((r) => r !== leader), leader];
  const c = await OvsdbClient.connect({ remotes: reordered, database: "OVN_Northbound" });
  try {
    assert.equal(c.currentRemote, leader);
  } finally {
    await c.close();
  }
});

test("leader killed mid-workload: the client follows the new leader and no acknowledged transaction is lost", async () => {
  const oldLeader = await leaderRemote();
  const oldIdx = cluster.remotes.indexOf(oldLeader);
  const acked: string[] = [];
  const unknown: string[] = [];
  let killedAt = -1;
  const target = 400;
  const work = workload("kill", () => acked.length >= target, acked, unknown);
  while (acked.length < 150) await sleep(5);
  killedAt = acked.length;
  await cluster.members[oldIdx]?.kill();
  await work;

  const newLeader = await leaderRemote();
  assert.notEqual(newLeader, oldLeader);
  assert.equal(client.currentRemote, newLeader, `client follows the new leader\n${log.join("\n")}`);
  assert.ok(client.sessions >= 2);
  assert.ok(acked.length >= target && killedAt < target, "the workload went on after the kill");

  // Every acknowledged insert is in the database the new leader serves.
  const rows = await nb.select("Logical_Switch", [], ["name"]);
  const present = new Set(rows.map((r) => r.name));
  const lost = acked.filter((n) => !present.has(n));
  assert.deepEqual(lost, [], `acknowledged but lost: ${lost.join(", ")}`);
  // A transaction that failed in flight either committed or not, never half.
  for (const n of unknown) {
    const r = rows.filter((x) => x.name === n);
    assert.ok(r.length <= 1);
  }

  // The killed member comes back, rejoins as a follower and catches up.
  await cluster.members[oldIdx]?.restart();
  const member = cluster.members[oldIdx];
  assert.ok(member);
  for (let i = 0; i < 100; i++) {
    const st = await readClusterStatus(member.ctlPath, "OVN_Northbound").catch(() => undefined);
    if (st?.role === "follower" && st.leader !== "unknown") break;
    await sleep(100);
  }
  const { stdout } = await run("ovn-nbctl", [
    `--db=${member.unixRemote}`,
    "--no-leader-only",
    "--bare",
    "--columns=name",
    "list",
    "Logical_Switch",
  ]);
  const onFollower = new Set(stdout.split("\n").filter(Boolean));
  assert.deepEqual(
    acked.filter((n) => !onFollower.has(n)),
    [],
    "the restarted member has every acknowledged row",
  );
});

test("leadership handed over (cluster/leave): the client notices through _Server and moves", async () => {
  const oldLeader = await leaderRemote();
  const idx = cluster.remotes.indexOf(oldLeader);
  const member = cluster.members[idx];
  assert.ok(member);
  const sessions = client.sessions;
  const acked: string[] = [];
  const unknown: string[] = [];
  let done = false;
  const work = workload("leave", () => done, acked, unknown);
  while (acked.length < 50) await sleep(5);
  await run("ovs-appctl", ["-t", member.ctlPath, "cluster/leave", "OVN_Northbound"]);
  const deadline = Date.now() + 15000;
  while (
    Date.now() < deadline &&
    !(client.currentRemote && client.currentRemote !== oldLeader && acked.length > 100)
  ) {
    await sleep(50);
  }
  done = true;
  await work;
  assert.notEqual(client.currentRemote, oldLeader, `client left the old leader\n${log.join("\n")}`);
  assert.equal(client.currentRemote, await leaderRemote());
  assert.ok(client.sessions > sessions);
  const present = new Set((await nb.select("Logical_Switch", [], ["name"])).map((r) => r.name));
  assert.deepEqual(
    acked.filter((n) => !present.has(n)),
    [],
  );
});
