// fast-check arbitraries for OVSDB values in their decoded JS form, derived from column types.
import fc from "fast-check";
import type { Atom } from "../../src/ovsdb/datum.js";
import { type BaseType, type ColumnType, columnKind } from "../../src/ovsdb/schema.js";

export function atomArb(b: BaseType): fc.Arbitrary<Atom> {
  if (b.enum && b.enum.length > 0) return fc.constantFrom(...b.enum);
  switch (b.type) {
    case "integer":
      return fc.integer({
        min: Math.max(b.minInteger ?? Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
        max: Math.min(b.maxInteger ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      });
    case "real":
      return fc
        .double({ noNaN: true, noDefaultInfinity: true, min: b.minReal ?? -1e300, max: b.maxReal ?? 1e300 })
        .filter((x) => !Object.is(x, -0));
    case "boolean":
      return fc.boolean();
    case "uuid":
      return fc.uuid().map((u) => u.toLowerCase());
    case "string":
      // OVSDB strings cannot hold NUL; the encoder refuses it.
      return fc
        .string({ unit: "binary", minLength: b.minLength ?? 0, maxLength: Math.min(b.maxLength ?? 20, 20) })
        .map((x) => x.replaceAll("\u0000", "0"));
  }
}

/** Values in their decoded JS form for a column type. */
export function valueArb(t: ColumnType): fc.Arbitrary<unknown> {
  const key = atomArb(t.key);
  const maxLen = Math.min(t.max, 6);
  switch (columnKind(t)) {
    case "atom":
      return key;
    case "optional":
      return fc.option(key, { nil: null });
    case "set":
      return fc.uniqueArray(key, { minLength: t.min, maxLength: Math.max(maxLen, t.min) });
    case "map": {
      const pairs = fc.uniqueArray(fc.tuple(key, atomArb(t.value as BaseType)), {
        minLength: t.min,
        maxLength: Math.max(maxLen, t.min),
        selector: (p) => p[0],
      });
      if (t.key.type === "string" || t.key.type === "uuid") {
        return pairs.map((ps) => {
          const o: Record<string, Atom> = {};
          for (const [k, v] of ps)
            Object.defineProperty(o, String(k), {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          return o;
        });
      }
      return pairs.map((ps) => new Map(ps));
    }
  }
}
