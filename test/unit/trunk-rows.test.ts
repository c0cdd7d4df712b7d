// Trunks in NB: the trunk object round-trips through its parent port's external_ids, rows are
// told apart as parent or subport, and the request validation reads as Neutron's.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  parentRowToTrunk,
  TRUNK_ID_KEY,
  type TrunkFields,
  trunkIdOfParentRow,
  trunkIdOfSubportRow,
  trunkKeysOf,
  trunkToExternalIds,
  withoutTrunkKeys,
} from "../../src/ovn/trunk-rows.js";
import { NeutronError } from "../../src/server/neutron/errors.js";
import { parseSubports } from "../../src/server/neutron/trunks.js";

const PARENT = "8027c4da-772f-4e43-bfbf-023b4a4e63de";
const SUB = "4b4c691b-086d-43d2-8a65-5487e9434155";
const SUB2 = "70df9f3e-b409-4761-8304-ce029b2079f5";
const TRUNK: TrunkFields = {
  id: "114a26b1-d124-4835-bb4f-021d3d886023",
  port_id: PARENT,
  project_id: "145a14e4a64b49bf98baad8945dbd4f1",
  name: "trunk-vm-a",
  description: "containers of VM-A",
  admin_state_up: false,
  revision_number: 4,
  created_at: "2026-11-29T00:00:00Z",
  updated_at: "2026-11-29T00:01:00Z",
};
const PORT_KEYS = { "neutron:project_id": TRUNK.project_id, "ovn-docker:owner": "ovn-docker" };

test("the trunk round-trips through the parent's external_ids, next to the port's own keys", () => {
  const row = {
    name: PARENT,
    parent_name: null,
    tag: null,
    external_ids: { ...PORT_KEYS, ...trunkToExternalIds(TRUNK) },
  };
  assert.deepEqual(parentRowToTrunk(row), TRUNK);
  assert.equal(trunkIdOfParentRow(row), TRUNK.id);
  assert.equal(trunkIdOfSubportRow(row), undefined);
  assert.deepEqual(withoutTrunkKeys(row.external_ids), PORT_KEYS);
  assert.deepEqual(trunkKeysOf(row.external_ids), trunkToExternalIds(TRUNK));
  for (const k of Object.keys(trunkToExternalIds(TRUNK))) assert.match(k, /^ovn-docker:trunk_/);
});

test("any trunk round-trips", () => {
  const arb = fc.record({
    id: fc.uuid(),
    port_id: fc.uuid(),
    project_id: fc.string({ minLength: 1 }),
    name: fc.string(),
    description: fc.string(),
    admin_state_up: fc.boolean(),
    revision_number: fc.nat(),
    created_at: fc.string(),
    updated_at: fc.string(),
  });
  fc.assert(
    fc.property(arb, (t) => {
      const row = { name: t.port_id, parent_name: null, tag: null, external_ids: trunkToExternalIds(t) };
      assert.deepEqual(parentRowToTrunk(row), { ...t });
    }),
  );
});

test("a subport row: trunk id, parent_name and tag; a plain container port is no subport", () => {
  const sub = { name: SUB, parent_name: PARENT, tag: 44, external_ids: { [TRUNK_ID_KEY]: TRUNK.id } };
  assert.equal(trunkIdOfSubportRow(sub), TRUNK.id);
  assert.equal(trunkIdOfParentRow(sub), undefined);
  assert.equal(parentRowToTrunk(sub), undefined);
  const child = { ...sub, external_ids: {} };
  assert.equal(trunkIdOfSubportRow(child), undefined);
  assert.equal(trunkIdOfSubportRow({ ...sub, tag: null }), undefined);
});

function rejects(f: () => unknown, status: number, type: string, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof NeutronError);
    assert.deepEqual([e.status, e.type, e.message], [status, type, message]);
    return true;
  });
}

test("validate_subports: Neutron's messages, as the API layer (POST) and as the plugin (actions)", () => {
  const ok = [
    { port_id: SUB, segmentation_type: "vlan", segmentation_id: 44 },
    { port_id: SUB2, segmentation_type: "vlan", segmentation_id: 33 },
  ];
  assert.deepEqual(parseSubports(ok, "attribute"), ok);
  assert.deepEqual(parseSubports([{ port_id: SUB }], "action"), [{ port_id: SUB }]);
  rejects(
    () => parseSubports({ port_id: SUB }, "attribute"),
    400,
    "HTTPBadRequest",
    `Invalid input for sub_ports. Reason: Invalid data format for subports: '{'port_id': '${SUB}'}' is not a list.`,
  );
  rejects(
    () => parseSubports(undefined, "action"),
    400,
    "InvalidInput",
    "Invalid input for operation: Invalid data format for subports: 'None' is not a list.",
  );
  rejects(
    () => parseSubports(["x"], "action"),
    400,
    "InvalidInput",
    "Invalid input for operation: Invalid data format for subport: 'x' is not a dict.",
  );
  rejects(
    () => parseSubports([{ segmentation_id: 1 }], "action"),
    400,
    "InvalidInput",
    "Invalid input for operation: A valid port UUID must be specified.",
  );
  rejects(
    () => parseSubports([{ port_id: "vm-a" }], "action"),
    400,
    "InvalidInput",
    "Invalid input for operation: Invalid UUID for subport: 'vm-a'.",
  );
  rejects(
    () => parseSubports([{ port_id: SUB }, { port_id: SUB }], "action"),
    400,
    "InvalidInput",
    `Invalid input for operation: Non unique UUID for subport: '${SUB}'.`,
  );
  rejects(
    () => parseSubports([{ port_id: SUB, segmentation_id: 5 }], "action"),
    400,
    "InvalidInput",
    `Invalid input for operation: Invalid subport details '{'port_id': '${SUB}', 'segmentation_id': 5}': missing segmentation information. Must specify both segmentation_id and segmentation_type.`,
  );
  rejects(
    () => parseSubports([ok[0], { ...ok[1], segmentation_id: 44 }], "attribute"),
    400,
    "HTTPBadRequest",
    `Invalid input for sub_ports. Reason: Segmentation ID '44' for '${SUB2}' is not unique.`,
  );
});
