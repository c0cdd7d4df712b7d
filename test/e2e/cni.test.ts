// ovn-cni against a real sandbox (OVN, network service, VMs with their own OVS, podman with its
// CNI backend): a direct invocation harness drives every verb and error path the way a runtime
// does (CNI_* environment + configuration on stdin), and podman itself attaches a container
// with `--network LS1` that pings a container the CLI started in the other VM.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { IMAGE, layout, type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import { removeDir, sandboxTempDir } from "../helpers/sandbox.js";

const run = promisify(execFile);

let sb: Sandbox;
let dir: string;
let plugin: string;
let openrc: string;
const namespaces: string[] = [];

async function nbctl(...args: string[]): Promise<string> {
  return (await run("ovn-nbctl", [`--db=${sb.nbUnix}`, ...args])).stdout.trim();
}

async function ok(vm: string, argv: string[]): Promise<string> {
  const r = await sb.exec(vm, argv);
  assert.equal(r.code, 0, `${argv.join(" ")} in ${vm}: ${r.stderr}`);
  return r.stdout.trim();
}

async function newNetns(): Promise<string> {
  const name = `ovd-cnit-${randomBytes(3).toString("hex")}`;
  await run("ip", ["netns", "add", name]);
  namespaces.push(name);
  return `/run/netns/${name}`;
}

interface Invocation {
  code: number;
  out: Record<string, unknown>;
  stderr: string;
}

/** What a VM's administrator puts in the conflist's ovn-cni entry (the sandbox VM's OVS socket). */
function pluginConf(): Record<string, unknown> {
  const v = sb.vm("vm1");
  return {
    type: "ovn-cni",
    credentials: openrc,
    ovsdb: v.ovsdbRemote,
    stateDir: path.join(v.dir, "cni-state"),
  };
}

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: "1.1.0", name: "LS1", ...pluginConf(), ...extra };
}

/** Runs the plugin in vm1 as a runtime would. */
async function cni(
  command: string,
  netconf: Record<string, unknown> | string,
  env: Record<string, string> = {},
  vm = "vm1",
): Promise<Invocation> {
  const r = await sb.exec(vm, [plugin], {
    env: { CNI_COMMAND: command, CNI_PATH: "/usr/lib/cni", ...env },
    input: typeof netconf === "string" ? netconf : JSON.stringify(netconf),
  });
  let out: Record<string, unknown> = {};
  if (r.stdout.trim()) out = JSON.parse(r.stdout) as Record<string, unknown>;
  return { code: r.code, out, stderr: r.stderr };
}

function cniEnv(id: string, netns: string, ifname = "eth0"): Record<string, string> {
  return { CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: ifname, CNI_ARGS: "IgnoreUnknown=1" };
}

async function vmState(vm = "vm1") {
  const v = sb.vm(vm);
  const ports = (await run("ovs-vsctl", [`--db=${v.ovsdbRemote}`, "list-ports", "br-vm"])).stdout;
  const links = await sb.exec(vm, ["ip", "-o", "link", "show"]);
  const api = await sb.client("demo").listPorts({ device_owner: "ovn-docker:container" });
  return {
    ovs: ports
      .split("\n")
      .filter((p) => p.startsWith("ovd"))
      .sort(),
    links: links.stdout
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
      .filter((l) => l.startsWith("ovd"))
      .sort(),
    api: api
      .filter((p) => p["binding:profile"]?.parent_name === v.vifId)
      .map((p) => p.id)
      .sort(),
  };
}

let peerIp: string;
let peerId: string;

before(async () => {
  dir = await sandboxTempDir("cni");
  sb = await startSandbox({ dir, vms: 2, engine: "podman" });
  plugin = path.join(layout(dir).cniBin, "ovn-cni");
  // The API credentials as the configuration names them: a file of OS_* variables.
  openrc = path.join(sb.vm("vm1").dir, "cni-openrc");
  const env = sb.vm("vm1").env;
  await fs.writeFile(
    openrc,
    Object.entries(env)
      .filter(([k]) => k.startsWith("OS_"))
      .map(([k, v]) => `export ${k}='${v}'\n`)
      .join(""),
    { mode: 0o600 },
  );
  // LS1 with a DNS server on its subnet (the result passes it on).
  const api = sb.client("demo");
  const net = await api.createNetwork({ name: "LS1" });
  await api.createSubnet({
    network_id: net.id,
    cidr: "10.30.0.0/24",
    ip_version: 4,
    dns_nameservers: ["10.30.0.53"],
  });
  // The peer: a container the CLI attaches in vm2.
  peerId = (await ok("vm2", ["ovn-docker", "--network=LS1", "run", "-d", IMAGE, "sleep", "100000"]))
    .split("\n")
    .pop() as string;
  const [p] = JSON.parse(await ok("vm2", ["ovn-docker", "ps", "-f", "json"])) as Array<{ ips: string[] }>;
  peerIp = p?.ips[0] as string;
});

after(async () => {
  try {
    for (const n of namespaces) await run("ip", ["netns", "del", n]).catch(() => undefined);
    await sb?.down();
  } finally {
    await removeDir(dir);
  }
});

describe("ovn-cni, invoked directly", () => {
  test("VERSION lists the versions it speaks", async () => {
    const r = await cni("VERSION", { cniVersion: "1.1.0" });
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, { cniVersion: "1.1.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
  });

  test("ADD, CHECK, DEL, DEL again: the spec's result, a working interface, nothing left", async () => {
    const before = await vmState();
    const netns = await newNetns();
    const add = await cni("ADD", conf(), cniEnv("c-add-1", netns));
    assert.equal(add.code, 0, JSON.stringify(add.out) + add.stderr);
    const res = add.out as {
      cniVersion: string;
      interfaces: Array<{ name: string; mac?: string; mtu?: number; sandbox?: string }>;
      ips: Array<{ address: string; gateway?: string; interface?: number }>;
      routes: Array<{ dst: string; gw?: string }>;
      dns: { nameservers?: string[] };
    };
    assert.equal(res.cniVersion, "1.1.0");
    const inner = res.interfaces[res.ips[0]?.interface as number];
    assert.equal(inner?.name, "eth0");
    assert.equal(inner?.sandbox, netns);
    assert.equal(inner?.mtu, 1442);
    assert.match(inner?.mac ?? "", /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.match(res.ips[0]?.address ?? "", /^10\.30\.0\.\d+\/24$/);
    assert.equal(res.ips[0]?.gateway, "10.30.0.1");
    assert.deepEqual(res.routes, [{ dst: "0.0.0.0/0", gw: "10.30.0.1" }]);
    assert.deepEqual(res.dns.nameservers, ["10.30.0.53"]);
    // the NB row is a child of vm1's port with the VLAN the OVS port carries
    const hostIf = res.interfaces.find((i) => !i.sandbox)?.name as string;
    const tag = Number(hostIf.replace("ovd", ""));
    const [lsp] = (
      await nbctl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", `tag=${tag}`)
    ).split("\n");
    assert.equal(
      await nbctl("get", "Logical_Switch_Port", lsp as string, "parent_name"),
      `"${sb.vm("vm1").vifId}"`,
    );
    // inside: the MAC and address; the first ping to the CLI's container in vm2 works
    const inside = (await run("ip", ["-n", path.basename(netns), "-j", "addr", "show", "eth0"])).stdout;
    assert.ok(
      inside.includes(inner?.mac as string) && inside.includes(res.ips[0]?.address.split("/")[0] as string),
    );
    const ping = await run("nsenter", [
      `--net=${netns}`,
      "busybox",
      "ping",
      "-c",
      "1",
      "-W",
      "2",
      peerIp,
    ]).catch((e: { stdout: string }) => ({ stdout: `FAILED ${e.stdout}` }));
    assert.match(ping.stdout, /1 packets received/, "first ping from the CNI container to vm2's");

    // the CLI's rm of a name that happens to prefix the CNI container's id does not touch it
    await sb.exec("vm1", ["ovn-docker", "rm", "c-add"]);
    const chk = await cni("CHECK", conf({ prevResult: res }), cniEnv("c-add-1", netns));
    assert.equal(chk.code, 0, JSON.stringify(chk.out));
    // ADD twice for the same attachment is refused and changes nothing
    const again = await cni("ADD", conf(), cniEnv("c-add-1", netns));
    assert.equal(again.code, 1);
    assert.equal(again.out.code, 102);
    assert.match(String(again.out.msg), /already has eth0.*DEL it first/);
    // CHECK notices an address taken away
    await run("ip", ["-n", path.basename(netns), "addr", "flush", "dev", "eth0"]);
    const bad = await cni("CHECK", conf({ prevResult: res }), cniEnv("c-add-1", netns));
    assert.equal(bad.out.code, 101, JSON.stringify(bad.out));
    assert.match(String(bad.out.msg), /eth0 lacks 10\.30\.0\.\d+/);

    const del = await cni("DEL", conf({ prevResult: res }), cniEnv("c-add-1", netns));
    assert.equal(del.code, 0, JSON.stringify(del.out));
    assert.deepEqual(await vmState(), before, "DEL left nothing (OVS port, veth, API port)");
    assert.equal(await nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", `tag=${tag}`), "");
    const del2 = await cni("DEL", conf(), cniEnv("c-add-1", netns));
    assert.equal(del2.code, 0, "DEL twice");
    const del3 = await cni("DEL", conf(), { ...cniEnv("c-add-1", ""), CNI_NETNS: "" });
    assert.equal(del3.code, 0, "DEL without a namespace");
  });

  test("0.4.0 and 1.0.0 results have their own shape", async () => {
    for (const v of ["0.4.0", "1.0.0"]) {
      const netns = await newNetns();
      const add = await cni("ADD", conf({ cniVersion: v }), cniEnv(`c-v${v}`, netns));
      assert.equal(add.code, 0, JSON.stringify(add.out));
      const res = add.out as {
        cniVersion: string;
        interfaces: Array<{ mtu?: number }>;
        ips: Array<{ version?: string }>;
      };
      assert.equal(res.cniVersion, v);
      assert.equal(res.ips[0]?.version, v === "0.4.0" ? "4" : undefined);
      assert.ok(
        res.interfaces.every((i) => i.mtu === undefined),
        "mtu is a 1.1.0 field",
      );
      assert.equal((await cni("DEL", conf({ cniVersion: v }), cniEnv(`c-v${v}`, netns))).code, 0);
    }
  });

  test("DEL after an ADD that crashed half way leaves nothing", async () => {
    const before = await vmState();
    for (const point of ["reserved", "port-created", "plumbed"]) {
      const netns = await newNetns();
      const add = await cni("ADD", conf(), { ...cniEnv("c-crash", netns), OVN_DOCKER_FAULT: point });
      assert.notEqual(add.code, 0, `ADD crashed at ${point}`);
      const del = await cni("DEL", conf(), cniEnv("c-crash", netns));
      assert.equal(del.code, 0, JSON.stringify(del.out));
      assert.deepEqual(await vmState(), before, `nothing left after a crash at ${point} and DEL`);
    }
  });

  test("GC keeps the valid attachments and removes the rest", async () => {
    const before = await vmState();
    const n1 = await newNetns();
    const n2 = await newNetns();
    assert.equal((await cni("ADD", conf(), cniEnv("c-gc-keep", n1))).code, 0);
    assert.equal((await cni("ADD", conf(), cniEnv("c-gc-drop", n2))).code, 0);
    // another CNI network on the same API network: not this GC's business
    const n3 = await newNetns();
    const other = conf({ name: "LS1-other", network: "LS1" });
    assert.equal((await cni("ADD", other, cniEnv("c-gc-other", n3))).code, 0);
    const gc = await cni(
      "GC",
      conf({ "cni.dev/valid-attachments": [{ containerID: "c-gc-keep", ifname: "eth0" }] }),
    );
    assert.equal(gc.code, 0, JSON.stringify(gc.out));
    const now = await vmState();
    assert.equal(now.ovs.length, before.ovs.length + 2, "the kept one and LS1-other's are left");
    assert.equal((await cni("CHECK", conf(), cniEnv("c-gc-keep", n1))).code, 0, "the kept one still checks");
    assert.equal((await cni("CHECK", conf(), cniEnv("c-gc-drop", n2))).out.code, 101);
    assert.equal((await cni("CHECK", other, cniEnv("c-gc-other", n3))).code, 0, "LS1-other's stays");
    assert.equal((await cni("GC", conf({ "cni.dev/valid-attachments": [] }))).code, 0);
    assert.equal((await cni("CHECK", other, cniEnv("c-gc-other", n3))).code, 0, "LS1-other's stays");
    assert.equal((await cni("GC", { ...other, "cni.dev/valid-attachments": [] })).code, 0);
    assert.deepEqual(await vmState(), before);
  });

  test("pool: ADD takes a port OVN has bound already; a background fill keeps it topped up", async () => {
    const before = await vmState();
    type Row = { container_id: string; port: string; state: string; via: string };
    const rows = async () => JSON.parse(await ok("vm1", ["ovn-docker", "ps", "-a", "-f", "json"])) as Row[];
    const ready = async () => (await rows()).filter((r) => r.state === "pool" && r.via === "cni");
    const n1 = await newNetns();
    const first = await cni("ADD", conf({ pool: 2 }), cniEnv("c-pool-1", n1));
    assert.equal(first.code, 0, JSON.stringify(first.out));
    let pooled: Row[] = [];
    for (let i = 0; i < 200 && pooled.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pooled = await ready();
    }
    assert.equal(pooled.length, 2, "the pool was filled to 2 in the background");
    const n2 = await newNetns();
    const second = await cni("ADD", conf({ pool: 2 }), cniEnv("c-pool-2", n2));
    assert.equal(second.code, 0, JSON.stringify(second.out));
    const mine = (await rows()).find((r) => r.container_id === "c-pool-2");
    assert.ok(mine && pooled.some((p) => p.port === mine.port), "the second ADD took one of the ready ports");
    const ping = await run("nsenter", [`--net=${n2}`, "busybox", "ping", "-c", "1", "-W", "2", peerIp]).catch(
      (e: { stdout: string }) => ({ stdout: `FAILED ${e.stdout}` }),
    );
    assert.match(ping.stdout, /1 packets received/, "a pooled port carries traffic at once");
    assert.equal((await cni("CHECK", conf({ pool: 2 }), cniEnv("c-pool-2", n2))).code, 0);
    // GC does not count ready ports as stale attachments
    assert.equal(
      (
        await cni(
          "GC",
          conf({
            "cni.dev/valid-attachments": [
              { containerID: "c-pool-1", ifname: "eth0" },
              { containerID: "c-pool-2", ifname: "eth0" },
            ],
          }),
        )
      ).code,
      0,
    );
    for (let i = 0; i < 200 && (await ready()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await ready()).length, 2, "refilled after the claim, untouched by GC");
    assert.equal((await cni("DEL", conf(), cniEnv("c-pool-1", n1))).code, 0);
    assert.equal((await cni("DEL", conf(), cniEnv("c-pool-2", n2))).code, 0);
    const status = JSON.parse(await ok("vm1", ["ovn-docker", "pool", "status", "-f", "json"])) as Array<{
      network: string;
      cni_ready: number;
    }>;
    assert.equal(status.find((x) => x.network === "LS1")?.cni_ready, 2);
    await ok("vm1", ["ovn-docker", "pool", "drain"]);
    assert.deepEqual(await vmState(), before, "pool drain removed the ready ports");
  });

  test("STATUS: available, or code 50 naming what is unreachable", async () => {
    assert.equal((await cni("STATUS", conf())).code, 0);
    const noOvs = await cni("STATUS", conf({ ovsdb: "unix:/nonexistent/db.sock" }));
    assert.equal(noOvs.out.code, 50, JSON.stringify(noOvs.out));
    assert.match(String(noOvs.out.msg), /Open vSwitch/);
    const noBridge = await cni("STATUS", conf({ bridge: "br-nope" }));
    assert.equal(noBridge.out.code, 50);
    const badApi = path.join(sb.vm("vm1").dir, "cni-openrc-down");
    await fs.writeFile(
      badApi,
      (await fs.readFile(openrc, "utf8")).replace(
        /OS_AUTH_URL='[^']*'/,
        "OS_AUTH_URL='http://127.0.0.1:9/v3'",
      ),
    );
    const noApi = await cni(
      "STATUS",
      conf({ credentials: badApi, stateDir: path.join(sb.vm("vm1").dir, "cni-other") }),
    );
    assert.equal(noApi.out.code, 50, JSON.stringify(noApi.out));
    assert.match(String(noApi.out.msg), /network API/);
    assert.equal((await cni("STATUS", conf({ cniVersion: "1.0.0" }))).out.code, 1, "STATUS is 1.1.0");
  });

  test("bad input: the spec's error code, a message to act on, nothing changed", async () => {
    const before = await vmState();
    const netns = await newNetns();
    const e = cniEnv("c-bad", netns);
    const cases: Array<[string, Record<string, unknown> | string, Record<string, string>, number, RegExp]> = [
      ["ADD", conf(), { ...e, CNI_COMMAND: "" }, 4, /CNI_COMMAND is not set/],
      ["FROB", conf(), e, 4, /CNI_COMMAND "FROB" is unknown/],
      ["ADD", "{not json", e, 6, /not JSON/],
      ["ADD", conf({ cniVersion: "0.3.1" }), e, 1, /0\.3\.1 is not supported/],
      ["ADD", conf({ colour: "blue" }), e, 2, /unknown key "colour"/],
      ["ADD", conf({ network: "NOPE" }), e, 7, /unknown network "NOPE"/],
      ["ADD", conf({ mode: "vxlan" }), e, 7, /"mode" must be/],
      ["ADD", conf({ vifId: "vm-1" }), e, 7, /"vifId" must be the VM's port id/],
      ["ADD", conf({ credentials: "/nonexistent/openrc" }), e, 7, /cannot read the credentials file/],
      ["ADD", conf({ credentials: "relative/openrc" }), e, 7, /absolute path/],
      ["ADD", conf(), { ...e, CNI_NETNS: "" }, 4, /CNI_NETNS is not set/],
      ["ADD", conf(), { ...e, CNI_IFNAME: "this-name-is-too-long" }, 4, /not an interface name/],
      ["ADD", conf(), { ...e, CNI_NETNS: "/run/netns/does-not-exist" }, 3, /does-not-exist.*does not exist/],
      ["GC", conf(), {}, 7, /valid-attachments" is missing/],
    ];
    for (const [cmd, c, env, code, msg] of cases) {
      const r = await cni(cmd, c, { ...env, ...(cmd === "FROB" ? {} : {}) });
      assert.equal(r.code, 1, `${cmd} ${JSON.stringify(env)}: exit status`);
      assert.equal(r.out.code, code, `${cmd}: ${JSON.stringify(r.out)}`);
      assert.match(String(r.out.msg), msg);
    }
    // the API unreachable: try again later
    const down = path.join(sb.vm("vm1").dir, "cni-openrc-down2");
    await fs.writeFile(
      down,
      (await fs.readFile(openrc, "utf8")).replace(
        /OS_AUTH_URL='[^']*'/,
        "OS_AUTH_URL='http://127.0.0.1:9/v3'",
      ),
    );
    const r = await cni(
      "ADD",
      conf({ credentials: down, stateDir: path.join(sb.vm("vm1").dir, "cni-other2") }),
      e,
    );
    assert.equal(r.out.code, 11, JSON.stringify(r.out));
    assert.deepEqual(await vmState(), before, "nothing changed by any bad input");
  });
});

describe("podman with its CNI backend", () => {
  test("podman run --network LS1 pings the CLI's container in the other VM; rm frees everything", async () => {
    const v = sb.vm("vm1");
    const before = await vmState();
    await fs.writeFile(
      path.join(sb.vmLayout("vm1").cniConfDir, "LS1.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "LS1",
        plugins: [pluginConf()],
      }),
    );
    const id = await ok("vm1", ["podman", "run", "-d", "--network", "LS1", IMAGE, "sleep", "100000"]);
    const ip = await ok("vm1", [
      "podman",
      "exec",
      id,
      "sh",
      "-c",
      "ip -4 -o addr show eth0 | awk '{print $4}'",
    ]);
    assert.match(ip, /^10\.30\.0\.\d+\/24$/);
    const ping = await sb.exec("vm1", ["podman", "exec", id, "ping", "-c", "1", "-W", "2", peerIp]);
    assert.equal(
      ping.code,
      0,
      `podman (CNI) container in vm1 pings the CLI's in vm2: ${ping.stdout}${ping.stderr}`,
    );
    const back = await sb.exec("vm2", [
      "podman",
      "exec",
      peerId,
      "ping",
      "-c",
      "1",
      "-W",
      "2",
      ip.split("/")[0] as string,
    ]);
    assert.equal(back.code, 0, `and back: ${back.stdout}${back.stderr}`);
    const after = await vmState();
    assert.equal(after.api.length, before.api.length + 1);
    assert.equal(v.engine, "podman");
    await ok("vm1", ["podman", "rm", "-f", "-t", "0", id]);
    assert.deepEqual(await vmState(), before, "podman rm (CNI DEL) left nothing");
  });
});
