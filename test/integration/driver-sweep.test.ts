// The Docker driver's sweep against a real network service and a real Open_vSwitch database:
// work of the running driver left half done (a call failed and so did its undo) is taken apart
// at the second sweep that still finds it, never at the first (a call may be in flight), and
// rows of other processes are left to gc.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { Agent } from "../../src/agent/agent.js";
import { selfOwner } from "../../src/agent/owner.js";
import { IpamDriver } from "../../src/libnetwork/ipam-driver.js";
import { type OvsdbServer, startOvsdbServer } from "../../src/sandbox/ovsdb-process.js";
import type { VSwitch } from "../../src/vswitch/vswitch.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

const run = promisify(execFile);

let f: Fixture;
let vsdb: OvsdbServer;
let agent: Agent;
let vs: VSwitch;
let vifId: string;
let networkId: string;

before(async () => {
  f = await startFixture(1);
  vsdb = await startOvsdbServer({
    dir: path.join(f.dir, "vm"),
    schema: "/usr/share/openvswitch/vswitch.ovsschema",
  });
  const vsctl = (...a: string[]) => run("ovs-vsctl", [`--db=${vsdb.unixRemote}`, "--no-wait", ...a]);
  await vsctl("init");
  await vsctl("add-br", "br-vm");
  const u = f.init.users.find((x) => x.name === "demo");
  assert.ok(u);
  const env = {
    OS_AUTH_URL: `${f.servers[0]?.url}/v3`,
    OS_USERNAME: u.name,
    OS_PASSWORD: u.password,
    OS_PROJECT_NAME: u.project_name,
    OS_USER_DOMAIN_NAME: u.domain_name,
    OS_PROJECT_DOMAIN_NAME: u.domain_name,
  };
  const token = await f.token("demo");
  const net = await f.call("POST", "/v2.0/networks", { token, body: { network: { name: "LS1" } } });
  networkId = (net.body.network as { id: string }).id;
  await f.call("POST", "/v2.0/subnets", {
    token,
    body: { subnet: { network_id: networkId, cidr: "10.40.0.0/24", ip_version: 4 } },
  });
  const vm = await f.call("POST", "/v2.0/ports", {
    token,
    body: { port: { network_id: networkId, name: "vm" } },
  });
  vifId = (vm.body.port as { id: string }).id;
  const stateDir = path.join(f.dir, "state");
  await fs.mkdir(stateDir, { recursive: true });
  agent = new Agent({
    vifId,
    ovsdb: vsdb.unixRemote,
    bridge: "br-vm",
    uplink: "eth0",
    stateDir,
    mode: "binding-profile",
    activeTimeoutMs: 5_000,
    env,
  });
  vs = await agent.vswitch();
});

after(async () => {
  await agent?.close();
  await vsdb?.stop();
  await f?.close();
});

test("half-done work of the live driver goes at the second sweep; others' rows stay", async () => {
  const logged: string[] = [];
  const ipam = new IpamDriver(agent, { info: (m) => logged.push(m), error: (m) => logged.push(m) });
  const common = { via: "docker", vifId, networkId, networkName: "LS1", mode: "binding-profile" };
  // This driver's allocation whose undo failed: tag reserved, API port made, state reserving.
  const mine = await vs.reserve({ ...common, owner: selfOwner(), created: new Date().toISOString() });
  const api = agent.api();
  const port = await api.createPort({
    network_id: networkId,
    device_owner: "ovn-docker:container",
    device_id: vifId,
    "binding:profile": { parent_name: vifId, tag: mine.tag },
  });
  // Another process's half-done row (gc's business, not the sweep's).
  const other = await vs.reserve({ ...common, owner: "999999:1", created: new Date().toISOString() });

  assert.equal(await ipam.releaseUnclaimed(300_000), 0, "first sweep: maybe a call in flight");
  assert.ok(await vs.get(mine.tag));
  assert.equal(await ipam.releaseUnclaimed(300_000), 1, "second sweep: still there, so stuck");
  assert.equal(await vs.get(mine.tag), undefined, "tag released");
  assert.deepEqual(await api.listPorts({ id: port.id }), [], "its API port deleted");
  assert.ok(logged.includes("took apart half-done work of this driver"));
  assert.ok(await vs.get(other.tag), "another process's row is left to gc");
  await vs.release(other.tag);
});
