// IP address management for the network service: a subnet request validated and normalised
// as Neutron does it, and a fast, pure choice of free addresses inside the subnet's pools.
//
// NB is the system of record: the caller derives the set of addresses in use from the NB port
// rows and passes it in; nothing here keeps state beyond a cursor. Cross-replica safety is the
// caller's compare-and-swap, not ours.
//
// Neutron sources mirrored (rules and wording):
//   neutron/db/db_base_plugin_v2.py    create_subnet (cidr host bits cleared), _validate_subnet,
//                                      _validate_ip_version
//   neutron/db/ipam_backend_mixin.py   _gateway_ip_str (v6 default gateway = network address),
//                                      pools_to_ip_range, validate_allocation_pools,
//                                      validate_gw_out_of_pools, _validate_subnet_cidr,
//                                      _get_subnet_for_fixed_ip
//   neutron/ipam/utils.py              check_subnet_ip, check_gateway_invalid_in_subnet,
//                                      generate_pools
//   neutron_lib/api/validators         validate_subnet, validate_ip_address, validate_ip_pools
//   neutron_lib/exceptions             InvalidAllocationPool, OutOfBoundsAllocationPool,
//                                      OverlappingAllocationPools, GatewayConflictWithAllocationPools
//
// Addresses are BigInt throughout (an IPv6 /64 pool has 2^64 addresses); no range is ever
// materialised.

import ipaddr from "ipaddr.js";
import { NeutronError, type NeutronStatus } from "./errors.js";

export type IpVersion = 4 | 6;

/**
 * A subnet input rejected the way Neutron rejects it: `status`, `type` and `message` are the
 * NeutronError body Neutron answers with for the same input (400 for most, 409 for overlapping
 * pools and a gateway inside a pool). Being a NeutronError, it can be thrown straight out of a route.
 */
export class IpamInputError extends NeutronError {
  override name = "IpamInputError";
  constructor(status: NeutronStatus, type: string, message: string) {
    super(status, type, message);
  }
}

/** neutron_lib attribute validation failure, raised by the API layer as webob HTTPBadRequest. */
function attrError(attr: string, reason: string): IpamInputError {
  return new IpamInputError(400, "HTTPBadRequest", `Invalid input for ${attr}. Reason: ${reason}.`);
}

/** neutron_lib InvalidInput. */
function invalidInput(msg: string): IpamInputError {
  return new IpamInputError(400, "InvalidInput", `Invalid input for operation: ${msg}.`);
}

// --- addresses as numbers ------------------------------------------------------------------

interface Addr {
  v: IpVersion;
  n: bigint;
}

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };
const V4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function formatV4(x: number): string {
  return `${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
}

/**
 * IPv6 text as Neutron (netaddr) prints it: lowercase, the longest run of two or more zero groups
 * (the leftmost on a tie) as "::", and the IPv4-compatible (::a.b.c.d, above ::ffff) and
 * IPv4-mapped (::ffff:a.b.c.d) forms with a dotted tail.
 */
function formatV6(n: bigint): string {
  const high = n >> 32n;
  if (high === 0n && n > 0xffffn) return `::${formatV4(Number(n))}`;
  if (high === 0xffffn) return `::ffff:${formatV4(Number(n & 0xffffffffn))}`;
  const g: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  let x = n;
  for (let i = 7; i >= 0; i--) {
    g[i] = Number(x & 0xffffn);
    x >>= 16n;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (v: number) => v.toString(16);
  if (bestStart < 0) return g.map(hex).join(":");
  return `${g.slice(0, bestStart).map(hex).join(":")}::${g
    .slice(bestStart + bestLen)
    .map(hex)
    .join(":")}`;
}

function format(a: Addr): string {
  return a.v === 4 ? formatV4(Number(a.n)) : formatV6(a.n);
}

/** Parses IPv4 text; a reason string (Neutron's wording) when it is not acceptable. */
function parseV4(s: string): bigint | string {
  const m = V4_TEXT.exec(s);
  if (!m) return `'${s}' is not a valid IP address`;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return `'${s}' is not a valid IP address`;
    n = n * 256 + o;
  }
  // Leading zeros could be read as octal: Neutron refuses them and names the decimal reading.
  const canonical = formatV4(n);
  if (canonical !== s) return `'${s}' is not an accepted IP address, '${canonical}' is recommended`;
  return BigInt(n);
}

/** Parses IPv6 text (RFC 4291 forms, no zone index); a reason string when it is not valid. */
function parseV6(s: string): bigint | string {
  const bad = `'${s}' is not a valid IP address`;
  let text = s;
  // A dotted IPv4 tail: ipaddr.js reads "::a.b.c.d" as IPv4-mapped, so turn the tail into two
  // hex groups ourselves.
  if (text.includes(".")) {
    const colon = text.lastIndexOf(":");
    const tail = parseV4(text.slice(colon + 1));
    if (typeof tail === "string") return bad;
    const t = Number(tail);
    text = `${text.slice(0, colon + 1)}${(t >>> 16).toString(16)}:${(t & 0xffff).toString(16)}`;
  }
  // Strict shape first (ipaddr.js tolerates groups of more than four digits and zone ids).
  const halves = text.split("::");
  if (halves.length > 2) return bad;
  let groups = 0;
  for (const half of halves) {
    if (half === "") continue;
    for (const g of half.split(":")) {
      if (!HEX_GROUP.test(g)) return bad;
      groups++;
    }
  }
  if (halves.length === 2 ? groups > 7 : groups !== 8) return bad;
  let parts: number[];
  try {
    parts = ipaddr.IPv6.parse(text).parts;
  } catch {
    return bad;
  }
  let n = 0n;
  for (const p of parts) n = (n << 16n) | BigInt(p);
  return n;
}

/** An address, or the reason (Neutron's validate_ip_address wording) it is not one. */
function parseAddr(s: unknown): Addr | string {
  if (typeof s !== "string") return `'${String(s)}' is not a valid IP address`;
  if (/\s/.test(s) || s.length === 0) return `'${s}' is not a valid IP address`;
  if (s.includes(":")) {
    const n = parseV6(s);
    return typeof n === "string" ? n : { v: 6, n };
  }
  const n = parseV4(s);
  return typeof n === "string" ? n : { v: 4, n };
}

function mustParseAddr(s: unknown, field?: string): Addr {
  const a = parseAddr(s);
  if (typeof a === "string") {
    throw field ? attrError(field, a) : new IpamInputError(400, "HTTPBadRequest", a);
  }
  return a;
}

interface Net {
  v: IpVersion;
  /** Network address (host bits cleared). */
  first: bigint;
  /** Last address of the block (the IPv4 broadcast address). */
  last: bigint;
  prefix: number;
}

function netOf(a: Addr, prefix: number): Net {
  const hostBits = BigInt(BITS[a.v] - prefix);
  const hostMask = (1n << hostBits) - 1n;
  const first = a.n & ~hostMask;
  return { v: a.v, first, last: first | hostMask, prefix };
}

/**
 * A CIDR, or the reason it is not one. Host bits are allowed and cleared, as Neutron does
 * (validate_subnet accepts "192.168.1.7/24"; create_subnet stores 192.168.1.0/24). IPv4 text
 * must be in its canonical dotted form with a decimal prefix length.
 */
function parseNet(s: unknown): Net | string {
  const bad = `'${String(s)}' is not a valid IP subnet`;
  if (typeof s !== "string" || /\s/.test(s)) return bad;
  const slash = s.indexOf("/");
  if (slash < 0 || slash !== s.lastIndexOf("/")) return bad;
  const addrText = s.slice(0, slash);
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return bad;
  const a = parseAddr(addrText);
  if (typeof a === "string") return bad;
  const prefix = Number(prefixText);
  if (prefix > BITS[a.v]) return bad;
  if (a.v === 4 && `${formatV4(Number(a.n))}/${prefix}` !== s) return bad;
  return netOf(a, prefix);
}

function mustParseNet(s: unknown, field?: string): Net {
  const n = parseNet(s);
  if (typeof n === "string") {
    throw field ? attrError(field, n) : new IpamInputError(400, "HTTPBadRequest", n);
  }
  return n;
}

function netText(n: Net): string {
  return `${format({ v: n.v, n: n.first })}/${n.prefix}`;
}

function rangeText(v: IpVersion, r: Range): string {
  return `${format({ v, n: r.start })}-${format({ v, n: r.end })}`;
}

// --- public helpers ------------------------------------------------------------------------

/**
 * The canonical text of an IP address (IPv4 dotted decimal; IPv6 lowercase and compressed as
 * Neutron prints it), the form used in NB rows, API bodies and the `used` sets given to
 * SubnetAllocator. Throws IpamInputError for anything else; with `field`, the message is the
 * API's "Invalid input for <field>. Reason: ...".
 */
export function canonicalIp(s: string, field?: string): string {
  return format(mustParseAddr(s, field));
}

/** The IP version of a valid address, or undefined. */
export function ipVersionOf(s: string): IpVersion | undefined {
  const a = parseAddr(s);
  return typeof a === "string" ? undefined : a.v;
}

/** Canonical "network/prefix" text of a CIDR, host bits cleared. Throws IpamInputError. */
export function canonicalCidr(cidr: string, field?: string): string {
  return netText(mustParseNet(cidr, field));
}

/** The prefix length of a CIDR. Throws IpamInputError for an invalid CIDR. */
export function prefixLength(cidr: string): number {
  return mustParseNet(cidr).prefix;
}

/** Whether `ip` lies inside `cidr` (false when the versions differ). Throws on invalid input. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const a = mustParseAddr(ip);
  const n = mustParseNet(cidr);
  return a.v === n.v && a.n >= n.first && a.n <= n.last;
}

/** Whether two CIDRs share any address (Neutron refuses overlapping subnets on one network). */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = mustParseNet(a);
  const y = mustParseNet(b);
  return x.v === y.v && x.first <= y.last && y.first <= x.last;
}

// --- subnet requests -----------------------------------------------------------------------

export interface AllocationPool {
  start: string;
  end: string;
}

/** The subnet fields of a Neutron create-subnet body that IPAM reads. */
export interface SubnetRequest {
  cidr: string;
  /** Neutron requires it; when absent here it is taken from the cidr. */
  ip_version?: number;
  /** Absent: the default gateway; null: no gateway. */
  gateway_ip?: string | null;
  /** Absent or null: generated around the gateway. */
  allocation_pools?: readonly AllocationPool[] | null;
  /** Neutron's default is true; it adds the DHCP checks on the cidr. */
  enable_dhcp?: boolean;
}

export interface ParseSubnetOptions {
  /**
   * Refuse a gateway outside the cidr ("Gateway is not valid on subnet"). Neutron accepts one
   * (its force_gateway_on_subnet option is gone), so the default is false.
   */
  requireGatewayInCidr?: boolean;
}

/** A validated, normalised subnet: every address in canonical text. */
export interface SubnetPlan {
  cidr: string;
  ipVersion: IpVersion;
  prefixLength: number;
  gatewayIp: string | null;
  /** In request order when given, else ascending (as Neutron generates them). */
  allocationPools: AllocationPool[];
}

interface Range {
  start: bigint;
  end: bigint;
}

function pyDictText(pool: unknown): string {
  if (pool === null || typeof pool !== "object") return `'${String(pool)}'`;
  const entries = Object.entries(pool as Record<string, unknown>).map(
    ([k, v]) => `'${k}': ${typeof v === "string" ? `'${v}'` : String(v)}`,
  );
  return `{${entries.join(", ")}}`;
}

/** ipam/utils.py generate_pools: the whole block less network, (v4) broadcast and gateway. */
function generatePools(net: Net, gateway: bigint | null): Range[] {
  if (net.first === net.last) return [{ start: net.first, end: net.last }];
  let start: bigint;
  let end: bigint;
  if (net.v === 4 && net.prefix > 30) {
    // RFC 3021 point-to-point links: every address is a host.
    start = net.first;
    end = net.last;
  } else {
    start = net.first + 1n;
    end = net.v === 4 ? net.last - 1n : net.last;
  }
  if (gateway === null || gateway < start || gateway > end) return [{ start, end }];
  const out: Range[] = [];
  if (gateway > start) out.push({ start, end: gateway - 1n });
  if (gateway < end) out.push({ start: gateway + 1n, end });
  return out;
}

/** Multicast and loopback blocks, as netaddr's IPNetwork.is_multicast/is_loopback test them. */
function netInside(net: Net, block: string): boolean {
  const b = mustParseNet(block);
  return b.v === net.v && net.first >= b.first && net.last <= b.last;
}

/**
 * Validates and normalises a subnet request as Neutron's create_subnet does, in its order:
 * attribute validation (cidr, ip_version, gateway_ip, allocation_pools), host bits cleared,
 * ip_version agreement, DHCP limits, gateway validity, default gateway (IPv4: the network
 * address + 1; IPv6: the network address itself, the subnet-router anycast address), allocation
 * pools (generated around the gateway, or checked: well-formed, inside the cidr less network and
 * IPv4 broadcast, not overlapping, not holding the gateway), and prefix length 0 refused.
 *
 * Throws IpamInputError carrying Neutron's status, type and message.
 */
export function parseSubnetRequest(input: SubnetRequest, options: ParseSubnetOptions = {}): SubnetPlan {
  // API attribute validation.
  const net = mustParseNet(input.cidr, "cidr");
  if (input.ip_version !== undefined && input.ip_version !== 4 && input.ip_version !== 6) {
    throw attrError("ip_version", `${String(input.ip_version)} is not in [4, 6]`);
  }
  let gwAddr: Addr | null | undefined;
  if (input.gateway_ip === null) gwAddr = null;
  else if (input.gateway_ip !== undefined) gwAddr = mustParseAddr(input.gateway_ip, "gateway_ip");
  const rawPools = input.allocation_pools ?? undefined;
  const poolAddrs: Array<{ start: Addr; end: Addr; raw: unknown }> = [];
  if (rawPools !== undefined) {
    if (!Array.isArray(rawPools)) {
      throw attrError("allocation_pools", `Invalid data format for IP pool: '${String(rawPools)}'`);
    }
    for (const pool of rawPools as unknown[]) {
      const keys = pool !== null && typeof pool === "object" ? Object.keys(pool) : [];
      if (keys.length !== 2 || !keys.includes("start") || !keys.includes("end")) {
        throw attrError(
          "allocation_pools",
          `Validation of dictionary's keys failed. Expected keys: {'start', 'end'} Provided keys: {${keys
            .map((k) => `'${k}'`)
            .join(", ")}}`,
        );
      }
      const p = pool as { start: unknown; end: unknown };
      poolAddrs.push({
        start: mustParseAddr(p.start, "allocation_pools"),
        end: mustParseAddr(p.end, "allocation_pools"),
        raw: pool,
      });
    }
  }

  const version: IpVersion = input.ip_version === 4 || input.ip_version === 6 ? input.ip_version : net.v;
  const cidr = netText(net);

  // _validate_subnet.
  if (net.v !== version) throw invalidInput(`cidr '${cidr}' does not match the ip_version '${version}'`);
  if (input.enable_dhcp !== false) {
    if ((version === 4 && net.prefix > 30) || (version === 6 && net.prefix > 126)) {
      throw invalidInput("Subnet has a prefix length that is incompatible with DHCP service enabled");
    }
    if (netInside(net, version === 4 ? "224.0.0.0/4" : "ff00::/8")) {
      throw invalidInput("Multicast IP subnet is not supported if enable_dhcp is True");
    }
    if (netInside(net, version === 4 ? "127.0.0.0/8" : "::1/128")) {
      throw invalidInput("Loopback IP subnet is not supported if enable_dhcp is True");
    }
    if (version === 4 && net.first === 0n) {
      throw invalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.");
    }
  }
  if (gwAddr) {
    const g = input.gateway_ip as string;
    if (gwAddr.v !== version)
      throw invalidInput(`gateway_ip '${g}' does not match the ip_version '${version}'`);
    const inside = gwAddr.n >= net.first && gwAddr.n <= net.last;
    if (inside && version === 4 && (gwAddr.n === net.first || gwAddr.n === net.last)) {
      throw invalidInput("Gateway is not valid on subnet");
    }
    if (!inside && options.requireGatewayInCidr) throw invalidInput("Gateway is not valid on subnet");
  }

  // allocate_subnet: default gateway (_gateway_ip_str), then the pools.
  let gateway: bigint | null;
  if (gwAddr === undefined) gateway = version === 6 ? net.first : net.first + 1n;
  else gateway = gwAddr === null ? null : gwAddr.n;
  const gatewayText = gateway === null ? null : format({ v: version, n: gateway });

  let ranges: Range[];
  if (rawPools === undefined) {
    ranges = generatePools(net, gateway);
  } else {
    // pools_to_ip_range: netaddr.IPRange refuses mixed versions and start > end.
    ranges = [];
    for (const p of poolAddrs) {
      if (p.start.v !== p.end.v || p.start.n > p.end.n) {
        throw new IpamInputError(
          400,
          "InvalidAllocationPool",
          `The allocation pool ${pyDictText(p.raw)} is not valid.`,
        );
      }
    }
    // validate_allocation_pools.
    const lowest = net.first + 1n;
    const highest = version === 4 ? net.last - 1n : net.last;
    for (const p of poolAddrs) {
      const r = { start: p.start.n, end: p.end.n };
      if (p.start.v !== version) {
        throw new IpamInputError(
          400,
          "InvalidAllocationPool",
          `The allocation pool ${rangeText(p.start.v, r)} is not valid.`,
        );
      }
      if (r.start < lowest || r.end > highest) {
        throw new IpamInputError(
          400,
          "OutOfBoundsAllocationPool",
          `The allocation pool ${rangeText(version, r)} spans beyond the subnet cidr ${cidr}.`,
        );
      }
      ranges.push(r);
    }
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length; j++) {
        const a = ranges[i] as Range;
        const b = ranges[j] as Range;
        if (a.start <= b.end && b.start <= a.end) {
          throw new IpamInputError(
            409,
            "OverlappingAllocationPools",
            `Found overlapping allocation pools: ${rangeText(version, a)} ${rangeText(version, b)} for subnet ${cidr}.`,
          );
        }
      }
    }
    // validate_gw_out_of_pools.
    if (gateway !== null) {
      for (const r of ranges) {
        if (gateway >= r.start && gateway <= r.end) {
          throw new IpamInputError(
            409,
            "GatewayConflictWithAllocationPools",
            `Gateway ip ${input.gateway_ip ?? gatewayText} conflicts with allocation pool ${rangeText(version, r)}.`,
          );
        }
      }
    }
  }

  // _validate_subnet_cidr.
  if (net.prefix === 0) throw invalidInput("0 is not allowed as CIDR prefix length");

  return {
    cidr,
    ipVersion: version,
    prefixLength: net.prefix,
    gatewayIp: gatewayText,
    allocationPools: ranges.map((r) => ({
      start: format({ v: version, n: r.start }),
      end: format({ v: version, n: r.end }),
    })),
  };
}

// --- allocation ----------------------------------------------------------------------------

/** device_owner values for which Neutron lets a port take an IPv6 subnet's network address. */
export const ROUTER_PORT_OWNERS: readonly string[] = [
  "network:router_interface",
  "network:ha_router_replicated_interface",
  "network:router_interface_distributed",
  "network:router_centralized_snat",
  "network:router_gateway",
];

/**
 * What a requested fixed IP is, for this subnet:
 * - "ok": may be given (it may lie outside the allocation pools: Neutron allows that);
 * - "invalid": not an IP address (Neutron: 400, "Invalid input for fixed_ips. Reason: '<ip>' is
 *   not a valid IP address.");
 * - "outside", "network", "broadcast": refused by Neutron's check_subnet_ip (400
 *   InvalidIpForSubnet, "IP address <ip> is not a valid IP for the specified subnet.");
 * - "gateway": only with `refuseGateway` (Neutron itself lets any port take the gateway address);
 * - "in-use": in `used` or `reserved` (409 IpAddressAlreadyAllocated).
 */
export type FixedIpCheck = "ok" | "invalid" | "outside" | "network" | "broadcast" | "gateway" | "in-use";

export interface CheckOptions {
  /** Addresses held by requests still in flight: treated like `used`. */
  reserved?: ReadonlySet<string>;
  /** The port's device_owner: decides whether an IPv6 network address may be taken. */
  deviceOwner?: string;
  /** Refuse the gateway address too (stricter than Neutron). */
  refuseGateway?: boolean;
}

/**
 * Chooses free addresses of one subnet. Next-fit: a cursor walks the pools in address order and
 * wraps around once, so successive calls return distinct addresses even before the caller has
 * added the previous result to `used`, an address freed behind the cursor is reused only after
 * a wrap, and repeated allocation is O(1) amortised. One call looks at no more than
 * min(pool size, |used| + |reserved| + 1) candidates, so it is never slow, even on a /64.
 *
 * `used` and `reserved` hold canonical addresses (see canonicalIp); they may hold addresses of
 * other subnets too.
 */
export class SubnetAllocator {
  readonly plan: SubnetPlan;
  /** How many addresses the pools hold. */
  readonly size: bigint;
  private readonly v: IpVersion;
  private readonly net: Net;
  private readonly gateway: bigint | null;
  private readonly ranges: Range[];
  private pool = 0;
  private next: bigint;

  constructor(plan: SubnetPlan) {
    this.plan = plan;
    this.net = mustParseNet(plan.cidr);
    this.v = this.net.v;
    this.gateway = plan.gatewayIp === null ? null : mustParseAddr(plan.gatewayIp).n;
    this.ranges = plan.allocationPools
      .map((p) => ({ start: mustParseAddr(p.start).n, end: mustParseAddr(p.end).n }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.size = this.ranges.reduce((s, r) => s + (r.end - r.start + 1n), 0n);
    this.next = this.ranges[0]?.start ?? 0n;
  }

  /**
   * A free address from the pools, in canonical text, or undefined when every pool address is
   * in `used` or `reserved` (exhausted: Neutron's 409 IpAddressGenerationFailure).
   */
  allocate(used: ReadonlySet<string>, reserved?: ReadonlySet<string>): string | undefined {
    const count = this.ranges.length;
    if (count === 0) return undefined;
    let budget = used.size + (reserved?.size ?? 0) + 1;
    if (this.size < BigInt(budget)) budget = Number(this.size);
    let p = this.pool;
    let a = this.next;
    let r = this.ranges[p] as Range;
    for (let i = 0; i < budget; i++) {
      const s = this.v === 4 ? formatV4(Number(a)) : formatV6(a);
      let nextA = a + 1n;
      let nextP = p;
      if (nextA > r.end) {
        nextP = (p + 1) % count;
        nextA = (this.ranges[nextP] as Range).start;
      }
      if (!used.has(s) && !reserved?.has(s)) {
        this.pool = nextP;
        this.next = nextA;
        return s;
      }
      p = nextP;
      a = nextA;
      r = this.ranges[p] as Range;
    }
    return undefined;
  }

  /** Whether a (valid) address lies inside one of the allocation pools. */
  inPools(ip: string): boolean {
    const a = parseAddr(ip);
    if (typeof a === "string" || a.v !== this.v) return false;
    return this.ranges.some((r) => a.n >= r.start && a.n <= r.end);
  }

  /** Whether a requested fixed IP may be given to a port on this subnet; see FixedIpCheck. */
  check(ip: string, used: ReadonlySet<string>, options: CheckOptions = {}): FixedIpCheck {
    const a = parseAddr(ip);
    if (typeof a === "string") return "invalid";
    const net = this.net;
    if (a.v !== net.v || a.n < net.first || a.n > net.last) return "outside";
    if (net.v === 4) {
      // check_subnet_ip: netaddr has no broadcast address for /31 and /32.
      if (a.n === net.first) return "network";
      if (net.prefix < 31 && a.n === net.last) return "broadcast";
    } else if (a.n === net.first) {
      const owner = options.deviceOwner ?? "";
      if (owner !== "" && !ROUTER_PORT_OWNERS.includes(owner)) return "network";
    }
    if (options.refuseGateway && this.gateway !== null && a.n === this.gateway) return "gateway";
    const s = format(a);
    if (used.has(s) || options.reserved?.has(s)) return "in-use";
    return "ok";
  }
}
