// The netlink work of an attachment: a veth pair whose inner end is created directly inside the
// container's network namespace as eth0 (or ethN) with the port's MAC, addresses, routes and the
// network's MTU, and whose outer end (ovd<tag>) stays in the VM for the OVS access port.
// The container's namespace is named by a process in it (the CLI's sandboxes), by a path (CNI's
// CNI_NETNS), or not at all: Docker's remote driver protocol wants the inner end left in the VM
// with the MAC and MTU set, and moves and addresses it itself.
//
// One `sh` process does all of it (one `ip` call in the VM namespace, one `nsenter` into the
// container's namespace running `ip -batch`), not one process per step. Offloads are turned off
// on both ends: with the userspace datapath, veth checksum offload breaks TCP.

import ipaddr from "ipaddr.js";
import { execCommand } from "./exec.js";

export interface PlumbAddress {
  address: string;
  prefixLength: number;
}

/** Where the inner end goes: a process's namespace, a namespace file, or nowhere (stays here). */
export type PlumbTarget = { pid: number } | { netns: string } | { stay: true };

export interface PlumbSpec {
  /** The VM-side end, the OVS access port (ovd<tag>). */
  hostIf: string;
  /** The name inside the container (eth0, eth1, ...), or of the inner end left here. */
  ifname: string;
  target: PlumbTarget;
  mac: string;
  mtu: number;
  addresses: PlumbAddress[];
  /** Default routes via these gateways, added only if the namespace has no default route yet. */
  gateway4?: string | undefined;
  gateway6?: string | undefined;
}

export class PlumbingError extends Error {
  override name = "PlumbingError";
}

const IFNAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const OFFLOADS = "tx off rx off tso off gso off gro off";
/** A namespace file path (CNI_NETNS): absolute, no shell metacharacters. */
const NETNS_PATH = /^\/[A-Za-z0-9_.:@+/-]{1,4095}$/;

/** `nsenter` options that enter the target's network namespace. */
export function nsenterNet(target: { pid: number } | { netns: string }): string[] {
  if ("pid" in target) {
    if (!Number.isInteger(target.pid) || target.pid <= 0)
      throw new PlumbingError(`bad container pid ${target.pid}`);
    return ["-t", String(target.pid), "-n"];
  }
  if (!NETNS_PATH.test(target.netns) || target.netns.split("/").includes("..")) {
    throw new PlumbingError(
      `bad network namespace path "${target.netns}": give an absolute path like /run/netns/NAME`,
    );
  }
  return [`--net=${target.netns}`];
}

function describe(target: PlumbTarget): string {
  if ("pid" in target) return `the container (pid ${target.pid})`;
  if ("netns" in target) return `the container (netns ${target.netns})`;
  return "the VM";
}

function checkIp(s: string, what: string): string {
  if (!ipaddr.isValid(s)) throw new PlumbingError(`${what}: "${s}" is not an IP address`);
  return ipaddr.parse(s).toString();
}

/** The shell script for `spec`; every value in it has been validated (no quoting games). */
export function plumbScript(spec: PlumbSpec): string {
  if (!IFNAME.test(spec.hostIf)) throw new PlumbingError(`bad interface name "${spec.hostIf}"`);
  if (!IFNAME.test(spec.ifname)) {
    throw new PlumbingError(`bad interface name "${spec.ifname}": use 1-15 letters, digits, "_", "-" or "."`);
  }
  if (!MAC.test(spec.mac)) throw new PlumbingError(`bad MAC address "${spec.mac}"`);
  const enter = "stay" in spec.target ? [] : nsenterNet(spec.target);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) {
    throw new PlumbingError(`bad MTU ${spec.mtu}`);
  }
  const inner: string[] = [];
  let v6 = false;
  for (const a of spec.addresses) {
    const ip = checkIp(a.address, "address");
    const isV6 = ipaddr.parse(ip).kind() === "ipv6";
    const max = isV6 ? 128 : 32;
    if (!Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > max) {
      throw new PlumbingError(`bad prefix length /${a.prefixLength} for ${ip}`);
    }
    if (isV6) v6 = true;
    inner.push(`addr add ${ip}/${a.prefixLength} dev ${spec.ifname}${isV6 ? " nodad" : ""}`);
  }
  inner.push(`link set ${spec.ifname} up`, "link set lo up");
  const gw4 = spec.gateway4 ? checkIp(spec.gateway4, "IPv4 gateway") : undefined;
  const gw6 = spec.gateway6 ? checkIp(spec.gateway6, "IPv6 gateway") : undefined;
  const i = spec.ifname;
  const innerScript = [
    "set -e",
    `ethtool -K ${i} ${OFFLOADS} >/dev/null 2>&1 || true`,
    v6 ? `sysctl -qw net.ipv6.conf.${i}.disable_ipv6=0 net.ipv6.conf.${i}.accept_ra=0` : "",
    `ip -batch - <<'EOF'\n${inner.join("\n")}\nEOF`,
    // One process in the usual case (no default route yet); when the add fails, it is fine only
    // if a default route exists already (a second interface keeps the first one's).
    gw4
      ? `ip -4 route add default via ${gw4} dev ${i} 2>/dev/null || ip -4 route show default | grep -q .`
      : "",
    gw6
      ? `ip -6 route add default via ${gw6} dev ${i} 2>/dev/null || ip -6 route show default | grep -q .`
      : "",
  ]
    .filter(Boolean)
    .join("\n");
  const hostSide = [
    `ethtool -K ${spec.hostIf} ${OFFLOADS} >/dev/null 2>&1 || true`,
    `ip link set ${spec.hostIf} up`,
  ];
  const m = spec.mtu;
  if ("stay" in spec.target) {
    // Both ends here; the runtime moves the inner one and configures its addresses.
    const add = `ip link add ${spec.hostIf} mtu ${m} type veth peer name ${i} mtu ${m} address ${spec.mac}`;
    return [
      "set -e",
      // A leftover of the same name (a crash) is removed only when it is in the way.
      `${add} 2>/dev/null || { ip link del ${spec.hostIf} >/dev/null 2>&1 || true; ${add}; }`,
      ...hostSide,
      `ethtool -K ${i} ${OFFLOADS} >/dev/null 2>&1 || true`,
    ].join("\n");
  }
  const ns = enter.join(" ");
  // A pid names the namespace for `ip link add ... netns`; a path does not (iproute2 takes a
  // name under /run/netns or a pid), so then the pair is made inside and the outer end is sent
  // here, to this shell's pid.
  const create =
    "pid" in spec.target
      ? `ip link add ${spec.hostIf} mtu ${m} type veth peer name ${i} mtu ${m} address ${spec.mac} netns ${spec.target.pid}`
      : `nsenter ${ns} ip link add ${i} mtu ${m} address ${spec.mac} type veth peer name ${spec.hostIf} mtu ${m} netns $$`;
  return [
    "set -e",
    // A leftover of the same name (a crash) is removed only when it is in the way.
    `${create} 2>/dev/null || { ip link del ${spec.hostIf} >/dev/null 2>&1 || true; ${create}; }`,
    ...hostSide,
    `nsenter ${ns} sh -e <<'INNER'\n${innerScript}\nINNER`,
  ].join("\n");
}

/** Creates and configures the veth pair. On failure the VM-side end is removed again. */
export async function plumb(spec: PlumbSpec): Promise<void> {
  const script = plumbScript(spec);
  const r = await execCommand(["sh", "-c", script]);
  if (r.code !== 0) {
    await unplumb(spec.hostIf);
    const msg = r.stderr.trim().split("\n").filter(Boolean).slice(-2).join("; ");
    throw new PlumbingError(
      `creating ${spec.ifname} in ${describe(spec.target)} with ${spec.mac}: ${msg || `exit ${r.code}`}`,
    );
  }
}

/** Removes the veth pair by its VM-side end (both ends go). Idempotent. */
export async function unplumb(hostIf: string): Promise<void> {
  if (!IFNAME.test(hostIf)) throw new PlumbingError(`bad interface name "${hostIf}"`);
  const r = await execCommand(["ip", "link", "del", hostIf]);
  if (r.code !== 0 && !/cannot find device|does not exist/i.test(r.stderr)) {
    throw new PlumbingError(`removing ${hostIf}: ${r.stderr.trim()}`);
  }
}

/** Names of the links in this (the VM's) namespace, from `ip -j link`. */
export async function hostLinks(): Promise<string[]> {
  const r = await execCommand(["ip", "-j", "link", "show"]);
  if (r.code !== 0) throw new PlumbingError(`listing links: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout || "[]") as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** Links inside a network namespace (name, MAC, MTU, addresses). */
export async function containerLinks(
  target: { pid: number } | { netns: string },
): Promise<Array<{ ifname: string; address?: string; mtu?: number; addrs: string[] }>> {
  const r = await execCommand(["nsenter", ...nsenterNet(target), "ip", "-j", "addr", "show"]);
  if (r.code !== 0) throw new PlumbingError(`listing links in ${describe(target)}: ${r.stderr.trim()}`);
  type Raw = {
    ifname: string;
    address?: string;
    mtu?: number;
    addr_info?: Array<{ local: string; prefixlen: number }>;
  };
  return (JSON.parse(r.stdout || "[]") as Raw[]).map((l) => ({
    ifname: l.ifname,
    ...(l.address ? { address: l.address } : {}),
    ...(l.mtu ? { mtu: l.mtu } : {}),
    addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
  }));
}
