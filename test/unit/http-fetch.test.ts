// The node:http fetch of short-lived processes: what the API client needs of a Response,
// timeouts and refused connections as the client's timedFetch classifies them.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { httpFetch } from "../../src/client/http-fetch.js";
import { ClientRequestError, timedFetch } from "../../src/client/keystone.js";

let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      if (req.url === "/slow") return; // never answers
      res.writeHead(req.url === "/missing" ? 404 : 201, {
        "content-type": "application/json",
        "x-subject-token": "tok",
      });
      res.end(JSON.stringify({ method: req.method, body, auth: req.headers["x-auth-token"] ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test("status, headers, JSON body, request body and headers", async () => {
  const r = await httpFetch(`${base}/ports`, {
    method: "POST",
    headers: { "x-auth-token": "t1", "content-type": "application/json" },
    body: JSON.stringify({ port: { name: "p" } }),
  });
  assert.equal(r.status, 201);
  assert.equal(r.ok, true);
  assert.equal(r.headers.get("X-Subject-Token"), "tok");
  assert.equal(r.headers.get("nope"), null);
  assert.deepEqual(await r.json(), { method: "POST", body: '{"port":{"name":"p"}}', auth: "t1" });
  const m = await httpFetch(`${base}/missing`);
  assert.equal(m.status, 404);
  assert.equal(m.ok, false);
  await m.body?.cancel();
});

test("a timeout and a refused connection are the client's ClientRequestError", async () => {
  await assert.rejects(
    () => timedFetch(httpFetch, "GET", `${base}/slow`, {}, 200),
    (e: unknown) => e instanceof ClientRequestError && /timed out/.test(e.message),
  );
  await assert.rejects(
    () => timedFetch(httpFetch, "GET", "http://127.0.0.1:9/x", {}, 2000),
    (e: unknown) => e instanceof ClientRequestError && /ECONNREFUSED/.test(e.message),
  );
});
