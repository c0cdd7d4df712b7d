// /v2.0/subnets: list, show, create (single and bulk), update, delete. A subnet is a
// DHCP_Options row (OVN native DHCP) with what Neutron keeps in SQL in its external_ids.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { SubnetFields } from "../../ovn/neutron-rows.js";
import { createSubnets, deleteSubnet, updateSubnet } from "../../ovn/neutron-writes.js";
import type { Identity } from "../keystone/identity.js";
import { assertOwnsNetwork, canSeeNetwork } from "../policy.js";
import { identityOf, listResponse, type NeutronContext, newId, projectFields, withRetry } from "./context.js";
import { badRequest, invalidInput, notFound, subnetInUse, unavailable } from "./errors.js";
import { bool, int, oneOrMany, patchOf, readBody, str } from "./input.js";
import {
  canonicalCidr,
  canonicalIp,
  cidrsOverlap,
  ipInCidr,
  parseSubnetRequest,
  SubnetAllocator,
} from "./ipam.js";
import { allocateMac } from "./macs.js";
import { visibleNetwork } from "./networks.js";
import type { ListSpec } from "./query.js";
import { renderSubnet } from "./render.js";

const SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "description",
    "network_id",
    "project_id",
    "tenant_id",
    "ip_version",
    "cidr",
    "gateway_ip",
    "enable_dhcp",
    "ipv6_address_mode",
    "ipv6_ra_mode",
    "revision_number",
    "tags",
    "subnetpool_id",
  ]),
  types: { ip_version: "integer", enable_dhcp: "boolean", revision_number: "integer" },
};
const CREATE_KEYS = new Set([
  "network_id",
  "cidr",
  "ip_version",
  "name",
  "description",
  "gateway_ip",
  "allocation_pools",
  "enable_dhcp",
  "dns_nameservers",
  "host_routes",
  "ipv6_address_mode",
  "ipv6_ra_mode",
  "project_id",
  "tenant_id",
]);
const UPDATE_KEYS = new Set(["name", "description", "enable_dhcp", "dns_nameservers", "host_routes"]);
const V6_MODES = new Set(["dhcpv6-stateful", "dhcpv6-stateless", "slaac"]);

/** The in-process allocator of a subnet (its cursor is only a hint; NB guards decide). */
export function allocatorOf(ctx: NeutronContext, s: SubnetFields): SubnetAllocator {
  const key = `${s.id}/${s.revision_number}`;
  let a = ctx.allocators.get(key);
  if (!a) {
    a = new SubnetAllocator({
      cidr: s.cidr,
      ipVersion: s.ip_version,
      prefixLength: Number(s.cidr.split("/")[1]),
      gatewayIp: s.gateway_ip,
      allocationPools: s.allocation_pools,
    });
    ctx.allocators.set(key, a);
  }
  return a;
}

function visibleSubnet(ctx: NeutronContext, who: Identity, id: string): SubnetFields {
  const s = ctx.view.subnets.get(id)?.subnet;
  const n = s ? ctx.view.networks.get(s.network_id)?.network : undefined;
  if (!s || !n || !canSeeNetwork(who, n)) throw notFound("subnet", id);
  return s;
}

function stringList(
  o: Record<string, unknown>,
  k: string,
  check: (x: string) => string,
): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw badRequest("subnet", `${k} must be a list of strings`);
  return (v as string[]).map(check);
}

function hostRoutes(o: Record<string, unknown>): SubnetFields["host_routes"] | undefined {
  const v = o.host_routes;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw badRequest("subnet", "host_routes must be a list of {destination, nexthop}");
  return v.map((r) => {
    const x = r as { destination?: unknown; nexthop?: unknown };
    if (typeof x?.destination !== "string" || typeof x.nexthop !== "string") {
      throw badRequest("subnet", "each host route needs a destination (CIDR) and a nexthop (address)");
    }
    return {
      destination: canonicalCidr(x.destination, "host_routes"),
      nexthop: canonicalIp(x.nexthop, "host_routes"),
    };
  });
}

function parseCreate(ctx: NeutronContext, who: Identity, o: Record<string, unknown>): SubnetFields {
  for (const k of Object.keys(o))
    if (!CREATE_KEYS.has(k)) throw badRequest("subnet", `Unrecognized attribute(s) '${k}'`);
  const networkId = str(o, "network_id");
  if (!networkId) throw badRequest("subnet", "network_id is required");
  const cidr = str(o, "cidr");
  if (!cidr) throw badRequest("subnet", "cidr is required (subnet pools are not supported)");
  const net = visibleNetwork(ctx, who, networkId);
  assertOwnsNetwork(who, net, "create_subnet");
  const ipVersion = int(o, "ip_version");
  if (ipVersion !== undefined && ipVersion !== 4 && ipVersion !== 6) {
    throw invalidInput(`ip_version ${ipVersion} is not supported: use 4 or 6`);
  }
  const plan = parseSubnetRequest({
    cidr,
    ip_version: ipVersion,
    gateway_ip: o.gateway_ip === null ? null : str(o, "gateway_ip"),
    allocation_pools: (o.allocation_pools as never) ?? undefined,
    enable_dhcp: bool(o, "enable_dhcp"),
  });
  for (const other of ctx.view.networks.get(net.id)?.subnetIds ?? []) {
    const s = ctx.view.subnets.get(other)?.subnet;
    if (s && cidrsOverlap(s.cidr, plan.cidr)) {
      throw invalidInput(
        `Requested subnet with cidr: ${plan.cidr} for network: ${net.id} overlaps with another subnet`,
      );
    }
  }
  const v6mode = str(o, "ipv6_address_mode") ?? null;
  const raMode = str(o, "ipv6_ra_mode") ?? null;
  for (const [k, m] of [
    ["ipv6_address_mode", v6mode],
    ["ipv6_ra_mode", raMode],
  ] as const) {
    if (m !== null && (plan.ipVersion !== 6 || !V6_MODES.has(m))) {
      throw badRequest(
        "subnet",
        `${k} '${m}' is valid only on IPv6 subnets, one of ${[...V6_MODES].join(", ")}`,
      );
    }
  }
  const dns = stringList(o, "dns_nameservers", (x) => canonicalIp(x, "dns_nameservers")) ?? [];
  const routes = hostRoutes(o) ?? [];
  const t = ctx.now();
  return {
    id: newId(),
    network_id: net.id,
    project_id: net.project_id,
    name: str(o, "name") ?? "",
    description: str(o, "description") ?? "",
    ip_version: plan.ipVersion,
    cidr: plan.cidr,
    gateway_ip: plan.gatewayIp,
    allocation_pools: plan.allocationPools,
    enable_dhcp: bool(o, "enable_dhcp") ?? true,
    dns_nameservers: dns,
    host_routes: routes,
    ipv6_address_mode: plan.ipVersion === 6 ? (v6mode ?? "dhcpv6-stateful") : null,
    ipv6_ra_mode: raMode,
    revision_number: 1,
    created_at: t,
    updated_at: t,
  };
}

/** The MAC OVN's DHCP server answers from for this subnet: one per subnet, kept on update. */
function dhcpServerMac(ctx: NeutronContext, s: SubnetFields, taken: ReadonlySet<string> = new Set()): string {
  const existing = ctx.view.subnets.get(s.id)?.options;
  const known = existing?.server_mac ?? (s.ip_version === 6 ? existing?.server_id : undefined);
  if (known) return known;
  const used = new Set([...(ctx.view.usedMacs.get(s.network_id) ?? []), ...taken]);
  const mac = allocateMac(ctx.macPrefix, used);
  if (!mac)
    throw unavailable(
      `Unable to generate a unique MAC address for the DHCP server of network ${s.network_id}`,
    );
  return mac;
}

export function subnetRoutes(app: FastifyInstance, ctx: NeutronContext): void {
  app.get("/v2.0/subnets", async (req, reply) => {
    const who = identityOf(ctx, req);
    const items = [...ctx.view.subnets.values()]
      .filter((s) => {
        const n = ctx.view.networks.get(s.subnet.network_id)?.network;
        return n !== undefined && canSeeNetwork(who, n);
      })
      .map((s) => renderSubnet(s.subnet));
    return listResponse(req, "subnets", items, SPEC);
  });

  app.get("/v2.0/subnets/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    return { subnet: projectFields(req, renderSubnet(visibleSubnet(ctx, who, req.params.id))) };
  });

  app.post("/v2.0/subnets", async (req, reply) => {
    const who = identityOf(ctx, req);
    const { items, bulk } = oneOrMany(readBody(req), "subnet", "subnets");
    // All or nothing: every item is decided before anything is written, then one transaction.
    const created = await withRetry(ctx, "creating subnets", async () => {
      const plans = items.map((o) => parseCreate(ctx, who, o));
      for (const [i, a] of plans.entries()) {
        for (const b of plans.slice(i + 1)) {
          if (a.network_id === b.network_id && cidrsOverlap(a.cidr, b.cidr)) {
            throw invalidInput(
              `Requested subnet with cidr: ${b.cidr} for network: ${b.network_id} overlaps with another subnet`,
            );
          }
        }
      }
      const macs = new Set<string>();
      await createSubnets(
        ctx.nb,
        ctx.view,
        plans.map((x) => {
          const mac = dhcpServerMac(ctx, x, macs);
          macs.add(mac);
          return { subnet: x, serverMac: mac };
        }),
      );
      return plans;
    });
    await ctx.view.until(
      () => created.every((s) => ctx.view.subnets.has(s.id)),
      ctx.viewWaitMs,
      "new subnets",
    );
    const out = created.map(renderSubnet);
    return reply.code(201).send(bulk ? { subnets: out } : { subnet: out[0] });
  });

  app.put("/v2.0/subnets/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    const patch = patchOf(readBody(req), "subnet");
    for (const k of Object.keys(patch)) {
      if (!UPDATE_KEYS.has(k))
        throw badRequest(
          "subnet",
          `Cannot update attribute ${k} (supported: ${[...UPDATE_KEYS].join(", ")})`,
        );
    }
    const next = await withRetry(ctx, "updating subnet", async () => {
      const cur = visibleSubnet(ctx, who, req.params.id);
      const net = visibleNetwork(ctx, who, cur.network_id);
      assertOwnsNetwork(who, net, "update_subnet");
      const s: SubnetFields = {
        ...cur,
        name: str(patch, "name") ?? cur.name,
        description: str(patch, "description") ?? cur.description,
        enable_dhcp: bool(patch, "enable_dhcp") ?? cur.enable_dhcp,
        dns_nameservers:
          stringList(patch, "dns_nameservers", (x) => canonicalIp(x, "dns_nameservers")) ??
          cur.dns_nameservers,
        host_routes: hostRoutes(patch) ?? cur.host_routes,
        revision_number: cur.revision_number + 1,
        updated_at: ctx.now(),
      };
      await updateSubnet(ctx.nb, ctx.view, s, dhcpServerMac(ctx, s));
      return s;
    });
    await ctx.view.until(
      () => ctx.view.subnets.get(next.id)?.subnet.revision_number === next.revision_number,
      ctx.viewWaitMs,
      "updated subnet",
    );
    return { subnet: renderSubnet(next) };
  });

  app.delete("/v2.0/subnets/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    await withRetry(ctx, "deleting subnet", async () => {
      const cur = visibleSubnet(ctx, who, req.params.id);
      assertOwnsNetwork(who, visibleNetwork(ctx, who, cur.network_id), "delete_subnet");
      for (const ip of ctx.view.usedIps.get(cur.network_id) ?? []) {
        if (ipInCidr(ip, cur.cidr)) throw subnetInUse(cur.id);
      }
      await deleteSubnet(ctx.nb, ctx.view, cur.id);
    });
    await ctx.view.until(() => !ctx.view.subnets.has(req.params.id), ctx.viewWaitMs, "deleted subnet");
    return reply.code(204).send();
  });
}
