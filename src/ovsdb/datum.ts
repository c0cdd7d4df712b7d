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

export function encodeAtom(v: unknown, base: BaseType, where = "value"): unknown {
  switch (base.type) {
    case "uuid":
      if (v instanceof NamedUuid) return ["named-uuid", v.name];
      if (typeof v === "string" && UUID_RE.test(v)) return ["uuid", v.toLowerCase()];
      throw new DatumError(`${where}: expected a uuid or a NamedUuid, got ${show(v)}`);
    case "integer":
      if (typeof v === "number" && Number.isSafeInteger(v)) return v;
      throw new DatumError(`${where}: expected an integer, got ${show(v)}`);
    case "real":
      if (typeof v === "number" && Number.isFinite(v)) return v;
      throw new DatumError(`${where}: expected a real number, got ${show(v)}`);
    case "boolean":
      if (typeof v === "boolean") return v;
      throw new DatumError(`${where}: expected a boolean, got ${show(v)}`);
    case "string":
      if (typeof v === "string" && !v.includes("\u0000") && v.isWellFormed()) return v;
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
    let entries: Array<[unknown, unknown]>;
    if (v instanceof Map) entries = [...v.entries()];
    else if (v && typeof v === "object" && !Array.isArray(v) && !(v instanceof NamedUuid)) {
      entries = Object.entries(v).map(([k, x]) => [mapKeyFromString(k, t.key, where), x]);
    } else if (v === null || v === undefined) entries = [];
    else throw new DatumError(`${where}: expected a map (object or Map), got ${show(v)}`);
    checkSize(entries.length, t, where);
    return [
      "map",
      entries.map(([k, x]) => [
        encodeAtom(k, t.key, `${where} key`),
        encodeAtom(x, vt, `${where}[${String(k)}]`),
      ]),
    ];
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

export function decodeAtom(json: unknown, base: BaseType, where = "value"): Atom {
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
  throw new DatumError(`${where}: expected a ${base.type} atom, got ${show(json)}`);
}

function isTagged(json: unknown, tag: string): json is [string, unknown[]] {
  return Array.isArray(json) && json.length === 2 && json[0] === tag && Array.isArray(json[1]);
}

/** Decodes an RFC 7047 datum for a column of type `t` into its JS value. */
export function decodeDatum(json: unknown, t: ColumnType, where = "value"): Value {
  const kind = columnKind(t);
  if (kind === "map") {
    if (!isTagged(json, "map")) throw new DatumError(`${where}: expected ["map", …], got ${show(json)}`);
    const vt = t.value as BaseType;
    const pairs = json[1].map((p) => {
      if (!Array.isArray(p) || p.length !== 2) throw new DatumError(`${where}: bad map pair ${show(p)}`);
      return [decodeAtom(p[0], t.key, `${where} key`), decodeAtom(p[1], vt, where)] as [Atom, Atom];
    });
    if (t.key.type === "string" || t.key.type === "uuid") {
      const o: Record<string, Atom> = {};
      for (const [k, x] of pairs)
        Object.defineProperty(o, k as string, {
          value: x,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return o;
    }
    return new Map(pairs);
  }
  const elems = isTagged(json, "set")
    ? json[1].map((e) => decodeAtom(e, t.key, where))
    : [decodeAtom(json, t.key, where)];
  if (kind === "atom") {
    if (elems.length !== 1) throw new DatumError(`${where}: expected exactly one atom, got ${elems.length}`);
    return elems[0] as Atom;
  }
  if (kind === "optional") {
    if (elems.length > 1) throw new DatumError(`${where}: expected at most one atom, got ${elems.length}`);
    return elems[0] ?? null;
  }
  return elems;
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
    else Object.defineProperty(cur, k, { value: v, enumerable: true, writable: true, configurable: true });
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
