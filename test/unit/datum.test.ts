import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { applyDiff, DatumError, decodeDatum, encodeDatum, NamedUuid } from "../../src/ovsdb/datum.js";
import { type BaseType, type ColumnType, parseSchema } from "../../src/ovsdb/schema.js";
import { valueArb } from "../helpers/arbitraries.js";

/** Round trip through the wire: encode, serialise, parse, decode. */
function roundTrip(v: unknown, t: ColumnType): unknown {
  return decodeDatum(JSON.parse(JSON.stringify(encodeDatum(v, t))), t);
}

const baseTypeArb: fc.Arbitrary<BaseType> = fc.oneof(
  fc.constantFrom<BaseType>(
    { type: "integer" },
    { type: "real" },
    { type: "boolean" },
    { type: "string" },
    { type: "uuid" },
  ),
  fc.constant<BaseType>({ type: "string", enum: ["a", "b", "c"] }),
  fc.constant<BaseType>({ type: "integer", minInteger: 0, maxInteger: 4095 }),
);
const columnTypeArb: fc.Arbitrary<ColumnType> = fc
  .record({
    key: baseTypeArb,
    value: fc.option(baseTypeArb, { nil: undefined }),
    min: fc.constantFrom(0, 1),
    max: fc.constantFrom(1, 2, 5, Number.POSITIVE_INFINITY),
  })
  .map((t) => (t.value === undefined ? { key: t.key, min: t.min, max: t.max } : t));

test("property: any value of any column type survives encode -> JSON -> decode", () => {
  fc.assert(
    fc.property(
      columnTypeArb.chain((t) => fc.tuple(fc.constant(t), valueArb(t))),
      ([t, v]) => {
        assert.deepStrictEqual(roundTrip(v, t), v);
      },
    ),
    { numRuns: 2000 },
  );
});

for (const file of ["/usr/share/ovn/ovn-nb.ovsschema", "/usr/share/openvswitch/vswitch.ovsschema"]) {
  test(`property: random rows of every table of ${file} round-trip`, () => {
    const schema = parseSchema(JSON.parse(readFileSync(file, "utf8")));
    for (const [tname, table] of Object.entries(schema.tables)) {
      const cols = Object.entries(table.columns);
      const rowArb = fc.record(Object.fromEntries(cols.map(([c, s]) => [c, valueArb(s.type)])));
      fc.assert(
        fc.property(rowArb, (row) => {
          const back: Record<string, unknown> = {};
          for (const [c, s] of cols) back[c] = roundTrip(row[c], s.type);
          assert.deepStrictEqual(back, { ...row }, tname);
        }),
        { numRuns: 30 },
      );
    }
  });
}

test("wire forms are those of RFC 7047", () => {
  const uuid = "0f6b6a7e-2d0c-4a3f-9c52-3a0c2d1e4b5a";
  assert.deepEqual(encodeDatum(uuid, { key: { type: "uuid" }, min: 1, max: 1 }), ["uuid", uuid]);
  assert.deepEqual(encodeDatum(new NamedUuid("p1"), { key: { type: "uuid" }, min: 1, max: 1 }), [
    "named-uuid",
    "p1",
  ]);
  assert.deepEqual(encodeDatum(null, { key: { type: "integer" }, min: 0, max: 1 }), ["set", []]);
  assert.deepEqual(encodeDatum(7, { key: { type: "integer" }, min: 0, max: 1 }), 7);
  assert.deepEqual(encodeDatum(["a"], { key: { type: "string" }, min: 0, max: Infinity }), ["set", ["a"]]);
  assert.deepEqual(
    encodeDatum({ k: "v" }, { key: { type: "string" }, value: { type: "string" }, min: 0, max: Infinity }),
    ["map", [["k", "v"]]],
  );
  // A one-element set may arrive as the bare atom (RFC 7047 5.1).
  assert.deepEqual(decodeDatum("x", { key: { type: "string" }, min: 0, max: Infinity }), ["x"]);
  assert.deepEqual(decodeDatum(["set", []], { key: { type: "string" }, min: 0, max: 1 }), null);
});

test("bad values are refused with the column and the reason", () => {
  const t: ColumnType = { key: { type: "integer" }, min: 1, max: 1 };
  assert.throws(
    () => encodeDatum("10", t, "Port.tag"),
    (e: Error) => e instanceof DatumError && /Port\.tag: expected an integer, got "10"/.test(e.message),
  );
  assert.throws(() => encodeDatum(1.5, t), DatumError);
  assert.throws(() => encodeDatum(2 ** 60, t), DatumError);
  assert.throws(
    () => encodeDatum("not-a-uuid", { key: { type: "uuid" }, min: 1, max: 1 }),
    /expected a uuid/,
  );
  assert.throws(
    () => encodeDatum(["a", "b"], { key: { type: "string" }, min: 0, max: 1 }),
    /2 element\(s\), the column takes 0 to 1/,
  );
  assert.throws(() => new NamedUuid("1bad"), DatumError);
  // ovsdb-server drops the session on a string that is not valid UTF-8.
  assert.throws(
    () => encodeDatum("a\ud800", { key: { type: "string" }, min: 1, max: 1 }, "LS.name"),
    /LS\.name: OVSDB strings must be valid Unicode/,
  );
  assert.equal(encodeDatum("a😀", { key: { type: "string" }, min: 1, max: 1 }), "a😀");
  assert.throws(
    () => decodeDatum(["set", ["a", "b"]], { key: { type: "string" }, min: 1, max: 1 }),
    /exactly one atom/,
  );
});

test("update2 diffs: sets toggle, maps add/replace/remove, optional columns take the new value", () => {
  const set: ColumnType = { key: { type: "string" }, min: 0, max: Infinity };
  assert.deepEqual(applyDiff(["a", "b"], ["set", ["b", "c"]], set), ["a", "c"]);
  const map: ColumnType = { key: { type: "string" }, value: { type: "string" }, min: 0, max: Infinity };
  assert.deepEqual(
    applyDiff(
      { keep: "1", drop: "2", change: "3" },
      [
        "map",
        [
          ["drop", "2"],
          ["change", "4"],
          ["add", "5"],
        ],
      ],
      map,
    ),
    { keep: "1", change: "4", add: "5" },
  );
  const opt: ColumnType = { key: { type: "integer" }, min: 0, max: 1 };
  assert.equal(applyDiff(10, 20, opt), 20);
  assert.equal(applyDiff(null, 20, opt), 20);
  assert.equal(applyDiff(10, ["set", []], opt), null);
  const atom: ColumnType = { key: { type: "boolean" }, min: 1, max: 1 };
  assert.equal(applyDiff(true, false, atom), false);
});

test("successive set diffs on a large set stay correct (membership carried from value to value)", () => {
  const set: ColumnType = { key: { type: "string" }, min: 0, max: Number.POSITIVE_INFINITY };
  let v = applyDiff([], ["set", Array.from({ length: 1000 }, (_, i) => `p${i}`)], set) as string[];
  const older = v;
  v = applyDiff(v, ["set", ["p5", "new"]], set) as string[];
  v = applyDiff(v, ["set", ["p5"]], set) as string[];
  v = applyDiff(v, "p999", set) as string[];
  assert.equal(v.length, 1000);
  assert.ok(v.includes("p5") && v.includes("new") && !v.includes("p999"));
  assert.equal(older.length, 1000, "earlier values are not changed");
  assert.ok(older.includes("p999") && !older.includes("new"));
  // a diff applied to an old value again still gives the right answer
  assert.deepEqual((applyDiff(older, ["set", ["p0"]], set) as string[]).length, 999);
});

test("map keys that name Object.prototype's members stay own keys: decode and diff never touch the prototype", () => {
  const t: ColumnType = {
    key: { type: "string" },
    value: { type: "string" },
    min: 0,
    max: Number.POSITIVE_INFINITY,
  };
  const keys = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "1", "a"];
  const wire = ["map", keys.map((k) => [k, `v-${k}`])];
  const o = decodeDatum(wire, t) as Record<string, string>;
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  for (const k of keys) {
    assert.ok(Object.hasOwn(o, k), k);
    assert.equal(o[k], `v-${k}`);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(encodeDatum(o, t))), [
    "map",
    ["1", ...keys.filter((k) => k !== "1")].map((k) => [k, `v-${k}`]),
  ]);
  // Replace __proto__'s value, remove constructor (same value), add a key.
  const d = applyDiff(
    o,
    [
      "map",
      [
        ["__proto__", "w"],
        ["constructor", "v-constructor"],
        ["b", "x"],
      ],
    ],
    t,
  ) as Record<string, string>;
  assert.equal(Object.getPrototypeOf(d), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(d, "__proto__")?.value, "w");
  assert.ok(Object.hasOwn(d, "__proto__"));
  assert.ok(!Object.hasOwn(d, "constructor"));
  assert.equal(d.b, "x");
  assert.equal(
    Object.getOwnPropertyDescriptor(o, "__proto__")?.value,
    "v-__proto__",
    "the old value is left as it was",
  );
});
