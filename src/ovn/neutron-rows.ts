// The OVN Northbound rows that stand for Neutron networks, subnets and ports, written
// exactly as Neutron's ML2/OVN driver writes them (see shared/reference/neutron-nb-rows.md),
// plus, under one prefix, what Neutron keeps in its SQL database and OVN has no column for.
// NB is the system of record: these functions map both ways and hold no state.

import ipaddr from "ipaddr.js";

/** Key prefix of everything this product adds to external_ids; OWNER_KEY marks rows it owns. */
export const KEY_PREFIX = "ovn-docker:";
export const OWNER_KEY = `${KEY_PREFIX}owner`;
export const OWNER_VALUE = "ovn-docker";

export const SWITCH_OTHER_CONFIG = {
  mcast_flood_unregistered: "false",
  mcast_snoop: "false",
  "vlan-passthru": "false",
} as const;

export interface NetworkFields {
  id: string;
  name: string;
  project_id: string;
  mtu: number;
  shared: boolean;
  admin_state_up: boolean;
  description: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface SubnetFields {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  ip_version: 4 | 6;
  cidr: string;
  gateway_ip: string | null;
  allocation_pools: Array<{ start: string; end: string }>;
  enable_dhcp: boolean;
  dns_nameservers: string[];
  host_routes: Array<{ destination: string; nexthop: string }>;
  ipv6_address_mode: string | null;
  ipv6_ra_mode: string | null;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface PortFields {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  mac_address: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  device_id: string;
  device_owner: string;
  admin_state_up: boolean;
  port_security_enabled: boolean;
  parent_name: string | null;
  tag: number | null;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export function switchName(networkId: string): string {
  return `neutron-${networkId}`;
}

/** The network id of a switch named neutron-<id>, or undefined for any other switch. */
export function networkIdOf(switchName: string): string | undefined {
  return switchName.startsWith("neutron-") ? switchName.slice("neutron-".length) : undefined;
}

// ---------------------------------------------------------------- networks

export function networkToSwitch(n: NetworkFields): {
  name: string;
  external_ids: Record<string, string>;
  other_config: Record<string, string>;
} {
  return {
    name: switchName(n.id),
    external_ids: {
      "neutron:availability_zone_hints": "",
      "neutron:mtu": String(n.mtu),
      "neutron:network_name": n.name,
      "neutron:revision_number": String(n.revision_number),
      [OWNER_KEY]: OWNER_VALUE,
      [`${KEY_PREFIX}project_id`]: n.project_id,
      [`${KEY_PREFIX}shared`]: String(n.shared),
      [`${KEY_PREFIX}admin_state_up`]: String(n.admin_state_up),
      [`${KEY_PREFIX}description`]: n.description,
      [`${KEY_PREFIX}created_at`]: n.created_at,
      [`${KEY_PREFIX}updated_at`]: n.updated_at,
    },
    other_config: { ...SWITCH_OTHER_CONFIG },
  };
}

/** The network a switch row stands for; undefined unless this product owns the row. */
export function switchToNetwork(row: {
  name: string;
  external_ids: Record<string, string>;
}): NetworkFields | undefined {
  const x = row.external_ids;
  const id = networkIdOf(row.name);
  if (!id || x[OWNER_KEY] !== OWNER_VALUE) return undefined;
  return {
    id,
    name: x["neutron:network_name"] ?? "",
    project_id: x[`${KEY_PREFIX}project_id`] ?? "",
    mtu: Number(x["neutron:mtu"] ?? 1442),
    shared: x[`${KEY_PREFIX}shared`] === "true",
    admin_state_up: x[`${KEY_PREFIX}admin_state_up`] !== "false",
    description: x[`${KEY_PREFIX}description`] ?? "",
    revision_number: Number(x["neutron:revision_number"] ?? 0),
    created_at: x[`${KEY_PREFIX}created_at`] ?? "",
    updated_at: x[`${KEY_PREFIX}updated_at`] ?? "",
  };
}

// ---------------------------------------------------------------- subnets

/** OVN's set syntax inside an options value: "{a, b}". */
function ovnSet(items: readonly string[]): string {
  return `{${items.join(", ")}}`;
}

function parseOvnSet(v: string | undefined): string[] {
  if (!v) return [];
  return v
    .replace(/^\{|\}$/g, "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The subnet's DHCP_Options row. `serverMac` is the MAC OVN's DHCP server answers from
 * (one per subnet, from the MAC prefix); `mtu` is the network's.
 */
export function subnetToDhcpOptions(
  s: SubnetFields,
  mtu: number,
  serverMac: string,
): { cidr: string; external_ids: Record<string, string>; options: Record<string, string> } {
  const options: Record<string, string> = {};
  if (s.ip_version === 4) {
    if (s.dns_nameservers.length > 0) options.dns_server = ovnSet(s.dns_nameservers);
    options.lease_time = "43200";
    options.mtu = String(mtu);
    if (s.gateway_ip) {
      options.router = s.gateway_ip;
      options.server_id = s.gateway_ip;
    }
    options.server_mac = serverMac;
    if (s.host_routes.length > 0) {
      options.classless_static_route = ovnSet(s.host_routes.flatMap((r) => [r.destination, r.nexthop]));
    }
  } else {
    options.server_id = serverMac;
    if (s.dns_nameservers.length > 0) options.dns_server = ovnSet(s.dns_nameservers);
  }
  return {
    cidr: s.cidr,
    external_ids: {
      "neutron:revision_number": String(s.revision_number),
      subnet_id: s.id,
      [OWNER_KEY]: OWNER_VALUE,
      [`${KEY_PREFIX}network_id`]: s.network_id,
      [`${KEY_PREFIX}project_id`]: s.project_id,
      [`${KEY_PREFIX}name`]: s.name,
      [`${KEY_PREFIX}description`]: s.description,
      [`${KEY_PREFIX}gateway_ip`]: s.gateway_ip ?? "",
      [`${KEY_PREFIX}allocation_pools`]: s.allocation_pools.map((p) => `${p.start}-${p.end}`).join(","),
      [`${KEY_PREFIX}enable_dhcp`]: String(s.enable_dhcp),
      [`${KEY_PREFIX}dns_nameservers`]: s.dns_nameservers.join(","),
      [`${KEY_PREFIX}host_routes`]: s.host_routes.map((r) => `${r.destination}=${r.nexthop}`).join(","),
      [`${KEY_PREFIX}ipv6_address_mode`]: s.ipv6_address_mode ?? "",
      [`${KEY_PREFIX}ipv6_ra_mode`]: s.ipv6_ra_mode ?? "",
      [`${KEY_PREFIX}created_at`]: s.created_at,
      [`${KEY_PREFIX}updated_at`]: s.updated_at,
    },
    options,
  };
}

const list = (v: string | undefined): string[] => (v ? v.split(",").filter(Boolean) : []);

export function dhcpOptionsToSubnet(row: {
  cidr: string;
  external_ids: Record<string, string>;
}): SubnetFields | undefined {
  const x = row.external_ids;
  const id = x.subnet_id;
  if (!id || x[OWNER_KEY] !== OWNER_VALUE) return undefined;
  const k = (name: string) => x[`${KEY_PREFIX}${name}`] ?? "";
  return {
    id,
    network_id: k("network_id"),
    project_id: k("project_id"),
    name: k("name"),
    description: k("description"),
    ip_version: row.cidr.includes(":") ? 6 : 4,
    cidr: row.cidr,
    gateway_ip: k("gateway_ip") || null,
    allocation_pools: list(k("allocation_pools")).map((p) => {
      const [start = "", end = ""] = p.split("-");
      return { start, end };
    }),
    enable_dhcp: k("enable_dhcp") !== "false",
    dns_nameservers: list(k("dns_nameservers")),
    host_routes: list(k("host_routes")).map((r) => {
      const [destination = "", nexthop = ""] = r.split("=");
      return { destination, nexthop };
    }),
    ipv6_address_mode: k("ipv6_address_mode") || null,
    ipv6_ra_mode: k("ipv6_ra_mode") || null,
    revision_number: Number(x["neutron:revision_number"] ?? 0),
    created_at: k("created_at"),
    updated_at: k("updated_at"),
  };
}

/** DNS servers of a v4 DHCP_Options row as OVN holds them ("{a, b}"). */
export function dhcpDnsServers(options: Record<string, string>): string[] {
  return parseOvnSet(options.dns_server);
}

// ---------------------------------------------------------------- ports

/** Parsed CIDRs, memoised: every port read or written needs its subnets', and they are few. */
const cidrCache = new Map<string, [ipaddr.IPv4 | ipaddr.IPv6, number]>();

function parseCidr(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  let r = cidrCache.get(cidr);
  if (!r) {
    r = ipaddr.parseCIDR(cidr);
    if (cidrCache.size > 10_000) cidrCache.clear();
    cidrCache.set(cidr, r);
  }
  return r;
}

function prefixLength(cidr: string): number {
  return parseCidr(cidr)[1];
}

export interface PortRow {
  name: string;
  addresses: string[];
  port_security: string[];
  parent_name: string | null;
  tag: number | null;
  enabled: boolean | null;
  options: Record<string, string>;
  external_ids: Record<string, string>;
}

/** The columns of a port's row that the port is read back from (what the NB view monitors). */
export type PortRowRead = Pick<
  PortRow,
  "name" | "addresses" | "parent_name" | "tag" | "enabled" | "external_ids"
>;

/** The port's Logical_Switch_Port row; `subnets` must hold every subnet of its fixed_ips. */
export function portToSwitchPort(p: PortFields, subnets: ReadonlyMap<string, SubnetFields>): PortRow {
  const ips = p.fixed_ips.map((f) => f.ip_address);
  const address = [p.mac_address, ...ips].join(" ");
  const cidrs = p.fixed_ips.map((f) => {
    const s = subnets.get(f.subnet_id);
    if (!s)
      throw new Error(
        `port ${p.id}: fixed IP ${f.ip_address} names subnet ${f.subnet_id}, which is not given`,
      );
    return `${f.ip_address}/${prefixLength(s.cidr)}`;
  });
  return {
    name: p.id,
    addresses: p.port_security_enabled ? [address] : [address, "unknown"],
    port_security: p.port_security_enabled ? [address] : [],
    parent_name: p.parent_name,
    tag: p.tag,
    enabled: p.admin_state_up,
    options: { mcast_flood_reports: "true", "requested-chassis": "" },
    external_ids: {
      "neutron:cidrs": cidrs.join(" "),
      "neutron:device_id": p.device_id,
      "neutron:device_owner": p.device_owner,
      "neutron:network_name": switchName(p.network_id),
      "neutron:port_name": p.name,
      "neutron:project_id": p.project_id,
      "neutron:revision_number": String(p.revision_number),
      "neutron:security_group_ids": "",
      [OWNER_KEY]: OWNER_VALUE,
      [`${KEY_PREFIX}port_security_enabled`]: String(p.port_security_enabled),
      [`${KEY_PREFIX}description`]: p.description,
      [`${KEY_PREFIX}created_at`]: p.created_at,
      [`${KEY_PREFIX}updated_at`]: p.updated_at,
    },
  };
}

/**
 * The port a Logical_Switch_Port row stands for. Each fixed IP's subnet is the subnet of
 * the network whose CIDR contains it; undefined unless this product owns the row.
 */
export function switchPortToPort(
  row: PortRowRead,
  subnets: ReadonlyArray<SubnetFields>,
): PortFields | undefined {
  const x = row.external_ids;
  if (x[OWNER_KEY] !== OWNER_VALUE) return undefined;
  const networkId = networkIdOf(x["neutron:network_name"] ?? "") ?? "";
  const first = row.addresses.find((a) => a !== "unknown" && a !== "router" && a !== "dynamic") ?? "";
  const [mac = "", ...ips] = first.split(" ").filter(Boolean);
  const parsed = subnets.map((s) => ({ s, range: parseCidr(s.cidr) }));
  const fixed_ips = ips.map((ip) => {
    const a = ipaddr.parse(ip);
    const hit = parsed.find(({ range }) => a.kind() === range[0].kind() && a.match(range));
    return { subnet_id: hit?.s.id ?? "", ip_address: ip };
  });
  return {
    id: row.name,
    network_id: networkId,
    project_id: x["neutron:project_id"] ?? "",
    name: x["neutron:port_name"] ?? "",
    description: x[`${KEY_PREFIX}description`] ?? "",
    mac_address: mac,
    fixed_ips,
    device_id: x["neutron:device_id"] ?? "",
    device_owner: x["neutron:device_owner"] ?? "",
    admin_state_up: row.enabled !== false,
    port_security_enabled: x[`${KEY_PREFIX}port_security_enabled`] !== "false",
    parent_name: row.parent_name,
    tag: row.tag,
    revision_number: Number(x["neutron:revision_number"] ?? 0),
    created_at: x[`${KEY_PREFIX}created_at`] ?? "",
    updated_at: x[`${KEY_PREFIX}updated_at`] ?? "",
  };
}
