// IPAM: subnet requests validated as Neutron validates them (its wording), and the allocator's
// guarantees checked by properties.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import {
  canonicalCidr,
  canonicalIp,
  cidrsOverlap,
  IpamInputError,
  ipInCidr,
  ipVersionOf,
  type ParseSubnetOptions,
  parseSubnetRequest,
  prefixLength,
  SubnetAllocator,
  type SubnetPlan,
  type SubnetRequest,
} from "../../src/server/neutron/ipam.js";

/** Asserts that parsing fails with exactly this Neutron status, type and message. */
function rejects(
  input: SubnetRequest,
  status: number,
  type: string,
  message: string,
  options?: ParseSubnetOptions,
): void {
  assert.throws(
    () => parseSubnetRequest(input, options),
    (e: unknown) => {
      assert.ok(e instanceof IpamInputError, `not an IpamInputError: ${String(e)}`);
      assert.equal(e.message, message);
      assert.equal(e.type, type);
      assert.equal(e.status, status);
      assert.equal(e.statusCode, status);
      assert.deepEqual(e.toBody(), { NeutronError: { type, message, detail: "" } });
      return true;
    },
  );
}

/** An address as a number, independently of the module under test (a dotted IPv6 tail too). */
function toBig(ip: string): bigint {
  let text = ip;
  const colon = ip.lastIndexOf(":");
  if (colon >= 0 && ip.includes(".")) {
    const o = ip
      .slice(colon + 1)
      .split(".")
      .map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = o;
    text = `${ip.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  return ipaddr
    .parse(text)
    .toByteArray()
    .reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

function v4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

describe("parseSubnetRequest: the reference subnets (real Neutron 21)", () => {
  test("192.168.1.0/24 with defaults: gateway .1, one pool .2-.254", () => {
    assert.deepEqual(parseSubnetRequest({ cidr: "192.168.1.0/24", ip_version: 4, enable_dhcp: true }), {
      cidr: "192.168.1.0/24",
      ipVersion: 4,
      prefixLength: 24,
      gatewayIp: "192.168.1.1",
      allocationPools: [{ start: "192.168.1.2", end: "192.168.1.254" }],
    });
  });

  test("10.0.0.0/24 with defaults", () => {
    const p = parseSubnetRequest({ cidr: "10.0.0.0/24", ip_version: 4 });
    assert.equal(p.gatewayIp, "10.0.0.1");
    assert.deepEqual(p.allocationPools, [{ start: "10.0.0.2", end: "10.0.0.254" }]);
  });

  test("fd00:1::/64 with defaults: gateway is the network address, pool ::1 to the end", () => {
    assert.deepEqual(parseSubnetRequest({ cidr: "fd00:1::/64", ip_version: 6 }), {
      cidr: "fd00:1::/64",
      ipVersion: 6,
      prefixLength: 64,
      gatewayIp: "fd00:1::",
      allocationPools: [{ start: "fd00:1::1", end: "fd00:1::ffff:ffff:ffff:ffff" }],
    });
  });
});

describe("parseSubnetRequest: cidr", () => {
  test("host bits are cleared, as Neutron's create_subnet does", () => {
    assert.equal(parseSubnetRequest({ cidr: "192.168.1.7/24" }).cidr, "192.168.1.0/24");
    assert.equal(parseSubnetRequest({ cidr: "FD00:1:0:0::5/64" }).cidr, "fd00:1::/64");
  });

  test("ip_version is taken from the cidr when absent", () => {
    assert.equal(parseSubnetRequest({ cidr: "10.1.0.0/16" }).ipVersion, 4);
    assert.equal(parseSubnetRequest({ cidr: "2001:db8::/48" }).ipVersion, 6);
  });

  for (const bad of [
    "10.0.0.0",
    "10/8",
    "10.0.0/24",
    "bogus",
    "",
    "10.0.0.0/33",
    "10.0.0.0/-1",
    "10.0.0.0/24/1",
    " 10.0.0.0/24",
    "010.0.0.0/24",
    "10.0.0.0/024",
    "10.0.0.0/255.255.255.0",
    "fd00::/129",
    "fd00:::/64",
    "fd00::%eth0/64",
    "fd00::",
  ]) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      rejects(
        { cidr: bad },
        400,
        "HTTPBadRequest",
        `Invalid input for cidr. Reason: '${bad}' is not a valid IP subnet.`,
      );
    });
  }

  test("ip_version must be 4 or 6 and match the cidr", () => {
    rejects(
      { cidr: "10.0.0.0/24", ip_version: 5 },
      400,
      "HTTPBadRequest",
      "Invalid input for ip_version. Reason: 5 is not in [4, 6].",
    );
    rejects(
      { cidr: "10.0.0.7/24", ip_version: 6 },
      400,
      "InvalidInput",
      "Invalid input for operation: cidr '10.0.0.0/24' does not match the ip_version '6'.",
    );
    rejects(
      { cidr: "fd00::/64", ip_version: 4 },
      400,
      "InvalidInput",
      "Invalid input for operation: cidr 'fd00::/64' does not match the ip_version '4'.",
    );
  });

  test("DHCP limits, unless enable_dhcp is false", () => {
    const prefixMsg =
      "Invalid input for operation: Subnet has a prefix length that is incompatible with DHCP service enabled.";
    rejects({ cidr: "10.0.0.0/31" }, 400, "InvalidInput", prefixMsg);
    rejects({ cidr: "fd00::/127" }, 400, "InvalidInput", prefixMsg);
    rejects(
      { cidr: "224.0.0.0/24" },
      400,
      "InvalidInput",
      "Invalid input for operation: Multicast IP subnet is not supported if enable_dhcp is True.",
    );
    rejects(
      { cidr: "127.0.0.0/24" },
      400,
      "InvalidInput",
      "Invalid input for operation: Loopback IP subnet is not supported if enable_dhcp is True.",
    );
    rejects(
      { cidr: "0.0.0.0/8" },
      400,
      "InvalidInput",
      "Invalid input for operation: First IP '0.0.0.0' of network is not supported if enable_dhcp is True..",
    );
    assert.equal(parseSubnetRequest({ cidr: "224.0.0.0/24", enable_dhcp: false }).cidr, "224.0.0.0/24");
  });

  test("prefix length 0 is refused", () => {
    rejects(
      { cidr: "::/0" },
      400,
      "InvalidInput",
      "Invalid input for operation: 0 is not allowed as CIDR prefix length.",
    );
    rejects(
      { cidr: "0.0.0.0/0", enable_dhcp: false },
      400,
      "InvalidInput",
      "Invalid input for operation: 0 is not allowed as CIDR prefix length.",
    );
  });
});

describe("parseSubnetRequest: gateway", () => {
  test("null means no gateway: the pool is every host address", () => {
    const p = parseSubnetRequest({ cidr: "192.168.1.0/24", gateway_ip: null });
    assert.equal(p.gatewayIp, null);
    assert.deepEqual(p.allocationPools, [{ start: "192.168.1.1", end: "192.168.1.254" }]);
    const q = parseSubnetRequest({ cidr: "fd00:1::/64", gateway_ip: null });
    assert.deepEqual(q.allocationPools, [{ start: "fd00:1::1", end: "fd00:1::ffff:ffff:ffff:ffff" }]);
  });

  test("pools are split around the gateway", () => {
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.0/24", gateway_ip: "10.0.0.100" }).allocationPools, [
      { start: "10.0.0.1", end: "10.0.0.99" },
      { start: "10.0.0.101", end: "10.0.0.254" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.0/24", gateway_ip: "10.0.0.254" }).allocationPools, [
      { start: "10.0.0.1", end: "10.0.0.253" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "fd00:1::/64", gateway_ip: "fd00:1::1" }).allocationPools, [
      { start: "fd00:1::2", end: "fd00:1::ffff:ffff:ffff:ffff" },
    ]);
  });

  test("the gateway is given back in canonical form", () => {
    assert.equal(
      parseSubnetRequest({ cidr: "fd00:1::/64", gateway_ip: "FD00:1:0:0:0:0:0:1" }).gatewayIp,
      "fd00:1::1",
    );
  });

  test("an IPv6 gateway may be the network address; an IPv4 one not, nor the broadcast", () => {
    assert.equal(parseSubnetRequest({ cidr: "fd00:1::/64", gateway_ip: "fd00:1::" }).gatewayIp, "fd00:1::");
    const msg = "Invalid input for operation: Gateway is not valid on subnet.";
    rejects({ cidr: "10.0.0.0/24", gateway_ip: "10.0.0.0" }, 400, "InvalidInput", msg);
    rejects({ cidr: "10.0.0.0/24", gateway_ip: "10.0.0.255" }, 400, "InvalidInput", msg);
  });

  test("outside the cidr: accepted as Neutron does, refused on request", () => {
    const p = parseSubnetRequest({ cidr: "10.0.0.0/24", gateway_ip: "10.9.9.9" });
    assert.equal(p.gatewayIp, "10.9.9.9");
    assert.deepEqual(p.allocationPools, [{ start: "10.0.0.1", end: "10.0.0.254" }]);
    rejects(
      { cidr: "10.0.0.0/24", gateway_ip: "10.9.9.9" },
      400,
      "InvalidInput",
      "Invalid input for operation: Gateway is not valid on subnet.",
      { requireGatewayInCidr: true },
    );
  });

  test("bad gateways", () => {
    rejects(
      { cidr: "10.0.0.0/24", gateway_ip: "10.0.0.300" },
      400,
      "HTTPBadRequest",
      "Invalid input for gateway_ip. Reason: '10.0.0.300' is not a valid IP address.",
    );
    rejects(
      { cidr: "10.0.0.0/24", gateway_ip: "010.0.0.1" },
      400,
      "HTTPBadRequest",
      "Invalid input for gateway_ip. Reason: '010.0.0.1' is not an accepted IP address, '10.0.0.1' is recommended.",
    );
    rejects(
      { cidr: "10.0.0.0/24", gateway_ip: "fd00::1" },
      400,
      "InvalidInput",
      "Invalid input for operation: gateway_ip 'fd00::1' does not match the ip_version '4'.",
    );
  });
});

describe("parseSubnetRequest: allocation pools", () => {
  test("explicit pools are kept in request order, canonical", () => {
    const p = parseSubnetRequest({
      cidr: "fd00:1::/64",
      allocation_pools: [
        { start: "FD00:1::100", end: "fd00:1::1ff" },
        { start: "fd00:1::10", end: "fd00:1::20" },
      ],
    });
    assert.deepEqual(p.allocationPools, [
      { start: "fd00:1::100", end: "fd00:1::1ff" },
      { start: "fd00:1::10", end: "fd00:1::20" },
    ]);
  });

  test("a pool may be a single address; null pools mean generated ones", () => {
    const p = parseSubnetRequest({
      cidr: "10.0.0.0/24",
      allocation_pools: [{ start: "10.0.0.9", end: "10.0.0.9" }],
    });
    assert.deepEqual(p.allocationPools, [{ start: "10.0.0.9", end: "10.0.0.9" }]);
    const q = parseSubnetRequest({ cidr: "10.0.0.0/24", allocation_pools: null });
    assert.deepEqual(q.allocationPools, [{ start: "10.0.0.2", end: "10.0.0.254" }]);
  });

  test("start after end", () => {
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "10.0.0.20", end: "10.0.0.10" }] },
      400,
      "InvalidAllocationPool",
      "The allocation pool {'start': '10.0.0.20', 'end': '10.0.0.10'} is not valid.",
    );
  });

  test("versions that do not match", () => {
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "10.0.0.2", end: "fd00::2" }] },
      400,
      "InvalidAllocationPool",
      "The allocation pool {'start': '10.0.0.2', 'end': 'fd00::2'} is not valid.",
    );
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "fd00::2", end: "fd00::9" }] },
      400,
      "InvalidAllocationPool",
      "The allocation pool fd00::2-fd00::9 is not valid.",
    );
  });

  test("pools must stay inside the cidr, less network and IPv4 broadcast", () => {
    for (const [start, end] of [
      ["10.0.0.0", "10.0.0.10"],
      ["10.0.0.200", "10.0.0.255"],
      ["10.0.1.1", "10.0.1.2"],
    ]) {
      rejects(
        { cidr: "10.0.0.0/24", allocation_pools: [{ start: start as string, end: end as string }] },
        400,
        "OutOfBoundsAllocationPool",
        `The allocation pool ${start}-${end} spans beyond the subnet cidr 10.0.0.0/24.`,
      );
    }
    // IPv6 has no broadcast: the last address may be pooled, the network address not.
    const p = parseSubnetRequest({
      cidr: "fd00:1::/64",
      allocation_pools: [{ start: "fd00:1::ffff:ffff:ffff:fff0", end: "fd00:1::ffff:ffff:ffff:ffff" }],
    });
    assert.equal(p.allocationPools[0]?.end, "fd00:1::ffff:ffff:ffff:ffff");
    rejects(
      { cidr: "fd00:1::/64", allocation_pools: [{ start: "fd00:1::", end: "fd00:1::9" }] },
      400,
      "OutOfBoundsAllocationPool",
      "The allocation pool fd00:1::-fd00:1::9 spans beyond the subnet cidr fd00:1::/64.",
    );
  });

  test("overlapping pools: 409", () => {
    rejects(
      {
        cidr: "10.0.0.0/24",
        allocation_pools: [
          { start: "10.0.0.10", end: "10.0.0.20" },
          { start: "10.0.0.30", end: "10.0.0.40" },
          { start: "10.0.0.20", end: "10.0.0.25" },
        ],
      },
      409,
      "OverlappingAllocationPools",
      "Found overlapping allocation pools: 10.0.0.10-10.0.0.20 10.0.0.20-10.0.0.25 for subnet 10.0.0.0/24.",
    );
  });

  test("a pool holding the gateway: 409, default gateway included", () => {
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "10.0.0.1", end: "10.0.0.10" }] },
      409,
      "GatewayConflictWithAllocationPools",
      "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.10.",
    );
    rejects(
      {
        cidr: "10.0.0.0/24",
        gateway_ip: "10.0.0.5",
        allocation_pools: [{ start: "10.0.0.2", end: "10.0.0.10" }],
      },
      409,
      "GatewayConflictWithAllocationPools",
      "Gateway ip 10.0.0.5 conflicts with allocation pool 10.0.0.2-10.0.0.10.",
    );
    const p = parseSubnetRequest({
      cidr: "10.0.0.0/24",
      gateway_ip: null,
      allocation_pools: [{ start: "10.0.0.1", end: "10.0.0.10" }],
    });
    assert.deepEqual(p.allocationPools, [{ start: "10.0.0.1", end: "10.0.0.10" }]);
  });

  test("malformed pools", () => {
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "10.0.0.2", end: "nope" }] },
      400,
      "HTTPBadRequest",
      "Invalid input for allocation_pools. Reason: 'nope' is not a valid IP address.",
    );
    rejects(
      { cidr: "10.0.0.0/24", allocation_pools: [{ start: "10.0.0.2" } as never] },
      400,
      "HTTPBadRequest",
      "Invalid input for allocation_pools. Reason: Validation of dictionary's keys failed. " +
        "Expected keys: {'start', 'end'} Provided keys: {'start'}.",
    );
  });

  test("tiny blocks follow Neutron's generate_pools", () => {
    const opts = { enable_dhcp: false };
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.4/31", gateway_ip: null, ...opts }).allocationPools, [
      { start: "10.0.0.4", end: "10.0.0.5" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.4/31", ...opts }).allocationPools, [
      { start: "10.0.0.4", end: "10.0.0.4" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.4/32", ...opts }).allocationPools, [
      { start: "10.0.0.4", end: "10.0.0.4" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "fd00::/127", ...opts }).allocationPools, [
      { start: "fd00::1", end: "fd00::1" },
    ]);
    assert.deepEqual(parseSubnetRequest({ cidr: "10.0.0.0/30" }).allocationPools, [
      { start: "10.0.0.2", end: "10.0.0.2" },
    ]);
  });
});

describe("addresses", () => {
  test("canonical forms", () => {
    const cases: Array<[string, string]> = [
      ["10.0.0.1", "10.0.0.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["FD00:1:0:0::1", "fd00:1::1"],
      ["fd00:0001::", "fd00:1::"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"],
      ["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"],
      ["1:0:0:0:0:0:0:0", "1::"],
      ["::", "::"],
      ["::1", "::1"],
      ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
      ["::ffff:0102:0304", "::ffff:1.2.3.4"],
      ["::1.2.3.4", "::1.2.3.4"],
      ["64:ff9b::1.2.3.4", "64:ff9b::102:304"],
    ];
    for (const [given, want] of cases) assert.equal(canonicalIp(given), want, given);
  });

  test("refusals carry Neutron's reason, and the field when named", () => {
    const bad = [
      "10.0.0.256",
      "10.0.0",
      "10.1",
      "1.2.3.4.5",
      "",
      " 10.0.0.1",
      "fe80::1%eth0",
      "12345::",
      "1::2::3",
    ];
    for (const s of bad) {
      assert.throws(() => canonicalIp(s), {
        name: "IpamInputError",
        message: `'${s}' is not a valid IP address`,
      });
    }
    assert.throws(() => canonicalIp("1:2:3:4:5:6:7:8:9", "fixed_ips"), {
      message: "Invalid input for fixed_ips. Reason: '1:2:3:4:5:6:7:8:9' is not a valid IP address.",
    });
    assert.throws(() => canonicalIp("10.0.0.01"), {
      message: "'10.0.0.01' is not an accepted IP address, '10.0.0.1' is recommended",
    });
  });

  test("property: IPv6 text round-trips and agrees with RFC 5952 outside the IPv4-embedding ranges", () => {
    fc.assert(
      fc.property(fc.bigInt(0n, (1n << 128n) - 1n), (n) => {
        const parts: number[] = [];
        for (let i = 7; i >= 0; i--) parts.push(Number((n >> BigInt(16 * i)) & 0xffffn));
        const full = parts.map((p) => p.toString(16)).join(":");
        const c = canonicalIp(full);
        assert.equal(toBig(c), n);
        assert.equal(canonicalIp(c), c);
        assert.equal(canonicalIp(full.toUpperCase()), c);
        const embedsV4 = n >> 32n === 0xffffn || (n >> 32n === 0n && n > 0xffffn);
        if (!embedsV4) assert.equal(c, new ipaddr.IPv6(parts).toRFC5952String());
      }),
    );
  });

  test("property: IPv4 text round-trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        assert.equal(canonicalIp(v4(n)), v4(n));
      }),
    );
  });

  test("ipInCidr, prefixLength, canonicalCidr, ipVersionOf, cidrsOverlap", () => {
    assert.equal(ipInCidr("10.0.0.7", "10.0.0.0/24"), true);
    assert.equal(ipInCidr("10.0.1.7", "10.0.0.0/24"), false);
    assert.equal(ipInCidr("fd00:1::7", "10.0.0.0/24"), false);
    assert.equal(ipInCidr("fd00:1::ffff:ffff:ffff:ffff", "fd00:1::/64"), true);
    assert.equal(ipInCidr("fd00:2::", "fd00:1::/64"), false);
    assert.equal(prefixLength("fd00:1::/64"), 64);
    assert.equal(prefixLength("10.0.0.0/8"), 8);
    assert.equal(canonicalCidr("10.1.2.3/8"), "10.0.0.0/8");
    assert.equal(ipVersionOf("fd00::1"), 6);
    assert.equal(ipVersionOf("10.0.0.1"), 4);
    assert.equal(ipVersionOf("x"), undefined);
    assert.equal(cidrsOverlap("10.0.0.0/8", "10.1.0.0/16"), true);
    assert.equal(cidrsOverlap("10.0.0.0/24", "10.0.1.0/24"), false);
    assert.equal(cidrsOverlap("10.0.0.0/24", "fd00::/8"), false);
    assert.throws(() => prefixLength("10.0.0.0"), { message: "'10.0.0.0' is not a valid IP subnet" });
  });
});

describe("SubnetAllocator", () => {
  const plan = (r: SubnetRequest) => parseSubnetRequest(r);

  test("first allocations on the reference subnets", () => {
    const a4 = new SubnetAllocator(plan({ cidr: "192.168.1.0/24" }));
    assert.equal(a4.size, 253n);
    assert.equal(a4.allocate(new Set()), "192.168.1.2");
    const a6 = new SubnetAllocator(plan({ cidr: "fd00:1::/64" }));
    assert.equal(a6.size, (1n << 64n) - 1n);
    assert.equal(a6.allocate(new Set()), "fd00:1::1");
    assert.equal(a6.allocate(new Set()), "fd00:1::2");
  });

  test("successive calls give distinct addresses before the caller records them, then wrap", () => {
    const a = new SubnetAllocator(plan({ cidr: "10.0.0.0/29" }));
    const got = [1, 2, 3, 4, 5, 6].map(() => a.allocate(new Set()));
    assert.deepEqual(got, ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.2"]);
  });

  test("skips used and reserved addresses, across pools", () => {
    const a = new SubnetAllocator(plan({ cidr: "10.0.0.0/24", gateway_ip: "10.0.0.5" }));
    const used = new Set(["10.0.0.1", "10.0.0.2", "10.0.0.6"]);
    const reserved = new Set(["10.0.0.3", "10.0.0.7"]);
    assert.equal(a.allocate(used, reserved), "10.0.0.4");
    used.add("10.0.0.4");
    assert.equal(a.allocate(used, reserved), "10.0.0.8");
  });

  test("IPv6 at the top of a /64: BigInt boundaries, wrap and exhaustion", () => {
    const a = new SubnetAllocator(
      plan({
        cidr: "fd00:1::/64",
        allocation_pools: [
          { start: "fd00:1::ffff:ffff:ffff:fffe", end: "fd00:1::ffff:ffff:ffff:ffff" },
          { start: "fd00:1::1", end: "fd00:1::1" },
        ],
      }),
    );
    const used = new Set<string>();
    for (const want of ["fd00:1::1", "fd00:1::ffff:ffff:ffff:fffe", "fd00:1::ffff:ffff:ffff:ffff"]) {
      const got = a.allocate(used);
      assert.equal(got, want);
      used.add(want);
    }
    assert.equal(a.allocate(used), undefined);
    used.delete("fd00:1::ffff:ffff:ffff:fffe");
    assert.equal(a.allocate(used), "fd00:1::ffff:ffff:ffff:fffe");
  });

  test("a huge pool with many used addresses answers after at most |used| + 1 looks", () => {
    const a = new SubnetAllocator(plan({ cidr: "fd00:1::/64" }));
    const used = new Set<string>();
    for (let i = 1; i <= 1000; i++) used.add(canonicalIp(`fd00:1::${i.toString(16)}`));
    assert.equal(a.allocate(used), "fd00:1::3e9");
  });

  test("no pools: nothing to allocate", () => {
    const p: SubnetPlan = { ...plan({ cidr: "10.0.0.0/24" }), allocationPools: [] };
    assert.equal(new SubnetAllocator(p).allocate(new Set()), undefined);
  });

  test("property: allocate until exhausted from a small subnet", () => {
    const arb = fc.record({
      base: fc.integer({ min: 0x0a000000, max: 0x0affffff }),
      prefix: fc.integer({ min: 25, max: 30 }),
      gateway: fc.oneof(fc.constant<"default" | null>("default"), fc.constant(null), fc.nat()),
      preUsed: fc.array(fc.nat(), { maxLength: 40 }),
    });
    fc.assert(
      fc.property(arb, ({ base, prefix, gateway, preUsed }) => {
        const size = 2 ** (32 - prefix);
        const first = (base >>> 0) - ((base >>> 0) % size);
        const req: SubnetRequest = { cidr: `${v4(first)}/${prefix}` };
        if (gateway === null) req.gateway_ip = null;
        else if (gateway !== "default") req.gateway_ip = v4(first + 1 + (gateway % (size - 2)));
        const p = parseSubnetRequest(req);
        const a = new SubnetAllocator(p);
        const inPool = (ip: string) =>
          p.allocationPools.some((r) => toBig(ip) >= toBig(r.start) && toBig(ip) <= toBig(r.end));
        const used = new Set(preUsed.map((x) => v4(first + (x % size))));
        const free = [...Array(size).keys()]
          .map((i) => v4(first + i))
          .filter((ip) => inPool(ip) && !used.has(ip));
        const got: string[] = [];
        for (;;) {
          const ip = a.allocate(used);
          if (ip === undefined) break;
          assert.ok(!used.has(ip), `${ip} was in use`);
          assert.ok(inPool(ip), `${ip} outside the pools`);
          assert.notEqual(ip, v4(first), "network address");
          assert.notEqual(ip, v4(first + size - 1), "broadcast address");
          assert.notEqual(ip, p.gatewayIp, "gateway");
          assert.equal(a.check(ip, used), "ok");
          used.add(ip);
          got.push(ip);
          assert.ok(got.length <= free.length, "more addresses than the pools hold");
        }
        // Exhausted exactly when every pool address is in use.
        assert.deepEqual([...got].sort(), [...free].sort());
        assert.equal(a.allocate(used), undefined);
      }),
    );
  });

  test("property: with releases in between, never a used address; undefined only when full", () => {
    const arb = fc.array(
      fc.oneof(
        { arbitrary: fc.constant("alloc" as const), weight: 3 },
        { arbitrary: fc.nat({ max: 63 }), weight: 1 },
      ),
      { minLength: 60, maxLength: 300 },
    );
    let exhausted = 0;
    fc.assert(
      fc.property(arb, (ops) => {
        const p = parseSubnetRequest({ cidr: "10.9.0.0/26" });
        const a = new SubnetAllocator(p);
        const used = new Set<string>();
        for (const op of ops) {
          if (op === "alloc") {
            const ip = a.allocate(used);
            if (ip === undefined) {
              assert.equal(BigInt(used.size), a.size);
              exhausted++;
            } else {
              assert.ok(!used.has(ip));
              assert.ok(a.inPools(ip));
              used.add(ip);
            }
          } else {
            used.delete(v4(0x0a090000 + op));
          }
        }
      }),
    );
    assert.ok(exhausted > 0, "the runs never reached exhaustion");
  });

  test("property: reserved addresses are never handed out", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 2, max: 62 }), { maxLength: 61 }), (res) => {
        const a = new SubnetAllocator(parseSubnetRequest({ cidr: "10.9.0.0/26" }));
        const reserved = new Set(res.map((i) => v4(0x0a090000 + i)));
        const used = new Set<string>();
        for (let ip = a.allocate(used, reserved); ip !== undefined; ip = a.allocate(used, reserved)) {
          assert.ok(!reserved.has(ip));
          used.add(ip);
        }
        assert.equal(used.size + reserved.size, 61);
      }),
    );
  });

  test("performance sanity: 50,000 addresses from a /16 with a growing used set", () => {
    const a = new SubnetAllocator(parseSubnetRequest({ cidr: "172.16.0.0/16" }));
    const used = new Set<string>();
    const t0 = performance.now();
    for (let i = 0; i < 50_000; i++) {
      const ip = a.allocate(used);
      assert.ok(ip !== undefined);
      used.add(ip);
    }
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(used.size, 50_000);
  });
});

describe("SubnetAllocator.check: requested fixed IPs", () => {
  const a4 = new SubnetAllocator(parseSubnetRequest({ cidr: "10.0.0.0/24" }));
  const a6 = new SubnetAllocator(parseSubnetRequest({ cidr: "fd00:1::/64" }));
  const used = new Set(["10.0.0.9", "fd00:1::9"]);

  test("IPv4", () => {
    assert.equal(a4.check("10.0.0.50", used), "ok");
    assert.equal(a4.check("10.0.0.9", used), "in-use");
    assert.equal(a4.check("10.0.0.9", new Set(), { reserved: new Set(["10.0.0.9"]) }), "in-use");
    assert.equal(a4.check("10.0.0.0", used), "network");
    assert.equal(a4.check("10.0.0.255", used), "broadcast");
    assert.equal(a4.check("10.0.1.1", used), "outside");
    assert.equal(a4.check("fd00:1::5", used), "outside");
    assert.equal(a4.check("10.0.0.999", used), "invalid");
    // Neutron lets any port take the gateway address.
    assert.equal(a4.check("10.0.0.1", used), "ok");
    assert.equal(a4.check("10.0.0.1", used, { refuseGateway: true }), "gateway");
  });

  test("outside the pools but inside the cidr is allowed, as in Neutron", () => {
    const a = new SubnetAllocator(
      parseSubnetRequest({
        cidr: "10.0.0.0/24",
        allocation_pools: [{ start: "10.0.0.100", end: "10.0.0.200" }],
      }),
    );
    assert.equal(a.inPools("10.0.0.50"), false);
    assert.equal(a.check("10.0.0.50", new Set()), "ok");
  });

  test("IPv6: the network address only for router ports or unknown owners; no broadcast", () => {
    assert.equal(a6.check("FD00:1::9", used), "in-use");
    assert.equal(a6.check("fd00:1::ffff:ffff:ffff:ffff", used), "ok");
    assert.equal(a6.check("fd00:1::", used), "ok");
    assert.equal(a6.check("fd00:1::", used, { deviceOwner: "network:router_interface" }), "ok");
    assert.equal(a6.check("fd00:1::", used, { deviceOwner: "compute:nova" }), "network");
    assert.equal(a6.check("fd00:2::", used), "outside");
  });

  test("/31: the first address is refused, the last is not (netaddr has no broadcast there)", () => {
    const a = new SubnetAllocator(
      parseSubnetRequest({ cidr: "10.0.0.4/31", enable_dhcp: false, gateway_ip: null }),
    );
    assert.equal(a.check("10.0.0.4", new Set()), "network");
    assert.equal(a.check("10.0.0.5", new Set()), "ok");
  });
});
