// The VM's Open_vSwitch database as the agent uses it (src/vswitch), against a real ovsdb-server:
// atomic VLAN tag allocation across concurrent processes' connections, exhaustion, the
// compare-and-swap state changes the pool relies on, and release.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type OvsdbServer, startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { MAX_TAG, VSwitch, VSwitchError } from "../../src/vswitch/vswitch.js";

const run = promisify(execFile);
const VS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";

let dir: string;
let server: OvsdbServer;

async function vsctl(...args: string[]): Promise<string> {
  const { stdout } = await run("ovs-vsctl", [`--db=${server.unixRemote}`, "--no-wait", ...args]);
  return stdout.trim();
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "vswitch-test-"));
  server = await startOvsdbServer({ dir, schema: VS_SCHEMA });
  await vsctl("init");
  await vsctl("add-br", "br-vm", "--", "add-port", "br-vm", "eth0");
});

after(async () => {
  try {
    await stopAllOvsdbServers();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

describe("VLAN tags in the VM's OVSDB", () => {
  test("concurrent reservations over several connections never share a tag", async () => {
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" })),
    );
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (clients[i % clients.length] as VSwitch).reserve({ container: `c${i}`, ifname: "eth0" }),
        ),
      );
      const tags = results.map((a) => a.tag);
      assert.equal(new Set(tags).size, 200, "every reservation got its own tag");
      for (const t of tags) assert.ok(t >= 1 && t <= MAX_TAG);
      // What ovs-vsctl sees agrees: 200 ports with those tags on br-vm, besides eth0.
      const listed = (await vsctl("--bare", "--columns=tag", "find", "Port", "tag!=[]"))
        .split(/\s+/)
        .filter(Boolean);
      assert.deepEqual(
        listed.map(Number).sort((a, b) => a - b),
        [...tags].sort((a, b) => a - b),
      );
      const mine = await (clients[0] as VSwitch).list();
      assert.equal(mine.length, 200);
      assert.ok(mine.every((a) => a.state === "reserving" && a.portName === `ovd${a.tag}`));
      await Promise.all(tags.map((t, i) => (clients[i % clients.length] as VSwitch).release(t)));
      assert.equal((await (clients[0] as VSwitch).list()).length, 0);
      assert.equal(await vsctl("list-ports", "br-vm"), "eth0");
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test("a tag held by a port that is not ours is never taken", async () => {
    const vs = await VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" });
    try {
      // Someone else's access ports take every tag but one.
      const args: string[] = [];
      for (let t = 1; t <= MAX_TAG; t++) {
        if (t === 1234) continue;
        args.push("--", "add-port", "br-vm", `x${t}`, `tag=${t}`);
      }
      await vsctl(...args);
      const a = await vs.reserve({ container: "c", ifname: "eth0" });
      assert.equal(a.tag, 1234, "the only free tag");
      await assert.rejects(
        () => vs.reserve({ container: "d", ifname: "eth0" }),
        (e: unknown) =>
          e instanceof VSwitchError && e.code === "tags-exhausted" && /4094 VLAN tags/.test(e.message),
      );
      await vs.release(a.tag);
      const del: string[] = [];
      for (let t = 1; t <= MAX_TAG; t++) if (t !== 1234) del.push("--", "del-port", "br-vm", `x${t}`);
      await vsctl(...del);
    } finally {
      await vs.close();
    }
  });

  test("a missing bridge is an error that says how to create it, and leaves nothing", async () => {
    const vs = await VSwitch.open({ remote: server.unixRemote, bridge: "br-nope" });
    try {
      await assert.rejects(
        () => vs.reserve({ container: "c" }),
        (e: unknown) =>
          e instanceof VSwitchError &&
          e.code === "bridge-missing" &&
          /ovs-vsctl add-br br-nope/.test(e.message),
      );
      assert.equal(await vsctl("--bare", "--columns=name", "find", "Port", "tag!=[]"), "");
    } finally {
      await vs.close();
    }
  });

  test("an unreachable database is a clear error", async () => {
    await assert.rejects(
      () => VSwitch.open({ remote: `unix:${dir}/nope.sock`, bridge: "br-vm", connectTimeoutMs: 200 }),
      (e: unknown) =>
        e instanceof VSwitchError && e.code === "unreachable" && /OVN_DOCKER_OVSDB/.test(e.message),
    );
  });
});

describe("attachment records", () => {
  test("update merges fields; a compare-and-swap on the state lets exactly one claimer win", async () => {
    const clients = await Promise.all(
      Array.from({ length: 3 }, () => VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" })),
    );
    const vs = clients[0] as VSwitch;
    try {
      const a = await vs.reserve({ container: "sb1", ifname: "eth0", networkId: "n1" });
      assert.ok(
        await vs.update(a.tag, { portId: "p1", mac: "fa:16:3e:00:00:01", ips: ["10.0.0.5", "fd00::5"] }),
      );
      assert.ok(await vs.update(a.tag, { state: "pool", owner: null }));
      const got = await vs.get(a.tag);
      assert.equal(got?.portId, "p1");
      assert.deepEqual(got?.ips, ["10.0.0.5", "fd00::5"]);
      assert.equal(got?.state, "pool");
      assert.equal(got?.externalIds["ovn-docker:container"], "sb1");
      assert.equal(await vsctl("get", "Interface", a.portName, "external_ids:iface-id"), "p1");
      // Three claimers race for one pooled entry: one wins.
      const wins = await Promise.all(
        clients.map((c, i) => c.update(a.tag, { state: "attached", owner: `w${i}` }, { state: "pool" })),
      );
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal((await vs.get(a.tag))?.state, "attached");
      assert.equal(await vs.update(9999, { state: "pool" }), false, "no such tag");
      await vs.release(a.tag);
      await vs.release(a.tag); // idempotent
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test("pool settings live on the bridge", async () => {
    const vs = await VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" });
    try {
      await vs.setPoolSettings("net-1", { min: 2, max: 8, batch: 4, networkName: "LS1" });
      assert.deepEqual((await vs.poolSettings()).get("net-1"), {
        min: 2,
        max: 8,
        batch: 4,
        networkName: "LS1",
      });
      await vs.setPoolSettings("net-1", { min: 3, max: 8, batch: 4, networkName: "LS1" });
      assert.equal((await vs.poolSettings()).get("net-1")?.min, 3);
      await vs.setPoolSettings("net-1", null);
      assert.equal((await vs.poolSettings()).size, 0);
    } finally {
      await vs.close();
    }
  });
});

describe("guards for concurrent front ends", () => {
  test("update's expectation: same reservation (created), same owner, no container yet", async () => {
    const vs = await VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" });
    try {
      const a = await vs.reserve({ owner: "1:1", created: "2026-01-01T00:00:00.000Z", ifname: "eth0" });
      assert.equal(
        await vs.update(a.tag, { state: "detaching" }, { created: "2026-01-01T00:00:00.001Z" }),
        false,
      );
      assert.equal(await vs.update(a.tag, { state: "detaching" }, { owner: "2:2" }), false);
      assert.equal(await vs.update(a.tag, { state: "detaching" }, { owner: null }), false);
      assert.equal((await vs.get(a.tag))?.state, "reserving", "a failed expectation writes nothing");
      assert.equal(
        await vs.update(
          a.tag,
          { owner: null, state: "attached" },
          { created: a.created as string, owner: "1:1" },
        ),
        true,
      );
      assert.equal(await vs.update(a.tag, { container: "ep1" }, { owner: null, container: null }), true);
      assert.equal(await vs.update(a.tag, { container: "ep2" }, { container: null }), false, "taken already");
      assert.equal((await vs.get(a.tag))?.container, "ep1");
      await vs.release(a.tag);
      assert.equal(await vs.update(a.tag, { state: "attached" }), false, "no row, no write");
    } finally {
      await vs.close();
    }
  });

  test("OVSDB locks: one holder at a time, waiters get it when it is let go or its connection dies", async () => {
    const [a, b] = await Promise.all([
      VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" }),
      VSwitch.open({ remote: server.unixRemote, bridge: "br-vm" }),
    ]);
    try {
      assert.equal(await a.lock("ovn_cni_gc", 0), true);
      assert.equal(await b.lock("ovn_cni_gc", 100), false, "held by a: b gives up after its timeout");
      const waiting = b.lock("ovn_cni_gc", 10_000);
      await new Promise((r) => setTimeout(r, 50));
      await a.unlock("ovn_cni_gc");
      assert.equal(await waiting, true, "b gets it once a lets go");
      await b.close(); // a holder that goes away (a process that died) releases it
      assert.equal(await a.lock("ovn_cni_gc", 5_000), true);
      await a.unlock("ovn_cni_gc");
    } finally {
      await Promise.all([a.close(), b.close().catch(() => undefined)]);
    }
  });
});
