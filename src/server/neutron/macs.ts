// MAC addresses for ports: the configured prefix, random generation as Neutron does it, and
// validation of user-requested addresses with Neutron's rules and wording.
//
// Neutron sources mirrored:
//   neutron/conf/common.py, neutron/common/config.py   base_mac "fa:16:3e:00:00:00", checked
//                                                     against MAC_PATTERN (six octets, first
//                                                     octet even: unicast; locally administered
//                                                     is not required)
//   neutron_lib/utils/net.py random_mac_generator     the first 3 octets fixed, the 4th too when
//                                                     it is not "00", the rest random
//   neutron_lib/api/validators validate_mac_address   any netaddr EUI-48 text form; refuses only
//                                                     00:00:00:00:00:00 and ff:ff:ff:ff:ff:ff
//   neutron_lib/api/converters                       convert_to_sanitized_mac_address: lowercase
//                                                     colon-separated form
//   neutron_lib/exceptions NetworkMacAddressGenerationFailure  (503) when no MAC could be found

import { IpamInputError } from "./ipam.js";

/** Neutron's default base_mac. */
export const NEUTRON_BASE_MAC = "fa:16:3e:00:00:00";

/** How many random draws allocateMac makes before it scans or gives up. */
export const DEFAULT_MAC_TRIES = 16;

/** Spaces this small are scanned exhaustively once the random draws have all collided. */
const SCAN_LIMIT = 65536;

export interface MacPrefix {
  /** The fixed leading octets (1 to 5). */
  readonly octets: readonly number[];
  /** Those octets as lowercase colon-separated text, e.g. "fa:16:3e". */
  readonly text: string;
}

const OCTET = /^[0-9a-fA-F]{2}$/;

/**
 * The fixed part of generated MACs. Accepts 1 to 5 octets ("fa:16:3e"), or a six-octet Neutron
 * base_mac ("fa:16:3e:00:00:00"), read as Neutron reads it: the first three octets, and the
 * fourth when it is not 00. The first octet must be even (a unicast address), as Neutron's
 * MAC_PATTERN requires of base_mac. Throws an Error naming the value otherwise.
 */
export function parseMacPrefix(s: string): MacPrefix {
  const fail = () =>
    new Error(
      `Base MAC: '${s}' is not a valid input (expected 1 to 5 hex octets such as "fa:16:3e", ` +
        `or a 6-octet base MAC such as "${NEUTRON_BASE_MAC}", whose first octet is even: unicast)`,
    );
  if (typeof s !== "string") throw fail();
  const parts = s.split(":");
  if (parts.length < 1 || parts.length > 6 || !parts.every((p) => OCTET.test(p))) throw fail();
  let octets = parts.map((p) => Number.parseInt(p, 16));
  if (octets.length === 6) octets = octets.slice(0, parts[3] === "00" ? 3 : 4);
  if (((octets[0] ?? 1) & 1) !== 0) throw fail();
  return { octets, text: octets.map(hex2).join(":") };
}

function hex2(o: number): string {
  return o.toString(16).padStart(2, "0");
}

function fromNumber(prefix: MacPrefix, suffix: number): string {
  const free = 6 - prefix.octets.length;
  const out = [...prefix.octets];
  for (let i = free - 1; i >= 0; i--) out.push(Math.floor(suffix / 2 ** (8 * i)) % 256);
  return out.map(hex2).join(":");
}

/** A random MAC with the prefix's octets first. `rng` returns a number in [0, 1). */
export function randomMac(prefix: MacPrefix, rng: () => number = Math.random): string {
  const out = [...prefix.octets];
  while (out.length < 6) out.push(Math.floor(rng() * 256) & 255);
  return out.map(hex2).join(":");
}

const ZERO_MAC = "00:00:00:00:00:00";

/**
 * A MAC with the prefix that is not in `used` (canonical MACs, see canonicalMac): random, as
 * Neutron generates them, redrawn on collision up to `maxTries` times; for a small space (a
 * prefix of 4 or 5 octets) it then scans from a random point, so undefined there means the space
 * is full. Undefined: Neutron's 503 NetworkMacAddressGenerationFailure. Never returns
 * 00:00:00:00:00:00, which Neutron would refuse.
 */
export function allocateMac(
  prefix: MacPrefix,
  used: { has(mac: string): boolean },
  rng: () => number = Math.random,
  maxTries: number = DEFAULT_MAC_TRIES,
): string | undefined {
  for (let i = 0; i < maxTries; i++) {
    const mac = randomMac(prefix, rng);
    if (!used.has(mac) && mac !== ZERO_MAC) return mac;
  }
  const space = 2 ** (8 * (6 - prefix.octets.length));
  if (space > SCAN_LIMIT) return undefined;
  const start = Math.floor(rng() * space) % space;
  for (let i = 0; i < space; i++) {
    const mac = fromNumber(prefix, (start + i) % space);
    if (!used.has(mac) && mac !== ZERO_MAC) return mac;
  }
  return undefined;
}

// netaddr's EUI-48 text forms (valid_mac), case-insensitive.
const H = "[0-9a-f]";
const MAC_FORMS: readonly RegExp[] = [
  new RegExp(`^${Array(6).fill(`(${H}{1,2})`).join(":")}$`, "i"),
  new RegExp(`^${Array(6).fill(`(${H}{1,2})`).join("-")}$`, "i"),
  new RegExp(`^${Array(3).fill(`(${H}{1,4})`).join(":")}$`, "i"),
  new RegExp(`^${Array(3).fill(`(${H}{1,4})`).join("-")}$`, "i"),
  new RegExp(`^${Array(3).fill(`(${H}{1,4})`).join("\\.")}$`, "i"),
  new RegExp(`^(${H}{5,6})-(${H}{5,6})$`, "i"),
  new RegExp(`^(${H}{5,6}):(${H}{5,6})$`, "i"),
  new RegExp(`^(${H}{11,12})$`, "i"),
];

/** The 48-bit value of a MAC in any netaddr EUI-48 form, or undefined. */
function parseMacValue(s: string): bigint | undefined {
  for (const re of MAC_FORMS) {
    const m = re.exec(s);
    if (!m) continue;
    const groups = m.slice(1) as string[];
    const width = 12 / groups.length; // hex digits per group
    return BigInt(`0x${groups.map((g) => g.padStart(width, "0")).join("")}`);
  }
  return undefined;
}

export interface CanonicalMacOptions {
  /** Accept multicast MACs (first octet odd). Neutron does; default true. */
  allowMulticast?: boolean;
  /** The request field, for the message ("mac_address" by default). */
  field?: string;
}

/**
 * A user-supplied MAC in canonical form (lowercase, colon-separated), as Neutron sanitises it.
 * Accepts netaddr's text forms (aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff, aabbccddeeff, ...).
 * Refuses what Neutron refuses: anything else, 00:00:00:00:00:00 and ff:ff:ff:ff:ff:ff, with
 * "Invalid input for mac_address. Reason: '<s>' is not a valid MAC address." (400). Multicast
 * addresses are accepted as Neutron accepts them, unless `allowMulticast` is false.
 */
export function canonicalMac(s: string, options: CanonicalMacOptions = {}): string {
  const field = options.field ?? "mac_address";
  const fail = (reason = `'${String(s)}' is not a valid MAC address`) =>
    new IpamInputError(400, "HTTPBadRequest", `Invalid input for ${field}. Reason: ${reason}.`);
  if (typeof s !== "string" || /\s/.test(s)) throw fail();
  const v = parseMacValue(s);
  if (v === undefined || v === 0n || v === 0xffffffffffffn) throw fail();
  const text = v.toString(16).padStart(12, "0");
  const mac = (text.match(/../g) as string[]).join(":");
  if (options.allowMulticast === false && isMulticastMac(mac)) {
    throw fail(`'${String(s)}' is a multicast MAC address`);
  }
  return mac;
}

/** Whether a canonical MAC is a group (multicast or broadcast) address. */
export function isMulticastMac(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1;
}
