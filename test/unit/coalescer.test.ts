import assert from "node:assert/strict";
import { test } from "node:test";
import { fuseSetInserts, TransactCoalescer } from "../../src/ovsdb/coalescer.js";

const ins = (n: string) => ({ op: "insert", table: "Logical_Switch_Port", row: { name: n }, "uuid-name": n });
const mut = (n: string, where: unknown[] = [["name", "==", "LS1"]]) => ({
  op: "mutate",
  table: "Logical_Switch",
  where,
  mutations: [["ports", "insert", ["set", [["named-uuid", n]]]]],
});

test("identical set inserts of merged callers become one mutate at the later position", () => {
  const { ops, slot } = fuseSetInserts([ins("a"), mut("a"), ins("b"), mut("b"), ins("c"), mut("c")]);
  assert.deepEqual(
    ops.map((o) => o.op),
    ["insert", "insert", "insert", "mutate"],
  );
  assert.deepEqual((ops[3] as { mutations: unknown[][] }).mutations[0], [
    "ports",
    "insert",
    [
      "set",
      [
        ["named-uuid", "a"],
        ["named-uuid", "b"],
        ["named-uuid", "c"],
      ],
    ],
  ]);
  assert.deepEqual(slot, [0, 3, 1, 3, 2, 3]);
});

test("no fusion across an operation on the same table, or between different rows", () => {
  const sel = { op: "select", table: "Logical_Switch", where: [] };
  assert.equal(fuseSetInserts([ins("a"), mut("a"), sel, ins("b"), mut("b")]).ops.length, 5);
  assert.equal(fuseSetInserts([mut("a"), mut("b", [["name", "==", "LS2"]])]).ops.length, 2);
  const del = {
    op: "mutate",
    table: "Logical_Switch",
    where: [["name", "==", "LS1"]],
    mutations: [["ports", "delete", ["set", []]]],
  };
  assert.equal(fuseSetInserts([mut("a"), del, mut("b")]).ops.length, 3);
});

test("a merged failure is retried one caller at a time; a lost connection fails everyone", async () => {
  const sent: unknown[][] = [];
  const c = new TransactCoalescer(async (ops) => {
    sent.push(ops);
    await new Promise((r) => setTimeout(r, 5));
    if (ops.length > 2) return [{}, { error: "constraint violation" }];
    return ops.map((o) => ((o as { bad?: boolean }).bad ? { error: "constraint violation" } : { count: 1 }));
  });
  const first = c.submit([{ op: "comment", comment: "first" }]);
  const rest = [c.submit([{ op: "x" }]), c.submit([{ op: "y", bad: true }]), c.submit([{ op: "z" }])];
  await first;
  const results = await Promise.all(rest);
  assert.deepEqual(results, [[{ count: 1 }], [{ error: "constraint violation" }], [{ count: 1 }]]);
  assert.equal(c.stats.split, 1);
  assert.equal(c.stats.submitted, 4);

  const broken = new TransactCoalescer(async () => {
    throw new Error("connection lost");
  });
  const all = await Promise.allSettled([broken.submit([{ op: "a" }]), broken.submit([{ op: "b" }])]);
  assert.ok(all.every((r) => r.status === "rejected" && /connection lost/.test(String(r.reason))));
});
