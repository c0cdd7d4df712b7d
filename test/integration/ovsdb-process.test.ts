// Integration test: real ovsdb-server processes (standalone and a 3-member raft cluster), each with
// all of its state in a fresh temporary directory.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { OVSDB_MALLOC_TUNABLES } from "../../src/sandbox/malloc-tunables.js";
import {
  readClusterStatus,
  startOvsdbCluster,
  startOvsdbServer,
  stopAllOvsdbServers,
} from "../../src/sandbox/ovsdb-process.js";

const execFileP = promisify(execFile);
const NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema";

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ovsdb-process-"));
  tempDirs.push(dir);
  return dir;
}

after(async () => {
  try {
    await stopAllOvsdbServers();
  } finally {
    for (const dir of tempDirs) await fs.rm(dir, { recursive: true, force: true });
  }
});

async function listDbs(remote: string): Promise<string[]> {
  const { stdout } = await execFileP("ovsdb-client", ["--timeout=10", "list-dbs", remote]);
  return stdout.split("\n").filter((l) => l.length > 0);
}

async function pidIsGone(pid: number): Promise<boolean> {
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true;
  }
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("standalone NB ovsdb-server: unix and tcp remotes answer, stop is clean and idempotent", async () => {
  const dir = await tempDir();
  const server = await startOvsdbServer({ dir, schema: NB_SCHEMA, tcpPort: "auto" });

  assert.equal(server.unixRemote, `unix:${path.join(dir, "ovnnb.sock")}`);
  assert.equal(server.dbFile, path.join(dir, "ovnnb.db"));
  assert.ok(server.tcpRemote?.startsWith("tcp:127.0.0.1:"), `tcpRemote ${server.tcpRemote}`);
  assert.ok(server.pid > 0);

  assert.ok((await listDbs(server.unixRemote)).includes("OVN_Northbound"));
  assert.ok((await listDbs(server.tcpRemote ?? "")).includes("OVN_Northbound"));

  // Everything lives under dir.
  const files = await fs.readdir(dir);
  for (const f of ["ovnnb.db", "ovnnb.sock", "ovnnb.pid", "ovnnb.ctl", "ovnnb.log"]) {
    assert.ok(files.includes(f), `${f} missing from ${files.join(" ")}`);
  }

  await server.stop();
  assert.ok(await pidIsGone(server.pid), `pid ${server.pid} still alive after stop()`);
  await server.stop(); // idempotent
  await server.kill(); // also fine on a stopped server
});

/** GLIBC_TUNABLES in a running process's environment, or undefined. */
async function tunablesOf(pid: number): Promise<string | undefined> {
  const env = (await fs.readFile(`/proc/${pid}/environ`, "utf8")).split("\0");
  return env.find((e) => e.startsWith("GLIBC_TUNABLES="))?.slice("GLIBC_TUNABLES=".length);
}

test("ovsdb-server runs with the malloc tunables, unless the environment sets its own", async () => {
  const server = await startOvsdbServer({ dir: await tempDir(), schema: NB_SCHEMA });
  try {
    // glibc 2.36 parses the variable in place: /proc shows it cut at the first ':' (its first entry).
    const seen = (await tunablesOf(server.pid)) ?? "";
    assert.ok(seen.length > 0 && OVSDB_MALLOC_TUNABLES.startsWith(seen), `GLIBC_TUNABLES=${seen}`);
  } finally {
    await server.stop();
  }
  const saved = process.env.GLIBC_TUNABLES;
  process.env.GLIBC_TUNABLES = "glibc.malloc.arena_max=2";
  try {
    const own = await startOvsdbServer({ dir: await tempDir(), schema: NB_SCHEMA });
    try {
      assert.equal(await tunablesOf(own.pid), "glibc.malloc.arena_max=2");
    } finally {
      await own.stop();
    }
  } finally {
    if (saved === undefined) delete process.env.GLIBC_TUNABLES;
    else process.env.GLIBC_TUNABLES = saved;
  }
});

test("a fixed tcp port that is taken gives an error naming the command and the log", async () => {
  const dir = await tempDir();
  const first = await startOvsdbServer({ dir: path.join(dir, "a"), schema: NB_SCHEMA, tcpPort: "auto" });
  const port = Number(first.tcpRemote?.split(":")[2]);
  await assert.rejects(
    startOvsdbServer({ dir: path.join(dir, "b"), schema: NB_SCHEMA, tcpPort: port }),
    (err: Error) => {
      assert.match(err.message, /already in use/);
      assert.match(err.message, /command: ovsdb-server /);
      assert.match(err.message, /log file: .*ovnnb\.log/);
      assert.match(err.message, /listen failed/);
      return true;
    },
  );
  await first.stop();
});

test("3-member NB raft cluster: leader election, failover and rejoin", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir();
  const tStart = Date.now();
  const cluster = await startOvsdbCluster({ dir, schema: NB_SCHEMA });
  t.diagnostic(`cluster formed (all 3 members connected, leader known) after ${Date.now() - tStart} ms`);
  assert.equal(cluster.dbName, "OVN_Northbound");
  assert.equal(cluster.members.length, 3);
  assert.equal(cluster.remotes.length, 3);
  for (const [i, m] of cluster.members.entries()) {
    assert.equal(cluster.remotes[i], m.tcpRemote);
    assert.match(m.raftAddress, /^tcp:127\.0\.0\.1:\d+$/);
    assert.ok(m.dbFile.startsWith(path.join(dir, `m${i}`)));
  }
  for (const remote of cluster.remotes) {
    assert.ok((await listDbs(remote)).includes("OVN_Northbound"), remote);
  }

  const leader = await cluster.leaderIndex();
  assert.ok(leader >= 0 && leader <= 2, `leaderIndex ${leader}`);
  const old = cluster.members[leader];
  assert.ok(old);

  const t0 = Date.now();
  await old.kill();
  assert.ok(await pidIsGone(old.pid));
  const newLeader = await waitFor("a new leader", 20_000, async () => {
    const i = await cluster.leaderIndex();
    return i >= 0 && i !== leader ? i : undefined;
  });
  const failoverMs = Date.now() - t0;
  assert.notEqual(newLeader, leader);
  t.diagnostic(`failover: member ${leader} killed, member ${newLeader} leader after ${failoverMs} ms`);

  // The survivors agree on the new leader.
  const winner = cluster.members[newLeader];
  assert.ok(winner);
  const leaderId = (await readClusterStatus(winner.ctlPath, cluster.dbName)).serverId;
  for (const [i, m] of cluster.members.entries()) {
    if (i === leader || i === newLeader) continue;
    const st = await readClusterStatus(m.ctlPath, cluster.dbName);
    assert.equal(st.leader, leaderId);
  }

  // Restart the killed member: it rejoins as a follower and sees the new leader.
  await assert.rejects(winner.restart(), /still running/);
  await old.restart();
  const t1 = Date.now();
  await waitFor("the restarted member to rejoin", 20_000, async () => {
    const st = await readClusterStatus(old.ctlPath, cluster.dbName);
    return st.status === "cluster member" && st.leader === leaderId ? st : undefined;
  });
  t.diagnostic(`rejoin: restarted member ${leader} followed leader ${leaderId} after ${Date.now() - t1} ms`);
  assert.ok((await listDbs(old.tcpRemote ?? "")).includes("OVN_Northbound"));
  assert.equal(await cluster.leaderIndex(), newLeader);

  const pids = cluster.members.map((m) => m.pid);
  await cluster.stop();
  for (const pid of pids) assert.ok(await pidIsGone(pid), `pid ${pid} still alive after cluster.stop()`);
  await cluster.stop(); // idempotent
});
