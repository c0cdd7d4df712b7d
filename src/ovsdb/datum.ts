// OVSDB datum encoding (RFC 7047 section 5.1), driven by the column's type so that
// values read back are the same JS values that were written:
//   one atom            -> the atom itself          (string | number | boolean; uuids as their string)
//   optional atom       -> the atom or null          (["set", []] on the wire when null)
//   set                 -> an array of atoms         (["set", [...]] on the wire)
//   map, string keys    -> a plain object            (["map", [[k, v], ...]] on the wire)
//   map, other keys     -> a Map
// A uuid written as new NamedUuid("x") becomes ["named-uuid", "x"] (rows inserted in the same transaction).

import { type BaseType, type ColumnType, columnKind } from "./schema.js";

export type Atom = string | number | boolean;

/** A reference to a row inserted earlier in the same transaction under `uuid-name`. */
export class NamedUuid {
  constructor(readonly name: string) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      throw new DatumError(
        `invalid uuid-name "${name}": use letters, digits and _, not starting with a digit`,
      );
    }
  }
  toJSON(): ["named-uuid", string] {
    return ["named-uuid", this.name];
  }
}

export type WritableAtom = Atom | NamedUuid;
export type Value = Atom | null | Atom[] | Record<string, Atom> | Map<Atom, Atom>;
export type WritableValue =
  | WritableAtom
  | null
  | undefined
  | WritableAtom[]
  | ReadonlySet<WritableAtom>
  | Record<string, WritableAtom>
  | Map<WritableAtom, WritableAtom>;

export class DatumError extends Error {
  override name = "DatumError";
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

// ---------------------------------------------------------------- encode

const INVALID: unique symbol = Symbol("invalid atom");

/** The wire form of an atom, or INVALID (encodeAtom says why). No string is built on the way. */
function atomOrInvalid(v: unknown, base: BaseType): unknown {
  switch (base.type) {
    case "uuid":
      if (v instanceof NamedUuid) return ["named-uuid", v.name];
      if (typeof v === "string" && UUID_RE.test(v)) return ["uuid", v.toLowerCase()];
      return INVALID;
    case "integer":
      return typeof v === "number" && Number.isSafeInteger(v) ? v : INVALID;
    case "real":
      return typeof v === "number" && Number.isFinite(v) ? v : INVALID;
    case "boolean":
      return typeof v === "boolean" ? v : INVALID;
    case "string":
      return typeof v === "string" && !v.includes("\u0000") && v.isWellFormed() ? v : INVALID;
  }
}

export function encodeAtom(v: unknown, base: BaseType, where = "value"): unknown {
  const r = atomOrInvalid(v, base);
  if (r !== INVALID) return r;
  switch (base.type) {
    case "uuid":
      throw new DatumError(`${where}: expected a uuid or a NamedUuid, got ${show(v)}`);
    case "integer":
      throw new DatumError(`${where}: expected an integer, got ${show(v)}`);
    case "real":
      throw new DatumError(`${where}: expected a real number, got ${show(v)}`);
    case "boolean":
      throw new DatumError(`${where}: expected a boolean, got ${show(v)}`);
    case "string":
      if (typeof v === "string" && !v.isWellFormed()) {
        // ovsdb-server drops the whole session when a string is not valid UTF-8.
        throw new DatumError(
          `${where}: OVSDB strings must be valid Unicode (this one has an unpaired surrogate)`,
        );
      }
      if (typeof v === "string") throw new DatumError(`${where}: OVSDB strings cannot contain NUL (U+0000)`);
      throw new DatumError(`${where}: expected a string, got ${show(v)}`);
  }
}

function mapKeyFromString(k: string, base: BaseType, where: string): unknown {
  if (base.type === "string" || base.type === "uuid") return k;
  if (base.type === "integer" || base.type === "real") {
    const n = Number(k);
    if (k.trim() !== "" && Number.isFinite(n)) return n;
  }
  if (base.type === "boolean" && (k === "true" || k === "false")) return k === "true";
  throw new DatumError(`${where}: map key "${k}" is not a ${base.type}`);
}

/** Encodes a JS value for a column of type `t` into its RFC 7047 JSON form. */
export function encodeDatum(v: unknown, t: ColumnType, where = "value"): unknown {
  const kind = columnKind(t);
  if (kind === "atom") return encodeAtom(v, t.key, where);
  if (kind === "map") {
    const vt = t.value as BaseType;
    const out: unknown[] = [];
    const pair = (k: unknown, x: unknown) => {
      const ek = atomOrInvalid(k, t.key);
      const ex = atomOrInvalid(x, vt);
      // The error path only: encodeAtom throws with the key in the message.
      if (ek === INVALID) encodeAtom(k, t.key, `${where} key`);
      if (ex === INVALID) encodeAtom(x, vt, `${where}[${String(k)}]`);
      out.push([ek, ex]);
    };
    if (v instanceof Map) {
      checkSize(v.size, t, where);
      for (const [k, x] of v) pair(k, x);
    } else if (v && typeof v === "object" && !Array.isArray(v) && !(v instanceof NamedUuid)) {
      const keys = Object.keys(v);
      checkSize(keys.length, t, where);
      const o = v as Record<string, unknown>;
      for (const k of keys) pair(mapKeyFromString(k, t.key, where), o[k]);
    } else if (v === null || v === undefined) checkSize(0, t, where);
    else throw new DatumError(`${where}: expected a map (object or Map), got ${show(v)}`);
    return ["map", out];
  }
  let elems: unknown[];
  if (v === null || v === undefined) elems = [];
  else if (Array.isArray(v)) elems = v;
  else if (v instanceof Set) elems = [...v];
  else if (kind === "optional" || kind === "set") elems = [v];
  else elems = [v];
  checkSize(elems.length, t, where);
  if (kind === "optional" && elems.length === 1) return encodeAtom(elems[0], t.key, where);
  return ["set", elems.map((e) => encodeAtom(e, t.key, where))];
}

function checkSize(n: number, t: ColumnType, where: string): void {
  if (n < t.min || n > t.max) {
    const max = t.max === Number.POSITIVE_INFINITY ? "unlimited" : t.max;
    throw new DatumError(`${where}: ${n} element(s), the column takes ${t.min} to ${max}`);
  }
}

/**
 * Encodes the value of a condition or mutation, where the value may legitimately be a
 * single atom (e.g. ["tag", "==", 10]) or a set/map (e.g. ["ports", "includes", [...]])
 * whatever the column's cardinality.
 */
export function encodeOperand(v: unknown, t: ColumnType, where = "operand"): unknown {
  const loose: ColumnType = { ...t, min: 0, max: Number.POSITIVE_INFINITY };
  if (t.value) return encodeDatum(v, loose, where);
  if (v === null || v === undefined || Array.isArray(v) || v instanceof Set)
    return encodeDatum(v, loose, where);
  return encodeAtom(v, t.key, where);
}

// ---------------------------------------------------------------- decode

/** `suffix` is appended to `where` in the error message (e.g. " key"). */
export function decodeAtom(json: unknown, base: BaseType, where = "value", suffix = ""): Atom {
  switch (base.type) {
    case "uuid":
      if (Array.isArray(json) && json.length === 2 && json[0] === "uuid" && typeof json[1] === "string") {
        return json[1];
      }
      break;
    case "integer":
      if (typeof json === "number" && Number.isInteger(json)) return json;
      break;
    case "real":
      if (typeof json === "number") return json;
      break;
    case "boolean":
      if (typeof json === "boolean") return json;
      break;
    case "string":
      if (typeof json === "string") return json;
      break;
  }
  throw new DatumError(`${where}${suffix}: expected a ${base.type} atom, got ${show(json)}`);
}

function isTagged(json: unknown, tag: string): json is [string, unknown[]] {
  return Array.isArray(json) && json.length === 2 && json[0] === tag && Array.isArray(json[1]);
}

/**
 * Sets an own property of a plain object. Plain assignment, except for "__proto__", whose
 * assignment would set the prototype instead (a map key may be any string). Assignment keeps
 * the object's shape shared and fast; defineProperty per key cost ~4 µs per 13-key map.
 */
function setOwn(o: Record<string, Atom>, k: string, v: Atom): void {
  if (k === "__proto__")
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Decodes an RFC 7047 datum for a column of type `t` into its JS value. */
export function decodeDatum(json: unknown, t: ColumnType, where = "value"): Value {
  const kind = columnKind(t);
  if (kind === "map") {
    if (!isTagged(json, "map")) throw new DatumError(`${where}: expected ["map", …], got ${show(json)}`);
    const vt = t.value as BaseType;
    const pairs = json[1];
    const byString = t.key.type === "string" || t.key.type === "uuid";
    const o: Record<string, Atom> = {};
    const m = byString ? undefined : new Map<Atom, Atom>();
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i];
      if (!Array.isArray(p) || p.length !== 2) throw new DatumError(`${where}: bad map pair ${show(p)}`);
      const k = decodeAtom(p[0], t.key, where, " key");
      const v = decodeAtom(p[1], vt, where);
      if (m) m.set(k, v);
      else setOwn(o, k as string, v);
    }
    return m ?? o;
  }
  if (isTagged(json, "set")) {
    const raw = json[1];
    if (kind === "atom" && raw.length !== 1)
      throw new DatumError(`${where}: expected exactly one atom, got ${raw.length}`);
    if (kind === "optional" && raw.length > 1)
      throw new DatumError(`${where}: expected at most one atom, got ${raw.length}`);
    const elems = new Array<Atom>(raw.length);
    for (let i = 0; i < raw.length; i++) elems[i] = decodeAtom(raw[i], t.key, where);
    if (kind === "set") return elems;
    return elems[0] ?? null;
  }
  const one = decodeAtom(json, t.key, where);
  return kind === "set" ? [one] : one;
}

/**
 * Membership of set values produced by toggleElements, so that a small diff against a large
 * set (a switch's ports) costs O(diff) lookups instead of rebuilding a Set of the whole value
 * every time. The Set moves from the old array to the new one; old arrays stay intact.
 */
const setMembers = new WeakMap<readonly Atom[], Set<Atom>>();

function toggleElements(old: readonly Atom[], diff: readonly Atom[]): Atom[] {
  const members = setMembers.get(old) ?? new Set(old);
  setMembers.delete(old);
  const next = old.slice();
  for (const d of diff) {
    if (members.has(d)) {
      members.delete(d);
      next.splice(next.indexOf(d), 1);
    } else {
      members.add(d);
      next.push(d);
    }
  }
  setMembers.set(next, members);
  return next;
}

/**
 * Applies an update2 "modify" diff (RFC 7047 extension, ovsdb-server(7)) to a decoded value:
 * for a set the diff lists elements to toggle; for a map, a key with the same value is
 * removed, with another value replaced, and a new key added; for a column of at most one
 * element the diff is the new value.
 */
export function applyDiff(old: Value, diffJson: unknown, t: ColumnType, where = "value"): Value {
  const kind = columnKind(t);
  if (kind === "atom") return decodeDatum(diffJson, t, where);
  // ovsdb-server sends the new value for columns that hold at most one element (measured:
  // clearing parent_name arrives as ["set", []], up true->false as false); only sets and
  // maps come as differences.
  if (kind === "optional") return decodeDatum(diffJson, t, where);
  if (kind === "set") {
    return toggleElements(old as Atom[], decodeDatum(diffJson, { ...t, min: 0 }, where) as Atom[]);
  }
  const diff = decodeDatum(diffJson, t, where);
  if (diff instanceof Map) {
    const cur = new Map(old as Map<Atom, Atom>);
    for (const [k, v] of diff) {
      if (cur.has(k) && cur.get(k) === v) cur.delete(k);
      else cur.set(k, v);
    }
    return cur;
  }
  const cur: Record<string, Atom> = { ...(old as Record<string, Atom>) };
  for (const [k, v] of Object.entries(diff as Record<string, Atom>)) {
    if (Object.hasOwn(cur, k) && cur[k] === v) delete cur[k];
    else setOwn(cur, k, v);
  }
  return cur;
}

function show(v: unknown): string {
  if (v instanceof NamedUuid) return `NamedUuid(${v.name})`;
  if (v instanceof Map) return `Map(${v.size})`;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}
