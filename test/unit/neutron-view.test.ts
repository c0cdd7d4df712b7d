// The NB view's indexes after any sequence of port inserts, modifications and deletes are the
// ones a fresh view builds from the final rows alone: a modification updates the indexes in
// place (see NeutronView.onPort) and must forget exactly what the row no longer has; an
// address two rows hold stays in use until both are gone.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import type { CountedSet } from "../../src/ovn/counted-set.js";
import { OWNER_KEY, OWNER_VALUE } from "../../src/ovn/neutron-rows.js";
import { NeutronView } from "../../src/ovn/neutron-view.js";
import { TRUNK_ID_KEY } from "../../src/ovn/trunk-rows.js";
import type { TableUpdates } from "../../src/ovsdb/client.js";
import { parseSchema } from "../../src/ovsdb/schema.js";

const schema = parseSchema(JSON.parse(readFileSync("/usr/share/ovn/ovn-nb.ovsschema", "utf8")));
const NETS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"];
const SLOTS = 6;
const uuidOf = (slot: number) => `00000000-0000-4000-8000-00000000000${slot}`;

type Wire = Record<string, unknown>;
const map = (o: Record<string, string>) => ["map", Object.entries(o)];
const set = (xs: unknown[]) => (xs.length === 1 ? xs[0] : ["set", xs]);

const switches: TableUpdates = {
  Logical_Switch: Object.fromEntries(
    NETS.map((id, i) => [
      `aaaaaaaa-0000-4000-8000-00000000000${i}`,
      {
        kind: "initial" as const,
        row: { name: `neutron-${id}`, external_ids: map({ [OWNER_KEY]: OWNER_VALUE }) },
      },
    ]),
  ),
};

/** A port row of slot `s`: its addresses, tags and trunk ids are its own, so slots never clash. */
const rowOf = (s: number) =>
  fc
    .record({
      renamed: fc.boolean(),
      net: fc.constantFrom(-1, 0, 1),
      ours: fc.boolean(),
      mac: fc.constantFrom(undefined, 1, 2),
      ips: fc.subarray([1, 2, 3]),
      // Addresses some other slot may hold too (a foreign row can repeat one of ours).
      shared: fc.boolean(),
      parent: fc.constantFrom(undefined, "pa", "pb"),
      tag: fc.constantFrom(0, 1),
      trunk: fc.constantFrom(undefined, "own", "t0", "t1"),
      up: fc.boolean(),
    })
    .map((r): Wire => {
      const x: Record<string, string> = {};
      if (r.net >= 0) x["neutron:network_name"] = `neutron-${NETS[r.net]}`;
      if (r.ours) x[OWNER_KEY] = OWNER_VALUE;
      // A trunk parent (no parent_name) holds its own trunk id; a subport may be in any trunk.
      if (r.trunk) x[TRUNK_ID_KEY] = r.trunk === "own" || !r.parent ? `t${s}` : r.trunk;
      const own = r.shared ? 9 : s;
      const addr = r.mac
        ? [`fa:16:3e:00:0${own}:0${r.mac}`, ...r.ips.map((i) => `10.0.${own}.${i}`)].join(" ")
        : "";
      return {
        name: `${r.renamed ? "q" : "p"}${s}`,
        addresses: set(addr ? [addr] : []),
        parent_name: set(r.parent ? [r.parent] : []),
        tag: set(r.parent ? [s * 10 + r.tag] : []),
        up: set([r.up]),
        external_ids: map(x),
      };
    });

/** A new version of slot s's row, a delete, or a touch (only `up` and a guard's generation change). */
type Step = { s: number; row: Wire | undefined } | { s: number; touch: number };
const step: fc.Arbitrary<Step> = fc.integer({ min: 0, max: SLOTS - 1 }).chain((s) =>
  fc.oneof(
    rowOf(s).map((row): Step => ({ s, row })),
    fc.constant<Step>({ s, row: undefined }),
    fc.nat().map((touch): Step => ({ s, touch })),
  ),
);

/** The row with `up` flipped and the generation key set: what a guard bump or ovn-controller sends. */
function touched(row: Wire, n: number): Wire {
  const ids = new Map((row.external_ids as [string, Array<[string, string]>])[1]);
  ids.set("ovn-docker:gen", String(n));
  const up = row.up === true || (Array.isArray(row.up) && row.up[1]?.[0] === true);
  return { ...row, up: !up, external_ids: ["map", [...ids]] };
}

function snapshot(v: NeutronView): unknown {
  const sets = <K>(m: ReadonlyMap<K, ReadonlySet<string>>) =>
    [...m]
      .filter(([, xs]) => xs.size > 0)
      .map(([k, xs]) => [k, [...xs].sort()])
      .sort();
  const counts = (m: ReadonlyMap<string, CountedSet<string>>) =>
    [...m]
      .filter(([, xs]) => xs.size > 0)
      .map(([k, xs]) => [k, [...xs].sort().map((x) => [x, xs.count(x)])])
      .sort();
  return {
    ports: [...v.ports].map(([id, p]) => [id, p.lspUuid, p.up, p.row.addresses]).sort(),
    usedIps: counts(v.usedIps),
    usedMacs: counts(v.usedMacs),
    children: [...v.children]
      .filter(([, m]) => m.size > 0)
      .map(([p, m]) => [p, [...m].sort()])
      .sort(),
    trunks: [...v.trunks].sort(),
    trunkSubports: sets(v.trunkSubports),
    portIds: [...v.networks].map(([id, n]) => [id, [...n.portIds].sort()]).sort(),
  };
}

test("port modifications leave the view's indexes as a fresh view of the final rows", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      const view = NeutronView.over(schema);
      view.cache.update(switches);
      const live = new Map<number, Wire>();
      for (const st of steps) {
        const { s } = st;
        const had = live.has(s);
        if ("touch" in st && !had) continue;
        const row = "touch" in st ? touched(live.get(s) as Wire, st.touch) : st.row;
        if (row) live.set(s, row);
        else live.delete(s);
        if (!row && !had) continue;
        const kind = !row ? "delete" : had ? "replace" : "insert";
        view.cache.update({
          Logical_Switch_Port: { [uuidOf(s)]: row ? { kind, row } : { kind: "delete" } } as never,
        });
      }
      const fresh = NeutronView.over(schema);
      fresh.cache.update(switches);
      fresh.cache.update({
        Logical_Switch_Port: Object.fromEntries(
          [...live].map(([s, row]) => [uuidOf(s), { kind: "initial" as const, row }]),
        ),
      });
      assert.deepEqual(snapshot(view), snapshot(fresh));
    }),
    { numRuns: 500 },
  );
});

test("a modified port keeps its place in the view's port map (no delete and re-add)", () => {
  const view = NeutronView.over(schema);
  view.cache.update(switches);
  const x = map({ [OWNER_KEY]: OWNER_VALUE, "neutron:network_name": `neutron-${NETS[0]}` });
  const port = (name: string, up: boolean) => ({ name, addresses: set([]), up: set([up]), external_ids: x });
  view.cache.update({
    Logical_Switch_Port: {
      [uuidOf(1)]: { kind: "insert", row: port("p1", false) },
      [uuidOf(2)]: { kind: "insert", row: port("p2", false) },
    },
  });
  view.cache.update({ Logical_Switch_Port: { [uuidOf(1)]: { kind: "modify", diff: { up: true } } } });
  assert.deepEqual([...view.ports.keys()], ["p1", "p2"]);
  assert.equal(view.ports.get("p1")?.up, true);
});

test("an address two rows hold stays in use until the last of them is gone", () => {
  const view = NeutronView.over(schema);
  view.cache.update(switches);
  const x = map({ "neutron:network_name": `neutron-${NETS[0]}` });
  const port = (name: string) => ({ name, addresses: set(["fa:16:3e:00:00:01 10.0.0.5"]), external_ids: x });
  view.cache.update({
    Logical_Switch_Port: {
      [uuidOf(1)]: { kind: "insert", row: port("a") },
      [uuidOf(2)]: { kind: "insert", row: port("b") },
    },
  });
  view.cache.update({ Logical_Switch_Port: { [uuidOf(1)]: { kind: "delete" } } });
  assert.ok(view.usedIps.get(NETS[0] as string)?.has("10.0.0.5"), "freed while another row holds it");
  assert.ok(view.usedMacs.get(NETS[0] as string)?.has("fa:16:3e:00:00:01"));
  view.cache.update({ Logical_Switch_Port: { [uuidOf(2)]: { kind: "delete" } } });
  assert.ok(!view.usedIps.get(NETS[0] as string)?.has("10.0.0.5"));
  assert.ok(!view.usedMacs.get(NETS[0] as string)?.has("fa:16:3e:00:00:01"));
});
