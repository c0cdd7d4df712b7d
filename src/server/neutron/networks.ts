// /v2.0/networks: list, show, create (single and bulk), update, delete.
// A network is a Logical_Switch named neutron-<id>.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { NetworkFields } from "../../ovn/neutron-rows.js";
import { createNetwork, deleteNetwork, updateNetwork } from "../../ovn/neutron-writes.js";
import type { Identity } from "../keystone/identity.js";
import { assertAdminFor, assertOwnsNetwork, canSeeNetwork, projectFor } from "../policy.js";
import { identityOf, listResponse, type NeutronContext, newId, projectFields, withRetry } from "./context.js";
import { badRequest, forbidden, networkInUse, notFound } from "./errors.js";
import { bool, int, oneOrMany, patchOf, readBody, str } from "./input.js";
import type { ListSpec } from "./query.js";
import { renderNetwork } from "./render.js";

const DEFAULT_MTU = 1442; // Geneve on a 1500-byte underlay

const SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "description",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "shared",
    "mtu",
    "status",
    "subnets",
    "port_security_enabled",
    "router:external",
    "provider:network_type",
    "revision_number",
    "tags",
  ]),
  types: {
    admin_state_up: "boolean",
    shared: "boolean",
    mtu: "integer",
    "router:external": "boolean",
    port_security_enabled: "boolean",
    revision_number: "integer",
  },
};

const CREATE_KEYS = new Set([
  "name",
  "description",
  "admin_state_up",
  "shared",
  "mtu",
  "project_id",
  "tenant_id",
  "port_security_enabled",
]);
const UPDATE_KEYS = new Set(["name", "description", "admin_state_up", "shared", "mtu"]);

function checkMtu(mtu: number | undefined): number | undefined {
  if (mtu !== undefined && (mtu < 68 || mtu > 9000))
    throw badRequest("network", `mtu ${mtu} is outside 68..9000`);
  return mtu;
}

export function visibleNetwork(ctx: NeutronContext, who: Identity, id: string): NetworkFields {
  const e = ctx.view.networks.get(id);
  if (!e || !canSeeNetwork(who, e.network)) throw notFound("network", id);
  return e.network;
}

function parseCreate(ctx: NeutronContext, who: Identity, o: Record<string, unknown>): NetworkFields {
  for (const k of Object.keys(o))
    if (!CREATE_KEYS.has(k)) throw badRequest("network", `Unrecognized attribute(s) '${k}'`);
  const project = projectFor(who, str(o, "project_id") ?? str(o, "tenant_id"), "create_network");
  const shared = bool(o, "shared") ?? false;
  if (shared) assertAdminFor(who, "shared", "create_network");
  const mtu = checkMtu(int(o, "mtu")) ?? DEFAULT_MTU;
  if (o.port_security_enabled === false)
    throw badRequest(
      "network",
      "port_security_enabled false on networks is not supported; turn it off per port",
    );
  const t = ctx.now();
  return {
    id: newId(),
    name: str(o, "name") ?? "",
    description: str(o, "description") ?? "",
    project_id: project,
    mtu,
    shared,
    admin_state_up: bool(o, "admin_state_up") ?? true,
    revision_number: 1,
    created_at: t,
    updated_at: t,
  };
}

export function networkRoutes(app: FastifyInstance, ctx: NeutronContext): void {
  app.get("/v2.0/networks", async (req, reply) => {
    const who = identityOf(ctx, req);
    const items = [...ctx.view.networks.values()]
      .filter((e) => canSeeNetwork(who, e.network))
      .map((e) => renderNetwork(e.network, ctx.view));
    return listResponse(req, "networks", items, SPEC);
  });

  app.get("/v2.0/networks/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    return {
      network: projectFields(req, renderNetwork(visibleNetwork(ctx, who, req.params.id), ctx.view)),
    };
  });

  app.post("/v2.0/networks", async (req, reply) => {
    const who = identityOf(ctx, req);
    if (who.vmScope) throw forbidden("create_network");
    const { items, bulk } = oneOrMany(readBody(req), "network", "networks");
    const nets = items.map((o) => parseCreate(ctx, who, o));
    for (const n of nets) await createNetwork(ctx.nb, n);
    await ctx.view.until(() => nets.every((n) => ctx.view.networks.has(n.id)), ctx.viewWaitMs, "new network");
    const out = nets.map((n) => renderNetwork(n, ctx.view));
    return reply.code(201).send(bulk ? { networks: out } : { network: out[0] });
  });

  app.put("/v2.0/networks/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    const patch = patchOf(readBody(req), "network");
    for (const k of Object.keys(patch))
      if (!UPDATE_KEYS.has(k)) throw badRequest("network", `Cannot update read-only attribute ${k}`);
    const updated = await withRetry(ctx, "updating network", async () => {
      const cur = visibleNetwork(ctx, who, req.params.id);
      assertOwnsNetwork(who, cur, "update_network");
      if (patch.shared !== undefined && bool(patch, "shared") !== cur.shared)
        assertAdminFor(who, "shared", "update_network");
      const next: NetworkFields = {
        ...cur,
        name: str(patch, "name") ?? cur.name,
        description: str(patch, "description") ?? cur.description,
        admin_state_up: bool(patch, "admin_state_up") ?? cur.admin_state_up,
        shared: bool(patch, "shared") ?? cur.shared,
        mtu: checkMtu(int(patch, "mtu")) ?? cur.mtu,
        revision_number: cur.revision_number + 1,
        updated_at: ctx.now(),
      };
      await updateNetwork(ctx.nb, ctx.view, next);
      return next;
    });
    await ctx.view.until(
      () => ctx.view.networks.get(updated.id)?.network.revision_number === updated.revision_number,
      ctx.viewWaitMs,
      "updated network",
    );
    return { network: renderNetwork(updated, ctx.view) };
  });

  app.delete("/v2.0/networks/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    await withRetry(ctx, "deleting network", async () => {
      const cur = visibleNetwork(ctx, who, req.params.id);
      assertOwnsNetwork(who, cur, "delete_network");
      const ports = ctx.view.networks.get(cur.id)?.portIds.size ?? 0;
      if (ports > 0) throw networkInUse(cur.id);
      await deleteNetwork(ctx.nb, ctx.view, cur.id);
    });
    await ctx.view.until(() => !ctx.view.networks.has(req.params.id), ctx.viewWaitMs, "deleted network");
    return reply.code(204).send();
  });
}
