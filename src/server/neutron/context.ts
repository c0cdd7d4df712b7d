// What every Neutron route needs: the NB handle and its view, the authenticator, the
// configuration, and the helpers that turn failures into Neutron's answers.

import { randomUUID } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { NeutronView } from "../../ovn/neutron-view.js";
import { StaleViewError } from "../../ovn/neutron-writes.js";
import { NotConnectedError } from "../../ovsdb/client.js";
import type { Database } from "../../ovsdb/database.js";
import { ConnectionClosedError } from "../../ovsdb/rpc.js";
import type { NbTables } from "../../ovsdb/schemas/ovn-nb.generated.js";
import type { ServerConfig } from "../config.js";
import { KeystoneError } from "../keystone/errors.js";
import type { Authenticator, Identity } from "../keystone/identity.js";
import { httpBadRequest, isNeutronError, NeutronError, unavailable } from "./errors.js";
import type { SubnetAllocator } from "./ipam.js";
import type { MacPrefix } from "./macs.js";
import { applyListQuery, type ListSpec, listBody, parseListQuery, type QueryInput } from "./query.js";
import type { Resource } from "./render.js";

export interface NeutronContext {
  nb: Database<NbTables>;
  view: NeutronView;
  auth: Authenticator;
  config: ServerConfig;
  /** ISO timestamps without milliseconds, as Neutron writes them. */
  now: () => string;
  /** How long to wait for this server's own write to show in its view (ms). */
  viewWaitMs: number;
  /** The configured MAC prefix, parsed once. */
  macPrefix: MacPrefix;
  /** Per subnet (id/revision), the address allocator: its cursor is only a hint. */
  allocators: Map<string, SubnetAllocator>;
}

export function isoNow(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

export const newId = (): string => randomUUID();

/**
 * The caller, authenticated; and the guarantee that NB is reachable: while it is not, every
 * request fails at once with 503 rather than answering from a view that may be stale.
 */
export function identityOf(ctx: NeutronContext, req: FastifyRequest): Identity {
  if (!ctx.nb.client.connected) {
    throw unavailable("OVN Northbound is unreachable; the request was not processed, retry later");
  }
  try {
    return ctx.auth.authenticate(req);
  } catch (e) {
    if (e instanceof KeystoneError) throw new NeutronError(401, "NotAuthenticated", e.message);
    throw e;
  }
}

/** Waits before deciding again after a failed guard: for the view to learn what changed, plus jitter. */
export async function backOff(ctx: NeutronContext, attempt: number): Promise<void> {
  await ctx.view.nextUpdate(50);
  await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
}

/** Runs a decision + write, deciding again (bounded) when another replica changed its inputs. */
export async function withRetry<T>(
  ctx: NeutronContext,
  what: string,
  f: () => Promise<T>,
  attempts = 20,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof StaleViewError)) throw e;
      if (i >= attempts) throw unavailable(`${what}: still contended after ${attempts} attempts, try again`);
      await backOff(ctx, i);
    }
  }
}

/** Neutron's answer for any error a route throws. */
export function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  let err: NeutronError;
  if (isNeutronError(e)) err = e;
  else if (e instanceof NotConnectedError || e instanceof ConnectionClosedError) {
    err = unavailable(`OVN Northbound is unreachable: ${e.message}`);
  } else if ((e as { validation?: unknown }).validation) {
    err = httpBadRequest(`Invalid input: ${(e as Error).message}`);
  } else if ((e as { statusCode?: number }).statusCode === 400) {
    err = httpBadRequest((e as Error).message);
  } else {
    reply.log.error({ err: e }, "unexpected error");
    err = new NeutronError(
      500,
      "HTTPInternalServerError",
      "Request Failed: internal server error while processing your request.",
    );
  }
  return reply.code(err.status).send(err.toBody());
}

/** A list request: visible items, Neutron's query semantics, the `<collection>` body. */
export function listResponse(
  req: FastifyRequest,
  collection: string,
  items: readonly Resource[],
  spec: ListSpec,
): Record<string, unknown> {
  const q = parseListQuery(req.query as QueryInput, spec);
  const base = `${req.protocol}://${req.headers.host ?? "localhost"}${req.url.split("?")[0]}`;
  return listBody(collection, applyListQuery(items, q, { collection, baseUrl: base }));
}

/** `?fields=` on a show request. */
export function projectFields(req: FastifyRequest, item: Resource): Record<string, unknown> {
  const raw = (req.query as Record<string, string | string[] | undefined>).fields;
  if (raw === undefined) return item;
  const wanted = new Set(Array.isArray(raw) ? raw : [raw]);
  return Object.fromEntries(Object.entries(item).filter(([k]) => wanted.has(k)));
}

export function attributesOf(sample: Resource): ReadonlySet<string> {
  return new Set(Object.keys(sample));
}
