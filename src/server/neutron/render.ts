// Neutron API bodies for networks, subnets and ports, from the NB-derived view: the
// attributes standard clients expect (shared/reference/neutron-nb-rows.md, "API show").

import type { NetworkFields, PortFields, SubnetFields } from "../../ovn/neutron-rows.js";
import type { NeutronView } from "../../ovn/neutron-view.js";

export type Resource = { id: string } & Record<string, unknown>;

export function renderNetwork(n: NetworkFields, view: NeutronView): Resource {
  const subnets = [...(view.networks.get(n.id)?.subnetIds ?? [])].sort();
  return {
    id: n.id,
    name: n.name,
    description: n.description,
    project_id: n.project_id,
    tenant_id: n.project_id,
    admin_state_up: n.admin_state_up,
    shared: n.shared,
    mtu: n.mtu,
    status: "ACTIVE",
    subnets,
    port_security_enabled: true,
    "router:external": false,
    "provider:network_type": "geneve",
    "provider:physical_network": null,
    "provider:segmentation_id": null,
    availability_zone_hints: [],
    availability_zones: [],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    tags: [],
    revision_number: n.revision_number,
    created_at: n.created_at,
    updated_at: n.updated_at,
  };
}

export function renderSubnet(s: SubnetFields): Resource {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    network_id: s.network_id,
    project_id: s.project_id,
    tenant_id: s.project_id,
    ip_version: s.ip_version,
    cidr: s.cidr,
    gateway_ip: s.gateway_ip,
    allocation_pools: s.allocation_pools,
    enable_dhcp: s.enable_dhcp,
    dns_nameservers: s.dns_nameservers,
    host_routes: s.host_routes,
    ipv6_address_mode: s.ipv6_address_mode,
    ipv6_ra_mode: s.ipv6_ra_mode,
    service_types: [],
    subnetpool_id: null,
    tags: [],
    revision_number: s.revision_number,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

export function renderPort(p: PortFields, up: boolean): Resource {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    network_id: p.network_id,
    project_id: p.project_id,
    tenant_id: p.project_id,
    mac_address: p.mac_address,
    fixed_ips: p.fixed_ips,
    device_id: p.device_id,
    device_owner: p.device_owner,
    admin_state_up: p.admin_state_up,
    status: up && p.admin_state_up ? "ACTIVE" : "DOWN",
    port_security_enabled: p.port_security_enabled,
    security_groups: [],
    allowed_address_pairs: [],
    extra_dhcp_opts: [],
    "binding:profile": p.parent_name ? { parent_name: p.parent_name, tag: p.tag } : {},
    "binding:host_id": "",
    "binding:vif_type": "unbound",
    "binding:vnic_type": "normal",
    "binding:vif_details": {},
    tags: [],
    revision_number: p.revision_number,
    created_at: p.created_at,
    updated_at: p.updated_at,
  };
}
