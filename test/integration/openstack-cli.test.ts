// Standard OpenStack tooling against the network service: python-openstackclient (Debian's
// python3-openstackclient) logs in through the Keystone subset and drives the Neutron
// subset, including the seed's container port (binding:profile parent_name + tag).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

const run = promisify(execFile);
let f: Fixture;

before(async () => {
  f = await startFixture(1);
});

after(async () => {
  await f?.close();
  await stopAllOvsdbServers();
});

async function openstack(...args: string[]): Promise<unknown> {
  const demo = f.init.users.find((u) => u.name === "demo");
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: f.dir,
    OS_AUTH_URL: `${f.servers[0]?.url}/v3`,
    OS_USERNAME: "demo",
    OS_PASSWORD: demo?.password ?? "",
    OS_PROJECT_NAME: f.init.project.name,
    OS_USER_DOMAIN_NAME: "Default",
    OS_PROJECT_DOMAIN_NAME: "Default",
    OS_IDENTITY_API_VERSION: "3",
    OS_INTERFACE: "public",
  };
  try {
    const json = args[1] === "delete" ? [] : ["-f", "json"];
    const { stdout } = await run("openstack", [...args, ...json], { env, timeout: 60_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch (e) {
    const x = e as { stderr?: string; message: string };
    throw new Error(`openstack ${args.join(" ")}: ${x.stderr ?? x.message}`);
  }
}

test("python-openstackclient: token, networks, subnets, a VM port and a container port", {
  timeout: 180_000,
}, async () => {
  const token = (await openstack("token", "issue")) as { project_id: string };
  assert.equal(token.project_id, f.init.project.id);

  const mgmt = (await openstack("network", "create", "mgmt")) as { id: string; mtu: number };
  assert.equal(mgmt.mtu, 1442);
  await openstack("subnet", "create", "--network", "mgmt", "--subnet-range", "10.0.0.0/24", "mgmt-v4");
  const ls1 = (await openstack("network", "create", "LS1")) as { id: string };
  await openstack("subnet", "create", "--network", "LS1", "--subnet-range", "192.168.1.0/24", "ls1-v4");
  const names = ((await openstack("network", "list")) as Array<{ Name: string }>).map((n) => n.Name).sort();
  assert.deepEqual(names, ["LS1", "mgmt"]);

  const vm = (await openstack("port", "create", "--network", "mgmt", "vm-a")) as {
    id: string;
    fixed_ips: unknown;
  };
  const c1 = (await openstack(
    "port",
    "create",
    "--network",
    "LS1",
    "--binding-profile",
    JSON.stringify({ parent_name: vm.id, tag: 10 }),
    "c1",
  )) as { id: string; binding_profile: unknown };
  assert.deepEqual(c1.binding_profile, { parent_name: vm.id, tag: 10 });
  const { stdout } = await run("ovn-nbctl", [`--db=${f.nb.unixRemote}`, "lsp-get-tag", c1.id]);
  assert.equal(stdout.trim(), "10");

  const shown = (await openstack("port", "show", c1.id)) as { status: string; network_id: string };
  assert.equal(shown.network_id, ls1.id);
  assert.equal(shown.status, "DOWN");
  const listed = (await openstack("port", "list", "--network", "LS1")) as Array<{ ID: string }>;
  assert.deepEqual(
    listed.map((p) => p.ID),
    [c1.id],
  );

  await assert.rejects(openstack("port", "delete", vm.id), /container port|parent|409|Conflict/i);
  await openstack("port", "delete", c1.id);
  await openstack("port", "delete", vm.id);
  await openstack("network", "delete", "LS1");
  assert.deepEqual(
    ((await openstack("network", "list")) as Array<{ Name: string }>).map((n) => n.Name),
    ["mgmt"],
  );
});
