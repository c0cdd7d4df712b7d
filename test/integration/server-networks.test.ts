// /v2.0/networks against a real NB: rows as ML2/OVN writes them, visibility, errors,
// and no state of its own (a second replica and a restarted server see everything).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

const run = promisify(execFile);
let f: Fixture;
let demo: string;
let admin: string;

before(async () => {
  f = await startFixture(2);
  demo = await f.token("demo");
  admin = await f.token("admin");
});

after(async () => {
  await f?.close();
  await stopAllOvsdbServers();
});

const nbctl = async (...a: string[]) =>
  (await run("ovn-nbctl", [`--db=${f.nb.unixRemote}`, ...a])).stdout.trim();

test("create a network: 201, the Neutron body, and the Logical_Switch ML2/OVN would write", async () => {
  const r = await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "LS1" } } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const net = r.body.network as Record<string, unknown>;
  assert.equal(net.name, "LS1");
  assert.equal(net.mtu, 1442);
  assert.equal(net.status, "ACTIVE");
  assert.equal(net.project_id, f.init.project.id);
  assert.equal(net.tenant_id, f.init.project.id);
  assert.deepEqual(net.subnets, []);
  const ls = `neutron-${String(net.id)}`;
  assert.equal(await nbctl("get", "Logical_Switch", ls, "external_ids:neutron\\:network_name"), "LS1");
  assert.equal(await nbctl("get", "Logical_Switch", ls, "external_ids:neutron\\:mtu"), '"1442"');
  assert.equal(await nbctl("get", "Logical_Switch", ls, "other_config:vlan-passthru"), '"false"');
});

test("list with filters and fields, show, from either replica", async () => {
  await f.call("POST", "/v2.0/networks", {
    token: demo,
    body: { networks: [{ name: "bulk-a" }, { name: "bulk-b" }] },
  });
  for (const server of [0, 1]) {
    const all = await f.call(
      "GET",
      "/v2.0/networks?name=bulk-a&name=bulk-b&fields=name&sort_key=name&sort_dir=desc",
      {
        token: demo,
        server,
      },
    );
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.networks, [{ name: "bulk-b" }, { name: "bulk-a" }]);
  }
  const list = await f.call("GET", "/v2.0/networks?name=LS1", { token: demo });
  const id = String((list.body.networks as Array<{ id: string }>)[0]?.id);
  const show = await f.call("GET", `/v2.0/networks/${id}`, { token: demo, server: 1 });
  assert.equal((show.body.network as { name: string }).name, "LS1");
});

test("update and delete; the switch goes away", async () => {
  const c = await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "tmp" } } });
  const id = String((c.body.network as { id: string }).id);
  const u = await f.call("PUT", `/v2.0/networks/${id}`, {
    token: demo,
    body: { network: { name: "renamed" } },
  });
  assert.equal(u.status, 200);
  assert.equal((u.body.network as { name: string; revision_number: number }).name, "renamed");
  assert.equal(
    await nbctl("get", "Logical_Switch", `neutron-${id}`, "external_ids:neutron\\:network_name"),
    "renamed",
  );
  const d = await f.call("DELETE", `/v2.0/networks/${id}`, { token: demo, server: 1 });
  assert.equal(d.status, 204);
  assert.equal(await nbctl("--bare", "--columns=name", "find", "Logical_Switch", `name=neutron-${id}`), "");
  assert.equal((await f.call("GET", `/v2.0/networks/${id}`, { token: demo })).status, 404);
});

test("errors in Neutron's format, and nothing written", async () => {
  const before = await nbctl("--bare", "--columns=name", "list", "Logical_Switch");
  const cases: Array<[string, string, { token?: string; body?: unknown }, number, string]> = [
    ["GET", "/v2.0/networks", {}, 401, "NotAuthenticated"],
    ["GET", "/v2.0/networks", { token: `${demo.slice(0, -2)}xx` }, 401, "NotAuthenticated"],
    ["GET", "/v2.0/networks/nope", { token: demo }, 404, "NetworkNotFound"],
    ["POST", "/v2.0/networks", { token: demo, body: { network: { name: 5 } } }, 400, "BadRequest"],
    ["POST", "/v2.0/networks", { token: demo, body: { network: { bogus: 1 } } }, 400, "BadRequest"],
    ["POST", "/v2.0/networks", { token: demo, body: { net: {} } }, 400, "BadRequest"],
    [
      "POST",
      "/v2.0/networks",
      { token: demo, body: { network: { shared: true } } },
      403,
      "PolicyNotAuthorized",
    ],
    [
      "POST",
      "/v2.0/networks",
      { token: demo, body: { network: { project_id: "other" } } },
      403,
      "PolicyNotAuthorized",
    ],
    ["GET", "/v2.0/networks?bogus=1", { token: demo }, 400, "HTTPBadRequest"],
  ];
  for (const [method, url, opts, status, type] of cases) {
    const r = await f.call(method, url, opts);
    assert.equal(
      r.status,
      status,
      `${method} ${url} ${JSON.stringify(opts.body)}: ${JSON.stringify(r.body)}`,
    );
    assert.equal((r.body.NeutronError as { type: string }).type, type, JSON.stringify(r.body));
  }
  assert.equal(await nbctl("--bare", "--columns=name", "list", "Logical_Switch"), before);
});

test("admin may create shared networks for another project; the member sees shared ones", async () => {
  const r = await f.call("POST", "/v2.0/networks", {
    token: admin,
    body: { network: { name: "shared-net", shared: true, project_id: "someone-else" } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const seen = await f.call("GET", "/v2.0/networks?name=shared-net", { token: demo });
  assert.equal((seen.body.networks as unknown[]).length, 1);
  const id = String((r.body.network as { id: string }).id);
  const del = await f.call("DELETE", `/v2.0/networks/${id}`, { token: demo });
  assert.equal(del.status, 403);
});

test("no state of its own: a replica started later sees everything", async () => {
  const { startNetworkService } = await import("../../src/server/app.js");
  const { loadConfig } = await import("../../src/server/config.js");
  const svc = await startNetworkService({
    config: await loadConfig(f.init.config_file),
    nb: f.nb.unixRemote,
  });
  try {
    const names = [...svc.view.networks.values()].map((e) => e.network.name).sort();
    assert.ok(names.includes("LS1") && names.includes("renamed") === false && names.includes("bulk-a"));
  } finally {
    await svc.close();
  }
});
