// The identity API's contract, through fastify's inject: the request and response shapes
// keystoneauth and python-openstackclient rely on, and Keystone's answers to mistakes.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from "fastify";
import { parseConfig, type ServerConfig } from "../../src/server/config.js";
import { KeystoneError } from "../../src/server/keystone/errors.js";
import { createAuthenticator } from "../../src/server/keystone/identity.js";
import { hashPassword } from "../../src/server/keystone/passwords.js";
import { type KeystonePluginOptions, keystonePlugin } from "../../src/server/keystone/routes.js";
import type { TokenBody } from "../../src/server/keystone/schemas.js";

const PW = { admin: "admin-secret", demo: "demo-secret", lonely: "lonely-secret", bob: "bob-secret" };
const PORT_ID = "0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";
let dir: string;
let text: string;
let config: ServerConfig;

async function configText(): Promise<string> {
  const h = (pw: string) => hashPassword(pw, { N: 1024, r: 8, p: 1 });
  return JSON.stringify({
    mac_prefix: "fa:16:3e",
    public_url: "http://controller:9696",
    token: { key_file: "token.key", lifetime_seconds: 3600, vm_max_lifetime_seconds: 172800 },
    domains: [
      { id: "default", name: "Default" },
      { id: "d2", name: "Other" },
    ],
    projects: [
      { id: "p1", name: "demo" },
      { id: "p2", name: "ops" },
      { id: "p3", name: "demo", domain_id: "d2" },
    ],
    users: [
      {
        id: "u-admin",
        name: "admin",
        password_hash: await h(PW.admin),
        roles: [
          { project_id: "p1", role: "admin" },
          { project_id: "p2", role: "member" },
        ],
      },
      {
        id: "u-demo",
        name: "demo",
        password_hash: await h(PW.demo),
        roles: [{ project_id: "p1", role: "member" }],
      },
      { id: "u-lonely", name: "lonely", password_hash: await h(PW.lonely) },
      {
        id: "u-bob",
        name: "bob",
        domain_id: "d2",
        password_hash: await h(PW.bob),
        roles: [{ project_id: "p3", role: "member" }],
      },
    ],
  });
}

let clock = Date.now();
const ports: [string, string][] = [];
async function app(cfg = config, extra: Partial<KeystonePluginOptions> = {}): Promise<FastifyInstance> {
  const a = Fastify();
  await a.register(keystonePlugin, {
    config: cfg,
    now: () => clock,
    checkParentPort: async (project, port) => {
      ports.push([project, port]);
      return project === "p1" && port === PORT_ID;
    },
    ...extra,
  });
  return a;
}

let server: FastifyInstance;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keystone-routes-"));
  await writeFile(path.join(dir, "token.key"), randomBytes(48));
  text = await configText();
  config = parseConfig(text, dir);
  server = await app();
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;
type Named = { name: string };

function passwordBody(user: Json, scope?: Json | string): Json {
  return { auth: { identity: { methods: ["password"], password: { user } }, ...(scope ? { scope } : {}) } };
}

async function post(body: unknown, a = server, url = "/v3/auth/tokens"): Promise<LightMyRequestResponse> {
  return a.inject({ method: "POST", url, payload: body as Json });
}

async function login(
  name: keyof typeof PW,
  scope?: Json,
  a = server,
): Promise<{ id: string; body: TokenBody }> {
  const domain = name === "bob" ? { id: "d2" } : { id: "default" };
  const r = await post(passwordBody({ name, domain, password: PW[name] }, scope), a);
  assert.equal(r.statusCode, 201, r.body);
  return { id: r.headers["x-subject-token"] as string, body: r.json().token };
}

function assertKeystoneError(r: LightMyRequestResponse, code: number, title: string, message?: RegExp) {
  assert.equal(r.statusCode, code, r.body);
  const body = r.json();
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code);
  assert.equal(body.error.title, title);
  assert.equal(typeof body.error.message, "string");
  if (message) assert.match(body.error.message, message);
}

describe("version discovery", () => {
  test("GET / lists identity v3 with 300 Multiple Choices, as Keystone", async () => {
    const r = await server.inject({ method: "GET", url: "/" });
    assert.equal(r.statusCode, 300);
    const v = r.json().versions.values;
    assert.equal(v.length, 1);
    assert.match(v[0].id, /^v3\.[0-9]+$/);
    assert.equal(v[0].status, "stable");
    assert.deepEqual(v[0].links, [{ rel: "self", href: "http://controller:9696/v3/" }]);
    assert.deepEqual(v[0]["media-types"], [
      { base: "application/json", type: "application/vnd.openstack.identity-v3+json" },
    ]);
  });

  test("GET /v3 describes the version", async () => {
    const r = await server.inject({ method: "GET", url: "/v3" });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().version.links[0].href, "http://controller:9696/v3/");
  });

  test("without public_url the documents follow the request's Host", async () => {
    const { public_url: _, ...rest } = config;
    const a = await app(rest, {
      extraRootVersions: (url) => [
        { id: "v2.0", status: "CURRENT", links: [{ rel: "self", href: `${url}/v2.0/` }] },
      ],
    });
    const r = await a.inject({ method: "GET", url: "/", headers: { host: "10.0.0.5:9696" } });
    const v = r.json().versions.values;
    assert.equal(v[0].links[0].href, "http://10.0.0.5:9696/v3/");
    assert.deepEqual(v[1], {
      id: "v2.0",
      status: "CURRENT",
      links: [{ rel: "self", href: "http://10.0.0.5:9696/v2.0/" }],
    });
    await a.close();
  });

  test("serveRoot: false leaves GET / to the host application", async () => {
    const a = await app(config, { serveRoot: false });
    a.get("/", async () => ({ mine: true }));
    assert.deepEqual((await a.inject({ method: "GET", url: "/" })).json(), { mine: true });
    await a.close();
  });
});

describe("password authentication", () => {
  test("by user id, scoped to the only project: the full token body", async () => {
    const before = Math.floor(clock / 1000);
    const r = await post(passwordBody({ id: "u-demo", password: PW.demo }));
    assert.equal(r.statusCode, 201, r.body);
    assert.match(r.headers["x-subject-token"] as string, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const t = r.json().token;
    assert.deepEqual(t.methods, ["password"]);
    assert.deepEqual(t.user, {
      id: "u-demo",
      name: "demo",
      domain: { id: "default", name: "Default" },
      password_expires_at: null,
    });
    assert.deepEqual(t.project, { id: "p1", name: "demo", domain: { id: "default", name: "Default" } });
    assert.equal(t.is_domain, false);
    assert.deepEqual(
      t.roles.map((x: Named) => x.name),
      ["member", "reader"],
    );
    for (const role of t.roles) assert.match(role.id, /^[0-9a-f]{32}$/);
    assert.match(t.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const issued = Date.parse(t.issued_at) / 1000;
    assert.ok(issued >= before && issued <= before + 1);
    assert.equal(Date.parse(t.expires_at) / 1000 - issued, 3600);
    assert.equal(t.audit_ids.length, 1);
    assert.match(t.audit_ids[0], /^[A-Za-z0-9_-]{22}$/);

    const byType = Object.fromEntries(t.catalog.map((s: { type: string }) => [s.type, s]));
    assert.equal(byType.network.name, "neutron");
    assert.equal(byType.identity.name, "keystone");
    for (const [type, url] of [
      ["network", "http://controller:9696"],
      ["identity", "http://controller:9696/v3"],
    ] as const) {
      const s = byType[type];
      assert.match(s.id, /^[0-9a-f]{32}$/);
      assert.deepEqual(s.endpoints.map((e: { interface: string }) => e.interface).sort(), [
        "admin",
        "internal",
        "public",
      ]);
      for (const e of s.endpoints) {
        assert.deepEqual(Object.keys(e).sort(), ["id", "interface", "region", "region_id", "url"]);
        assert.equal(e.url, url);
        assert.equal(e.region, "RegionOne");
      }
    }
  });

  test("by name with the domain's name, and with the domain's id", async () => {
    for (const domain of [{ name: "Default" }, { id: "default" }]) {
      const r = await post(passwordBody({ name: "demo", domain, password: PW.demo }));
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(r.json().token.user.id, "u-demo");
    }
    const bob = await post(passwordBody({ name: "bob", domain: { name: "Other" }, password: PW.bob }));
    assert.equal(bob.json().token.user.domain.id, "d2");
    assert.equal(bob.json().token.project.id, "p3");
  });

  test("project scope by id, and by name with the domain's name or id", async () => {
    const u = { id: "u-admin", password: PW.admin };
    const cases: [Json, string][] = [
      [{ project: { id: "p2" } }, "p2"],
      [{ project: { name: "ops", domain: { name: "Default" } } }, "p2"],
      [{ project: { name: "demo", domain: { id: "default" } } }, "p1"],
    ];
    for (const [scope, id] of cases) {
      const r = await post(passwordBody(u, scope));
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(r.json().token.project.id, id);
    }
    const admin = await login("admin", { project: { id: "p1" } });
    assert.deepEqual(
      admin.body.roles.map((x: Named) => x.name),
      ["admin", "member", "reader"],
    );
    const member = await login("admin", { project: { id: "p2" } });
    assert.deepEqual(
      member.body.roles.map((x: Named) => x.name),
      ["member", "reader"],
    );
  });

  test("?nocatalog leaves the catalog out", async () => {
    const r = await post(
      passwordBody({ id: "u-demo", password: PW.demo }),
      server,
      "/v3/auth/tokens?nocatalog",
    );
    assert.equal(r.statusCode, 201);
    assert.equal(r.json().token.catalog, undefined);
  });

  test("wrong password and unknown user: one 401 in Keystone's error body", async () => {
    const msg = /^The request you have made requires authentication\.$/;
    assertKeystoneError(
      await post(passwordBody({ id: "u-demo", password: "nope" })),
      401,
      "Unauthorized",
      msg,
    );
    assertKeystoneError(await post(passwordBody({ id: "u-ghost", password: "x" })), 401, "Unauthorized", msg);
    assertKeystoneError(
      await post(passwordBody({ name: "demo", domain: { name: "Nowhere" }, password: PW.demo })),
      401,
      "Unauthorized",
      msg,
    );
    assertKeystoneError(await post(passwordBody({ id: "u-demo" })), 401, "Unauthorized", msg);
  });

  test("a user without a role on the project: 401", async () => {
    assertKeystoneError(
      await post(passwordBody({ id: "u-demo", password: PW.demo }, { project: { id: "p2" } })),
      401,
      "Unauthorized",
      /^User u-demo has no access to project p2\.$/,
    );
    assertKeystoneError(
      await post(passwordBody({ id: "u-demo", password: PW.demo }, { project: { id: "nope" } })),
      401,
      "Unauthorized",
      /Could not find project: nope/,
    );
  });

  test("unscoped: the only project, or 401 when there are none or several", async () => {
    assertKeystoneError(
      await post(passwordBody({ id: "u-admin", password: PW.admin })),
      401,
      "Unauthorized",
      /has roles on 2 projects; name one in auth\.scope\.project/,
    );
    assertKeystoneError(
      await post(passwordBody({ id: "u-lonely", password: PW.lonely })),
      401,
      "Unauthorized",
      /has no role on any project/,
    );
    for (const scope of [
      "unscoped",
      { unscoped: {} },
      { domain: { id: "default" } },
      { system: { all: true } },
    ]) {
      assertKeystoneError(
        await post(passwordBody({ id: "u-demo", password: PW.demo }, scope)),
        400,
        "Bad Request",
        /not issued by this service/,
      );
    }
  });

  test("malformed requests: 400 naming the field", async () => {
    assertKeystoneError(
      await post({}),
      400,
      "Bad Request",
      /^Invalid input for field 'body\/auth': a required property is missing$/,
    );
    assertKeystoneError(
      await post({ auth: { identity: { methods: "password" } } }),
      400,
      "Bad Request",
      /'body\/auth\/identity\/methods'/,
    );
    assertKeystoneError(
      await post({ auth: { identity: { methods: ["password"] } } }),
      400,
      "Bad Request",
      /Expecting to find password in identity/,
    );
    assertKeystoneError(
      await post(passwordBody({ name: "demo", password: PW.demo })),
      400,
      "Bad Request",
      /needs its domain/,
    );
    assertKeystoneError(
      await post(passwordBody({ id: "u-demo", password: PW.demo }, { project: { name: "demo" } })),
      400,
      "Bad Request",
      /needs its domain/,
    );
    assertKeystoneError(
      await post({ auth: { identity: { methods: ["totp"] } } }),
      401,
      "Unauthorized",
      /unsupported method/,
    );
    const raw = await server.inject({
      method: "POST",
      url: "/v3/auth/tokens",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    assertKeystoneError(raw, 400, "Bad Request");
  });
});

describe("the token method", () => {
  test("rescoping and renewing keep the original expiry and chain the audit ids", async () => {
    const first = await login("admin", { project: { id: "p1" } });
    clock += 600_000;
    const tokenBody = (id: string, scope?: Json) => ({
      auth: { identity: { methods: ["token"], token: { id } }, ...(scope ? { scope } : {}) },
    });
    const rescoped = await post(tokenBody(first.id, { project: { id: "p2" } }));
    assert.equal(rescoped.statusCode, 201, rescoped.body);
    const t = rescoped.json().token;
    assert.equal(t.project.id, "p2");
    assert.equal(t.expires_at, first.body.expires_at);
    assert.notEqual(t.issued_at, first.body.issued_at);
    assert.deepEqual([...t.methods].sort(), ["password", "token"]);
    assert.deepEqual(t.audit_ids.slice(1), first.body.audit_ids);
    assert.deepEqual(
      t.roles.map((x: Named) => x.name),
      ["member", "reader"],
    );

    const renewed = await post(tokenBody(rescoped.headers["x-subject-token"] as string));
    assert.equal(renewed.statusCode, 201);
    assert.equal(renewed.json().token.project.id, "p2");
    assert.equal(renewed.json().token.expires_at, first.body.expires_at);
    assert.deepEqual(renewed.json().token.audit_ids.slice(1), first.body.audit_ids);
  });

  test("an expired token is refused, as a credential and as X-Auth-Token", async () => {
    const t = await login("demo");
    clock += 3600_000;
    try {
      assertKeystoneError(
        await post({ auth: { identity: { methods: ["token"], token: { id: t.id } } } }),
        401,
        "Unauthorized",
        /token expired at/,
      );
      const r = await server.inject({
        method: "GET",
        url: "/v3/auth/tokens",
        headers: { "x-auth-token": t.id, "x-subject-token": t.id },
      });
      assertKeystoneError(r, 401, "Unauthorized", /expired/);
    } finally {
      clock -= 3600_000;
    }
  });

  test("a token with one character changed is refused", async () => {
    const t = await login("demo");
    const dot = t.id.indexOf(".");
    for (const i of [3, dot + 3]) {
      const c = t.id[i] === "A" ? "B" : "A";
      const tampered = t.id.slice(0, i) + c + t.id.slice(i + 1);
      assertKeystoneError(
        await post({ auth: { identity: { methods: ["token"], token: { id: tampered } } } }),
        401,
        "Unauthorized",
        /signature does not match/,
      );
      const r = await server.inject({
        method: "POST",
        url: "/v3/OS-OVN-DOCKER/vm-tokens",
        headers: { "x-auth-token": tampered },
        payload: { parent_port_id: PORT_ID },
      });
      assertKeystoneError(r, 401, "Unauthorized");
    }
  });
});

describe("validation: GET and HEAD /v3/auth/tokens", () => {
  test("the subject's body, for an admin or the token's own user", async () => {
    const admin = await login("admin", { project: { id: "p1" } });
    const demo = await login("demo");
    for (const caller of [admin.id, demo.id]) {
      const r = await server.inject({
        method: "GET",
        url: "/v3/auth/tokens",
        headers: { "x-auth-token": caller, "x-subject-token": demo.id },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers["x-subject-token"], demo.id);
      assert.deepEqual(r.json().token, demo.body);
    }
  });

  test("another user's token: 403; an invalid subject: 404; no caller: 401", async () => {
    const admin = await login("admin", { project: { id: "p1" } });
    const demo = await login("demo");
    const get = (headers: Record<string, string>) =>
      server.inject({ method: "GET", url: "/v3/auth/tokens", headers });
    assertKeystoneError(
      await get({ "x-auth-token": demo.id, "x-subject-token": admin.id }),
      403,
      "Forbidden",
    );
    assertKeystoneError(
      await get({ "x-auth-token": admin.id, "x-subject-token": `${demo.id}x` }),
      404,
      "Not Found",
      /Could not find token/,
    );
    assertKeystoneError(await get({ "x-subject-token": demo.id }), 401, "Unauthorized", /no X-Auth-Token/);
    assertKeystoneError(await get({ "x-auth-token": admin.id }), 400, "Bad Request", /X-Subject-Token/);
  });

  test("HEAD answers 200 or 404 without a body", async () => {
    const demo = await login("demo");
    const head = (subject: string) =>
      server.inject({
        method: "HEAD",
        url: "/v3/auth/tokens",
        headers: { "x-auth-token": demo.id, "x-subject-token": subject },
      });
    const ok = await head(demo.id);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.body, "");
    assert.equal(ok.headers["x-subject-token"], demo.id);
    assert.equal((await head("garbage")).statusCode, 404);
  });
});

test("DELETE /v3/auth/tokens says why tokens cannot be revoked", async () => {
  const demo = await login("demo");
  const r = await server.inject({
    method: "DELETE",
    url: "/v3/auth/tokens",
    headers: { "x-auth-token": demo.id, "x-subject-token": demo.id },
  });
  assertKeystoneError(r, 501, "Not Implemented", /stateless and cannot be revoked/);
});

describe("replicas and configuration changes", () => {
  test("two app instances from one configuration validate each other's tokens", async () => {
    const other = await app(parseConfig(text, dir));
    const a = await login("demo");
    const b = await login("demo", undefined, other);
    for (const [srv, caller, subject] of [
      [server, b.id, a.id],
      [other, a.id, b.id],
    ] as const) {
      const r = await srv.inject({
        method: "GET",
        url: "/v3/auth/tokens",
        headers: { "x-auth-token": caller, "x-subject-token": subject },
      });
      assert.equal(r.statusCode, 200, r.body);
    }
    await other.close();
  });

  test("a replica with another key refuses them", async () => {
    await writeFile(path.join(dir, "other.key"), randomBytes(48));
    const other = await app(parseConfig(text.replace('"token.key"', '"other.key"'), dir));
    const a = await login("demo");
    const r = await other.inject({
      method: "HEAD",
      url: "/v3/auth/tokens",
      headers: { "x-auth-token": a.id, "x-subject-token": a.id },
    });
    assert.equal(r.statusCode, 401);
    await other.close();
  });

  test("a token whose user lost its role stops working", async () => {
    const demo = await login("demo");
    const changed = JSON.parse(text);
    changed.users[1].roles = [];
    const auth = createAuthenticator(parseConfig(JSON.stringify(changed), dir), { now: () => clock });
    assert.throws(
      () => auth.authenticate({ headers: { "x-auth-token": demo.id } }),
      (e: unknown) =>
        e instanceof KeystoneError && e.statusCode === 401 && /no longer has a role/.test(e.message),
    );
  });
});

describe("authenticate(), for the Neutron routes", () => {
  test("returns the caller", async () => {
    const auth = createAuthenticator(config, { now: () => clock });
    const admin = await login("admin", { project: { id: "p1" } });
    const id = auth.authenticate({ headers: { "x-auth-token": admin.id } });
    assert.deepEqual(id.user, { id: "u-admin", name: "admin", domain: { id: "default", name: "Default" } });
    assert.deepEqual(id.project, { id: "p1", name: "demo", domain: { id: "default", name: "Default" } });
    assert.deepEqual(id.roles, ["admin", "member", "reader"]);
    assert.equal(id.isAdmin, true);
    assert.equal(id.vmScope, undefined);
    const member = auth.authenticate({ headers: { "x-auth-token": (await login("demo")).id } });
    assert.equal(member.isAdmin, false);
  });

  test("throws a 401 KeystoneError without a valid token", () => {
    const auth = createAuthenticator(config);
    for (const headers of [
      {},
      { "x-auth-token": "" },
      { "x-auth-token": "x.y" },
      { "x-auth-token": ["a", "b"] },
    ]) {
      assert.throws(
        () => auth.authenticate({ headers }),
        (e: unknown) => e instanceof KeystoneError && e.statusCode === 401,
      );
    }
  });
});

describe("authenticate(): verified tokens are remembered", () => {
  const headers = (token: string) => ({ headers: { "x-auth-token": token } });
  const refusal = (auth: ReturnType<typeof createAuthenticator>, token: string): string => {
    try {
      auth.authenticate(headers(token));
    } catch (e) {
      assert.ok(e instanceof KeystoneError && e.statusCode === 401, String(e));
      return e.message;
    }
    assert.fail("the token was accepted");
  };

  test("a token checked once is not checked again", async () => {
    const auth = createAuthenticator(config, { now: () => clock });
    const demo = await login("demo");
    const first = auth.authenticate(headers(demo.id));
    assert.equal(auth.authenticate(headers(demo.id)), first);
    assert.equal(auth.resolve(demo.id).identity, first);
    // shared by every request with this token: nobody may change it
    assert.ok(
      Object.isFrozen(first) && Object.isFrozen(first.roles) && Object.isFrozen(first.claims.methods),
    );
    assert.throws(() => {
      (first.roles as string[]).push("admin");
    }, TypeError);
    const uncached = createAuthenticator(config, { now: () => clock, tokenCacheSize: 0 });
    const a = uncached.authenticate(headers(demo.id));
    assert.notEqual(uncached.authenticate(headers(demo.id)), a);
    assert.deepEqual(uncached.authenticate(headers(demo.id)), first);
  });

  test("a remembered token is refused from its expiry on, as one never seen", async () => {
    const saved = clock;
    try {
      const auth = createAuthenticator(config, { now: () => clock });
      const demo = await login("demo");
      auth.authenticate(headers(demo.id));
      clock = Date.parse(demo.body.expires_at) - 1000;
      auth.authenticate(headers(demo.id));
      clock = Date.parse(demo.body.expires_at);
      const fresh = createAuthenticator(config, { now: () => clock });
      const message = refusal(auth, demo.id);
      assert.match(message, /token expired at/);
      assert.equal(message, refusal(fresh, demo.id));
      // and stays refused
      assert.equal(refusal(auth, demo.id), message);
    } finally {
      clock = saved;
    }
  });

  test("an altered copy of a remembered token is refused", async () => {
    const auth = createAuthenticator(config, { now: () => clock });
    const demo = await login("demo");
    auth.authenticate(headers(demo.id));
    const [body, sig] = demo.id.split(".") as [string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    assert.match(refusal(auth, `${body}.${flip(sig, 3)}`), /signature does not match/);
    assert.match(refusal(auth, `${flip(body, 5)}.${sig}`), /signature does not match/);
    assert.match(refusal(auth, `${demo.id}x`), /signature does not match/);
    assert.equal(auth.authenticate(headers(demo.id)).user.id, "u-demo");
  });

  test("holds at most tokenCacheSize tokens, dropping the least recently used", async () => {
    const auth = createAuthenticator(config, { now: () => clock, tokenCacheSize: 2 });
    const [a, b, c] = [
      (await login("demo")).id,
      (await login("demo")).id,
      (await login("admin", { project: { id: "p1" } })).id,
    ];
    const ia = auth.authenticate(headers(a));
    const ib = auth.authenticate(headers(b));
    assert.equal(auth.authenticate(headers(a)), ia); // a is now the most recent
    auth.authenticate(headers(c)); // drops b
    assert.equal(auth.authenticate(headers(a)), ia);
    assert.notEqual(auth.authenticate(headers(b)), ib);
  });
});

describe("VM-scoped tokens", () => {
  const mint = (token: string, body: Json) =>
    server.inject({
      method: "POST",
      url: "/v3/OS-OVN-DOCKER/vm-tokens",
      headers: { "x-auth-token": token },
      payload: body,
    });

  test("a member mints one for a port of its own project", async () => {
    const demo = await login("demo");
    ports.length = 0;
    const r = await mint(demo.id, { parent_port_id: PORT_ID, ttl_seconds: 7200 });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(ports, [["p1", PORT_ID]]);
    const t = r.json().token;
    assert.deepEqual(t["OS-OVN-DOCKER:vm_scope"], { parent_port_id: PORT_ID });
    assert.equal(Date.parse(t.expires_at) - Date.parse(t.issued_at), 7200_000);
    assert.deepEqual(t.audit_ids.slice(1), demo.body.audit_ids);
    const vm = r.headers["x-subject-token"] as string;
    const id = createAuthenticator(config, { now: () => clock }).authenticate({
      headers: { "x-auth-token": vm },
    });
    assert.deepEqual(id.vmScope, { parentPortId: PORT_ID });
    assert.equal(id.project.id, "p1");
    assert.equal(id.isAdmin, false);
  });

  test("an admin's VM token holds member only", async () => {
    const admin = await login("admin", { project: { id: "p1" } });
    const r = await mint(admin.id, { parent_port_id: PORT_ID });
    assert.equal(r.statusCode, 201, r.body);
    const t = r.json().token;
    assert.deepEqual(
      t.roles.map((x: Named) => x.name),
      ["member", "reader"],
    );
    assert.equal(Date.parse(t.expires_at) - Date.parse(t.issued_at), 86_400_000);
  });

  test("the ownership hook saying no: 403", async () => {
    const admin = await login("admin", { project: { id: "p2" } });
    assertKeystoneError(
      await mint(admin.id, { parent_port_id: PORT_ID }),
      403,
      "Forbidden",
      /Port 0f3b7c52-.* is not a port of project p2/,
    );
    const demo = await login("demo");
    assertKeystoneError(await mint(demo.id, { parent_port_id: "other-port" }), 403, "Forbidden");
  });

  test("a hook may answer 404 itself", async () => {
    const a = await app(config, {
      checkParentPort: async () => {
        throw new KeystoneError(404, "Port x could not be found.");
      },
    });
    const demo = await login("demo", undefined, a);
    const r = await a.inject({
      method: "POST",
      url: "/v3/OS-OVN-DOCKER/vm-tokens",
      headers: { "x-auth-token": demo.id },
      payload: { parent_port_id: "x" },
    });
    assertKeystoneError(r, 404, "Not Found", /could not be found/);
    await a.close();
  });

  test("a VM token can be renewed, not rescoped, and cannot mint", async () => {
    const demo = await login("demo");
    const vm = (await mint(demo.id, { parent_port_id: PORT_ID })).headers["x-subject-token"] as string;
    assertKeystoneError(await mint(vm, { parent_port_id: PORT_ID }), 403, "Forbidden", /cannot mint/);
    const renewed = await post({ auth: { identity: { methods: ["token"], token: { id: vm } } } });
    assert.equal(renewed.statusCode, 201, renewed.body);
    assert.deepEqual(renewed.json().token["OS-OVN-DOCKER:vm_scope"], { parent_port_id: PORT_ID });
    const admin = await login("admin", { project: { id: "p1" } });
    const adminVm = (await mint(admin.id, { parent_port_id: PORT_ID })).headers["x-subject-token"] as string;
    assertKeystoneError(
      await post({
        auth: { identity: { methods: ["token"], token: { id: adminVm } }, scope: { project: { id: "p2" } } },
      }),
      403,
      "Forbidden",
      /cannot be rescoped/,
    );
    const sameProject = await post({
      auth: { identity: { methods: ["token"], token: { id: adminVm } }, scope: { project: { id: "p1" } } },
    });
    assert.deepEqual(
      sameProject.json().token.roles.map((x: Named) => x.name),
      ["member", "reader"],
    );
  });

  test("bad requests: ttl over the maximum, missing port, no token", async () => {
    const demo = await login("demo");
    assertKeystoneError(
      await mint(demo.id, { parent_port_id: PORT_ID, ttl_seconds: 172801 }),
      400,
      "Bad Request",
      /more than the maximum of 172800/,
    );
    assertKeystoneError(await mint(demo.id, { ttl_seconds: 600 }), 400, "Bad Request", /parent_port_id/);
    assertKeystoneError(await mint("", { parent_port_id: PORT_ID }), 401, "Unauthorized");
  });
});
