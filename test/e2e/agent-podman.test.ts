// The VM agent with podman as the engine (through its own CLI, runc, no daemon): the seed's
// `run` in two VMs, a ping between the containers, `rm` leaves nothing.

import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { IMAGE, type Sandbox, startSandbox } from "../../src/sandbox/index.js";

let sb: Sandbox | undefined;
let dir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ovn-docker-e2e-podman-"));
  sb = await startSandbox({ dir, vms: 2, engine: "podman" });
});

after(async () => {
  try {
    await sb?.down();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("podman: run in two VMs, ping, rm", async () => {
  const s = sb as Sandbox;
  const ok = async (vm: string, argv: string[]) => {
    const r = await s.exec(vm, argv);
    assert.equal(r.code, 0, `${argv.join(" ")} in ${vm}: ${r.stderr}`);
    return r.stdout.trim();
  };
  assert.equal(s.vm("vm1").env.OVN_DOCKER_ENGINE, "podman");
  await ok("vm1", ["ovn-docker", "create", "network", "LS1", "--subnet", "10.10.0.0/24"]);
  const a = (
    await ok("vm1", ["ovn-docker", "--network=LS1", "run", "-d", "--net=none", IMAGE, "sleep", "1000"])
  )
    .split("\n")
    .pop() as string;
  const b = (await ok("vm2", ["ovn-docker", "--network=LS1", "run", "-d", IMAGE, "sleep", "1000"]))
    .split("\n")
    .pop() as string;
  const [pb] = JSON.parse(await ok("vm2", ["ovn-docker", "ps", "-f", "json"])) as Array<{
    ips: string[];
    status: string;
  }>;
  assert.equal(pb?.status, "ACTIVE");
  const ping = await s.exec("vm1", ["podman", "exec", a, "ping", "-c", "1", "-W", "2", pb?.ips[0] as string]);
  assert.equal(ping.code, 0, `podman container in vm1 pings vm2's: ${ping.stdout}${ping.stderr}`);
  await ok("vm1", ["ovn-docker", "rm", a]);
  await ok("vm2", ["ovn-docker", "rm", b]);
  assert.equal(await ok("vm1", ["podman", "ps", "-a", "-q"]), "", "no container left (sandbox included)");
  assert.equal(await ok("vm1", ["ovn-docker", "ps", "-a", "-f", "json"]), "[]");
  const ports = await s.client("demo").listPorts({ device_owner: "ovn-docker:container" });
  assert.deepEqual(ports, [], "no API port left");
});
