// /v2.0/ports: list, show, create (single and bulk), update, delete, with the seed's
// binding:profile {parent_name, tag} for container ports.
//
// Creating ports is the hot path, so concurrent creations share NB transactions: requests
// that arrive together form a batch, which decides addresses, MACs and (parent, tag) pairs
// for all of its requests on the current view and writes them in one transaction guarded on
// every network and parent it touches. Several batches may be in flight: a batch decided
// while earlier ones are unanswered avoids what they reserved and expects what they write
// (src/ovn/in-flight.ts), and the NB client sends it the moment NB answered the one before
// (merging what is queued), so NB never waits for the service to decide. When another
// replica changed a guarded row first, the batch decides again on a fresher view. A request
// that is invalid fails alone; a batch the server refuses is split so each request gets its
// own answer. A bulk request is one unit of a batch: all of its ports or none.

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PortFields, SubnetFields } from "../../ovn/neutron-rows.js";
import {
  createPorts,
  deletePort,
  type PortWrite,
  StaleViewError,
  updatePort,
} from "../../ovn/neutron-writes.js";
import { TransactionError } from "../../ovsdb/transaction.js";
import type { Identity } from "../keystone/identity.js";
import { assertMayWritePort, canSeePort, projectFor } from "../policy.js";
import {
  backOff,
  identityOf,
  listResponse,
  type NeutronContext,
  newId,
  projectFields,
  withRetry,
} from "./context.js";
import {
  badRequest,
  conflict,
  forbidden,
  invalidInput,
  ipAddressAlreadyAllocated,
  ipAddressGenerationFailure,
  macAddressInUse,
  notFound,
  unavailable,
} from "./errors.js";
import { bool, oneOrMany, patchOf, readBody, str } from "./input.js";
import { canonicalIp, ipInCidr } from "./ipam.js";
import { allocateMac, canonicalMac } from "./macs.js";
import { visibleNetwork } from "./networks.js";
import type { ListSpec } from "./query.js";
import { renderPort } from "./render.js";
import { allocatorOf } from "./subnets.js";
import { assertPortNotInTrunk, trunkDetails } from "./trunks.js";

const SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "description",
    "network_id",
    "project_id",
    "tenant_id",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "admin_state_up",
    "status",
    "port_security_enabled",
    "revision_number",
    "tags",
    "binding:host_id",
    "binding:vnic_type",
    "security_groups",
  ]),
  types: { admin_state_up: "boolean", port_security_enabled: "boolean", revision_number: "integer" },
};
const CREATE_KEYS = new Set([
  "network_id",
  "name",
  "description",
  "mac_address",
  "fixed_ips",
  "device_id",
  "device_owner",
  "admin_state_up",
  "port_security_enabled",
  "binding:profile",
  "binding:host_id",
  "binding:vnic_type",
  "project_id",
  "tenant_id",
  "security_groups",
]);
const UPDATE_KEYS = new Set([
  "name",
  "description",
  "device_id",
  "device_owner",
  "admin_state_up",
  "port_security_enabled",
  "binding:profile",
  "binding:host_id",
]);

/**
 * Addresses, MACs and (parent, tag) pairs handed out but not in the view yet: by the batch
 * being decided and by the batches in flight. Whatever a decision takes is recorded in its
 * `Taken`, to be given back once the view shows the port or its write failed.
 */
class Reservations {
  readonly ips = new Map<string, Set<string>>();
  readonly macs = new Map<string, Set<string>>();
  readonly tags = new Map<string, Set<number>>();

  /** Reserves `v` under `k` of `m`; given back, an emptied set leaves the map. */
  hold<K, V>(m: Map<K, Set<V>>, k: K, v: V, taken: Taken): void {
    let set = m.get(k);
    if (!set) {
      set = new Set();
      m.set(k, set);
    }
    const s = set;
    s.add(v);
    taken.push(() => {
      s.delete(v);
      if (s.size === 0 && m.get(k) === s) m.delete(k);
    });
  }
}

/** What decisions took from a Reservations, to give back. */
type Taken = Array<() => void>;

function giveBack(taken: Taken): void {
  for (const f of taken) f();
  taken.length = 0;
}

const EMPTY = new Set<string>();

function profileOf(o: Record<string, unknown>): { parent: string | null; tag: number | null } | undefined {
  const p = o["binding:profile"];
  if (p === undefined) return undefined;
  if (p === null) return { parent: null, tag: null };
  if (typeof p !== "object" || Array.isArray(p))
    throw badRequest("port", "binding:profile must be an object");
  const x = p as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length === 0) return { parent: null, tag: null };
  const hasParent = "parent_name" in x;
  const hasTag = "tag" in x;
  if (!hasParent || !hasTag) {
    throw invalidInput(
      "binding:profile of a container port needs both parent_name (the VM's port id) and tag (a VLAN 1..4095)",
    );
  }
  for (const k of keys) {
    if (k !== "parent_name" && k !== "tag")
      throw invalidInput(`binding:profile key ${k} is not supported (only parent_name and tag)`);
  }
  if (typeof x.parent_name !== "string" || x.parent_name === "")
    throw invalidInput("binding:profile parent_name must be a port id");
  const tag = x.tag;
  if (typeof tag !== "number" || !Number.isInteger(tag) || tag < 1 || tag > 4095) {
    throw invalidInput(
      `binding:profile tag ${JSON.stringify(tag)} is not a VLAN: use an integer 1..4095${tag === 0 ? " (0 means untagged, which would put the container on its parent's network)" : ""}`,
    );
  }
  return { parent: x.parent_name, tag };
}

/** The parent rules: exists, same project (admin: any), not itself a child, (parent, tag) free. */
function checkParent(
  ctx: NeutronContext,
  who: Identity,
  projectId: string,
  parent: string,
  tag: number,
  self: string | null,
  res: Reservations,
): void {
  if (self !== null && parent === self) throw invalidInput(`port ${self} cannot be its own parent`);
  // The parent's row says all this needs; no need to build its whole Neutron port.
  const row = ctx.view.ports.get(parent)?.row;
  if (!row) throw invalidInput(`binding:profile parent_name ${parent} is not an existing port`);
  const parentProject = row.external_ids["neutron:project_id"] ?? "";
  if (!who.isAdmin && (parentProject !== who.project.id || parentProject !== projectId)) {
    throw forbidden("create_port", ["binding:profile"]);
  }
  if (row.parent_name)
    throw invalidInput(
      `port ${parent} is itself a container port (child of ${row.parent_name}) and cannot be a parent`,
    );
  if (self !== null && (ctx.view.children.get(self)?.size ?? 0) > 0) {
    throw invalidInput(`port ${self} has container ports of its own and cannot become a child`);
  }
  const holder = ctx.view.children.get(parent)?.get(tag);
  if ((holder && holder !== self) || res.tags.get(parent)?.has(tag)) {
    throw conflict(
      "VlanTagInUse",
      `VLAN ${tag} under parent port ${parent} is already used by port ${holder ?? "(being created)"}`,
    );
  }
}

function subnetsOfNetwork(ctx: NeutronContext, networkId: string): SubnetFields[] {
  const ids = ctx.view.networks.get(networkId)?.subnetIds ?? new Set<string>();
  return [...ids]
    .flatMap((id) => ctx.view.subnets.get(id)?.subnet ?? [])
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/** fixed_ips as requested, or one address from the first subnet of each IP version. */
function chooseIps(
  ctx: NeutronContext,
  networkId: string,
  requested: unknown,
  res: Reservations,
  taken: Taken,
  deviceOwner: string,
): Array<{ subnet_id: string; ip_address: string }> {
  const subnets = subnetsOfNetwork(ctx, networkId);
  const used = ctx.view.usedIps.get(networkId) ?? EMPTY;
  const take = (s: SubnetFields, ip?: string) => {
    const reserved = res.ips.get(networkId) ?? EMPTY;
    const a = allocatorOf(ctx, s);
    let addr: string | undefined;
    if (ip === undefined) {
      addr = a.allocate(used, reserved);
      if (!addr) throw ipAddressGenerationFailure(networkId);
    } else {
      addr = canonicalIp(ip, "fixed_ips");
      const c = a.check(addr, used, { reserved, deviceOwner });
      if (c === "in-use") throw ipAddressAlreadyAllocated(addr, s.id);
      if (c === "gateway" || (addr === s.gateway_ip && deviceOwner === ""))
        throw ipAddressAlreadyAllocated(addr, s.id);
      if (c !== "ok")
        throw invalidInput(`IP address ${addr} is not a valid IP for the specified subnet (${c})`);
    }
    res.hold(res.ips, networkId, addr, taken);
    return { subnet_id: s.id, ip_address: addr };
  };
  if (requested === undefined) {
    const out: Array<{ subnet_id: string; ip_address: string }> = [];
    for (const v of [4, 6] as const) {
      const s = subnets.find((x) => x.ip_version === v);
      if (s) out.push(take(s));
    }
    return out;
  }
  if (!Array.isArray(requested))
    throw badRequest("port", "fixed_ips must be a list of {subnet_id, ip_address}");
  return requested.map((r) => {
    const x = (r ?? {}) as { subnet_id?: unknown; ip_address?: unknown };
    if (x.subnet_id !== undefined && typeof x.subnet_id !== "string")
      throw badRequest("port", "fixed_ips subnet_id must be a string");
    if (x.ip_address !== undefined && typeof x.ip_address !== "string")
      throw badRequest("port", "fixed_ips ip_address must be a string");
    let s: SubnetFields | undefined;
    if (x.subnet_id !== undefined) {
      s = subnets.find((y) => y.id === x.subnet_id);
      if (!s)
        throw invalidInput(
          `Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${x.subnet_id}`,
        );
    } else if (x.ip_address !== undefined) {
      const ip = canonicalIp(x.ip_address, "fixed_ips");
      s = subnets.find((y) => ipInCidr(ip, y.cidr));
      if (!s) throw invalidInput(`IP address ${ip} is not in any subnet of network ${networkId}`);
    } else throw badRequest("port", "each fixed_ips entry needs a subnet_id or an ip_address");
    return take(s, x.ip_address as string | undefined);
  });
}

function chooseMac(
  ctx: NeutronContext,
  networkId: string,
  requested: string | undefined,
  res: Reservations,
  taken: Taken,
): string {
  const used = ctx.view.usedMacs.get(networkId) ?? EMPTY;
  const reserved = res.macs.get(networkId) ?? EMPTY;
  let mac: string | undefined;
  if (requested !== undefined) {
    mac = canonicalMac(requested);
    if (used.has(mac) || reserved.has(mac)) throw macAddressInUse(networkId, mac);
  } else {
    // Both sets are looked up in place: copying the network's MACs per port cost O(ports).
    mac = allocateMac(ctx.macPrefix, { has: (m: string) => used.has(m) || reserved.has(m) });
    if (!mac)
      throw unavailable(
        `Unable to generate unique mac on network ${networkId}.`,
        "MacAddressGenerationFailure",
      );
  }
  res.hold(res.macs, networkId, mac, taken);
  return mac;
}

function dhcpFor(ctx: NeutronContext, fixed: PortFields["fixed_ips"]): { dhcpv4?: string; dhcpv6?: string } {
  const out: { dhcpv4?: string; dhcpv6?: string } = {};
  for (const f of fixed) {
    const s = ctx.view.subnets.get(f.subnet_id);
    if (!s?.subnet.enable_dhcp) continue;
    if (s.subnet.ip_version === 4) out.dhcpv4 ??= s.dhcpUuid;
    else out.dhcpv6 ??= s.dhcpUuid;
  }
  return out;
}

/**
 * Everything about one new port, decided on the current view plus the reservations of the
 * batches in flight and of this batch; what it reserves is recorded in `taken`.
 */
function decide(
  ctx: NeutronContext,
  who: Identity,
  o: Record<string, unknown>,
  res: Reservations,
  taken: Taken,
): PortWrite {
  for (const k of Object.keys(o))
    if (!CREATE_KEYS.has(k)) throw badRequest("port", `Unrecognized attribute(s) '${k}'`);
  const networkId = str(o, "network_id");
  if (!networkId) throw badRequest("port", "network_id is required");
  const sg = o.security_groups;
  if (sg !== undefined && !(Array.isArray(sg) && sg.length === 0)) {
    throw badRequest(
      "port",
      "security groups are not supported; pass none (port_security_enabled still filters by address)",
    );
  }
  const vnic = o["binding:vnic_type"];
  if (vnic !== undefined && vnic !== "normal")
    throw badRequest("port", `binding:vnic_type ${String(vnic)} is not supported (only normal)`);
  const net = visibleNetwork(ctx, who, networkId);
  const project = projectFor(who, str(o, "project_id") ?? str(o, "tenant_id"), "create_port");
  if (!who.isAdmin && net.project_id !== project && !net.shared) throw notFound("network", networkId);
  const profile = profileOf(o) ?? { parent: null, tag: null };
  if (who.vmScope && profile.parent !== who.vmScope.parentPortId) {
    throw forbidden("create_port", ["binding:profile"]);
  }
  assertMayWritePort(who, { parent_name: profile.parent, project_id: project }, "create_port");
  if (profile.parent !== null && profile.tag !== null)
    checkParent(ctx, who, project, profile.parent, profile.tag, null, res);
  const deviceOwner = str(o, "device_owner") ?? "";
  const fixed = chooseIps(ctx, net.id, o.fixed_ips, res, taken, deviceOwner);
  const mac = chooseMac(ctx, net.id, str(o, "mac_address"), res, taken);
  if (profile.parent !== null && profile.tag !== null) res.hold(res.tags, profile.parent, profile.tag, taken);
  const t = ctx.now();
  const port: PortFields = {
    id: newId(),
    network_id: net.id,
    project_id: project,
    name: str(o, "name") ?? "",
    description: str(o, "description") ?? "",
    mac_address: mac,
    fixed_ips: fixed,
    device_id: str(o, "device_id") ?? "",
    device_owner: deviceOwner,
    admin_state_up: bool(o, "admin_state_up") ?? true,
    port_security_enabled: bool(o, "port_security_enabled") ?? true,
    parent_name: profile.parent,
    tag: profile.tag,
    revision_number: 1,
    created_at: t,
    updated_at: t,
  };
  return { port, ...dhcpFor(ctx, fixed) };
}

/** One request: a single port, or every port of a bulk request (all or none). */
interface Pending {
  who: Identity;
  bodies: ReadonlyArray<Record<string, unknown>>;
  resolve: (p: PortFields[]) => void;
  reject: (e: unknown) => void;
}

export interface PortCreatorOptions {
  /** Ports in one batch at most (default 1,024; a bulk request larger than that goes alone). */
  maxBatch?: number;
  /** Batches decided and not yet answered at once (default 1). */
  maxInFlight?: number;
}

/** Group creation of ports: one NB transaction per batch of concurrent requests, several in flight. */
export class PortCreator {
  private readonly queue: Pending[] = [];
  /** What the batches being decided or in flight reserved. */
  private readonly held = new Reservations();
  private inFlight = 0;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  /** Batches written, for tests and metrics. */
  batches = 0;
  /** Batches sent to NB while an earlier one was still unanswered. */
  overlapped = 0;
  private unanswered = 0;

  constructor(
    private readonly ctx: NeutronContext,
    opts: PortCreatorOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 1024;
    this.maxInFlight = opts.maxInFlight ?? 1;
  }

  /** Creates the ports of one request (one body, or a bulk request's bodies: all or none). */
  create(who: Identity, bodies: ReadonlyArray<Record<string, unknown>>): Promise<PortFields[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ who, bodies, resolve, reject });
      this.schedule();
    });
  }

  /** Starts a batch once the requests read in this turn of the event loop are queued. */
  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** The next batch: requests in arrival order, up to maxBatch ports (always at least one request). */
  private nextBatch(): Pending[] {
    let n = 0;
    let k = 0;
    while (
      k < this.queue.length &&
      (k === 0 || n + (this.queue[k] as Pending).bodies.length <= this.maxBatch)
    ) {
      n += (this.queue[k] as Pending).bodies.length;
      k++;
    }
    return this.queue.splice(0, k);
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.nextBatch();
      this.inFlight++;
      this.write(batch)
        .catch((e: unknown) => {
          // write() answers every request itself; this is for a bug in it, never silent.
          for (const p of batch) p.reject(e);
        })
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }

  private async write(batch: Pending[], attempts = 20): Promise<void> {
    let todo = batch;
    for (let attempt = 1; attempt <= attempts && todo.length > 0; attempt++) {
      const outcome = await this.attempt(todo);
      if (outcome.next === "done") return;
      if (outcome.next === "split") {
        for (const p of outcome.units) await this.write([p], attempts);
        return;
      }
      todo = outcome.units;
      await backOff(this.ctx, attempt);
    }
    for (const p of todo)
      p.reject(unavailable("creating port: still contended after several attempts, try again"));
  }

  /**
   * Decides and writes the requests once, answering each unless the batch must be decided
   * again ("stale": a guard failed) or its units written apart ("split": NB refused the whole).
   * Its reservations and in-flight expectations are given back before it returns either way.
   */
  private async attempt(todo: Pending[]): Promise<{ next: "done" | "stale" | "split"; units: Pending[] }> {
    const { ctx } = this;
    const taken: Taken = [];
    const decided: Array<{ p: Pending; ws: PortWrite[] }> = [];
    for (const p of todo) {
      const mine: Taken = [];
      try {
        decided.push({ p, ws: p.bodies.map((b) => decide(ctx, p.who, b, this.held, mine)) });
        for (const f of mine) taken.push(f);
      } catch (e) {
        giveBack(mine);
        p.reject(e);
      }
    }
    const units = decided.map((d) => d.p);
    if (decided.length === 0) return { next: "done", units };
    const writes = decided.flatMap((d) => d.ws);
    const by = ctx.view.inFlight.begin("creating ports");
    try {
      try {
        this.batches++;
        if (this.unanswered++ > 0) this.overlapped++;
        await createPorts(ctx.nb, ctx.view, writes, by).finally(() => this.unanswered--);
      } catch (e) {
        if (e instanceof StaleViewError) return { next: "stale", units };
        if (e instanceof TransactionError && decided.length > 1) return { next: "split", units };
        // NB refused it (nothing committed), or the outcome is unknown (the connection went):
        // then it may have committed unseen, and nothing decided from now on may chain past it.
        if (!(e instanceof TransactionError)) ctx.view.inFlight.clear();
        for (const p of units) p.reject(e);
        return { next: "done", units };
      }
      try {
        await ctx.view.until(
          () => writes.every((w) => ctx.view.ports.has(w.port.id)),
          ctx.viewWaitMs,
          "new ports",
        );
      } catch (e) {
        // Committed, but the view does not show it: the same as an unknown outcome.
        ctx.view.inFlight.clear();
        for (const p of units) p.reject(e);
        return { next: "done", units };
      }
      for (const d of decided) d.p.resolve(d.ws.map((w) => w.port));
      return { next: "done", units };
    } finally {
      ctx.view.inFlight.settle(by);
      giveBack(taken);
    }
  }
}

function visiblePort(ctx: NeutronContext, who: Identity, id: string): PortFields {
  const p = ctx.view.portFields(id);
  if (!p || !canSeePort(who, p)) throw notFound("port", id);
  return p;
}

const upOf = (ctx: NeutronContext, id: string) => ctx.view.ports.get(id)?.up === true;

export function portRoutes(app: FastifyInstance, ctx: NeutronContext, creator: PortCreator): void {
  app.get("/v2.0/ports", async (req, reply) => {
    const who = identityOf(ctx, req);
    const items = [];
    for (const id of ctx.view.ports.keys()) {
      const p = ctx.view.portFields(id);
      if (p && canSeePort(who, p)) items.push(renderPort(p, upOf(ctx, id)));
    }
    return listResponse(req, "ports", items, SPEC);
  });

  app.get("/v2.0/ports/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    const p = visiblePort(ctx, who, req.params.id);
    return {
      port: projectFields(req, { ...renderPort(p, upOf(ctx, p.id)), ...trunkDetails(ctx.view, p.id) }),
    };
  });

  app.post("/v2.0/ports", async (req, reply) => {
    const who = identityOf(ctx, req);
    const { items, bulk } = oneOrMany(readBody(req), "port", "ports");
    // A bulk request is all or nothing: its ports are decided and written together.
    const ports = await creator.create(who, items as Array<Record<string, unknown>>);
    if (bulk) return reply.code(201).send({ ports: ports.map((p) => renderPort(p, upOf(ctx, p.id))) });
    const p = ports[0] as PortFields;
    return reply.code(201).send({ port: renderPort(p, upOf(ctx, p.id)) });
  });

  app.put("/v2.0/ports/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    const patch = patchOf(readBody(req), "port");
    for (const k of Object.keys(patch)) {
      if (!UPDATE_KEYS.has(k))
        throw badRequest("port", `Cannot update attribute ${k} (supported: ${[...UPDATE_KEYS].join(", ")})`);
    }
    const next = await withRetry(ctx, "updating port", async () => {
      const cur = visiblePort(ctx, who, req.params.id);
      assertMayWritePort(who, cur, "update_port");
      const profile = profileOf(patch);
      if (profile) assertPortNotInTrunk(ctx.view, cur.id);
      const parent = profile ? profile.parent : cur.parent_name;
      const tag = profile ? profile.tag : cur.tag;
      if (who.vmScope && parent !== who.vmScope.parentPortId)
        throw forbidden("update_port", ["binding:profile"]);
      if (profile && parent !== null && tag !== null)
        checkParent(ctx, who, cur.project_id, parent, tag, cur.id, new Reservations());
      const p: PortFields = {
        ...cur,
        name: str(patch, "name") ?? cur.name,
        description: str(patch, "description") ?? cur.description,
        device_id: str(patch, "device_id") ?? cur.device_id,
        device_owner: str(patch, "device_owner") ?? cur.device_owner,
        admin_state_up: bool(patch, "admin_state_up") ?? cur.admin_state_up,
        port_security_enabled: bool(patch, "port_security_enabled") ?? cur.port_security_enabled,
        parent_name: parent,
        tag,
        revision_number: cur.revision_number + 1,
        updated_at: ctx.now(),
      };
      await updatePort(ctx.nb, ctx.view, { port: p, ...dhcpFor(ctx, p.fixed_ips) }, cur.parent_name);
      return p;
    });
    await ctx.view.until(
      () => ctx.view.portFields(next.id)?.revision_number === next.revision_number,
      ctx.viewWaitMs,
      "updated port",
    );
    return { port: renderPort(next, upOf(ctx, next.id)) };
  });

  app.delete("/v2.0/ports/:id", async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = identityOf(ctx, req);
    await withRetry(ctx, "deleting port", async () => {
      const cur = visiblePort(ctx, who, req.params.id);
      assertMayWritePort(who, cur, "delete_port");
      assertPortNotInTrunk(ctx.view, cur.id);
      const kids = [...(ctx.view.children.get(cur.id)?.values() ?? [])];
      if (kids.length > 0) {
        throw conflict(
          "PortHasChildren",
          `Port ${cur.id} is the parent of container port(s) ${kids.sort().join(", ")}; delete them first`,
        );
      }
      await deletePort(ctx.nb, ctx.view, cur.id);
    });
    await ctx.view.until(() => !ctx.view.ports.has(req.params.id), ctx.viewWaitMs, "deleted port");
    return reply.code(204).send();
  });
}
