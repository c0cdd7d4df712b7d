// MACs: Neutron's base_mac reading, random generation inside the prefix, and validation of
// requested addresses with Neutron's wording.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { IpamInputError } from "../../src/server/neutron/ipam.js";
import {
  allocateMac,
  canonicalMac,
  isMulticastMac,
  NEUTRON_BASE_MAC,
  parseMacPrefix,
  randomMac,
} from "../../src/server/neutron/macs.js";

/** A small deterministic PRNG (mulberry32), so failures replay. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CANONICAL = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

describe("parseMacPrefix", () => {
  test("1 to 5 octets, lowercased", () => {
    assert.deepEqual(parseMacPrefix("fa:16:3e"), { octets: [0xfa, 0x16, 0x3e], text: "fa:16:3e" });
    assert.deepEqual(parseMacPrefix("FA:16:3E:0A"), {
      octets: [0xfa, 0x16, 0x3e, 0x0a],
      text: "fa:16:3e:0a",
    });
    assert.equal(parseMacPrefix("02").text, "02");
    assert.equal(parseMacPrefix("02:00:00:00:01").octets.length, 5);
  });

  test("a six-octet base_mac is read as Neutron reads it", () => {
    assert.equal(parseMacPrefix(NEUTRON_BASE_MAC).text, "fa:16:3e");
    assert.equal(parseMacPrefix("fa:16:3e:4f:00:00").text, "fa:16:3e:4f");
    assert.equal(parseMacPrefix("fa:16:3e:00:12:34").text, "fa:16:3e");
  });

  test("refusals name the value", () => {
    for (const bad of [
      "",
      "fa:16:3",
      "fa-16-3e",
      "fa:16:3e:",
      "zz:16:3e",
      "fa:16:3e:00:00:00:00",
      "01:00:5e",
    ]) {
      assert.throws(
        () => parseMacPrefix(bad),
        (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.ok(e.message.startsWith(`Base MAC: '${bad}' is not a valid input`), e.message);
          return true;
        },
      );
    }
  });
});

describe("randomMac and allocateMac", () => {
  test("property: a random MAC is canonical, keeps the prefix, and is unicast", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 5 }),
        fc.integer(),
        (octets, seed) => {
          octets[0] = (octets[0] ?? 0) & 0xfe;
          const prefix = parseMacPrefix(octets.map((o) => o.toString(16).padStart(2, "0")).join(":"));
          const mac = randomMac(prefix, seeded(seed));
          assert.match(mac, CANONICAL);
          assert.ok(mac.startsWith(`${prefix.text}:`));
          assert.equal(isMulticastMac(mac), false);
          assert.equal(canonicalMac(mac), mac);
        },
      ),
    );
  });

  test("property: allocateMac avoids used MACs and returns distinct ones", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 300 }), (seed, n) => {
        const prefix = parseMacPrefix("fa:16:3e");
        const rng = seeded(seed);
        const used = new Set<string>();
        for (let i = 0; i < n; i++) {
          const mac = allocateMac(prefix, used, rng);
          assert.ok(mac !== undefined);
          assert.ok(!used.has(mac));
          used.add(mac);
        }
      }),
    );
  });

  test("a small space is scanned once the random draws collide; undefined only when full", () => {
    const prefix = parseMacPrefix("02:00:00:00:01");
    const used = new Set<string>();
    for (let i = 0; i < 256; i++) used.add(`02:00:00:00:01:${i.toString(16).padStart(2, "0")}`);
    used.delete("02:00:00:00:01:7f");
    assert.equal(allocateMac(prefix, used, seeded(1)), "02:00:00:00:01:7f");
    used.add("02:00:00:00:01:7f");
    assert.equal(allocateMac(prefix, used, seeded(1)), undefined);
  });

  test("a large space gives up after the random draws (Neutron's 503)", () => {
    const prefix = parseMacPrefix("fa:16:3e");
    const always = () => 0.5; // every draw is fa:16:3e:80:80:80
    assert.equal(allocateMac(prefix, new Set(["fa:16:3e:80:80:80"]), always), undefined);
    assert.equal(allocateMac(prefix, new Set(), always), "fa:16:3e:80:80:80");
  });

  test("never the all-zero MAC", () => {
    const prefix = parseMacPrefix("00:00:00:00:00");
    assert.equal(
      allocateMac(prefix, new Set(), () => 0),
      "00:00:00:00:00:01",
    );
  });
});

describe("canonicalMac", () => {
  test("netaddr's text forms, sanitised to lowercase colon form", () => {
    const want = "fa:16:3e:0a:0b:0c";
    for (const s of [
      "fa:16:3e:0a:0b:0c",
      "FA:16:3E:0A:0B:0C",
      "fa:16:3e:a:b:c",
      "fa-16-3e-0a-0b-0c",
      "fa16.3e0a.0b0c",
      "fa16:3e0a:0b0c",
      "fa16-3e0a-0b0c",
      "fa163e-0a0b0c",
      "fa163e:0a0b0c",
      "fa163e0a0b0c",
    ]) {
      assert.equal(canonicalMac(s), want, s);
    }
  });

  test("refusals: Neutron's message, 400", () => {
    for (const bad of [
      "",
      "fa:16:3e:0a:0b",
      "fa:16:3e:0a:0b:0c:0d",
      "fa:16:3e:0a:0b:0g",
      "fa:16:3e:0a:0b:100",
      " fa:16:3e:0a:0b:0c",
      "fa:16:3e:0a:0b:0c\n",
      "00:00:00:00:00:00",
      "ff:ff:ff:ff:ff:ff",
      "FF-FF-FF-FF-FF-FF",
    ]) {
      assert.throws(
        () => canonicalMac(bad),
        (e: unknown) => {
          assert.ok(e instanceof IpamInputError);
          assert.equal(e.status, 400);
          assert.equal(e.type, "HTTPBadRequest");
          assert.equal(
            e.message,
            `Invalid input for mac_address. Reason: '${bad}' is not a valid MAC address.`,
          );
          return true;
        },
        JSON.stringify(bad),
      );
    }
  });

  test("multicast is accepted as Neutron accepts it, unless refused on request", () => {
    assert.equal(canonicalMac("01:00:5E:00:00:01"), "01:00:5e:00:00:01");
    assert.equal(isMulticastMac("01:00:5e:00:00:01"), true);
    assert.throws(() => canonicalMac("01:00:5e:00:00:01", { allowMulticast: false }), {
      message: "Invalid input for mac_address. Reason: '01:00:5e:00:00:01' is a multicast MAC address.",
    });
  });
});
