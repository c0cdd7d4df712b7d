// The NB rows for Neutron resources match what Neutron ML2/OVN writes for the same request
// (shared/reference/neutron-nb-rows.md), and read back into the same resources.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  dhcpOptionsToSubnet,
  type NetworkFields,
  networkToSwitch,
  OWNER_KEY,
  type PortFields,
  portToSwitchPort,
  type SubnetFields,
  subnetToDhcpOptions,
  switchPortToPort,
  switchToNetwork,
} from "../../src/ovn/neutron-rows.js";

const NET: NetworkFields = {
  id: "11111111-1111-4111-8111-111111111111",
  name: "snapnet-ls1",
  project_id: "aaaaaaaa",
  mtu: 1442,
  shared: false,
  admin_state_up: true,
  description: "",
  revision_number: 3,
  created_at: "2026-11-29T00:00:00Z",
  updated_at: "2026-11-29T00:00:00Z",
};
const V4: SubnetFields = {
  id: "22222222-2222-4222-8222-222222222222",
  network_id: NET.id,
  project_id: NET.project_id,
  name: "snapnet-ls1-v4",
  description: "",
  ip_version: 4,
  cidr: "192.168.1.0/24",
  gateway_ip: "192.168.1.1",
  allocation_pools: [{ start: "192.168.1.2", end: "192.168.1.254" }],
  enable_dhcp: true,
  dns_nameservers: [],
  host_routes: [],
  ipv6_address_mode: null,
  ipv6_ra_mode: null,
  revision_number: 0,
  created_at: "t",
  updated_at: "t",
};
const V6: SubnetFields = {
  ...V4,
  id: "33333333-3333-4333-8333-333333333333",
  name: "snapnet-ls1-v6",
  ip_version: 6,
  cidr: "fd00:1::/64",
  gateway_ip: "fd00:1::",
  allocation_pools: [{ start: "fd00:1::1", end: "fd00:1::ffff:ffff:ffff:ffff" }],
  ipv6_address_mode: "dhcpv6-stateful",
};
const SUBNETS = new Map([
  [V4.id, V4],
  [V6.id, V6],
]);
const C1: PortFields = {
  id: "44444444-4444-4444-8444-444444444444",
  network_id: NET.id,
  project_id: NET.project_id,
  name: "c1",
  description: "",
  mac_address: "fa:16:3e:00:00:01",
  fixed_ips: [
    { subnet_id: V4.id, ip_address: "192.168.1.5" },
    { subnet_id: V6.id, ip_address: "fd00:1::5" },
  ],
  device_id: "",
  device_owner: "",
  admin_state_up: true,
  port_security_enabled: true,
  parent_name: "55555555-5555-4555-8555-555555555555",
  tag: 10,
  revision_number: 2,
  created_at: "t",
  updated_at: "t",
};

/** Only the keys Neutron itself writes, to compare with the reference. */
const neutronKeys = (x: Record<string, string>) =>
  Object.fromEntries(Object.entries(x).filter(([k]) => !k.startsWith("ovn-docker:")));

test("network -> Logical_Switch as ML2/OVN writes it", () => {
  const ls = networkToSwitch(NET);
  assert.equal(ls.name, `neutron-${NET.id}`);
  assert.deepEqual(neutronKeys(ls.external_ids), {
    "neutron:availability_zone_hints": "",
    "neutron:mtu": "1442",
    "neutron:network_name": "snapnet-ls1",
    "neutron:revision_number": "3",
  });
  assert.deepEqual(ls.other_config, {
    mcast_flood_unregistered: "false",
    mcast_snoop: "false",
    "vlan-passthru": "false",
  });
  assert.equal(ls.external_ids[OWNER_KEY], "ovn-docker");
  assert.deepEqual(switchToNetwork(ls), NET);
});

test("subnets -> DHCP_Options as ML2/OVN writes them (v4 and v6)", () => {
  const d4 = subnetToDhcpOptions(V4, 1442, "fa:16:3e:ff:00:01");
  assert.equal(d4.cidr, "192.168.1.0/24");
  assert.deepEqual(neutronKeys(d4.external_ids), { "neutron:revision_number": "0", subnet_id: V4.id });
  assert.deepEqual(d4.options, {
    lease_time: "43200",
    mtu: "1442",
    router: "192.168.1.1",
    server_id: "192.168.1.1",
    server_mac: "fa:16:3e:ff:00:01",
  });
  const d6 = subnetToDhcpOptions(V6, 1442, "fa:16:3e:ff:00:02");
  assert.deepEqual(d6.options, { server_id: "fa:16:3e:ff:00:02" });
  assert.deepEqual(dhcpOptionsToSubnet(d4), V4);
  assert.deepEqual(dhcpOptionsToSubnet(d6), V6);
  const withDns = subnetToDhcpOptions(
    {
      ...V4,
      dns_nameservers: ["10.0.0.53", "10.0.0.54"],
      host_routes: [{ destination: "10.9.0.0/16", nexthop: "192.168.1.9" }],
    },
    1442,
    "m",
  );
  assert.equal(withDns.options.dns_server, "{10.0.0.53, 10.0.0.54}");
  assert.equal(withDns.options.classless_static_route, "{10.9.0.0/16, 192.168.1.9}");
});

test("child port -> Logical_Switch_Port with parent_name and tag (never tag_request)", () => {
  const lsp = portToSwitchPort(C1, SUBNETS);
  assert.equal(lsp.name, C1.id);
  assert.deepEqual(lsp.addresses, ["fa:16:3e:00:00:01 192.168.1.5 fd00:1::5"]);
  assert.deepEqual(lsp.port_security, lsp.addresses);
  assert.equal(lsp.parent_name, C1.parent_name);
  assert.equal(lsp.tag, 10);
  assert.ok(!("tag_request" in lsp));
  assert.equal(lsp.enabled, true);
  assert.deepEqual(lsp.options, { mcast_flood_reports: "true", "requested-chassis": "" });
  assert.deepEqual(neutronKeys(lsp.external_ids), {
    "neutron:cidrs": "192.168.1.5/24 fd00:1::5/64",
    "neutron:device_id": "",
    "neutron:device_owner": "",
    "neutron:network_name": `neutron-${NET.id}`,
    "neutron:port_name": "c1",
    "neutron:project_id": NET.project_id,
    "neutron:revision_number": "2",
    "neutron:security_group_ids": "",
  });
  assert.deepEqual(switchPortToPort(lsp, [V4, V6]), C1);
});

test("port security off adds 'unknown' and clears port_security; admin down disables", () => {
  const nosec = portToSwitchPort(
    { ...C1, port_security_enabled: false, parent_name: null, tag: null },
    SUBNETS,
  );
  assert.deepEqual(nosec.addresses, ["fa:16:3e:00:00:01 192.168.1.5 fd00:1::5", "unknown"]);
  assert.deepEqual(nosec.port_security, []);
  assert.equal(portToSwitchPort({ ...C1, admin_state_up: false }, SUBNETS).enabled, false);
  assert.equal(switchPortToPort(nosec, [V4, V6])?.port_security_enabled, false);
});

test("rows this product did not write are not taken for its own", () => {
  assert.equal(
    switchToNetwork({ name: "neutron-x", external_ids: { "neutron:network_name": "x" } }),
    undefined,
  );
  assert.equal(switchToNetwork({ name: "LS1", external_ids: { [OWNER_KEY]: "ovn-docker" } }), undefined);
  assert.equal(dhcpOptionsToSubnet({ cidr: "10.0.0.0/24", external_ids: { subnet_id: "s" } }), undefined);
  const foreign = { ...portToSwitchPort(C1, SUBNETS), external_ids: { "neutron:port_name": "x" } };
  assert.equal(switchPortToPort(foreign, [V4]), undefined);
});

test("a port referring to a subnet it was not given is an error that names both", () => {
  assert.throws(() => portToSwitchPort(C1, new Map([[V4.id, V4]])), /fixed IP fd00:1::5 names subnet 3333/);
});

test("property: ports round-trip through their NB row", () => {
  const text = fc.string({ maxLength: 12 }).filter((s) => !s.includes(",") && !s.includes("\u0000"));
  const port = fc.record({
    name: text,
    description: text,
    device_id: text,
    device_owner: text,
    admin_state_up: fc.boolean(),
    port_security_enabled: fc.boolean(),
    child: fc.option(fc.tuple(fc.uuid(), fc.integer({ min: 1, max: 4095 })), { nil: null }),
    v4: fc.integer({ min: 2, max: 254 }),
    v6: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
    rev: fc.nat(),
  });
  fc.assert(
    fc.property(port, (r) => {
      const p: PortFields = {
        ...C1,
        name: r.name,
        description: r.description,
        device_id: r.device_id,
        device_owner: r.device_owner,
        admin_state_up: r.admin_state_up,
        port_security_enabled: r.port_security_enabled,
        parent_name: r.child ? r.child[0] : null,
        tag: r.child ? r.child[1] : null,
        fixed_ips: [
          { subnet_id: V4.id, ip_address: `192.168.1.${r.v4}` },
          ...(r.v6 === null ? [] : [{ subnet_id: V6.id, ip_address: `fd00:1::${r.v6.toString(16)}` }]),
        ],
        revision_number: r.rev,
      };
      assert.deepEqual(switchPortToPort(portToSwitchPort(p, SUBNETS), [V4, V6]), p);
    }),
  );
});
