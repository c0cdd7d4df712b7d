// While OVN Northbound is unreachable, requests fail fast with 503 and none hangs; when it
// comes back, the service recovers by itself.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

let f: Fixture;
let demo: string;

before(async () => {
  f = await startFixture(1);
  demo = await f.token("demo");
  const r = await f.call("POST", "/v2.0/networks", { token: demo, body: { network: { name: "before" } } });
  assert.equal(r.status, 201);
});

after(async () => {
  await f?.close().catch(() => undefined);
  await stopAllOvsdbServers();
});

test("NB down: 503 within about a second for reads and writes; NB back: served again", async () => {
  const dbDir = (f.nb.dbFile.match(/^(.*)\/[^/]+$/) as RegExpMatchArray)[1] as string;
  await f.nb.kill();
  for (let i = 0; i < 100 && f.servers[0]?.svc.client.connected; i++)
    await new Promise((r) => setTimeout(r, 20));
  for (const [method, body] of [
    ["GET", undefined],
    ["POST", { network: { name: "during" } }],
  ] as const) {
    const t0 = Date.now();
    const r = await f.call(method, "/v2.0/networks", { token: demo, body });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal((r.body.NeutronError as { type: string }).type, "ServiceUnavailable");
    assert.ok(Date.now() - t0 < 3000, "fails fast");
  }
  // Tokens are self-contained: login still works without NB.
  assert.ok(await f.token("demo"));
  const nb2 = await startOvsdbServer({ dir: dbDir, schema: "/usr/share/ovn/ovn-nb.ovsschema" });
  f.nb = nb2;
  for (let i = 0; i < 200 && !f.servers[0]?.svc.client.connected; i++)
    await new Promise((r) => setTimeout(r, 25));
  const r = await f.call("GET", "/v2.0/networks", { token: demo });
  assert.equal(r.status, 200);
  assert.deepEqual(
    (r.body.networks as Array<{ name: string }>).map((n) => n.name),
    ["before"],
  );
});
