// The data plane end to end on the sandbox: what really goes over the wires between a container
// in vm1 (A) and one in vm2 (B), both on one OVN logical network through the agent.
//
// - A's frames leave vm1's NIC tagged with A's VLAN (seen with tcpdump on the trunk).
// - Raw frames written by a misbehaving VM (test/helpers/inject.py, AF_PACKET) reach B only with
//   A's own (parent, tag) pair; an unknown tag, B's tag (valid only under vm2) and untagged
//   frames are dropped by OVN. Counted at B by its kernel's Icmp InEchos counter.
// - Port security: a spoofed source IP or MAC from A does not reach B; A's real address does.
// - A network created with --mtu gives its containers that MTU.
// - 4 MiB over TCP (busybox nc) arrive intact: the agent turned the veths' offloads off, without
//   which TCP breaks on the userspace datapath (reference/ovn-lab/NOTES.md).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { IMAGE, type Sandbox, startSandbox, stopSandbox } from "../../src/sandbox/index.js";

/** test/helpers/inject.py: tsc does not copy it, so it is found in the source tree from dist/test/e2e. */
const INJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/helpers/inject.py");
const PYTHON = "/usr/bin/python3";
const LOOP = ["sh", "-c", "while true; do sleep 1; done"];

let dir: string;
let sb: Sandbox | undefined;

interface Attached {
  container_id: string;
  network: string;
  ifname: string;
  mac: string;
  ips: string[];
  vlan: number;
  port: string;
  status: string;
}

/** A container attached by the agent, with what the tests need to know about it. */
interface Ctr {
  vm: string;
  id: string;
  mac: string;
  ip: string;
  vlan: number;
  port: string;
}

let A: Ctr;
let B: Ctr;

function box(): Sandbox {
  assert.ok(sb, "the sandbox did not start");
  return sb;
}

async function sh(vm: string, argv: string[], timeoutMs = 60_000) {
  return box().exec(vm, argv, { timeoutMs });
}

/** Run argv in the VM and insist that it succeeds; returns stdout. */
async function ok(vm: string, argv: string[], timeoutMs = 60_000): Promise<string> {
  const r = await sh(vm, argv, timeoutMs);
  assert.equal(r.code, 0, `\`${argv.join(" ")}\` in ${vm} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `ovn-docker --network=NET run -d IMAGE LOOP` in `vm`, then its row in `ovn-docker ps`. */
async function runContainer(vm: string, network: string): Promise<Ctr> {
  const out = await ok(vm, ["ovn-docker", `--network=${network}`, "run", "-d", IMAGE, ...LOOP], 90_000);
  const id = out.trim().split("\n").pop() ?? "";
  assert.match(id, /^[0-9a-f]{64}$/, `run printed no container id: ${out}`);
  const rows = JSON.parse(await ok(vm, ["ovn-docker", "ps", "-f", "json"])) as Attached[];
  const row = rows.find((r) => r.container_id === id && r.network === network);
  assert.ok(row, `container ${id.slice(0, 12)} not in \`ovn-docker ps\` of ${vm}: ${JSON.stringify(rows)}`);
  assert.equal(row.status, "ACTIVE", `port of ${id.slice(0, 12)} is ${row.status}`);
  const ip = row.ips.find((x) => x.includes("."));
  assert.ok(ip, `no IPv4 address on ${id.slice(0, 12)}: ${row.ips.join(", ")}`);
  return { vm, id, mac: row.mac, ip, vlan: row.vlan, port: row.port };
}

const pids = new Map<string, string>();
async function pidOf(c: Ctr): Promise<string> {
  const known = pids.get(c.id);
  if (known) return known;
  const pid = (await ok(c.vm, ["docker", "inspect", "-f", "{{.State.Pid}}", c.id])).trim();
  assert.match(pid, /^[1-9][0-9]*$/, `docker inspect gave pid ${JSON.stringify(pid)}`);
  pids.set(c.id, pid);
  return pid;
}

/** argv run in the container's network namespace, entered from its VM (the container has no NET_ADMIN). */
async function inNs(c: Ctr, argv: string[], timeoutMs = 30_000) {
  return sh(c.vm, ["nsenter", "-t", await pidOf(c), "-n", ...argv], timeoutMs);
}

/** Icmp InEchos of the container's kernel: echo requests that reached it. */
async function inEchos(c: Ctr): Promise<number> {
  const snmp = await ok(c.vm, ["docker", "exec", c.id, "cat", "/proc/net/snmp"]);
  const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Icmp: "));
  const i = names?.split(/\s+/).indexOf("InEchos") ?? -1;
  const v = Number(values?.split(/\s+/)[i]);
  assert.ok(i > 0 && Number.isInteger(v), `no Icmp InEchos in /proc/net/snmp:\n${snmp}`);
  return v;
}

/** Poll `read()` until it is at least `min` (or `timeoutMs` passed); returns the last value. */
async function atLeast(read: () => Promise<number>, min: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v >= min || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Frames {
  vlan?: number;
  srcMac: string;
  srcIp: string;
  count: number;
  ident: number;
}

/** Write raw ICMP echo requests to B out of vm1's NIC (eth0, the trunk), as inject.py does. */
async function inject(f: Frames): Promise<void> {
  const argv = [
    PYTHON,
    INJECT,
    "--iface",
    "eth0",
    "--src-mac",
    f.srcMac,
    "--src-ip",
    f.srcIp,
    "--dst-mac",
    B.mac,
    "--dst-ip",
    B.ip,
    "--count",
    String(f.count),
    "--ident",
    String(f.ident),
    ...(f.vlan === undefined ? [] : ["--vlan", String(f.vlan)]),
  ];
  const out = await ok("vm1", argv);
  assert.match(out, new RegExp(`^sent ${f.count} frames`), out);
}

let ident = 0x100;

/**
 * How many of `f.count` injected frames reached B. After them, one frame that must arrive (A's
 * tag, MAC and IP) is sent the same way: once B counted it, the frames before it went through the
 * same veth and switches, so a 0 means dropped, not still on the way. `expected` only bounds the
 * wait (up to 10 s for that many more); the count returned is what B saw.
 */
async function delivered(f: Omit<Frames, "ident">, expected: number): Promise<number> {
  const before = await inEchos(B);
  await inject({ ...f, ident: ident++ });
  await inject({ vlan: A.vlan, srcMac: A.mac, srcIp: A.ip, count: 1, ident: ident++ });
  const now = await atLeast(() => inEchos(B), before + 1 + expected);
  assert.ok(now >= before + 1, `the control frame (vlan ${A.vlan}, A's MAC/IP) did not reach B either`);
  return now - before - 1;
}

/** busybox ping from A's namespace (host busybox, A's network). */
async function pingFromA(extra: string[] = []) {
  return inNs(A, ["busybox", "ping", "-c", "2", "-i", "0.3", "-W", "1", ...extra, B.ip]);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ovn-docker-e2e-dataplane-"));
  await fs.access(INJECT);
  sb = await startSandbox({ dir, vms: 2 });
  await ok("vm1", ["ovn-docker", "create", "network", "DP1", "--subnet", "10.50.0.0/24"]);
  [A, B] = await Promise.all([runContainer("vm1", "DP1"), runContainer("vm2", "DP1")]);
  // Tags are picked per VM at random, so B's may equal A's (1 in 4094). Then "B's tag sent from
  // vm1" would be A's tag: take another B.
  for (let i = 0; i < 3 && B.vlan === A.vlan; i++) {
    await ok("vm2", ["ovn-docker", "rm", B.id]);
    B = await runContainer("vm2", "DP1");
  }
  assert.notEqual(B.vlan, A.vlan, `A and B keep getting the same tag ${A.vlan}`);
  // The path works at all before anything is measured on it.
  const ping = await ok("vm1", ["docker", "exec", A.id, "ping", "-c", "1", "-W", "3", B.ip]);
  assert.match(ping, /1 packets received/, ping);
});

after(async () => {
  try {
    const report = sb ? await sb.down() : dir ? await stopSandbox(dir) : undefined;
    assert.deepEqual(report?.problems ?? [], [], `sandbox down left things behind in ${dir}`);
  } finally {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
});

describe("data plane between a container in vm1 (A) and one in vm2 (B)", () => {
  test("A's frames leave vm1's NIC tagged with A's VLAN", async () => {
    const s = box();
    // tcpdump must be listening before the ping, so it is spawned here and watched for its
    // "listening on" line rather than run with sb.exec (which reports only at exit).
    const argv = s.execArgv("vm1", [
      "timeout",
      "15",
      "tcpdump",
      "-i",
      "eth0",
      "-nn",
      "-e",
      "-c",
      "3",
      "vlan",
    ]);
    const [cmd, ...args] = argv;
    const td = spawn(cmd as string, args, { env: s.execEnv("vm1"), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    td.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => td.once("close", resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start listening: ${err}`)), 10_000);
      td.stderr.setEncoding("utf8").on("data", (d: string) => {
        err += d;
        if (/listening on eth0/.test(err)) {
          clearTimeout(timer);
          resolve();
        }
      });
      td.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited before listening: ${err}`));
      });
    });
    const ping = await sh("vm1", ["docker", "exec", A.id, "ping", "-c", "3", "-i", "0.2", "-W", "2", B.ip]);
    const code = await exited;
    assert.equal(ping.code, 0, `A could not ping B while capturing: ${ping.stdout}${ping.stderr}`);
    assert.equal(code, 0, `tcpdump exited ${code} (15 s timeout: fewer than 3 tagged frames): ${out}${err}`);
    const lines = out.split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.length, 3, `tcpdump printed ${lines.length} frames:\n${out}`);
    for (const l of lines)
      assert.match(l, new RegExp(`vlan ${A.vlan}, `), `a frame without A's tag:\n${out}`);
    // The frames are A's conversation with B, not something else on the trunk.
    for (const l of lines)
      assert.ok(
        l.includes(A.ip) && l.includes(B.ip),
        `a tagged frame that is not between A and B (${A.ip}, ${B.ip}):\n${out}`,
      );
  });

  test("raw frames from vm1 reach B only with A's own tag: unknown, foreign and missing tags are dropped", async () => {
    const N = 5;
    // An unknown tag: one no attachment in either VM uses.
    const used = new Set([A.vlan, B.vlan]);
    let unknown = 3999;
    while (used.has(unknown)) unknown--;

    const own = await delivered({ vlan: A.vlan, srcMac: A.mac, srcIp: A.ip, count: N }, N);
    assert.equal(own, N, `with A's tag ${A.vlan} and A's MAC/IP, ${own} of ${N} frames reached B`);
    const unk = await delivered({ vlan: unknown, srcMac: A.mac, srcIp: A.ip, count: N }, 0);
    assert.equal(unk, 0, `with the unknown tag ${unknown}, ${unk} of ${N} frames reached B`);
    const foreign = await delivered({ vlan: B.vlan, srcMac: A.mac, srcIp: A.ip, count: N }, 0);
    assert.equal(
      foreign,
      0,
      `with B's tag ${B.vlan} (a tag of vm2, not vm1), ${foreign} of ${N} frames sent from vm1 reached B`,
    );
    const untagged = await delivered({ srcMac: A.mac, srcIp: A.ip, count: N }, 0);
    assert.equal(untagged, 0, `untagged with A's MAC/IP, ${untagged} of ${N} frames reached B`);
  });

  test("port security: A with a spoofed IP or MAC does not reach B, its real address does", async () => {
    // The premise: the network service set port_security on A's logical port to its MAC and IP.
    const nb = await new Promise<string>((resolve, reject) => {
      const c = spawn("ovn-nbctl", [`--db=${box().nbUnix}`, "lsp-get-port-security", A.port]);
      let o = "";
      c.stdout.setEncoding("utf8").on("data", (d: string) => {
        o += d;
      });
      c.once("error", reject);
      c.once("close", () => resolve(o.trim()));
    });
    assert.equal(
      nb,
      `${A.mac} ${A.ip}`,
      `port_security of A's logical port ${A.port} is ${JSON.stringify(nb)}`,
    );

    // Fill A's neighbour cache with B through the real address, so the spoofed pings below send
    // their echo requests at once instead of failing at ARP.
    const warm = await pingFromA();
    assert.equal(warm.code, 0, `A could not ping B before spoofing: ${warm.stdout}${warm.stderr}`);

    const spoofIp = A.ip.replace(/\.\d+$/, ".200");
    const add = await inNs(A, ["ip", "addr", "add", `${spoofIp}/24`, "dev", "eth0"]);
    assert.equal(add.code, 0, `ip addr add ${spoofIp} in A's namespace: ${add.stderr}`);
    try {
      const before = await inEchos(B);
      const p = await pingFromA(["-I", spoofIp]);
      const got = (await inEchos(B)) - before; // ping waited 1 s after its last request
      assert.notEqual(p.code, 0, `ping from spoofed ${spoofIp} got answers: ${p.stdout}`);
      assert.equal(
        got,
        0,
        `${got} echo requests from spoofed ${spoofIp} reached B (ping: ${p.stdout.trim()})`,
      );
    } finally {
      await inNs(A, ["ip", "addr", "del", `${spoofIp}/24`, "dev", "eth0"]);
    }

    const spoofMac = "02:00:00:d0:0d:01";
    const set = await inNs(A, ["ip", "link", "set", "eth0", "address", spoofMac]);
    assert.equal(set.code, 0, `ip link set eth0 address ${spoofMac} in A's namespace: ${set.stderr}`);
    try {
      const before = await inEchos(B);
      const p = await pingFromA();
      const got = (await inEchos(B)) - before; // ping waited 1 s after its last request
      assert.notEqual(p.code, 0, `ping from A with MAC ${spoofMac} got answers: ${p.stdout}`);
      assert.equal(got, 0, `${got} echo requests from MAC ${spoofMac} reached B (ping: ${p.stdout.trim()})`);
    } finally {
      const back = await inNs(A, ["ip", "link", "set", "eth0", "address", A.mac]);
      assert.equal(back.code, 0, `restoring A's MAC ${A.mac}: ${back.stderr}`);
    }

    const before = await inEchos(B);
    const p = await pingFromA();
    assert.equal(p.code, 0, `A's real address no longer pings B: ${p.stdout}${p.stderr}`);
    const got = (await atLeast(() => inEchos(B), before + 2)) - before;
    assert.equal(got, 2, `B counted ${got} echo requests from A's 2 real pings`);
  });

  test("a network created with --mtu 1400 gives its containers eth0 with MTU 1400", async () => {
    await ok("vm2", [
      "ovn-docker",
      "create",
      "network",
      "DP-MTU",
      "--subnet",
      "10.51.0.0/24",
      "--mtu",
      "1400",
    ]);
    // C stays until the sandbox goes down: nothing after this test looks at vm2's attachments.
    const C = await runContainer("vm2", "DP-MTU");
    const mtu = (await ok("vm2", ["docker", "exec", C.id, "cat", "/sys/class/net/eth0/mtu"])).trim();
    assert.equal(mtu, "1400", `C's eth0 on the network created with --mtu 1400 has MTU ${mtu}`);
  });

  test("4 MiB over TCP from A to B with busybox nc arrive intact (offloads are off on the veths)", async () => {
    // Without this, TCP stalls or corrupts on veths behind the userspace datapath.
    const offloads: string[] = [];
    for (const [where, r] of [
      ["A's eth0", await inNs(A, ["ethtool", "-k", "eth0"])],
      [`vm1's ovd${A.vlan}`, await sh("vm1", ["ethtool", "-k", `ovd${A.vlan}`])],
    ] as const) {
      const tx = /^tx-checksumming: (\w+)/m.exec(r.stdout)?.[1];
      offloads.push(`${where}: tx-checksumming ${tx ?? `? (${r.stderr.trim()})`}`);
    }
    assert.deepEqual(
      offloads.filter((o) => !o.endsWith("tx-checksumming off")),
      [],
      `offloads left on: ${offloads.join("; ")}`,
    );

    const made = await ok("vm1", [
      "docker",
      "exec",
      A.id,
      "sh",
      "-c",
      "dd if=/dev/urandom of=/tmp/4m bs=1024 count=4096 2>/dev/null && md5sum /tmp/4m && wc -c < /tmp/4m",
    ]);
    const [sentSum, sentSize] = [made.split(/\s+/)[0], made.trim().split("\n").pop()?.trim()];
    assert.equal(sentSize, String(4 * 1024 * 1024), `A's file: ${made}`);

    // The receiver runs `cat` on the connection (nc -e): its stdin stays open, so B never closes
    // its side before A has sent everything (a plain `nc -l` reads EOF on its own stdin, shuts
    // its side down, and A's nc then exits at once, long before 4 MiB were sent).
    const port = 5001;
    const received = sh(
      "vm2",
      ["docker", "exec", B.id, "nc", "-l", "-p", String(port), "-e", "sh", "-c", "cat > /tmp/got"],
      40_000,
    );
    const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
    const listening = async () => {
      const r = await sh("vm2", ["docker", "exec", B.id, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
      return r.stdout.split("\n").some((l) => l.includes(hex) && / 0A /.test(l));
    };
    const deadline = Date.now() + 10_000;
    while (!(await listening())) {
      assert.ok(Date.now() < deadline, `B's nc is not listening on ${port} after 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const t0 = Date.now();
    const send = await sh(
      "vm1",
      ["docker", "exec", A.id, "sh", "-c", `nc -w 5 ${B.ip} ${port} < /tmp/4m`],
      40_000,
    );
    const recv = await received;
    const ms = Date.now() - t0;
    assert.equal(send.code, 0, `A's nc exited ${send.code} after ${ms} ms: ${send.stderr}`);
    assert.equal(recv.code, 0, `B's nc exited ${recv.code} after ${ms} ms: ${recv.stderr}`);
    const got = await ok("vm2", ["docker", "exec", B.id, "sh", "-c", "md5sum /tmp/got && wc -c < /tmp/got"]);
    const [gotSum, gotSize] = [got.split(/\s+/)[0], got.trim().split("\n").pop()?.trim()];
    assert.equal(gotSize, sentSize, `B received ${gotSize} of ${sentSize} bytes in ${ms} ms`);
    assert.equal(gotSum, sentSum, `md5 at B ${gotSum}, at A ${sentSum}`);
  });
});
