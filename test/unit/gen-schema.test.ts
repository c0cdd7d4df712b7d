import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { columnTsType, generate, SCHEMAS, typeName } from "../../scripts/gen-schema.js";
import { parseSchema } from "../../src/ovsdb/schema.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

for (const s of SCHEMAS) {
  test(`src/ovsdb/schemas/${s.out} is what ${s.file} generates (run npm run gen:schema if not)`, () => {
    const fresh = generate(parseSchema(JSON.parse(readFileSync(s.file, "utf8"))), s.file, s.tablesName);
    assert.equal(readFileSync(path.join(root, "src/ovsdb/schemas", s.out), "utf8"), fresh);
  });
}

test("type names and column types", () => {
  assert.equal(typeName("Logical_Switch_Port"), "LogicalSwitchPort");
  assert.equal(typeName("ACL"), "ACL");
  assert.equal(typeName("Open_vSwitch"), "OpenVSwitch");
  assert.equal(columnTsType({ key: { type: "integer" }, min: 0, max: 1 }), "number | null");
  assert.equal(
    columnTsType({ key: { type: "string", enum: ["a", "b"] }, min: 0, max: Infinity }),
    '("a" | "b")[]',
  );
  assert.equal(
    columnTsType({ key: { type: "string" }, value: { type: "string" }, min: 0, max: Infinity }),
    "Record<string, string>",
  );
  assert.equal(
    columnTsType({ key: { type: "integer" }, value: { type: "uuid" }, min: 0, max: Infinity }),
    "Map<number, string>",
  );
});
