// Subnets and ports against a real NB, with two server replicas: the seed's container
// ports (binding:profile parent_name + tag), IPAM and MACs, the policy rules, status from
// OVN's `up`, and VM-scoped credentials.

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
let mgmt: string;
let ls1: string;
let vm: Record<string, unknown>;

type Body = Record<string, unknown>;
const nbctl = async (...a: string[]) =>
  (await run("ovn-nbctl", [`--db=${f.nb.unixRemote}`, ...a])).stdout.trim();
const ok = (r: { status: number; body: Body }, status = 201) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body;
};
const errType = (r: { body: Body }) => (r.body.NeutronError as { type: string } | undefined)?.type;

before(async () => {
  f = await startFixture(2);
  demo = await f.token("demo");
  admin = await f.token("admin");
  mgmt = String(
    (
      ok(await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "mgmt" } } }))
        .network as Body
    ).id,
  );
  ls1 = String(
    (
      ok(await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "LS1" } } }))
        .network as Body
    ).id,
  );
  ok(
    await f.call("POST", "/v2.0/subnets", {
      token: demo,
      body: {
        subnet: { network_id: mgmt, cidr: "10.0.0.0/24", ip_version: 4, dns_nameservers: ["10.0.0.53"] },
      },
    }),
  );
  ok(
    await f.call("POST", "/v2.0/subnets", {
      token: demo,
      body: {
        subnets: [
          { network_id: ls1, cidr: "192.168.1.0/24", ip_version: 4, name: "ls1-v4" },
          { network_id: ls1, cidr: "fd00:1::/64", ip_version: 6, name: "ls1-v6" },
        ],
      },
    }),
  );
  vm = ok(
    await f.call("POST", "/v2.0/ports", { token: demo, body: { port: { network_id: mgmt, name: "vm-a" } } }),
  ).port as Body;
});

after(async () => {
  await f?.close();
  await stopAllOvsdbServers();
});

test("subnets: defaults as Neutron, DHCP_Options rows as ML2/OVN", async () => {
  const list = ok(
    await f.call("GET", `/v2.0/subnets?network_id=${ls1}&sort_key=ip_version&sort_dir=asc`, { token: demo }),
    200,
  );
  const [a, b] = list.subnets as Body[];
  assert.deepEqual(
    [a?.cidr, a?.gateway_ip, a?.allocation_pools],
    ["192.168.1.0/24", "192.168.1.1", [{ start: "192.168.1.2", end: "192.168.1.254" }]],
  );
  assert.deepEqual([b?.cidr, b?.gateway_ip], ["fd00:1::/64", "fd00:1::"]);
  const net = ok(await f.call("GET", `/v2.0/networks/${ls1}`, { token: demo }), 200).network as Body;
  assert.equal((net.subnets as string[]).length, 2);
  assert.equal(
    await nbctl(
      "get",
      "DHCP_Options",
      String(
        await nbctl(
          "--bare",
          "--columns=_uuid",
          "find",
          "DHCP_Options",
          `external_ids:subnet_id=${String(a?.id)}`,
        ),
      ),
      "options:router",
    ),
    '"192.168.1.1"',
  );
  const overlap = await f.call("POST", "/v2.0/subnets", {
    token: demo,
    body: { subnet: { network_id: ls1, cidr: "192.168.1.128/25", ip_version: 4 } },
  });
  assert.equal(overlap.status, 400);
});

test("a VM port: MAC from the prefix, first free address, the LSP row ML2/OVN writes", async () => {
  assert.match(String(vm.mac_address), /^fa:16:3e(:[0-9a-f]{2}){3}$/);
  assert.deepEqual(vm.fixed_ips, [
    { subnet_id: (vm.fixed_ips as Body[])[0]?.subnet_id, ip_address: "10.0.0.2" },
  ]);
  assert.equal(vm.status, "DOWN");
  const id = String(vm.id);
  assert.equal(
    await nbctl("get", "Logical_Switch_Port", id, "addresses"),
    `["${String(vm.mac_address)} 10.0.0.2"]`,
  );
  assert.equal(
    await nbctl("get", "Logical_Switch_Port", id, "port_security"),
    `["${String(vm.mac_address)} 10.0.0.2"]`,
  );
  assert.equal(
    await nbctl("get", "Logical_Switch_Port", id, "external_ids:neutron\\:cidrs"),
    '"10.0.0.2/24"',
  );
  assert.notEqual(await nbctl("get", "Logical_Switch_Port", id, "dhcpv4_options"), "[]");
});

test("the seed's container port: parent_name and tag in NB (never tag_request), dual stack", async () => {
  const c1 = ok(
    await f.call("POST", "/v2.0/ports", {
      token: demo,
      body: { port: { network_id: ls1, name: "c1", "binding:profile": { parent_name: vm.id, tag: 10 } } },
    }),
  ).port as Body;
  assert.deepEqual(c1["binding:profile"], { parent_name: vm.id, tag: 10 });
  assert.deepEqual(
    (c1.fixed_ips as Body[]).map((x) => x.ip_address),
    ["192.168.1.2", "fd00:1::1"],
  );
  const id = String(c1.id);
  assert.equal(await nbctl("lsp-get-parent", id), String(vm.id));
  assert.equal(await nbctl("lsp-get-tag", id), "10");
  assert.equal(await nbctl("get", "Logical_Switch_Port", id, "tag_request"), "[]");
  // the other replica sees it at once
  const seen = ok(await f.call("GET", `/v2.0/ports/${id}`, { token: demo, server: 1 }), 200).port as Body;
  assert.equal(seen.name, "c1");
});

test("policy: tags, parents, uniqueness, deleting a parent — each refused and nothing written", async () => {
  const before = await nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port");
  const child = (profile: unknown, extra: Body = {}) =>
    f.call("POST", "/v2.0/ports", {
      token: demo,
      body: { port: { network_id: ls1, "binding:profile": profile, ...extra } },
    });
  const dup = await child({ parent_name: vm.id, tag: 10 });
  assert.equal(dup.status, 409);
  assert.match(JSON.stringify(dup.body), /VLAN 10 under parent port .* already used by port/);
  for (const [profile, status] of [
    [{ parent_name: vm.id, tag: 0 }, 400],
    [{ parent_name: vm.id, tag: 4096 }, 400],
    [{ parent_name: vm.id, tag: "11" }, 400],
    [{ parent_name: vm.id }, 400],
    [{ parent_name: "no-such-port", tag: 11 }, 400],
  ] as const) {
    const r = await child(profile);
    assert.equal(r.status, status, `${JSON.stringify(profile)}: ${JSON.stringify(r.body)}`);
  }
  const c1 = (ok(await f.call("GET", "/v2.0/ports?name=c1", { token: demo }), 200).ports as Body[])[0];
  const grandchild = await child({ parent_name: c1?.id, tag: 12 });
  assert.equal(grandchild.status, 400);
  assert.match(JSON.stringify(grandchild.body), /cannot be a parent/);
  const inUse = await child(undefined, { fixed_ips: [{ ip_address: "192.168.1.2" }] });
  assert.equal(errType(inUse), "IpAddressAlreadyAllocated");
  const delParent = await f.call("DELETE", `/v2.0/ports/${String(vm.id)}`, { token: demo });
  assert.equal(delParent.status, 409);
  assert.match(JSON.stringify(delParent.body), new RegExp(String(c1?.id)));
  assert.equal(await nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port"), before);
});

test("a parent of another project is refused to a member, allowed to admin", async () => {
  const other = ok(
    await f.call("POST", "/v2.0/networks", {
      token: admin,
      body: { network: { name: "other", project_id: "proj-b", shared: true } },
    }),
  ).network as Body;
  ok(
    await f.call("POST", "/v2.0/subnets", {
      token: admin,
      body: { subnet: { network_id: other.id, cidr: "10.9.0.0/24", ip_version: 4, project_id: "proj-b" } },
    }),
  );
  const foreignVm = ok(
    await f.call("POST", "/v2.0/ports", {
      token: admin,
      body: { port: { network_id: other.id, project_id: "proj-b" } },
    }),
  ).port as Body;
  const r = await f.call("POST", "/v2.0/ports", {
    token: demo,
    body: { port: { network_id: ls1, "binding:profile": { parent_name: foreignVm.id, tag: 5 } } },
  });
  assert.equal(r.status, 403, JSON.stringify(r.body));
  const a = await f.call("POST", "/v2.0/ports", {
    token: admin,
    body: { port: { network_id: ls1, "binding:profile": { parent_name: foreignVm.id, tag: 5 } } },
  });
  assert.equal(a.status, 201, JSON.stringify(a.body));
});

test("status follows OVN's up", async () => {
  const c1 = (ok(await f.call("GET", "/v2.0/ports?name=c1", { token: demo }), 200).ports as Body[])[0];
  await nbctl("set", "Logical_Switch_Port", String(c1?.id), "up=true");
  for (let i = 0; i < 50; i++) {
    const p = ok(await f.call("GET", `/v2.0/ports/${String(c1?.id)}`, { token: demo }), 200).port as Body;
    if (p.status === "ACTIVE") return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail("status never became ACTIVE");
});

test("VM-scoped token: its own children only", async () => {
  const minted = await fetch(`${f.servers[0]?.url}/v3/OS-OVN-DOCKER/vm-tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-auth-token": demo },
    body: JSON.stringify({ parent_port_id: vm.id }),
  });
  assert.equal(minted.status, 201, await minted.clone().text());
  const vmTok = minted.headers.get("x-subject-token") as string;
  ok(await f.call("GET", "/v2.0/networks", { token: vmTok }), 200);
  const mine = ok(
    await f.call("POST", "/v2.0/ports", {
      token: vmTok,
      body: { port: { network_id: ls1, "binding:profile": { parent_name: vm.id, tag: 20 } } },
    }),
  ).port as Body;
  const listed = ok(await f.call("GET", "/v2.0/ports", { token: vmTok }), 200).ports as Body[];
  assert.ok(listed.every((p) => (p["binding:profile"] as Body).parent_name === vm.id));
  assert.equal(
    (await f.call("POST", "/v2.0/ports", { token: vmTok, body: { port: { network_id: ls1 } } })).status,
    403,
  );
  assert.equal(
    (await f.call("POST", "/v2.0/networks", { token: vmTok, body: { network: { name: "x" } } })).status,
    403,
  );
  assert.equal((await f.call("DELETE", `/v2.0/ports/${String(vm.id)}`, { token: vmTok })).status, 404);
  assert.equal((await f.call("DELETE", `/v2.0/ports/${String(mine.id)}`, { token: vmTok })).status, 204);
});

test("exhausted subnet: 409 IpAddressGenerationFailure", async () => {
  const n = ok(await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "tiny" } } }))
    .network as Body;
  ok(
    await f.call("POST", "/v2.0/subnets", {
      token: demo,
      body: { subnet: { network_id: n.id, cidr: "10.5.0.0/29", ip_version: 4 } },
    }),
  );
  for (let i = 0; i < 5; i++)
    ok(await f.call("POST", "/v2.0/ports", { token: demo, body: { port: { network_id: n.id } } }));
  const r = await f.call("POST", "/v2.0/ports", { token: demo, body: { port: { network_id: n.id } } });
  assert.equal(errType(r), "IpAddressGenerationFailure");
});

test("150 concurrent child ports over two replicas: distinct IPs, MACs and tags", async () => {
  const results = await Promise.all(
    Array.from({ length: 150 }, (_, i) =>
      f.call("POST", "/v2.0/ports", {
        token: demo,
        server: i % 2,
        body: {
          port: { network_id: ls1, name: `p${i}`, "binding:profile": { parent_name: vm.id, tag: 100 + i } },
        },
      }),
    ),
  );
  const ports = results.map((r) => ok(r).port as Body);
  const ips = ports.flatMap((p) => (p.fixed_ips as Body[]).map((x) => x.ip_address));
  assert.equal(new Set(ips).size, ips.length);
  assert.equal(new Set(ports.map((p) => p.mac_address)).size, ports.length);
  const nbIps = (
    await nbctl(
      "--bare",
      "--columns=addresses",
      "find",
      "Logical_Switch_Port",
      `parent_name=${String(vm.id)}`,
    )
  )
    .split(/\s+/)
    .filter((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x));
  assert.equal(new Set(nbIps).size, nbIps.length, "no duplicate IPv4 in NB");
  // Same tag from both replicas at once: exactly one wins.
  const race = await Promise.all(
    [0, 1].map((server) =>
      f.call("POST", "/v2.0/ports", {
        token: demo,
        server,
        body: { port: { network_id: ls1, "binding:profile": { parent_name: vm.id, tag: 999 } } },
      }),
    ),
  );
  assert.deepEqual(race.map((r) => r.status).sort(), [201, 409]);
});
