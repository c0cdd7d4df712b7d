// `ovn-docker sandbox` end to end, with real daemons: OVN central, the network service, a
// hypervisor (ovs-vswitchd netdev + ovn-controller) and VMs as network namespaces, each with its
// own OVS and dockerd (or podman). Checks that the pieces are really wired together (chassis in
// our SB, VM ports ACTIVE through the API, VM-to-VM ping over mgmt, containers run, the API URL
// works inside a VM), that two sandboxes do not collide, and that `down` leaves nothing behind:
// after a normal run, twice in a row, after `up` was killed -9 half way, after `up` failed.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import {
  dirHash,
  IMAGE,
  layout,
  loadSandbox,
  type Sandbox,
  SandboxRunningError,
  startSandbox,
  stopSandbox,
} from "../../src/sandbox/index.js";
import {
  assertNothingLeft,
  leftovers,
  removeDir,
  runCli,
  sandboxTempDir,
  spawnCliUntil,
} from "../helpers/sandbox.js";

const dirs: string[] = [];
async function newDir(tag: string): Promise<string> {
  const d = await sandboxTempDir(tag);
  dirs.push(d);
  return d;
}

// Whatever happens, nothing of ours outlives the file.
after(async () => {
  for (const d of dirs) {
    await stopSandbox(d).catch(() => {});
    await removeDir(d);
  }
});

describe("sandbox with 2 VMs (docker)", () => {
  let dir: string;
  let sb: Sandbox;

  before(async () => {
    dir = await newDir("e2e");
    sb = await startSandbox({ dir, vms: 2 });
  });

  test("the chassis registered in our SB and every daemon is alive and answering", async () => {
    const s = await sb.status();
    assert.equal(s.chassis.registered, true);
    assert.equal(s.chassis.name, `ovd-${dirHash(dir)}-hv`);
    const bad = s.daemons.filter((d) => !d.alive || !d.healthy).map((d) => `${d.name}: ${d.detail}`);
    assert.deepEqual(bad, []);
    // NB, SB, northd, hv ovsdb+vswitchd, ovn-controller, server, root forwarder, per VM 4
    assert.equal(s.daemons.length, 8 + 2 * 4);
    assert.equal(s.healthy, true);
    assert.deepEqual(
      s.vms.map((v) => v.portStatus),
      ["ACTIVE", "ACTIVE"],
    );
  });

  test("`sandbox status -f json` from another process says the same", async () => {
    const r = await runCli(["sandbox", "status", "--dir", dir, "-f", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { healthy: boolean; phase: string; vms: Array<{ ip: string }> };
    assert.equal(s.healthy, true);
    assert.equal(s.phase, "up");
    assert.deepEqual(
      s.vms.map((v) => v.ip),
      sb.vms.map((v) => v.ip),
    );
  });

  test("the VM ports were created by the tenant, as Nova would, and are ACTIVE through the API", async () => {
    const client = sb.client("demo");
    for (const vm of sb.vms) {
      const p = await client.getPort(vm.vifId);
      assert.equal(p.status, "ACTIVE");
      assert.equal(p.device_owner, "compute:nova");
      assert.equal(p.device_id, vm.name);
      assert.equal(p.mac_address, vm.mac);
      assert.equal(p.fixed_ips[0]?.ip_address, vm.ip);
      assert.equal(p.project_id, sb.api.demo.projectId);
    }
  });

  test("vm1 pings vm2 over mgmt (no duplicates), and TCP works on the userspace datapath", async () => {
    const [vm1, vm2] = sb.vms;
    assert.ok(vm1 && vm2);
    const ping = await sb.exec(vm1.name, ["/bin/busybox", "ping", "-c", "3", "-i", "0.2", "-W", "2", vm2.ip]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /3 packets transmitted, 3 packets received, 0% packet loss/);
    assert.doesNotMatch(ping.stdout, /DUP/);
    // 4 MB through one TCP connection (broken checksum offload would stall or corrupt it).
    const receiver =
      "const h=require('crypto').createHash('sha256');let n=0;" +
      "const s=require('net').createServer(c=>{c.on('data',d=>{h.update(d);n+=d.length});" +
      "c.on('end',()=>{console.log(n,h.digest('hex'));s.close()})}).listen(5000,'0.0.0.0',()=>console.error('listening'))";
    const sender =
      "const b=require('crypto').randomBytes(4e6);" +
      "const c=require('net').connect(5000,process.argv[1],()=>c.end(b));" +
      "c.on('close',()=>console.log(b.length,require('crypto').createHash('sha256').update(b).digest('hex')))";
    const got = sb.exec(vm2.name, ["node", "-e", receiver], { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 500));
    const sent = await sb.exec(vm1.name, ["node", "-e", sender, vm2.ip], { timeoutMs: 20_000 });
    assert.equal(sent.code, 0, sent.stderr);
    const received = await got;
    assert.equal(received.stdout.trim(), sent.stdout.trim(), received.stderr);
    assert.match(sent.stdout, /^4000000 [0-9a-f]{64}$/m);
  });

  test("`docker run --rm --net=none` works in each VM", async () => {
    const results = await Promise.all(
      sb.vms.map((vm) => sb.exec(vm.name, ["docker", "run", "--rm", "--net=none", IMAGE, "echo", "ok"])),
    );
    for (const r of results) assert.deepEqual([r.code, r.stdout.trim()], [0, "ok"], r.stderr);
  });

  test("inside a VM: the catalog's API URL answers, ovn-docker and docker are the right ones, the env is complete", async () => {
    const vm = sb.vm("vm2");
    const probe = "fetch(process.env.OS_AUTH_URL).then(r=>console.log(r.status))";
    const r = await sb.exec(vm.name, ["node", "-e", probe]);
    assert.equal(r.stdout.trim(), "200", r.stderr);
    const which = await sb.exec(vm.name, [
      "sh",
      "-c",
      "command -v ovn-docker; command -v docker; ovn-docker --version",
    ]);
    assert.deepEqual(which.stdout.trim().split("\n"), [
      `${sb.dir}/bin/ovn-docker`,
      `${sb.dir}/bin/docker`,
      "0.1.0",
    ]);
    const l = layout(dir).vm(2);
    assert.deepEqual(
      {
        OS_AUTH_URL: vm.env.OS_AUTH_URL,
        OS_USERNAME: vm.env.OS_USERNAME,
        OS_PROJECT_NAME: vm.env.OS_PROJECT_NAME,
        OS_USER_DOMAIN_NAME: vm.env.OS_USER_DOMAIN_NAME,
        OS_PROJECT_DOMAIN_NAME: vm.env.OS_PROJECT_DOMAIN_NAME,
        DOCKER_HOST: vm.env.DOCKER_HOST,
        OVN_DOCKER_OVSDB: vm.env.OVN_DOCKER_OVSDB,
        OVN_DOCKER_BRIDGE: vm.env.OVN_DOCKER_BRIDGE,
        OVN_DOCKER_UPLINK: vm.env.OVN_DOCKER_UPLINK,
        OVN_DOCKER_STATE_DIR: vm.env.OVN_DOCKER_STATE_DIR,
        OVN_DOCKER_ENGINE: vm.env.OVN_DOCKER_ENGINE,
        OVN_DOCKER_VIF_ID: vm.env.OVN_DOCKER_VIF_ID,
      },
      {
        OS_AUTH_URL: `${sb.api.url}/v3`,
        OS_USERNAME: "demo",
        OS_PROJECT_NAME: "demo",
        OS_USER_DOMAIN_NAME: "Default",
        OS_PROJECT_DOMAIN_NAME: "Default",
        DOCKER_HOST: `unix://${dir}/vm2/docker.sock`,
        OVN_DOCKER_OVSDB: `unix:${dir}/vm2/run/db.sock`,
        OVN_DOCKER_BRIDGE: "br-vm",
        OVN_DOCKER_UPLINK: "eth0",
        OVN_DOCKER_STATE_DIR: l.agentDir,
        OVN_DOCKER_ENGINE: "docker",
        OVN_DOCKER_VIF_ID: vm.vifId,
      },
    );
    assert.ok(vm.env.OS_PASSWORD && vm.env.OS_PASSWORD === sb.api.demo.password);
  });

  test("`sandbox exec` runs in the VM's netns and returns the command's exit code", async () => {
    const r = await runCli([
      "sandbox",
      "exec",
      "vm1",
      "--dir",
      dir,
      "--",
      "sh",
      "-c",
      "ip -o -4 addr show br-vm; exit 7",
    ]);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, new RegExp(`inet ${sb.vm("vm1").ip.replaceAll(".", "\\.")}/24`));
  });

  test("loadSandbox(dir) in another process sees the same sandbox", async () => {
    const again = await loadSandbox(dir);
    assert.deepEqual(again.vms, sb.vms);
    assert.equal(again.api.url, sb.api.url);
    assert.equal(again.nbRemote, sb.nbRemote);
  });

  test("`up` refuses a directory that holds a running sandbox", async () => {
    await assert.rejects(startSandbox({ dir, vms: 1 }), (e: Error) => {
      assert.ok(e instanceof SandboxRunningError, e.message);
      assert.match(e.message, /sandbox down --dir/);
      return true;
    });
    assert.equal((await sb.status()).healthy, true);
  });

  test("a second sandbox in another directory runs beside the first without collisions", async () => {
    const dir2 = await newDir("e2e2");
    const sb2 = await startSandbox({ dir: dir2, vms: 1 });
    try {
      assert.notEqual(sb2.hash, sb.hash);
      assert.notEqual(sb2.chassis, sb.chassis);
      assert.notEqual(sb2.vms[0]?.netns, sb.vms[0]?.netns);
      const ports1 = [sb.state.ports.nb, sb.state.ports.sb, sb.state.ports.api];
      const ports2 = [sb2.state.ports.nb, sb2.state.ports.sb, sb2.state.ports.api];
      assert.deepEqual(
        ports2.filter((p) => ports1.includes(p)),
        [],
      );
      const r = await sb2.exec("vm1", ["docker", "run", "--rm", "--net=none", IMAGE, "echo", "ok"]);
      assert.equal(r.stdout.trim(), "ok", r.stderr);
      assert.equal((await sb2.status()).healthy, true);
    } finally {
      await sb2.down();
    }
    await assertNothingLeft(dir2);
    assert.equal((await sb.status()).healthy, true, "the first sandbox is untouched");
  });

  test("`down` stops everything (running containers too); a second `down` is fine", async () => {
    const r = await sb.exec("vm1", ["docker", "run", "-d", "--net=none", IMAGE, "sleep", "1000"]);
    assert.equal(r.code, 0, r.stderr);
    const report = await sb.down();
    assert.deepEqual(report.problems, []);
    assert.equal(report.stopped.length + report.killed.length, 16);
    assert.equal(report.netns.length, 3);
    await assertNothingLeft(dir);
    const again = await runCli(["sandbox", "down", "--dir", dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 daemons stopped, 0 netns deleted/);
    await assertNothingLeft(dir);
  });
});

test("`up` killed -9 after the hypervisor is up: `down` then leaves nothing", async () => {
  const dir = await newDir("kill");
  const { child } = await spawnCliUntil(["sandbox", "up", "--dir", dir, "--vms", "2"], /hypervisor up/);
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.notDeepEqual(await leftovers(dir), [], "the killed `up` left daemons running");
  const refused = await runCli(["sandbox", "up", "--dir", dir, "--vms", "1"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /did not finish still has daemons running.*sandbox down --dir/s);
  const down = await runCli(["sandbox", "down", "--dir", dir]);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  await assertNothingLeft(dir);
});

test("Ctrl-C during `up` undoes what it started, by itself", async () => {
  const dir = await newDir("int");
  const { child, output } = await spawnCliUntil(["sandbox", "up", "--dir", dir, "--vms", "1"], /central up/);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGINT");
  assert.equal(await exited, 130, output());
  assert.match(output(), /SIGINT: undoing what was started/);
  await assertNothingLeft(dir);
});

test("a daemon that fails to start is named with its log, and everything started is undone", async () => {
  const dir = await newDir("fail");
  const fake = `${dir}-dockerd`;
  dirs.push(fake);
  await writeFile(fake, '#!/bin/sh\necho "dockerd: simulated start failure" >&2\nexit 1\n', { mode: 0o755 });
  const r = await runCli(["sandbox", "up", "--dir", dir, "--vms", "1"], {
    env: { ...process.env, OVN_DOCKER_SANDBOX_DOCKERD: fake },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /vm1 dockerd: exited/);
  assert.match(
    r.stderr,
    new RegExp(`vm1 dockerd log: ${dir}/vm1/log/dockerd\\.log, last lines:\\n.*simulated start failure`),
  );
  assert.match(r.stdout, /undoing everything started so far/);
  await assertNothingLeft(dir);
});

test("podman engine: runc, this host's rlimits, storage under the sandbox", async () => {
  const dir = await newDir("podman");
  const sb = await startSandbox({ dir, vms: 1, engine: "podman" });
  try {
    const vm = sb.vm("vm1");
    assert.equal(vm.dockerHost, undefined);
    assert.equal(vm.env.OVN_DOCKER_ENGINE, "podman");
    const r = await sb.exec("vm1", [
      "podman",
      "run",
      "--rm",
      "--net=none",
      IMAGE,
      "sh",
      "-c",
      "ulimit -n; echo ok",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["20000", "ok"]);
    const d = await sb.exec("vm1", ["podman", "run", "-d", "--net=none", IMAGE, "sleep", "1000"]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal((await sb.status()).healthy, true);
  } finally {
    const report = await sb.down();
    assert.deepEqual(report.problems, []);
  }
  await assertNothingLeft(dir);
});
