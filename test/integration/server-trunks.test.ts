// Trunks against a real NB with two server replicas: subports written as ML2/OVN writes them
// (parent_name + tag on the subport's Logical_Switch_Port), the trunk object kept in the
// parent port's external_ids, Neutron's validation and errors, the project's stricter rules,
// each refusal writing nothing, and concurrent requests from both replicas.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { NeutronError } from "../../src/server/neutron/errors.js";
import { assertPortNotInTrunk, trunkDetails } from "../../src/server/neutron/trunks.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

const run = promisify(execFile);
type Body = Record<string, unknown>;
type Reply = { status: number; body: Body };

let f: Fixture;
let demo: string;
let admin: string;
let mgmt: string;
let ls1: string;
let vm: string;
let trunk: Body;
const sub: string[] = [];

const nbctl = async (...a: string[]) =>
  (await run("ovn-nbctl", [`--db=${f.nb.unixRemote}`, ...a])).stdout.trim();
const ok = (r: Reply, status = 200) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body;
};
const err = (r: Reply) => r.body.NeutronError as { type: string; message: string } | undefined;
const refused = (r: Reply, status: number, type: string, message?: RegExp | string) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(err(r)?.type, type, JSON.stringify(r.body));
  if (typeof message === "string") assert.equal(err(r)?.message, message);
  else if (message) assert.match(String(err(r)?.message), message);
};
/** Every port row as NB holds it: a refused request must leave this unchanged. */
const snapshot = () =>
  nbctl("--bare", "--columns=name,parent_name,tag,external_ids", "list", "Logical_Switch_Port");
const lspKey = async (port: string, key: string) => {
  const r = await run("ovn-nbctl", [
    `--db=${f.nb.unixRemote}`,
    "--if-exists",
    "get",
    "Logical_Switch_Port",
    port,
    `external_ids:${key.replace(":", "\\:")}`,
  ]);
  return r.stdout.trim().replace(/^"|"$/g, "");
};

const port = async (network: string, extra: Body = {}, token = demo) =>
  String(
    (
      ok(
        await f.call("POST", "/v2.0/ports", { token, body: { port: { network_id: network, ...extra } } }),
        201,
      ).port as Body
    ).id,
  );
const network = async (name: string, extra: Body = {}, token = demo) =>
  String(
    (
      ok(await f.call("POST", "/v2.0/networks", { token, body: { network: { name, ...extra } } }), 201)
        .network as Body
    ).id,
  );
const subnet = async (net: string, cidr: string, extra: Body = {}, token = demo) =>
  ok(
    await f.call("POST", "/v2.0/subnets", {
      token,
      body: { subnet: { network_id: net, cidr, ip_version: 4, ...extra } },
    }),
    201,
  );
const vlan = (port_id: unknown, segmentation_id: unknown, segmentation_type: unknown = "vlan") => ({
  port_id,
  segmentation_type,
  segmentation_id,
});
const add = (id: string, subs: unknown[], opts: { token?: string; server?: number } = {}) =>
  f.call("PUT", `/v2.0/trunks/${id}/add_subports`, {
    token: opts.token ?? demo,
    server: opts.server ?? 0,
    body: { sub_ports: subs },
  });
const remove = (id: string, subs: unknown[]) =>
  f.call("PUT", `/v2.0/trunks/${id}/remove_subports`, { token: demo, body: { sub_ports: subs } });
/** Waits until both replicas' views have these ports or trunks (each answers from its own view). */
const bothSee = async (ids: string[]) => {
  for (const s of f.servers) {
    const v = s.svc.view;
    await v.until(() => ids.every((id) => v.ports.has(id) || v.trunks.has(id)), 2000, "ports");
  }
};
const create = (t: Body, token = demo) => f.call("POST", "/v2.0/trunks", { token, body: { trunk: t } });

before(async () => {
  f = await startFixture(2);
  demo = await f.token("demo");
  admin = await f.token("admin");
  mgmt = await network("mgmt");
  ls1 = await network("LS1");
  await subnet(mgmt, "10.0.0.0/24");
  await subnet(ls1, "192.168.1.0/24");
  vm = await port(mgmt, { name: "vm-a" });
  for (let i = 0; i < 4; i++) sub.push(await port(ls1, { name: `c${i}` }));
});

after(async () => {
  await f?.close();
  await stopAllOvsdbServers();
});

test("create a trunk with subports: the trunk body, and parent_name/tag on the subports' rows", async () => {
  const r = await create({ port_id: vm, name: "t1", sub_ports: [vlan(sub[1], 20), vlan(sub[0], "10")] });
  trunk = ok(r, 201).trunk as Body;
  const id = String(trunk.id);
  assert.deepEqual(
    { ...trunk, id: "", created_at: "", updated_at: "" },
    {
      id: "",
      name: "t1",
      description: "",
      port_id: vm,
      project_id: f.init.project.id,
      tenant_id: f.init.project.id,
      admin_state_up: true,
      status: "DOWN",
      sub_ports: [vlan(sub[0], 10), vlan(sub[1], 20)],
      revision_number: 1,
      created_at: "",
      updated_at: "",
      tags: [],
    },
  );
  assert.match(String(trunk.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(await nbctl("lsp-get-parent", String(sub[0])), vm);
  assert.equal(await nbctl("lsp-get-tag", String(sub[0])), "10");
  assert.equal(await nbctl("lsp-get-parent", String(sub[1])), vm);
  assert.equal(await nbctl("lsp-get-tag", String(sub[1])), "20");
  assert.equal(await nbctl("get", "Logical_Switch_Port", String(sub[0]), "tag_request"), "[]");
  // The trunk object lives on the parent's row, the membership on the subport's.
  assert.equal(await lspKey(vm, "ovn-docker:trunk_id"), id);
  assert.equal(await lspKey(vm, "ovn-docker:trunk_name"), "t1");
  assert.equal(await lspKey(vm, "ovn-docker:trunk_revision"), "1");
  assert.equal(await lspKey(String(sub[0]), "ovn-docker:trunk_id"), id);
  // As Neutron's trunk plugin leaves a subport: device_owner trunk:subport, device_id the trunk.
  assert.equal(await lspKey(String(sub[0]), "neutron:device_owner"), "trunk:subport");
  const p = ok(await f.call("GET", `/v2.0/ports/${sub[0]}`, { token: demo })).port as Body;
  assert.deepEqual(
    [p.device_owner, p.device_id, p["binding:profile"], p.revision_number],
    ["trunk:subport", id, { parent_name: vm, tag: 10 }, 2],
  );
});

test("show, list, get_subports: from either replica", async () => {
  const id = String(trunk.id);
  // The writer answers once its own view has the trunk; the other replica follows NB too.
  await f.servers[1]?.svc.view.until(() => f.servers[1]?.svc.view.trunks.has(id) === true, 2000, "trunk");
  const shown = ok(await f.call("GET", `/v2.0/trunks/${id}`, { token: demo, server: 1 })).trunk as Body;
  assert.deepEqual(shown, trunk);
  const listed = ok(await f.call("GET", "/v2.0/trunks?name=t1", { token: demo, server: 1 })).trunks as Body[];
  assert.deepEqual(
    listed.map((t) => t.id),
    [id],
  );
  const only = ok(await f.call("GET", `/v2.0/trunks/${id}?fields=port_id`, { token: demo })).trunk;
  assert.deepEqual(only, { port_id: vm });
  assert.deepEqual(ok(await f.call("GET", `/v2.0/trunks/${id}/get_subports`, { token: demo, server: 1 })), {
    sub_ports: [vlan(sub[0], 10), vlan(sub[1], 20)],
  });
  refused(await f.call("GET", `/v2.0/trunks?bogus=1`, { token: demo }), 400, "HTTPBadRequest");
  refused(await f.call("GET", `/v2.0/trunks/${randomUUID()}`, { token: demo }), 404, "TrunkNotFound");
  // The parent's trunk_details, as Neutron adds them to the port (see trunkDetails).
  assert.deepEqual(trunkDetails(f.servers[1]?.svc.view as never, vm), {
    trunk_details: {
      trunk_id: id,
      sub_ports: [0, 1].map((i) => ({
        ...vlan(sub[i] as string, (i + 1) * 10),
        mac_address: f.servers[1]?.svc.view.portFields(sub[i] as string)?.mac_address,
      })),
    },
  });
});

test("add_subports and remove_subports: the trunk body unwrapped, NB rows set and cleared", async () => {
  const id = String(trunk.id);
  const added = ok(await add(id, [vlan(sub[2], 30)]));
  assert.equal(added.id, id);
  assert.equal(added.revision_number, 2);
  assert.deepEqual(added.sub_ports, [vlan(sub[0], 10), vlan(sub[1], 20), vlan(sub[2], 30)]);
  assert.equal(await nbctl("lsp-get-parent", String(sub[2])), vm);
  assert.equal(await nbctl("lsp-get-tag", String(sub[2])), "30");

  const removed = ok(await remove(id, [{ port_id: sub[1] }]));
  assert.equal(removed.revision_number, 3);
  assert.deepEqual(removed.sub_ports, [vlan(sub[0], 10), vlan(sub[2], 30)]);
  assert.equal(await nbctl("lsp-get-parent", String(sub[1])), "");
  assert.equal(await nbctl("lsp-get-tag", String(sub[1])), "");
  assert.equal(await lspKey(String(sub[1]), "ovn-docker:trunk_id"), "");
  const p = ok(await f.call("GET", `/v2.0/ports/${sub[1]}`, { token: demo })).port as Body;
  assert.deepEqual([p.device_owner, p.device_id, p["binding:profile"], p.revision_number], ["", "", {}, 3]);
  // The released port may join again, on a VLAN freed by another.
  refused(
    await remove(id, [{ port_id: sub[1] }]),
    404,
    "SubPortNotFound",
    `SubPort on trunk ${id} with parent port ${sub[1]} could not be found.`,
  );
});

test("validation: Neutron's errors, and a refused request writes nothing", async () => {
  const id = String(trunk.id);
  const before = await snapshot();
  const bad = (r: Reply, status: number, type: string, message?: RegExp | string) =>
    refused(r, status, type, message);
  bad(
    await add(id, [vlan(sub[3], 0)]),
    400,
    "InvalidInput",
    "Invalid input for operation: Segmentation ID '0' is not in range.",
  );
  bad(await add(id, [vlan(sub[3], 4095)]), 400, "InvalidInput", /Segmentation ID '4095' is not in range/);
  bad(await add(id, [vlan(sub[3], "x")]), 400, "InvalidInput", /segmentation_id 'x' is not an integer/);
  bad(
    await add(id, [vlan(sub[3], 5, "inherit")]),
    400,
    "InvalidInput",
    /Unknown segmentation_type 'inherit'/,
  );
  bad(await add(id, [{ port_id: sub[3] }]), 400, "InvalidInput", /missing segmentation information/);
  bad(await add(id, [vlan(sub[3], 5), vlan(String(sub[1]), 5)]), 400, "InvalidInput", /is not unique/);
  bad(await add(id, [vlan("not-a-uuid", 5)]), 400, "InvalidInput", /Invalid UUID for subport/);
  const ghost = randomUUID();
  bad(await add(id, [vlan(ghost, 5)]), 404, "PortNotFound", `Port ${ghost} could not be found.`);
  // duplicate (parent, VLAN) with a subport: DuplicateSubPort naming the holder
  bad(
    await add(id, [vlan(sub[3], 10)]),
    409,
    "DuplicateSubPort",
    new RegExp(
      `^segmentation_type vlan and segmentation_id 10 already in use on trunk ${id}\\. It is held by subport ${sub[0]}\\.$`,
    ),
  );
  // already a subport, the parent itself
  bad(await add(id, [vlan(sub[0], 50)]), 409, "TrunkPortInUse", `Port ${sub[0]} is in use by another trunk.`);
  bad(await add(id, [vlan(vm, 50)]), 409, "ParentPortInUse");
  // a port with a device_id is in use (Neutron's check_not_in_use)
  const owned = await port(ls1, { device_id: "some-vm" });
  const before2 = await snapshot();
  bad(await add(id, [vlan(owned, 51)]), 409, "PortInUse", /Port already has an attached device some-vm/);
  // one bad subport in a batch: none is added
  bad(await add(id, [vlan(sub[3], 52), vlan(owned, 53)]), 409, "PortInUse");
  // the parent rules
  bad(
    await create({ port_id: vm }),
    409,
    "ParentPortInUse",
    `Port ${vm} is currently in use and is not eligible for use as a parent port.`,
  );
  bad(await create({ port_id: sub[0] }), 409, "TrunkPortInUse");
  bad(await create({ port_id: ghost }), 404, "PortNotFound");
  bad(
    await create({ port_id: "vm-a" }),
    400,
    "HTTPBadRequest",
    "Invalid input for port_id. Reason: 'vm-a' is not a valid UUID.",
  );
  bad(await create({ name: "x" }), 400, "HTTPBadRequest", /Required attribute 'port_id' not specified/);
  bad(
    await create({ port_id: sub[3], status: "ACTIVE" }),
    400,
    "HTTPBadRequest",
    "Attribute 'status' not allowed in POST",
  );
  bad(
    await create({ port_id: sub[3], bogus: 1 }),
    400,
    "HTTPBadRequest",
    "Unrecognized attribute(s) 'bogus'",
  );
  bad(
    await create({ port_id: sub[3], sub_ports: [vlan(owned, 7), vlan(String(sub[1]), 7)] }),
    400,
    "HTTPBadRequest",
    /^Invalid input for sub_ports\. Reason: Segmentation ID '7' for '.*' is not unique\.$/,
  );
  // a trunk whose subport is refused is not created either
  bad(await create({ port_id: sub[3], sub_ports: [vlan(owned, 7)] }), 409, "PortInUse");
  bad(
    await f.call("PUT", `/v2.0/trunks/${id}`, { token: demo, body: { trunk: { port_id: sub[3] } } }),
    400,
    "HTTPBadRequest",
    "Cannot update read-only attribute port_id",
  );
  assert.equal(await snapshot(), before2);
  assert.notEqual(before, before2); // only the port created above
});

test("container ports and subports share the parent's VLANs; neither is the other", async () => {
  const id = String(trunk.id);
  const c = await port(ls1, { name: "child", "binding:profile": { parent_name: vm, tag: 40 } });
  const before = await snapshot();
  refused(
    await add(id, [vlan(sub[3], 40)]),
    409,
    "DuplicateSubPort",
    new RegExp(`It is held by port ${c}, a container port of parent port ${vm} \\(binding:profile\\)\\.$`),
  );
  refused(await add(id, [vlan(c, 41)]), 409, "TrunkPortInUse", /container port/);
  refused(await create({ port_id: c }), 409, "ParentPortInUse", /container port/);
  // the port routes see the subports' VLANs too
  const r = await f.call("POST", "/v2.0/ports", {
    token: demo,
    body: { port: { network_id: ls1, "binding:profile": { parent_name: vm, tag: 10 } } },
  });
  assert.equal(r.status, 409);
  assert.match(JSON.stringify(r.body), new RegExp(`already used by port ${sub[0]}`));
  // a subport cannot be a binding:profile parent either
  const g = await f.call("POST", "/v2.0/ports", {
    token: demo,
    body: { port: { network_id: ls1, "binding:profile": { parent_name: sub[0], tag: 5 } } },
  });
  assert.equal(g.status, 400);
  // a port with container ports of its own cannot become a subport
  const host = await port(mgmt, { name: "vm-b" });
  await port(ls1, { "binding:profile": { parent_name: host, tag: 5 } });
  const before2 = await snapshot();
  refused(await add(id, [vlan(host, 60)]), 400, "InvalidInput", /container ports of its own/);
  assert.equal(await snapshot(), before2);
  assert.notEqual(before, before2);
});

test("MTU: a subport's network may not have a larger MTU than the parent's", async () => {
  const big = await network("jumbo", { mtu: 9000 });
  await subnet(big, "10.90.0.0/24");
  const p = await port(big);
  const before = await snapshot();
  refused(
    await add(String(trunk.id), [vlan(p, 70)]),
    409,
    "SubPortMtuGreaterThanTrunkPortMtu",
    `MTU 9000 of subport ${p} cannot be greater than MTU 1442 of trunk ${vm}.`,
  );
  assert.equal(await snapshot(), before);
});

test("projects: a foreign parent is not found for a member, allowed to admin; subports in its project", async () => {
  const other = await network("other", { project_id: "proj-b", shared: true }, admin);
  await subnet(other, "10.9.0.0/24", { project_id: "proj-b" }, admin);
  const foreignVm = await port(other, { project_id: "proj-b" }, admin);
  const foreignSub = await port(other, { project_id: "proj-b" }, admin);
  const before = await snapshot();
  refused(await create({ port_id: foreignVm }), 404, "PortNotFound");
  refused(await add(String(trunk.id), [vlan(foreignSub, 80)]), 404, "PortNotFound");
  refused(await create({ port_id: sub[3], project_id: "proj-b" }), 403, "PolicyNotAuthorized");
  // admin: any parent; the trunk is in the parent's project, and so must its subports be
  refused(
    await create({ port_id: foreignVm, sub_ports: [vlan(String(sub[3]), 5)] }, admin),
    400,
    "InvalidInput",
    /belongs to project/,
  );
  assert.equal(await snapshot(), before);
  const t = ok(await create({ port_id: foreignVm, sub_ports: [vlan(foreignSub, 5)] }, admin), 201)
    .trunk as Body;
  assert.equal(t.project_id, "proj-b");
  assert.equal(await nbctl("lsp-get-parent", foreignSub), foreignVm);
  // invisible to the member, in lists and by id
  const mine = ok(await f.call("GET", "/v2.0/trunks", { token: demo })).trunks as Body[];
  assert.deepEqual(
    mine.map((x) => x.id),
    [trunk.id],
  );
  refused(await f.call("GET", `/v2.0/trunks/${String(t.id)}`, { token: demo }), 404, "TrunkNotFound");
  const all = ok(await f.call("GET", "/v2.0/trunks", { token: admin })).trunks as Body[];
  assert.equal(all.length, 2);
});

test("a trunk protects its ports: deleting the parent or a subport is refused", async () => {
  const view = f.servers[0]?.svc.view as NonNullable<(typeof f.servers)[0]>["svc"]["view"];
  const inUse = (portId: string, type: string) =>
    assert.throws(
      () => assertPortNotInTrunk(view, portId),
      (e: unknown) => e instanceof NeutronError && e.status === 409 && e.type === type,
    );
  inUse(vm, "PortInUseAsTrunkParent");
  inUse(String(sub[0]), "PortInUseAsSubPort");
  assertPortNotInTrunk(view, String(sub[1])); // released earlier: free
  // even a trunk with no subports protects its parent
  const lone = await port(mgmt, { name: "vm-c" });
  const t = ok(await create({ port_id: lone }), 201).trunk as Body;
  assert.deepEqual(t.sub_ports, []);
  inUse(lone, "PortInUseAsTrunkParent");
  // the port routes already refuse the parent while it has subports (they are its children)
  const del = await f.call("DELETE", `/v2.0/ports/${vm}`, { token: demo });
  assert.equal(del.status, 409);
  ok(await f.call("DELETE", `/v2.0/trunks/${String(t.id)}`, { token: demo }), 204);
  assertPortNotInTrunk(view, lone);
});

test("updating a trunk, and the parent or a subport through /v2.0/ports, keeps the trunk", async () => {
  const id = String(trunk.id);
  const u = ok(
    await f.call("PUT", `/v2.0/trunks/${id}`, {
      token: demo,
      server: 1,
      body: { trunk: { name: "t1b", description: "VM-A's containers" } },
    }),
  ).trunk as Body;
  assert.deepEqual([u.name, u.description, u.revision_number], ["t1b", "VM-A's containers", 4]);
  ok(await f.call("PUT", `/v2.0/ports/${vm}`, { token: demo, body: { port: { name: "vm-a2" } } }));
  ok(await f.call("PUT", `/v2.0/ports/${sub[0]}`, { token: demo, body: { port: { name: "c0b" } } }));
  const t = ok(await f.call("GET", `/v2.0/trunks/${id}`, { token: demo, server: 1 })).trunk as Body;
  assert.deepEqual([t.name, t.sub_ports], ["t1b", [vlan(sub[0], 10), vlan(sub[2], 30)]]);
  assert.equal(await lspKey(String(sub[0]), "ovn-docker:trunk_id"), id);
});

test("status follows the parent port's up", async () => {
  const id = String(trunk.id);
  await nbctl("set", "Logical_Switch_Port", vm, "up=true");
  await f.servers[0]?.svc.view.until(() => f.servers[0]?.svc.view.ports.get(vm)?.up === true, 2000, "up");
  const t = ok(await f.call("GET", `/v2.0/trunks/${id}`, { token: demo })).trunk as Body;
  assert.equal(t.status, "ACTIVE");
});

test("a disabled trunk: its subports cannot change and it cannot be deleted (TrunkDisabled)", async () => {
  const id = String(trunk.id);
  ok(await f.call("PUT", `/v2.0/trunks/${id}`, { token: demo, body: { trunk: { admin_state_up: false } } }));
  const before = await snapshot();
  refused(await add(id, [vlan(sub[3], 90)]), 409, "TrunkDisabled", `Trunk ${id} is currently disabled.`);
  refused(await remove(id, [{ port_id: sub[0] }]), 409, "TrunkDisabled");
  refused(await f.call("DELETE", `/v2.0/trunks/${id}`, { token: demo }), 409, "TrunkDisabled");
  assert.equal(await snapshot(), before);
  ok(await f.call("PUT", `/v2.0/trunks/${id}`, { token: demo, body: { trunk: { admin_state_up: true } } }));
});

test("VM-scoped token: sees its own trunk, changes none", async () => {
  const minted = await fetch(`${f.servers[0]?.url}/v3/OS-OVN-DOCKER/vm-tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-auth-token": demo },
    body: JSON.stringify({ parent_port_id: vm }),
  });
  assert.equal(minted.status, 201, await minted.clone().text());
  const vmTok = minted.headers.get("x-subject-token") as string;
  const id = String(trunk.id);
  const seen = ok(await f.call("GET", "/v2.0/trunks", { token: vmTok })).trunks as Body[];
  assert.deepEqual(
    seen.map((t) => t.id),
    [id],
  );
  refused(await add(id, [vlan(sub[3], 91)], { token: vmTok }), 403, "PolicyNotAuthorized");
  refused(await create({ port_id: sub[3] }, vmTok), 403, "PolicyNotAuthorized");
});

test("two replicas at once: one port into two trunks, or one VLAN for two ports — one wins", async () => {
  const id = String(trunk.id);
  const vmB = await port(mgmt, { name: "vm-d" });
  const other = ok(await create({ port_id: vmB }), 201).trunk as Body;
  const a = await port(ls1);
  await bothSee([a, String(other.id)]);
  const race1 = await Promise.all([
    add(id, [vlan(a, 100)], { server: 0 }),
    add(String(other.id), [vlan(a, 100)], { server: 1 }),
  ]);
  assert.deepEqual(race1.map((r) => r.status).sort(), [200, 409], JSON.stringify(race1.map((r) => r.body)));
  const [b, c] = [await port(ls1), await port(ls1)];
  await bothSee([b, c]);
  const race2 = await Promise.all([
    add(id, [vlan(b, 101)], { server: 0 }),
    add(id, [vlan(c, 101)], { server: 1 }),
  ]);
  assert.deepEqual(race2.map((r) => r.status).sort(), [200, 409]);
  assert.equal(err(race2.find((r) => r.status === 409) as Reply)?.type, "DuplicateSubPort");
  const holders = await nbctl(
    "--bare",
    "--columns=name",
    "find",
    "Logical_Switch_Port",
    `parent_name=${vm}`,
    "tag=101",
  );
  assert.equal(holders.split(/\s+/).filter(Boolean).length, 1);
  // many subports at once from both replicas: each lands exactly once
  const many = await Promise.all(Array.from({ length: 20 }, () => port(ls1)));
  await bothSee(many);
  const results = await Promise.all(many.map((p, i) => add(id, [vlan(p, 200 + i)], { server: i % 2 })));
  for (const r of results) ok(r);
  const subs = (
    ok(await f.call("GET", `/v2.0/trunks/${id}/get_subports`, { token: demo })).sub_ports as Body[]
  ).map((s) => s.port_id);
  for (const p of many) assert.ok(subs.includes(p));
});

test("delete: the subports are released in the same transaction, the parent keeps its own keys", async () => {
  const id = String(trunk.id);
  const members = (
    ok(await f.call("GET", `/v2.0/trunks/${id}/get_subports`, { token: demo })).sub_ports as Body[]
  ).map((s) => String(s.port_id));
  assert.ok(members.length > 2);
  ok(await f.call("DELETE", `/v2.0/trunks/${id}`, { token: demo, server: 1 }), 204);
  const view0 = f.servers[0]?.svc.view as NonNullable<(typeof f.servers)[0]>["svc"]["view"];
  await view0.until(() => !view0.trunks.has(id), 2000, "trunk gone");
  refused(
    await f.call("GET", `/v2.0/trunks/${id}`, { token: demo }),
    404,
    "TrunkNotFound",
    `Trunk ${id} could not be found.`,
  );
  for (const p of members) {
    assert.equal(await nbctl("lsp-get-parent", p), "");
    assert.equal(await lspKey(p, "ovn-docker:trunk_id"), "");
  }
  const ext = await nbctl("get", "Logical_Switch_Port", vm, "external_ids");
  assert.doesNotMatch(ext, /ovn-docker:trunk_/);
  assert.match(ext, /"neutron:port_name"="?vm-a2/);
  assertPortNotInTrunk(view0, vm);
  // the VLANs are free again, for subports of a new trunk as for container ports
  const again = ok(await create({ port_id: vm, sub_ports: [vlan(members[0], 10)] }), 201).trunk as Body;
  assert.deepEqual(again.sub_ports, [vlan(members[0], 10)]);
  ok(await f.call("DELETE", `/v2.0/trunks/${String(again.id)}`, { token: demo }), 204);
  refused(await f.call("DELETE", `/v2.0/trunks/${id}`, { token: demo }), 404, "TrunkNotFound");
});
