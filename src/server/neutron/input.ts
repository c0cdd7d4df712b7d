// Reading request bodies: Neutron's single ({"port": {...}}) and bulk ({"ports": [...]})
// forms, and typed attribute access that answers 400 naming the attribute.

import type { FastifyRequest } from "fastify";
import { badRequest, httpBadRequest, invalidInput } from "./errors.js";

export function readBody(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== "object" || Array.isArray(b))
    throw httpBadRequest("Request body must be a JSON object");
  return b as Record<string, unknown>;
}

export function oneOrMany(
  body: Record<string, unknown>,
  singular: string,
  plural: string,
): { items: Array<Record<string, unknown>>; bulk: boolean } {
  const keys = Object.keys(body);
  if (keys.length === 1 && keys[0] === plural && Array.isArray(body[plural])) {
    const items = body[plural] as unknown[];
    if (items.length === 0) throw badRequest(singular, `${plural} must not be empty`);
    return { items: items.map((x) => asObject(x, singular)), bulk: true };
  }
  if (keys.length === 1 && keys[0] === singular)
    return { items: [asObject(body[singular], singular)], bulk: false };
  throw badRequest(singular, `Resource body required: {"${singular}": {...}} or {"${plural}": [...]}`);
}

function asObject(x: unknown, what: string): Record<string, unknown> {
  if (!x || typeof x !== "object" || Array.isArray(x))
    throw badRequest(what, `${what} must be a JSON object`);
  return x as Record<string, unknown>;
}

export function str(o: Record<string, unknown>, k: string, max = 255): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw badRequest(k, `'${String(v)}' is not a valid string for ${k}`);
  if (v.length > max) throw badRequest(k, `'${v.slice(0, 20)}…' exceeds maximum length of ${max} for ${k}`);
  if (v.includes("\u0000")) throw badRequest(k, `${k} must not contain NUL characters`);
  return v;
}

const TRUE = new Set(["1", "t", "true", "on", "y", "yes"]);
const FALSE = new Set(["0", "f", "false", "off", "n", "no"]);

/** A boolean as neutron-lib's convert_to_boolean takes it (true/1/"yes"/"On"..., false/0/"no"...). */
export function bool(o: Record<string, unknown>, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v === "boolean") return v;
  if (typeof v === "number" || typeof v === "string") {
    const s = String(v).trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  throw invalidInput(`'${typeof v === "string" ? v : JSON.stringify(v)}' cannot be converted to boolean`);
}

export function int(o: Record<string, unknown>, k: string): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n))
    throw badRequest(k, `'${String(v)}' is not an integer`);
  return n;
}

/** The object of an update request, {"<resource>": {...}}. */
export function patchOf(body: Record<string, unknown>, resource: string): Record<string, unknown> {
  const p = body[resource];
  if (!p || typeof p !== "object" || Array.isArray(p)) {
    throw badRequest(
      resource,
      `Resource body required: {"${resource}": {...}} with the attributes to change`,
    );
  }
  return p as Record<string, unknown>;
}
