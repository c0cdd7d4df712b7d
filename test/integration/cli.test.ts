// The ovn-docker command line against a real NB ovsdb-server: what a user types, what
// ovn-nbctl then sees, and the exit codes and messages of mistakes.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type OvsdbServer, startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";

const run = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
let dir: string;
let nb: OvsdbServer;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, OVN_NB_DB: nb.unixRemote },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cli-"));
  nb = await startOvsdbServer({ dir, schema: "/usr/share/ovn/ovn-nb.ovsschema" });
  await run("ovn-nbctl", [`--db=${nb.unixRemote}`, "init"]);
});

after(async () => {
  await stopAllOvsdbServers();
  await rm(dir, { recursive: true, force: true });
});

test("nb ls-add / ls-list / ls-del, seen by ovn-nbctl", async () => {
  const add = await cli("nb", "ls-add", "LS1", "--external-id", "purpose=test");
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout.trim(), /^[0-9a-f-]{36}$/);
  const { stdout } = await run("ovn-nbctl", [
    `--db=${nb.unixRemote}`,
    "get",
    "Logical_Switch",
    "LS1",
    "external_ids:purpose",
  ]);
  assert.equal(stdout.trim(), "test");

  const again = await cli("nb", "ls-add", "LS1");
  assert.equal(again.code, 1);
  assert.equal(again.stderr.trim(), "ovn-docker: logical switch LS1 already exists in OVN_Northbound");

  const list = await cli("nb", "ls-list", "-f", "json");
  assert.equal(list.code, 0);
  assert.deepEqual(
    (JSON.parse(list.stdout) as Array<{ name: string; ports: number }>).map((r) => [r.name, r.ports]),
    [["LS1", 0]],
  );
  const table = await cli("nb", "ls-list");
  assert.match(
    table.stdout,
    /^_UUID\s+NAME\s+PORTS\s+EXTERNAL_IDS\n[0-9a-f-]{36}\s+LS1\s+0\s+purpose=test\n$/,
  );

  assert.equal((await cli("nb", "ls-del", "LS1")).code, 0);
  const gone = await cli("nb", "ls-del", "LS1");
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /no logical switch named LS1 \(use --if-exists to ignore\)/);
  assert.equal((await cli("nb", "ls-del", "LS1", "--if-exists")).code, 0);
});

test("ovsdb list-dbs, dump, transact", async () => {
  const dbs = await cli("ovsdb", "--db", nb.unixRemote, "list-dbs");
  assert.deepEqual(dbs.stdout.trim().split("\n").sort(), ["OVN_Northbound", "_Server"]);
  const t = await cli(
    "ovsdb",
    "--db",
    nb.unixRemote,
    "transact",
    "OVN_Northbound",
    '[{"op":"insert","table":"Logical_Switch","row":{"name":"raw"}}]',
  );
  assert.equal(t.code, 0, t.stderr);
  const dump = await cli(
    "ovsdb",
    "--db",
    nb.unixRemote,
    "dump",
    "OVN_Northbound",
    "Logical_Switch",
    "--columns",
    "name",
    "-f",
    "json",
  );
  assert.deepEqual(
    (JSON.parse(dump.stdout) as Array<{ name: string }>).map((r) => r.name),
    ["raw"],
  );
});

test("mistakes: clear message, non-zero exit, nothing written", async () => {
  const before = await cli("nb", "ls-list", "-f", "json");
  const cases: Array<[string[], number, RegExp]> = [
    [["nb", "ls-add", "X", "--external-id", "novalue"], 2, /"novalue" is not KEY=VALUE/],
    [["nb", "ls-list", "-f", "xml"], 2, /unknown format "xml": use -f table or -f json/],
    [["ovsdb", "dump", "OVN_Northbound", "Logical_Switch"], 2, /no database remote: pass --db REMOTE/],
    [
      ["ovsdb", "--db", nb.unixRemote, "dump", "OVN_Northbound", "Nope"],
      2,
      /has no table Nope: tables are ACL, /,
    ],
    [["ovsdb", "--db", nb.unixRemote, "transact", "OVN_Northbound", "{"], 2, /operations are not JSON/],
    [["ovsdb", "--db", "tcp:127.0.0.1", "list-dbs"], 2, /expected tcp:HOST:PORT/],
    [["nb", "--db", `unix:${dir}/nope.sock`, "ls-list"], 1, /no OVSDB session to unix:.*nope\.sock .*ENOENT/],
    [["frobnicate"], 2, /unknown command 'frobnicate'/],
  ];
  for (const [args, code, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
  assert.equal((await cli("nb", "ls-list", "-f", "json")).stdout, before.stdout);
});

test("--help everywhere exits 0", async () => {
  for (const args of [
    ["--help"],
    ["nb", "--help"],
    ["nb", "ls-add", "--help"],
    ["ovsdb", "dump", "--help"],
  ]) {
    const r = await cli(...args);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /^Usage: ovn-docker/);
  }
});

test("server refuses a --port-batches that is not 1..64 before reading anything", async () => {
  for (const bad of ["0", "65", "2.5", "x", "-1"]) {
    const r = await cli("server", "--config", path.join(dir, "nonexistent.yaml"), "--port-batches", bad);
    assert.notEqual(r.code, 0, bad);
    assert.match(r.stderr, /--port-batches .*whole number from 1 to 64/, bad);
  }
});

test("server init writes a loadable config with the listen address asked for, and refuses to overwrite", async () => {
  const d = path.join(dir, "srv");
  const r = await cli("server", "init", "--dir", d, "--listen", "127.0.0.1:19696", "--json");
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    config_file: string;
    users: Array<{ name: string; password: string }>;
  };
  assert.deepEqual(out.users.map((u) => u.name).sort(), ["admin", "demo"]);
  const { loadConfig } = await import("../../src/server/config.js");
  const cfg = await loadConfig(out.config_file);
  assert.deepEqual(cfg.listen, { host: "127.0.0.1", port: 19696 });
  const again = await cli("server", "init", "--dir", d);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /exists/);
});
