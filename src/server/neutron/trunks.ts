// /v2.0/trunks: Neutron's trunk extension, the way real Neutron lets tenants give a VM's port
// VLAN-tagged subports (its default policy keeps binding:profile for admins). A subport is
// written exactly as a binding:profile container port: its Logical_Switch_Port gets
// `parent_name` = the trunk's parent port and `tag` = the segmentation id, as ML2/OVN's trunk
// driver writes it. The trunk object itself lives in the parent port's external_ids (see
// src/ovn/trunk-rows.ts); the server keeps nothing of its own.
//
// Validation follows Neutron's trunk plugin (neutron/services/trunk/rules.py and plugin.py,
// neutron-lib's validate_subports), in its order and with its error types and wording, plus
// this project's stricter rules: segmentation type "vlan" only; the parent and every subport
// in one project; a container port (binding:profile child) is neither a parent nor a subport;
// a (parent, VLAN) pair is unique across binding:profile children and subports.
//
// Where Neutron's behaviour depends on its driver, this follows ML2/OVN: a trunk can be deleted
// while its parent is bound and while it has subports (OVN's driver can trunk and untrunk bound
// ports, so Neutron never answers TrunkInUse there); the subports are released in the same
// transaction (parent_name, tag, device_owner and device_id cleared), as the driver does.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PortFields } from "../../ovn/neutron-rows.js";
import type { NeutronView } from "../../ovn/neutron-view.js";
import { type SubportWrite, writeTrunk } from "../../ovn/neutron-writes.js";
import {
  parentRowToTrunk,
  type SubPort,
  TRUNK_SUBPORT_OWNER,
  type TrunkFields,
  trunkIdOfParentRow,
  trunkIdOfSubportRow,
} from "../../ovn/trunk-rows.js";
import type { Identity } from "../keystone/identity.js";
import { canSeePort, projectFor } from "../policy.js";
import { identityOf, listResponse, type NeutronContext, newId, projectFields, withRetry } from "./context.js";
import {
  conflict,
  duplicateSubPort,
  forbidden,
  httpBadRequest,
  invalidInput,
  NeutronError,
  notFound,
  parentPortInUse,
  portInUse,
  portInUseAsSubPort,
  portInUseAsTrunkParent,
  trunkDisabled,
  trunkPortInUse,
} from "./errors.js";
import { bool, readBody, str } from "./input.js";
import { type ListSpec, pyInt, pyRepr } from "./query.js";
import type { Resource } from "./render.js";

const SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "description",
    "port_id",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "status",
    "revision_number",
    "tags",
  ]),
  sortable: new Set(["id", "name", "port_id", "project_id", "tenant_id", "admin_state_up", "status"]),
  types: { admin_state_up: "boolean", revision_number: "integer" },
};

const CREATE_KEYS = new Set([
  "port_id",
  "name",
  "description",
  "admin_state_up",
  "sub_ports",
  "project_id",
  "tenant_id",
]);
const UPDATE_KEYS = new Set(["name", "description", "admin_state_up"]);
/** Every attribute of a trunk; the ones missing from CREATE_KEYS/UPDATE_KEYS are read-only there. */
const ATTRIBUTES = new Set([
  ...CREATE_KEYS,
  "id",
  "status",
  "revision_number",
  "created_at",
  "updated_at",
  "tags",
]);

const VLAN_MIN = 1;
const VLAN_MAX = 4094;

// ---------------------------------------------------------------- reading the view

/** The trunk with this id, as NB holds it, or undefined. O(1). */
export function trunkOf(view: NeutronView, id: string): TrunkFields | undefined {
  const parentId = view.trunks.get(id);
  const row = parentId === undefined ? undefined : view.ports.get(parentId)?.row;
  const t = row ? parentRowToTrunk(row) : undefined;
  return t?.id === id ? t : undefined;
}

/**
 * The trunk's subports, by segmentation id. A row counts only while it still hangs off the
 * trunk's parent (a row marked with a trunk id but moved elsewhere is not a subport).
 */
export function subportsOf(view: NeutronView, t: TrunkFields): SubPort[] {
  const out: SubPort[] = [];
  for (const id of view.trunkSubports.get(t.id) ?? []) {
    const row = view.ports.get(id)?.row;
    if (row && row.parent_name === t.port_id && row.tag !== null)
      out.push({ port_id: id, segmentation_type: "vlan", segmentation_id: row.tag });
  }
  return out.sort((a, b) => a.segmentation_id - b.segmentation_id || a.port_id.localeCompare(b.port_id));
}

/** What a port is to the trunks: the parent of one, a subport of one, or neither. O(1). */
export function trunkRoleOf(
  view: NeutronView,
  portId: string,
): { role: "parent" | "subport"; trunkId: string } | undefined {
  const row = view.ports.get(portId)?.row;
  if (!row) return undefined;
  const parentOf = trunkIdOfParentRow(row);
  if (parentOf && view.trunks.get(parentOf) === portId) return { role: "parent", trunkId: parentOf };
  const subOf = trunkIdOfSubportRow(row);
  if (subOf && row.parent_name !== null && view.trunks.get(subOf) === row.parent_name)
    return { role: "subport", trunkId: subOf };
  return undefined;
}

/**
 * Neutron's rule for deleting a port (rules.enforce_port_deletion_rules), and for changing its
 * binding:profile here: not while it is a subport (PortInUseAsSubPort) or the parent of a trunk
 * (PortInUseAsTrunkParent, even a trunk without subports).
 */
export function assertPortNotInTrunk(view: NeutronView, portId: string): void {
  const r = trunkRoleOf(view, portId);
  if (r?.role === "subport") throw portInUseAsSubPort(portId, r.trunkId);
  if (r?.role === "parent") throw portInUseAsTrunkParent(portId, r.trunkId);
}

/**
 * `trunk_details` of a trunk's parent port, as Neutron's trunk-details extension adds it to the
 * port body ({} for any other port): spread it into the rendered port.
 */
export function trunkDetails(view: NeutronView, portId: string): Record<string, unknown> {
  const r = trunkRoleOf(view, portId);
  const t = r?.role === "parent" ? trunkOf(view, r.trunkId) : undefined;
  if (!t) return {};
  return {
    trunk_details: {
      trunk_id: t.id,
      sub_ports: subportsOf(view, t).map((s) => ({
        ...s,
        mac_address: view.portFields(s.port_id)?.mac_address ?? null,
      })),
    },
  };
}

export function renderTrunk(view: NeutronView, t: TrunkFields): Resource {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    port_id: t.port_id,
    project_id: t.project_id,
    tenant_id: t.project_id,
    admin_state_up: t.admin_state_up,
    status: view.ports.get(t.port_id)?.up === true ? "ACTIVE" : "DOWN",
    sub_ports: subportsOf(view, t),
    revision_number: t.revision_number,
    created_at: t.created_at,
    updated_at: t.updated_at,
    tags: [],
  };
}

function canSeeTrunk(who: Identity, t: TrunkFields): boolean {
  if (who.vmScope) return t.port_id === who.vmScope.parentPortId && t.project_id === who.project.id;
  return who.isAdmin || t.project_id === who.project.id;
}

function visibleTrunk(ctx: NeutronContext, who: Identity, id: string): TrunkFields {
  const t = trunkOf(ctx.view, id);
  if (!t || !canSeeTrunk(who, t)) throw notFound("trunk", id);
  return t;
}

/** A port the caller may see (Neutron's get_port in the caller's context), else PortNotFound. */
function visiblePort(ctx: NeutronContext, who: Identity, id: string): PortFields {
  const p = ctx.view.portFields(id);
  if (!p || !canSeePort(who, p)) throw notFound("port", id);
  return p;
}

// ---------------------------------------------------------------- request bodies

/** Python's repr of a JSON value, for messages that print the request as Neutron does. */
function pyValue(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "string") return pyRepr(v);
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return String(v);
  if (Array.isArray(v)) return `[${v.map(pyValue).join(", ")}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${pyRepr(k)}: ${pyValue(x)}`)
    .join(", ")}}`;
}

/** Python's "%s" % v. */
const pyStr = (v: unknown): string => (typeof v === "string" ? v : pyValue(v));

const UUID = /^(?:[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12})$/i;
const isUuid = (v: unknown): v is string => typeof v === "string" && UUID.test(v);

/** A subport entry as requested, after neutron-lib's validate_subports. */
export type RequestedSubport = Record<string, unknown> & { port_id: string };

/**
 * neutron-lib's validate_subports: a list of dicts, each with a unique UUID port_id, and no
 * segmentation id repeated for one segmentation type. On POST /v2.0/trunks Neutron's API layer
 * runs it ("attribute": 400 HTTPBadRequest "Invalid input for sub_ports. Reason: ..."); on
 * add_subports/remove_subports the trunk plugin does ("action": 400 InvalidInput).
 */
export function parseSubports(data: unknown, form: "attribute" | "action"): RequestedSubport[] {
  const fail = (msg: string): NeutronError =>
    form === "attribute" ? httpBadRequest(`Invalid input for sub_ports. Reason: ${msg}.`) : invalidInput(msg);
  if (!Array.isArray(data)) throw fail(`Invalid data format for subports: '${pyStr(data)}' is not a list`);
  const ids = new Set<string>();
  const segs = new Map<string, Set<unknown>>();
  const out: RequestedSubport[] = [];
  for (const s of data as unknown[]) {
    if (!s || typeof s !== "object" || Array.isArray(s))
      throw fail(`Invalid data format for subport: '${pyStr(s)}' is not a dict`);
    const x = s as Record<string, unknown>;
    if (!("port_id" in x)) throw fail("A valid port UUID must be specified");
    if (!isUuid(x.port_id)) throw fail(`Invalid UUID for subport: '${pyStr(x.port_id)}'`);
    if (ids.has(x.port_id)) throw fail(`Non unique UUID for subport: '${x.port_id}'`);
    ids.add(x.port_id);
    const type = x.segmentation_type;
    const id = x.segmentation_id;
    if ((!type || id === undefined || id === null) && Object.keys(x).length > 1) {
      throw fail(
        `Invalid subport details '${pyValue(x)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`,
      );
    }
    const key = JSON.stringify(type ?? null);
    const seen = segs.get(key) ?? new Set<unknown>();
    if (id !== undefined && id !== null && seen.has(id))
      throw fail(`Segmentation ID '${pyStr(id)}' for '${x.port_id}' is not unique`);
    if (id !== undefined && id !== null) seen.add(id);
    segs.set(key, seen);
    out.push(x as RequestedSubport);
  }
  return out;
}

/** The segmentation of a requested subport (SubPortsValidator._validate, steps 3 and 4). */
function segmentationOf(s: RequestedSubport): number {
  if (!("segmentation_type" in s) || !("segmentation_id" in s)) {
    throw invalidInput(
      `Invalid subport details '${pyValue(s)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`,
    );
  }
  const raw = s.segmentation_id;
  const n = typeof raw === "number" ? raw : typeof raw === "string" ? pyInt(raw) : null;
  if (n === null || !Number.isSafeInteger(n))
    throw invalidInput(`Invalid subport details: segmentation_id '${pyStr(raw)}' is not an integer`);
  if (s.segmentation_type !== "vlan")
    throw invalidInput(`Unknown segmentation_type '${pyStr(s.segmentation_type)}'`);
  if (n < VLAN_MIN || n > VLAN_MAX) throw invalidInput(`Segmentation ID '${n}' is not in range`);
  return n;
}

function objectBody(req: FastifyRequest, key: string): Record<string, unknown> {
  const o = readBody(req)[key];
  if (!o || typeof o !== "object" || Array.isArray(o))
    throw httpBadRequest(`Resource body required: {"${key}": {...}}`);
  return o as Record<string, unknown>;
}

/** Neutron's attribute checks: unknown attributes first, then the ones this method may not set. */
function checkKeys(o: Record<string, unknown>, allowed: ReadonlySet<string>, method: "POST" | "PUT"): void {
  const extra = Object.keys(o).filter((k) => !ATTRIBUTES.has(k));
  if (extra.length > 0) throw httpBadRequest(`Unrecognized attribute(s) '${extra.join(", ")}'`);
  for (const k of Object.keys(o)) {
    if (allowed.has(k)) continue;
    throw method === "POST"
      ? httpBadRequest(`Attribute '${k}' not allowed in POST`)
      : httpBadRequest(`Cannot update read-only attribute ${k}`);
  }
}

// ---------------------------------------------------------------- the rules

/**
 * The parent port rules (TrunkPortValidator.validate with parent_port=True, then ours): visible
 * to the caller, not a subport (TrunkPortInUse), not already a trunk's parent (ParentPortInUse),
 * not a container port (ParentPortInUse).
 */
function checkParent(ctx: NeutronContext, who: Identity, portId: string): PortFields {
  const p = visiblePort(ctx, who, portId);
  const role = trunkRoleOf(ctx.view, p.id);
  if (role?.role === "subport") throw trunkPortInUse(p.id);
  if (role?.role === "parent") throw parentPortInUse(p.id);
  if (p.parent_name) {
    throw conflict(
      "ParentPortInUse",
      `${parentPortInUse(p.id).message} It is a container port (binding:profile child of port ${p.parent_name}, tag ${p.tag}).`,
    );
  }
  return p;
}

/**
 * One requested subport against the current view (SubPortsValidator._validate, then ours), in
 * Neutron's order: not the parent itself, MTU not above the parent's, segmentation given and
 * valid, the port visible and free (not a subport, not a parent, no device_id), then this
 * project's rules (same project, not a container port nor a parent of any, VLAN free under
 * the parent).
 */
function checkSubport(
  ctx: NeutronContext,
  who: Identity,
  parent: PortFields,
  trunkId: string,
  s: RequestedSubport,
): { port: PortFields; tag: number } {
  const { view } = ctx;
  if (s.port_id === parent.id) throw parentPortInUse(s.port_id);
  const trunkMtu = view.networks.get(parent.network_id)?.network.mtu;
  const seen = view.portFields(s.port_id);
  if (trunkMtu !== undefined && seen && canSeePort(who, seen)) {
    const mtu = view.networks.get(seen.network_id)?.network.mtu;
    if (mtu !== undefined && mtu > trunkMtu) {
      // Neutron prints the trunk's parent port id where it says "trunk".
      throw conflict(
        "SubPortMtuGreaterThanTrunkPortMtu",
        `MTU ${mtu} of subport ${s.port_id} cannot be greater than MTU ${trunkMtu} of trunk ${parent.id}.`,
      );
    }
  }
  const tag = segmentationOf(s);
  const p = visiblePort(ctx, who, s.port_id);
  const role = trunkRoleOf(view, p.id);
  if (role?.role === "subport") throw trunkPortInUse(p.id);
  if (role?.role === "parent") throw parentPortInUse(p.id);
  if (p.parent_name) {
    throw conflict(
      "TrunkPortInUse",
      `Port ${p.id} is in use as a container port (binding:profile child of port ${p.parent_name}, tag ${p.tag}) and cannot be a subport.`,
    );
  }
  if (p.device_id) throw portInUse(p.id, p.network_id, p.device_id);
  if ((view.children.get(p.id)?.size ?? 0) > 0)
    throw invalidInput(`port ${p.id} has container ports of its own and cannot become a subport`);
  if (p.project_id !== parent.project_id) {
    throw invalidInput(
      `subport ${p.id} belongs to project ${p.project_id} but the trunk's parent port ${parent.id} to project ${parent.project_id}`,
    );
  }
  const holder = view.children.get(parent.id)?.get(tag);
  if (holder !== undefined) {
    const base = duplicateSubPort("vlan", tag, trunkId).message;
    const what =
      trunkRoleOf(view, holder)?.role === "subport"
        ? `subport ${holder}`
        : `port ${holder}, a container port of parent port ${parent.id} (binding:profile)`;
    throw conflict("DuplicateSubPort", `${base} It is held by ${what}.`);
  }
  return { port: p, tag };
}

function attach(
  ctx: NeutronContext,
  p: PortFields,
  parentId: string,
  tag: number,
  trunkId: string,
): SubportWrite {
  return {
    port: {
      ...p,
      parent_name: parentId,
      tag,
      device_owner: TRUNK_SUBPORT_OWNER,
      device_id: trunkId,
      revision_number: p.revision_number + 1,
      updated_at: ctx.now(),
    },
    trunkId,
  };
}

function detach(ctx: NeutronContext, portId: string): SubportWrite {
  const p = ctx.view.portFields(portId);
  if (!p) throw notFound("port", portId);
  return {
    port: {
      ...p,
      parent_name: null,
      tag: null,
      device_owner: "",
      device_id: "",
      revision_number: p.revision_number + 1,
      updated_at: ctx.now(),
    },
    trunkId: null,
  };
}

async function shown(ctx: NeutronContext, t: TrunkFields, what: string): Promise<TrunkFields> {
  await ctx.view.until(
    // ">=": ovsdb-server may fold another replica's next change into the same update.
    () => (trunkOf(ctx.view, t.id)?.revision_number ?? -1) >= t.revision_number,
    ctx.viewWaitMs,
    what,
  );
  return trunkOf(ctx.view, t.id) ?? t;
}

/**
 * Runs tasks one after another per key (here: per parent port). Concurrent changes of one
 * trunk would otherwise all decide on the same view and all but one lose the NB guard of the
 * parent's row, again and again; queued, each decides on a view that holds the one before.
 * An optimisation only: replicas still race, and the NB guards decide.
 */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

// ---------------------------------------------------------------- routes

type WithId = FastifyRequest<{ Params: { id: string } }>;

export function trunkRoutes(app: FastifyInstance, ctx: NeutronContext): void {
  const queue = new KeyedQueue();
  /** The queue key of an existing trunk: its parent port (a create on that port queues there too). */
  const parentKey = (trunkId: string) => ctx.view.trunks.get(trunkId) ?? trunkId;

  app.get("/v2.0/trunks", async (req, reply) => {
    const who = identityOf(ctx, req);
    const items: Resource[] = [];
    for (const id of ctx.view.trunks.keys()) {
      const t = trunkOf(ctx.view, id);
      if (t && canSeeTrunk(who, t)) items.push(renderTrunk(ctx.view, t));
    }
    return listResponse(req, "trunks", items, SPEC);
  });

  app.get("/v2.0/trunks/:id", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    return { trunk: projectFields(req, renderTrunk(ctx.view, visibleTrunk(ctx, who, req.params.id))) };
  });

  app.get("/v2.0/trunks/:id/get_subports", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    return { sub_ports: subportsOf(ctx.view, visibleTrunk(ctx, who, req.params.id)) };
  });

  app.post("/v2.0/trunks", async (req, reply) => {
    const who = identityOf(ctx, req);
    const body = readBody(req);
    if ("trunks" in body) throw httpBadRequest("Bulk operation not supported");
    const o = objectBody(req, "trunk");
    checkKeys(o, CREATE_KEYS, "POST");
    if (!("port_id" in o))
      throw httpBadRequest("Failed to parse request. Required attribute 'port_id' not specified");
    if (!isUuid(o.port_id))
      throw httpBadRequest(`Invalid input for port_id. Reason: '${pyStr(o.port_id)}' is not a valid UUID.`);
    const portId = o.port_id;
    const requested = parseSubports(o.sub_ports ?? [], "attribute");
    const name = str(o, "name") ?? "";
    const description = str(o, "description") ?? "";
    const adminUp = bool(o, "admin_state_up") ?? true;
    const askedProject = str(o, "project_id") ?? str(o, "tenant_id");
    if (who.vmScope) throw forbidden("create_trunk");
    projectFor(who, askedProject, "create_trunk");
    const id = newId();
    const t = await queue.run(portId, async () => {
      const written = await withRetry(ctx, "creating trunk", async () => {
        const parent = checkParent(ctx, who, portId);
        if (askedProject !== undefined && askedProject !== parent.project_id) {
          throw invalidInput(
            `project_id ${askedProject} is not the project of parent port ${parent.id} (${parent.project_id}): a trunk belongs to its parent port's project`,
          );
        }
        const writes = requested.map((s) => {
          const { port, tag } = checkSubport(ctx, who, parent, id, s);
          return attach(ctx, port, parent.id, tag, id);
        });
        const now = ctx.now();
        const trunk: TrunkFields = {
          id,
          port_id: parent.id,
          project_id: parent.project_id,
          name,
          description,
          admin_state_up: adminUp,
          revision_number: 1,
          created_at: now,
          updated_at: now,
        };
        await writeTrunk(ctx.nb, ctx.view, parent.id, trunk, writes);
        return trunk;
      });
      return shown(ctx, written, "new trunk");
    });
    return reply.code(201).send({ trunk: renderTrunk(ctx.view, t) });
  });

  app.put("/v2.0/trunks/:id", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    const patch = objectBody(req, "trunk");
    checkKeys(patch, UPDATE_KEYS, "PUT");
    const name = str(patch, "name");
    const description = str(patch, "description");
    const adminUp = bool(patch, "admin_state_up");
    const next = await queue.run(parentKey(req.params.id), async () => {
      const written = await withRetry(ctx, "updating trunk", async () => {
        const cur = visibleTrunk(ctx, who, req.params.id);
        if (who.vmScope) throw forbidden("update_trunk");
        const t: TrunkFields = {
          ...cur,
          name: name ?? cur.name,
          description: description ?? cur.description,
          admin_state_up: adminUp ?? cur.admin_state_up,
          revision_number: cur.revision_number + 1,
          updated_at: ctx.now(),
        };
        await writeTrunk(ctx.nb, ctx.view, cur.port_id, t, []);
        return t;
      });
      return shown(ctx, written, "updated trunk");
    });
    return { trunk: renderTrunk(ctx.view, next) };
  });

  app.delete("/v2.0/trunks/:id", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    await queue.run(parentKey(req.params.id), async () => {
      await withRetry(ctx, "deleting trunk", async () => {
        const cur = visibleTrunk(ctx, who, req.params.id);
        if (who.vmScope) throw forbidden("delete_trunk");
        if (!cur.admin_state_up) throw trunkDisabled(cur.id);
        const released = subportsOf(ctx.view, cur).map((s) => detach(ctx, s.port_id));
        await writeTrunk(ctx.nb, ctx.view, cur.port_id, null, released);
      });
      await ctx.view.until(() => !ctx.view.trunks.has(req.params.id), ctx.viewWaitMs, "deleted trunk");
    });
    return reply.code(204).send();
  });

  app.put("/v2.0/trunks/:id/add_subports", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    const body = readBody(req);
    const next = await queue.run(parentKey(req.params.id), async () => {
      const written = await withRetry(ctx, "adding subports", async () => {
        const cur = visibleTrunk(ctx, who, req.params.id);
        if (who.vmScope) throw forbidden("add_subports");
        const requested = parseSubports(body.sub_ports, "action");
        const parent = ctx.view.portFields(cur.port_id);
        if (!parent) throw notFound("trunk", cur.id);
        const writes = requested.map((s) => {
          const { port, tag } = checkSubport(ctx, who, parent, cur.id, s);
          return attach(ctx, port, parent.id, tag, cur.id);
        });
        if (!cur.admin_state_up) throw trunkDisabled(cur.id);
        if (writes.length === 0) return cur;
        const t = { ...cur, revision_number: cur.revision_number + 1, updated_at: ctx.now() };
        await writeTrunk(ctx.nb, ctx.view, cur.port_id, t, writes);
        return t;
      });
      return shown(ctx, written, "trunk with new subports");
    });
    return renderTrunk(ctx.view, next);
  });

  app.put("/v2.0/trunks/:id/remove_subports", async (req: WithId, reply) => {
    const who = identityOf(ctx, req);
    const body = readBody(req);
    const next = await queue.run(parentKey(req.params.id), async () => {
      const written = await withRetry(ctx, "removing subports", async () => {
        const cur = visibleTrunk(ctx, who, req.params.id);
        if (who.vmScope) throw forbidden("remove_subports");
        if (!cur.admin_state_up) throw trunkDisabled(cur.id);
        const requested = parseSubports(body.sub_ports, "action");
        const current = new Set(subportsOf(ctx.view, cur).map((s) => s.port_id));
        const writes = requested.map((s) => {
          if (!current.has(s.port_id)) {
            // Neutron's wording, which prints the subport's id where it says "parent port".
            throw new NeutronError(
              404,
              "SubPortNotFound",
              `SubPort on trunk ${cur.id} with parent port ${s.port_id} could not be found.`,
            );
          }
          return detach(ctx, s.port_id);
        });
        if (writes.length === 0) return cur;
        const t = { ...cur, revision_number: cur.revision_number + 1, updated_at: ctx.now() };
        await writeTrunk(ctx.nb, ctx.view, cur.port_id, t, writes);
        return t;
      });
      return shown(ctx, written, "trunk without the removed subports");
    });
    return renderTrunk(ctx.view, next);
  });
}
