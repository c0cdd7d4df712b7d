// Whatever a client sends to the identity API, the answer is a 4xx or a 201, never a 5xx,
// and every error is in Keystone's shape.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import Fastify, { type FastifyInstance } from "fastify";
import { type InitResult, initConfig, loadConfig } from "../../src/server/config.js";
import { keystonePlugin } from "../../src/server/keystone/routes.js";

let dir: string;
let app: FastifyInstance;
let init: InitResult;
let validToken: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keystone-fuzz-"));
  init = await initConfig(dir, { scrypt: { N: 1024, r: 8, p: 1 } });
  app = Fastify();
  await app.register(keystonePlugin, {
    config: await loadConfig(init.config_file),
    checkParentPort: async () => true,
  });
  const demo = init.users[1];
  assert.ok(demo);
  const r = await app.inject({
    method: "POST",
    url: "/v3/auth/tokens",
    payload: {
      auth: {
        identity: { methods: ["password"], password: { user: { id: demo.id, password: demo.password } } },
      },
    },
  });
  validToken = r.headers["x-subject-token"] as string;
});

after(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Bodies that are mostly well-formed, so that every step of the authentication is reached
 * (methods, user look-up, password check, token check, scope), with anything at all mixed
 * in at every level.
 */
function bodies(): fc.Arbitrary<unknown> {
  const user = init.users[0];
  const anyOr = <T>(a: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: a, weight: 12 }, { arbitrary: fc.anything(), weight: 1 });
  const str = fc.oneof(
    { arbitrary: fc.string(), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        "admin",
        "demo",
        "Default",
        "default",
        init.project.id,
        user?.id ?? "",
        user?.password ?? "",
        "unscoped",
      ),
      weight: 3,
    },
  );
  const ref = fc.record({ id: str, name: str }, { requiredKeys: [] });
  const identity = fc.record(
    {
      methods: anyOr(
        fc.oneof(
          { arbitrary: fc.constant(["password"]), weight: 4 },
          { arbitrary: fc.constant(["token"]), weight: 4 },
          {
            arbitrary: fc.array(fc.constantFrom("password", "token", "totp", ""), { maxLength: 3 }),
            weight: 1,
          },
        ),
      ),
      password: anyOr(
        fc.record({
          user: anyOr(
            fc.record({ id: str, name: str, password: str, domain: anyOr(ref) }, { requiredKeys: [] }),
          ),
        }),
      ),
      token: anyOr(fc.record({ id: fc.oneof(str, fc.constant(validToken)) })),
    },
    { requiredKeys: ["methods"] },
  );
  const scope = fc.oneof(
    str,
    fc.record(
      {
        project: anyOr(fc.record({ id: str, name: str, domain: anyOr(ref) }, { requiredKeys: [] })),
        domain: ref,
        system: anyOr(fc.record({ all: fc.boolean() })),
        unscoped: fc.anything(),
      },
      { requiredKeys: [] },
    ),
  );
  return fc.oneof(
    { arbitrary: fc.anything(), weight: 1 },
    {
      arbitrary: fc.record({
        auth: anyOr(fc.record({ identity: anyOr(identity), scope }, { requiredKeys: ["identity"] })),
      }),
      weight: 6,
    },
  );
}

test("random and malformed bodies to POST /v3/auth/tokens never produce a 5xx", async () => {
  await fc.assert(
    fc.asyncProperty(bodies(), async (body) => {
      const r = await app.inject({
        method: "POST",
        url: "/v3/auth/tokens",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify(body) ?? "",
      });
      assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body} for ${JSON.stringify(body)}`);
      if (r.statusCode !== 201) {
        const e = r.json().error;
        assert.equal(e.code, r.statusCode);
        assert.equal(typeof e.message, "string");
        assert.equal(typeof e.title, "string");
      }
    }),
    { numRuns: 300 },
  );
});

test("random bytes with any content type never produce a 5xx", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.string(),
      fc.constantFrom(
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
      ),
      async (payload, type) => {
        const r = await app.inject({
          method: "POST",
          url: "/v3/auth/tokens",
          headers: { "content-type": type },
          payload,
        });
        assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode} ${r.body}`);
      },
    ),
    { numRuns: 200 },
  );
});

test("random X-Auth-Token and X-Subject-Token values never produce a 5xx", async () => {
  const token = fc.oneof(
    fc.string(),
    fc.stringMatching(/^[A-Za-z0-9_-]{0,300}\.[A-Za-z0-9_-]{0,60}$/),
    fc.constant(validToken),
  );
  await fc.assert(
    fc.asyncProperty(token, token, fc.constantFrom("GET", "HEAD"), async (auth, subject, method) => {
      const r = await app.inject({
        method,
        url: "/v3/auth/tokens",
        headers: { "x-auth-token": auth, "x-subject-token": subject },
      });
      assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    }),
    { numRuns: 200 },
  );
});
