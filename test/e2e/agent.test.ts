// The VM agent end to end on the sandbox: real OVN (NB, SB, northd, ovn-controller on a netdev
// hypervisor), the network service, two VMs with their own OVS and dockerd. The seed's three
// commands as written; containers in two VMs ping each other; a crash at every injection point
// followed by gc leaves no leak; each bad input is one clear line and changes nothing.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { FAULT_POINTS } from "../../src/agent/faults.js";
import { IMAGE, type Sandbox, startSandbox } from "../../src/sandbox/index.js";

const run = promisify(execFile);

let sb: Sandbox;
let dir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ovn-docker-e2e-agent-"));
  sb = await startSandbox({ dir, vms: 2 });
});

// Each test leaves the VMs as it found them, even when it fails: no test sees another's leftovers.
afterEach(async () => {
  for (const vm of ["vm1", "vm2"]) {
    await sb.exec(vm, ["ovn-docker", "pool", "drain"]);
    const rows = JSON.parse(
      (await sb.exec(vm, ["ovn-docker", "ps", "-a", "-f", "json"])).stdout || "[]",
    ) as Attached[];
    const ids = [...new Set(rows.map((r) => r.container_id).filter(Boolean))];
    if (ids.length) await sb.exec(vm, ["ovn-docker", "rm", ...ids]);
    const left = (await sb.exec(vm, ["docker", "ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (left.length) await sb.exec(vm, ["docker", "rm", "-f", ...left]);
    await sb.exec(vm, ["ovn-docker", "gc"]);
  }
});

after(async () => {
  try {
    await sb?.down();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

interface Attached {
  container: string;
  container_id: string;
  network: string;
  ifname: string;
  mac: string;
  ips: string[];
  vlan: number;
  port: string;
  status: string;
  state: string;
}

async function ovn(vm: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000) {
  return sb.exec(vm, ["ovn-docker", ...args], { env, timeoutMs });
}

async function ok(vm: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await ovn(vm, args, env);
  assert.equal(r.code, 0, `ovn-docker ${args.join(" ")} in ${vm} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function ps(vm: string, all = false): Promise<Attached[]> {
  return JSON.parse(await ok(vm, ["ps", ...(all ? ["-a"] : []), "-f", "json"])) as Attached[];
}

async function docker(vm: string, args: string[]) {
  return sb.exec(vm, ["docker", ...args]);
}

async function nbctl(...args: string[]): Promise<string> {
  const { stdout } = await run("ovn-nbctl", [`--db=${sb.nbUnix}`, ...args]);
  return stdout.trim();
}

/** Everything a leak could hide in: NB ports, the VM's OVS ports, its links, its containers, API ports. */
async function snapshot(vm: string) {
  const v = sb.vm(vm);
  const vsctl = await run("ovs-vsctl", [`--db=${v.ovsdbRemote}`, "list-ports", "br-vm"]);
  const links = await sb.exec(vm, ["ip", "-o", "link", "show"]);
  const containers = await docker(vm, ["ps", "-a", "-q", "--no-trunc"]);
  const ports = await sb.client("demo").listPorts();
  return {
    nb: (await nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port")).split("\n").sort().join(" "),
    ovs: vsctl.stdout.split("\n").sort().join(" "),
    links: links.stdout
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0])
      .filter(Boolean)
      .sort()
      .join(" "),
    containers: containers.stdout.split("\n").sort().join(" "),
    apiPorts: ports
      .map((p) => p.id)
      .sort()
      .join(" "),
  };
}

const LOOP = ["sh", "-c", "while true; do echo hello world; sleep 1; done"];

describe("the seed's workflow", () => {
  test("create network, list networks, run in two VMs, ping, rm", async () => {
    const out = await ok("vm1", [
      "create",
      "network",
      "LS1",
      "--subnet",
      "10.10.0.0/24",
      "--subnet",
      "fd00:10::/64",
      "-f",
      "json",
    ]);
    const created = JSON.parse(out) as Array<{ id: string; name: string; mtu: number }>;
    assert.equal(created[0]?.name, "LS1");
    const listed = JSON.parse(await ok("vm2", ["list", "networks", "-f", "json"])) as Array<{ name: string }>;
    assert.ok(listed.some((n) => n.name === "LS1"));

    // vm1: exactly the seed's command, with a token and an explicit vif-id.
    const token = (await sb.client("demo").auth.session()).token;
    const vif1 = sb.vm("vm1").vifId;
    const a = await ovn(
      "vm1",
      [`--cred=${token}`, `--vif-id=${vif1}`, "--network=LS1", "run", "-d", "--net=none", IMAGE, ...LOOP],
      {
        OS_USERNAME: "",
        OS_PASSWORD: "",
      },
    );
    assert.equal(a.code, 0, a.stderr);
    const appA = a.stdout.trim().split("\n").pop() as string;
    assert.match(appA, /^[0-9a-f]{64}$/);
    // vm2: no --vif-id: found through the API by the uplink's MAC.
    const b = await ovn("vm2", ["--network=LS1", "run", "-d", IMAGE, ...LOOP], { OVN_DOCKER_VIF_ID: "" });
    assert.equal(b.code, 0, b.stderr);

    const [pa] = await ps("vm1");
    const [pb] = await ps("vm2");
    assert.ok(pa && pb);
    assert.equal(pa.status, "ACTIVE");
    assert.equal(pb.status, "ACTIVE");
    assert.equal(pa.ifname, "eth0");
    assert.equal(pa.ips.length, 2, "an IPv4 and an IPv6 address");
    // The NB row is the seed's: parent_name = the VM's port, tag = the VLAN chosen in the VM.
    assert.equal(await nbctl("get", "Logical_Switch_Port", pa.port, "parent_name"), `"${vif1}"`);
    assert.equal(await nbctl("get", "Logical_Switch_Port", pa.port, "tag"), String(pa.vlan));
    assert.equal(
      await nbctl("get", "Logical_Switch_Port", pb.port, "parent_name"),
      `"${sb.vm("vm2").vifId}"`,
    );
    // sandbox status lists each VM's attachments.
    const st = await sb.status();
    assert.deepEqual(
      st.vms.map((v) => v.attachments.map((x) => [x.vlan, x.port])),
      [[[pa.vlan, pa.port]], [[pb.vlan, pb.port]]],
    );
    // The VM's access port carries that tag.
    const tag = await run("ovs-vsctl", [
      `--db=${sb.vm("vm1").ovsdbRemote}`,
      "get",
      "Port",
      `ovd${pa.vlan}`,
      "tag",
    ]);
    assert.equal(tag.stdout.trim(), String(pa.vlan));

    // Inside the container: the port's MAC, the network's MTU; the first ping works at once.
    const mac = await docker("vm1", ["exec", appA, "cat", "/sys/class/net/eth0/address"]);
    assert.equal(mac.stdout.trim(), pa.mac);
    const mtu = await docker("vm1", ["exec", appA, "cat", "/sys/class/net/eth0/mtu"]);
    assert.equal(mtu.stdout.trim(), String(created[0]?.mtu ?? 1442));
    const v4b = pb.ips.find((x) => !x.includes(":")) as string;
    const v6b = pb.ips.find((x) => x.includes(":")) as string;
    const ping = await docker("vm1", ["exec", appA, "ping", "-c", "1", "-W", "2", v4b]);
    assert.equal(ping.code, 0, `first ping vm1 -> vm2 container: ${ping.stdout}${ping.stderr}`);
    const ping6 = await docker("vm1", ["exec", appA, "ping", "-6", "-c", "1", "-W", "2", v6b]);
    assert.equal(ping6.code, 0, `ping6: ${ping6.stdout}${ping6.stderr}`);
    // LS1 is not the management network: the other VM's own address is out of reach.
    const mgmt = await docker("vm1", ["exec", appA, "ping", "-c", "1", "-W", "1", sb.vm("vm2").ip]);
    assert.notEqual(mgmt.code, 0, "a container on LS1 reached the management network");

    // rm frees everything: API port, NB row, access port, veth, network sandbox.
    await ok("vm1", ["rm", appA]);
    await ok("vm2", ["rm", pb.container_id]);
    assert.deepEqual(await ps("vm1", true), []);
    assert.deepEqual(await ps("vm2", true), []);
    assert.equal(
      await nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", `name=${pa.port}`),
      "",
    );
    const s1 = await snapshot("vm1");
    assert.ok(!/ovd\d/.test(s1.ovs) && !/ovd\d/.test(s1.links), `leftovers in vm1: ${JSON.stringify(s1)}`);
    assert.equal(s1.containers, "");
    // rm is idempotent.
    const again = await ovn("vm1", ["rm", appA]);
    assert.equal(again.code, 0);
  });
});

describe("more than one container", () => {
  test("100 parallel runs in one VM get distinct tags and addresses, and all reach a container in the other VM", async () => {
    await ok("vm1", ["create", "network", "LS2", "--subnet", "10.20.0.0/22"]);
    const target = await ovn("vm2", ["--network=LS2", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(target.code, 0, target.stderr);
    const [t] = await ps("vm2");
    const targetIp = t?.ips[0] as string;
    const N = 100;
    const runs = await Promise.all(
      // Two container starts each (sandbox + application) on a 2-core machine: minutes, not seconds.
      Array.from({ length: N }, () =>
        ovn("vm1", ["--network=LS2", "run", "-d", IMAGE, ...LOOP], {}, 900_000),
      ),
    );
    const failed = runs.filter((r) => r.code !== 0);
    assert.equal(
      failed.length,
      0,
      `${failed.length} of ${N} failed: ${failed.map((r) => `exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`).join(" | ")}`,
    );
    const rows = await ps("vm1");
    assert.equal(rows.length, N);
    assert.equal(new Set(rows.map((r) => r.vlan)).size, N, "distinct VLAN tags");
    assert.equal(new Set(rows.map((r) => r.ips[0])).size, N, "distinct addresses");
    assert.ok(rows.every((r) => r.status === "ACTIVE"));
    const pings = await Promise.all(
      rows.map((r) => docker("vm1", ["exec", r.container_id, "ping", "-c", "1", "-W", "3", targetIp])),
    );
    assert.equal(
      pings.filter((p) => p.code !== 0).length,
      0,
      "every container pings the other VM's container",
    );
    const rm = await ovn("vm1", ["rm", ...rows.map((r) => r.container_id)]);
    assert.equal(rm.code, 0, rm.stderr);
    await ok("vm2", ["rm", t?.container_id as string]);
    assert.deepEqual(await ps("vm1", true), []);
  });

  test("attach and detach a running container: eth1 on a second network, then gone again", async () => {
    await ok("vm1", ["create", "network", "LS3", "--subnet", "10.30.0.0/24"]);
    const r = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split("\n").pop() as string;
    const att = JSON.parse(await ok("vm1", ["--network=LS3", "attach", id, "-f", "json"])) as Array<{
      ifname: string;
      ips: string[];
    }>;
    assert.equal(att[0]?.ifname, "eth1");
    const addr = await docker("vm1", ["exec", id, "ip", "-o", "addr", "show", "eth1"]);
    assert.ok(addr.stdout.includes(att[0]?.ips[0] as string), addr.stdout);
    assert.equal((await ps("vm1")).length, 2);
    await ok("vm1", ["--network=LS3", "detach", id]);
    const links = await docker("vm1", ["exec", id, "ip", "-o", "link"]);
    assert.ok(!links.stdout.includes("eth1"), "eth1 is gone");
    assert.equal((await ps("vm1")).length, 1);
    await ok("vm1", ["--network=LS3", "detach", id]); // idempotent
    await ok("vm1", ["rm", id]);
  });

  test("trunk mode: the port is a VLAN subport of the VM port's trunk, and it pings", async () => {
    const r = await ovn("vm2", ["--mode=trunk", "--network=LS1", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(r.code, 0, r.stderr);
    const other = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(other.code, 0, other.stderr);
    const [p2] = await ps("vm2");
    const [p1] = await ps("vm1");
    const trunks = await sb.client("demo").listTrunks({ port_id: sb.vm("vm2").vifId });
    assert.equal(trunks.length, 1);
    assert.deepEqual(
      trunks[0]?.sub_ports.map((s) => [s.port_id, s.segmentation_id]),
      [[p2?.port, p2?.vlan]],
    );
    const ping = await docker("vm2", [
      "exec",
      p2?.container_id as string,
      "ping",
      "-c",
      "1",
      "-W",
      "2",
      p1?.ips[0] as string,
    ]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    await ok("vm2", ["--mode=trunk", "rm", p2?.container_id as string]);
    await ok("vm1", ["rm", p1?.container_id as string]);
    assert.deepEqual((await sb.client("demo").getTrunk(trunks[0]?.id as string)).sub_ports, []);
  });
});

describe("the pool", () => {
  test("fill, run from the pool (no API call on its path), background refill, drain", async () => {
    await ok("vm1", ["pool", "fill", "--network", "LS1", "--min", "2", "--max", "4", "--batch", "2"]);
    const status = JSON.parse(await ok("vm1", ["pool", "status", "-f", "json"])) as Array<{
      network: string;
      ready: number;
    }>;
    assert.equal(status.find((s) => s.network === "LS1")?.ready, 2);
    // Visible to the tenant through the API: ports owned by the VM.
    const pooled = await sb.client("demo").listPorts({ device_id: sb.vm("vm1").vifId, name: "pool" });
    assert.equal(pooled.length, 2);
    assert.ok(pooled.every((p) => p.status === "ACTIVE"));
    // With the API unreachable (a wrong endpoint), run still works: it took a ready sandbox.
    // (Its background refill cannot reach the API either; the next run's can.)
    const r = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP], {
      OS_AUTH_URL: "http://127.0.0.1:9/v3",
    });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split("\n").pop() as string;
    const att = (await ps("vm1")).find((a) => a.container_id === id);
    assert.ok(
      pooled.some((p) => p.id === att?.port),
      "the container got a pooled port",
    );
    const r2 = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(r2.code, 0, r2.stderr);
    const id2 = r2.stdout.trim().split("\n").pop() as string;
    // The background refill tops the pool up again.
    let ready = 0;
    for (let i = 0; i < 150 && ready < 2; i++) {
      await new Promise((res) => setTimeout(res, 200));
      const s = JSON.parse(await ok("vm1", ["pool", "status", "-f", "json"])) as Array<{
        network: string;
        ready: number;
      }>;
      ready = s.find((x) => x.network === "LS1")?.ready ?? 0;
    }
    assert.equal(ready, 2, "refilled in the background");
    await ok("vm1", ["rm", id2]);
    await ok("vm1", ["rm", id]);
    await ok("vm1", ["pool", "drain"]);
    assert.deepEqual(await ps("vm1", true), []);
    assert.equal((await sb.client("demo").listPorts({ device_id: sb.vm("vm1").vifId })).length, 0);
  });
});

describe("crash safety", () => {
  const RUN_POINTS = FAULT_POINTS.filter((p) => !["detaching", "port-deleted", "unplumbed"].includes(p));
  for (const point of RUN_POINTS) {
    test(`kill -9 of run at "${point}", then gc: nothing leaks`, async () => {
      const before = await snapshot("vm1");
      const r = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP], { OVN_DOCKER_FAULT: point });
      assert.equal(r.code, 137, `expected SIGKILL at ${point}; got ${r.code}: ${r.stderr}`);
      await ok("vm1", ["gc"]);
      assert.deepEqual(await snapshot("vm1"), before);
    });
  }
  for (const point of ["detaching", "port-deleted", "unplumbed"]) {
    test(`kill -9 of rm at "${point}", then gc: nothing leaks`, async () => {
      const before = await snapshot("vm1");
      const r = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP]);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim().split("\n").pop() as string;
      const k = await ovn("vm1", ["rm", id], { OVN_DOCKER_FAULT: point });
      assert.equal(k.code, 137, k.stderr);
      await ok("vm1", ["gc"]);
      assert.deepEqual(await snapshot("vm1"), before);
    });
  }
});

describe("bad input: one clear line, non-zero exit, nothing changed", () => {
  const cases: Array<{ name: string; args: string[]; env?: Record<string, string>; expect: RegExp }> = [
    {
      name: "unknown network",
      args: ["--network=nope", "run", "-d", IMAGE, "true"],
      expect: /unknown network "nope"/,
    },
    {
      name: "malformed vif-id",
      args: ["--vif-id=vm-a", "--network=LS1", "run", "-d", IMAGE, "true"],
      expect: /malformed vif-id "vm-a"/,
    },
    {
      name: "vif-id that is not this tenant's port",
      args: ["--vif-id=00000000-0000-4000-8000-000000000000", "--network=LS1", "run", "-d", IMAGE, ...LOOP],
      expect: /00000000-0000-4000-8000-000000000000/,
    },
    {
      name: "engine not running",
      args: ["--network=LS1", "run", "-d", IMAGE, ...LOOP],
      env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
      expect: /docker/i,
    },
    {
      name: "container that exits at once",
      args: ["--network=LS1", "run", "-d", IMAGE, "sh", "-c", "echo broken >&2; exit 3"],
      expect: /exited at once with code 3/,
    },
    {
      name: "OVS bridge missing",
      args: ["--bridge=br-nope", "--network=LS1", "run", "-d", IMAGE, "true"],
      expect: /br-nope/,
    },
    {
      name: "--net other than none",
      args: ["--network=LS1", "run", "--net=host", IMAGE, "true"],
      expect: /--net=host conflicts/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const before = await snapshot("vm1");
      const r = await ovn("vm1", c.args, c.env ?? {});
      assert.notEqual(r.code, 0, `expected a failure: ${r.stdout}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0] as string, c.expect);
      assert.deepEqual(await snapshot("vm1"), before);
    });
  }

  test("exhausted VLANs", async () => {
    const db = sb.vm("vm1").ovsdbRemote;
    const add: string[] = [];
    for (let t = 1; t <= 4094; t++) add.push("--", "add-port", "br-vm", `x${t}`, `tag=${t}`);
    await run("ovs-vsctl", [`--db=${db}`, "--no-wait", ...add], { maxBuffer: 1 << 24 });
    try {
      const before = await snapshot("vm1");
      const r = await ovn("vm1", ["--network=LS1", "run", "-d", IMAGE, ...LOOP]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /all 4094 VLAN tags of this VM are in use/);
      assert.deepEqual(await snapshot("vm1"), before);
    } finally {
      const del: string[] = [];
      for (let t = 1; t <= 4094; t++) del.push("--", "del-port", "br-vm", `x${t}`);
      await run("ovs-vsctl", [`--db=${db}`, "--no-wait", ...del], { maxBuffer: 1 << 24 });
    }
  });

  test("exhausted subnet", async () => {
    await ok("vm1", ["create", "network", "TINY", "--subnet", "10.99.0.0/30"]);
    const first = await ovn("vm1", ["--network=TINY", "run", "-d", IMAGE, ...LOOP]);
    assert.equal(first.code, 0, first.stderr);
    const before = await snapshot("vm1");
    const r = await ovn("vm1", ["--network=TINY", "run", "-d", IMAGE, ...LOOP]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /IpAddressGenerationFailure|No more IP addresses/i);
    assert.deepEqual(await snapshot("vm1"), before);
    await ok("vm1", ["rm", first.stdout.trim().split("\n").pop() as string]);
  });
});

describe("doctor", () => {
  test("all checks pass in a VM; a missing bridge fails with how to fix it", async () => {
    const good = JSON.parse(await ok("vm1", ["doctor", "-f", "json"])) as Array<{
      check: string;
      ok: boolean;
    }>;
    assert.ok(
      good.every((c) => c.ok),
      JSON.stringify(good),
    );
    const r = await ovn("vm1", ["--bridge=br-nope", "doctor", "-f", "json"]);
    assert.equal(r.code, 1);
    const bad = JSON.parse(r.stdout) as Array<{ check: string; ok: boolean; detail: string }>;
    assert.match(bad.find((c) => c.check === "bridge and uplink")?.detail ?? "", /ovs-vsctl add-br br-nope/);
  });
});
