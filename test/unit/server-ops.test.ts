// The operational plugin of the network service through fastify's inject: health, metrics,
// request ids, log redaction and the body limit, alone and next to the real Keystone plugin.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { OvsdbClient } from "../../src/ovsdb/client.js";
import { parseConfig } from "../../src/server/config.js";
import { hashPassword } from "../../src/server/keystone/passwords.js";
import { keystonePlugin } from "../../src/server/keystone/routes.js";
import {
  CENSOR,
  createOpsMetrics,
  genRequestId,
  type HealthCheck,
  type NbClientLike,
  nbHealthOf,
  type OpsMetrics,
  opsPlugin,
  type ReconnectSource,
  serverOptions,
} from "../../src/server/ops/index.js";
import { isoTimestamp, type LazyChildLogger, unredactedLogger } from "../../src/server/ops/logging.js";

const REQ_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The real client must fit what the ops helpers ask of it (checked by the compiler).
const _fitsHealth: (c: OvsdbClient) => NbClientLike = (c) => c;
const _fitsReconnects: (c: OvsdbClient) => ReconnectSource = (c) => c;
void _fitsHealth;
void _fitsReconnects;

interface Built {
  app: FastifyInstance;
  metrics: OpsMetrics;
  lines: string[];
  logs: () => Record<string, unknown>[];
}

interface BuildOptions {
  health?: HealthCheck;
  bodyLimit?: number;
  defaultMetrics?: boolean;
  routes?: (app: FastifyInstance) => unknown;
}

async function build(opts: BuildOptions = {}): Promise<Built> {
  const lines: string[] = [];
  const metrics = createOpsMetrics({ defaultMetrics: opts.defaultMetrics ?? false });
  const app = Fastify(
    serverOptions({
      level: "info",
      stream: { write: (line) => lines.push(line) },
      ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    }),
  );
  await app.register(opsPlugin, {
    health: opts.health ?? (() => ({ connected: true, remote: "tcp:127.0.0.1:6641" })),
    metrics,
  });
  await opts.routes?.(app);
  await app.ready();
  return { app, metrics, lines, logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const lm of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      have.set(lm[1] ?? "", lm[2] ?? "");
    }
    const want = Object.entries(labels);
    if (want.length !== have.size - (have.has("le") && !("le" in labels) ? 1 : 0)) continue;
    if (want.every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

describe("GET /healthz", () => {
  test("200 with the NB remote when NB is connected to a leader", async () => {
    const { app } = await build();
    const r = await app.inject({ method: "GET", url: "/healthz" });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), {
      status: "ok",
      nb: { connected: true, remote: "tcp:127.0.0.1:6641", leader: true },
    });
    assert.match(String(r.headers["content-type"]), /^application\/json/);
    assert.equal(r.headers["cache-control"], "no-store");
    await app.close();
  });

  test("503 with the same shape and the reason when NB is unreachable", async () => {
    const { app } = await build({
      health: () => ({ connected: false, reason: "tcp:127.0.0.1:6641: connection refused" }),
    });
    const r = await app.inject({ method: "GET", url: "/healthz" });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), {
      status: "unavailable",
      nb: { connected: false, leader: false, reason: "tcp:127.0.0.1:6641: connection refused" },
    });
    await app.close();
  });

  test("503 when connected to a follower, and when the health function throws", async () => {
    const follower = await build({
      health: () => ({ connected: true, remote: "tcp:10.0.0.2:6641", leader: false }),
    });
    const r = await follower.app.inject({ method: "GET", url: "/healthz" });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json().nb, {
      connected: true,
      remote: "tcp:10.0.0.2:6641",
      leader: false,
      reason: "connected to a Northbound server that is not the leader",
    });
    await follower.app.close();

    const broken = await build({
      health: () => {
        throw new Error("boom");
      },
    });
    const b = await broken.app.inject({ method: "GET", url: "/healthz" });
    assert.equal(b.statusCode, 503);
    assert.deepEqual(b.json(), {
      status: "unavailable",
      nb: { connected: false, leader: false, reason: "health check failed: boom" },
    });
    await broken.app.close();
  });

  test("nbHealthOf follows a client's connection and remembers why it was lost", async () => {
    const client = Object.assign(new EventEmitter(), {
      connected: false,
      currentRemote: undefined as string | undefined,
    });
    const health = nbHealthOf(client);
    assert.deepEqual(health(), { connected: false, reason: "not connected to OVN Northbound yet" });
    client.connected = true;
    client.currentRemote = "ssl:10.0.0.1:6641";
    assert.deepEqual(health(), { connected: true, remote: "ssl:10.0.0.1:6641", leader: true });
    client.connected = false;
    client.currentRemote = undefined;
    client.emit("disconnected", new Error("ssl:10.0.0.1:6641: connection reset"));
    assert.deepEqual(health(), { connected: false, reason: "ssl:10.0.0.1:6641: connection reset" });
  });

  test("probe requests stay out of an info-level log", async () => {
    const { app, lines } = await build();
    await app.inject({ method: "GET", url: "/healthz" });
    await app.inject({ method: "GET", url: "/metrics" });
    assert.deepEqual(lines, []);
    await app.close();
  });
});

describe("GET /metrics", () => {
  test("counts and times requests by route pattern, 404s as one 'unmatched' route", async () => {
    const { app } = await build({
      defaultMetrics: true,
      routes: (a) => {
        a.get("/v2.0/networks/:id", async (req) => ({ network: { id: (req.params as { id: string }).id } }));
        a.post("/v2.0/networks", async (_req, reply) => reply.code(201).send({ network: {} }));
      },
    });
    await app.inject({ method: "GET", url: "/v2.0/networks/3f2a" });
    await app.inject({ method: "GET", url: "/v2.0/networks/9c1b?fields=id" });
    await app.inject({ method: "POST", url: "/v2.0/networks", payload: { network: { name: "LS1" } } });
    await app.inject({ method: "GET", url: "/no/such/thing/0123456789" });
    await app.inject({ method: "DELETE", url: "/v2.0/ports/another-unknown" });

    const r = await app.inject({ method: "GET", url: "/metrics" });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    const text = r.body;

    const get = { method: "GET", route: "/v2.0/networks/:id", status: "200" };
    assert.equal(sample(text, "http_requests_total", get), 2);
    assert.equal(sample(text, "http_request_duration_seconds_count", get), 2);
    assert.equal(sample(text, "http_request_duration_seconds_bucket", { ...get, le: "+Inf" }), 2);
    assert.equal(
      sample(text, "http_requests_total", { method: "POST", route: "/v2.0/networks", status: "201" }),
      1,
    );
    assert.equal(
      sample(text, "http_requests_total", { method: "GET", route: "unmatched", status: "404" }),
      1,
    );
    assert.equal(
      sample(text, "http_requests_total", { method: "DELETE", route: "unmatched", status: "404" }),
      1,
    );
    // Raw URLs never become label values.
    assert.doesNotMatch(text, /3f2a|9c1b|no\/such|another-unknown/);

    // The NB series exist before anything was recorded, and default process metrics are there.
    assert.equal(sample(text, "nb_reconnects_total"), 0);
    assert.equal(sample(text, "nb_transaction_duration_seconds_count", { outcome: "ok" }), 0);
    assert.notEqual(sample(text, "process_cpu_user_seconds_total"), undefined);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    await app.close();
  });

  test("NB transaction latency by outcome, and reconnects", async () => {
    const { app, metrics } = await build();
    assert.equal(await metrics.timeNbTransaction(async () => 42), 42);
    class Conflict extends Error {}
    const classify = (e: unknown) => (e instanceof Conflict ? "conflict" : "error");
    await assert.rejects(
      metrics.timeNbTransaction(async () => {
        throw new Conflict("lost the race");
      }, classify),
      Conflict,
    );
    await assert.rejects(
      metrics.timeNbTransaction(async () => {
        throw new Error("ovsdb-server went away");
      }, classify),
      /went away/,
    );
    metrics.observeNbTransaction("ok", 0.002);

    const client = Object.assign(new EventEmitter(), { sessions: 0 });
    const stop = metrics.trackReconnects(client);
    client.sessions = 1;
    client.emit("connected", "tcp:127.0.0.1:6641"); // the first session is not a reconnect
    client.sessions = 2;
    client.emit("connected", "tcp:127.0.0.1:6642");
    client.sessions = 3;
    client.emit("connected", "tcp:127.0.0.1:6641");
    stop();
    client.sessions = 4;
    client.emit("connected", "tcp:127.0.0.1:6641");

    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.equal(sample(text, "nb_transaction_duration_seconds_count", { outcome: "ok" }), 2);
    assert.equal(sample(text, "nb_transaction_duration_seconds_count", { outcome: "conflict" }), 1);
    assert.equal(sample(text, "nb_transaction_duration_seconds_count", { outcome: "error" }), 1);
    assert.equal(sample(text, "nb_transaction_duration_seconds_bucket", { outcome: "ok", le: "0.0025" }), 2);
    assert.equal(sample(text, "nb_reconnects_total"), 2);
    // Its own registry: no default metrics here, since this app turned them off.
    assert.equal(sample(text, "process_cpu_user_seconds_total"), undefined);
    await app.close();
  });
});

describe("request ids", () => {
  test("generated as req-<uuid>, answered in X-Openstack-Request-Id and logged", async () => {
    const { app, logs } = await build({
      routes: (a) => a.get("/v2.0/networks", async () => ({ networks: [] })),
    });
    const r = await app.inject({ method: "GET", url: "/v2.0/networks" });
    const id = r.headers["x-openstack-request-id"];
    assert.equal(typeof id, "string");
    assert.match(id as string, REQ_ID);
    const mine = logs().filter((l) => l.request_id === id);
    assert.deepEqual(
      mine.map((l) => l.msg),
      ["request completed"],
    );
    for (const l of mine) {
      assert.equal(l.level, "info");
      assert.equal(typeof l.time, "string");
    }
    const again = await app.inject({ method: "GET", url: "/v2.0/networks" });
    assert.notEqual(again.headers["x-openstack-request-id"], id);
    await app.close();
  });

  test("a well-formed incoming id is kept; a malformed one is replaced", async () => {
    const { app, logs } = await build({
      routes: (a) => a.get("/v2.0/networks", async () => ({ networks: [] })),
    });
    const theirs = "req-0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";
    const r = await app.inject({
      method: "GET",
      url: "/v2.0/networks",
      headers: { "x-openstack-request-id": theirs },
    });
    assert.equal(r.headers["x-openstack-request-id"], theirs);
    assert.ok(logs().some((l) => l.request_id === theirs));

    for (const bad of [
      "req-foo",
      "0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f",
      "req-0F3B7C52-5A4B-4D8E-9A51-2C1E0C1D2E3F",
      `${theirs}\nforged log line`,
      `${theirs}, ${theirs}`,
    ]) {
      const b = await app.inject({
        method: "GET",
        url: "/v2.0/networks",
        headers: { "x-openstack-request-id": bad },
      });
      const got = b.headers["x-openstack-request-id"] as string;
      assert.match(got, REQ_ID);
      assert.notEqual(got, theirs, JSON.stringify(bad));
    }
    await app.close();
  });

  test("every response carries it: 404, errors, 413, probes", async () => {
    const { app } = await build({
      bodyLimit: 64,
      routes: (a) => {
        a.get("/boom", async () => {
          throw new Error("boom");
        });
        a.post("/v2.0/ports", async () => ({}));
      },
    });
    const responses = [
      await app.inject({ method: "GET", url: "/nowhere" }),
      await app.inject({ method: "GET", url: "/boom" }),
      await app.inject({ method: "POST", url: "/v2.0/ports", payload: { port: { name: "x".repeat(100) } } }),
      await app.inject({ method: "GET", url: "/healthz" }),
      await app.inject({ method: "GET", url: "/metrics" }),
    ];
    assert.deepEqual(
      responses.map((r) => r.statusCode),
      [404, 500, 413, 200, 200],
    );
    for (const r of responses) assert.match(String(r.headers["x-openstack-request-id"]), REQ_ID);
    await app.close();
  });

  test("genRequestId reads the raw request's header", () => {
    const theirs = "req-00000000-0000-4000-8000-000000000000";
    assert.equal(genRequestId({ headers: { "x-openstack-request-id": theirs } } as never), theirs);
    assert.match(genRequestId({ headers: {} } as never), REQ_ID);
  });
});

describe("log redaction", () => {
  const PASSWORD = "correct-horse-battery-staple";
  const TOKEN = "gAAAAABmSecretTokenValue0123456789";
  const SUBJECT = "gAAAAABmSubjectTokenValue9876543210";

  test("passwords and tokens never reach the log, wherever they appear", async () => {
    const { app, lines } = await build({
      routes: (a) => {
        a.post("/v3/auth/tokens", async (request: FastifyRequest, reply: FastifyReply) => {
          // A careless handler that logs the whole body and headers.
          request.log.info({ body: request.body, req: request }, "authenticating");
          request.log.warn({ auth: (request.body as { auth: unknown }).auth }, "auth body at the top level");
          return reply.code(201).header("X-Subject-Token", SUBJECT).send({ token: {} });
        });
        // A handler that parses for itself: V8's SyntaxError message quotes the input.
        a.post("/v2.0/raw", async (request: FastifyRequest) => JSON.parse(String(request.body)));
      },
    });
    const password = {
      auth: {
        identity: { methods: ["password"], password: { user: { name: "demo", password: PASSWORD } } },
        scope: { project: { id: "p1" } },
      },
    };
    const byToken = { auth: { identity: { methods: ["token"], token: { id: TOKEN } } } };
    const changePassword = { user: { password: PASSWORD, original_password: PASSWORD } };

    const r1 = await app.inject({ method: "POST", url: "/v3/auth/tokens", payload: password });
    assert.equal(r1.statusCode, 201);
    assert.equal(r1.headers["x-subject-token"], SUBJECT);
    await app.inject({
      method: "POST",
      url: "/v3/auth/tokens",
      payload: byToken,
      headers: { "x-auth-token": TOKEN, "x-subject-token": SUBJECT, authorization: `Bearer ${TOKEN}` },
    });
    await app.inject({ method: "POST", url: "/v3/auth/tokens", payload: changePassword });
    // Malformed JSON, to fastify's parser (400) and to a handler's JSON.parse (500, logged with its error).
    const malformed = `{"auth": {"identity": {"password": {"user": {"password": ${PASSWORD}}}}}}`;
    const bad = await app.inject({
      method: "POST",
      url: "/v3/auth/tokens",
      headers: { "content-type": "application/json" },
      payload: malformed,
    });
    assert.equal(bad.statusCode, 400);
    const raw = await app.inject({
      method: "POST",
      url: "/v2.0/raw",
      headers: { "content-type": "text/plain" },
      payload: malformed,
    });
    assert.equal(raw.statusCode, 500);

    const all = lines.join("");
    assert.ok(lines.length > 8, `expected request logs, got ${lines.length}`);
    // V8 quotes about ten characters around a JSON fault: look for the start of the password too.
    assert.ok(!all.includes(PASSWORD.slice(0, 7)), "a password, or its start, reached the log");
    assert.ok(!all.includes(TOKEN), "a token reached the log");
    assert.ok(!all.includes(SUBJECT), "a subject token reached the log");

    // The censored values were logged (the test is not vacuous), and the rest is intact.
    type Json = { [key: string]: Json } & string;
    interface Line {
      msg: string;
      level: string;
      req: { headers: Record<string, string> };
      res?: unknown;
      statusCode?: number;
      method?: string;
      url?: string;
      responseTime?: number;
      request_id?: string;
      body: Json;
      err?: { type: string; message: string; code?: string };
    }
    const parsed = lines.map((l) => JSON.parse(l) as Line);
    // The handler logged the request with its headers: censored there.
    const incoming = parsed.filter((l) => l.msg === "authenticating").map((l) => l.req.headers);
    assert.ok(incoming.some((h) => h["x-auth-token"] === CENSOR && h.authorization === CENSOR));
    assert.ok(incoming.every((h) => typeof h["user-agent"] === "string"));
    // One line per request, without headers: id, method, url, status, duration.
    assert.ok(!parsed.some((l) => l.msg === "incoming request"));
    const completed = parsed.filter((l) => l.msg === "request completed");
    assert.ok(
      completed.some(
        (l) =>
          l.statusCode === 201 &&
          l.method === "POST" &&
          l.url === "/v3/auth/tokens" &&
          typeof l.responseTime === "number" &&
          typeof l.request_id === "string" &&
          l.res === undefined &&
          l.req === undefined,
      ),
    );
    const [first, second, third] = parsed.filter((l) => l.msg === "authenticating").map((l) => l.body);
    assert.ok(first && second && third);
    assert.equal(first.auth?.identity?.password, CENSOR);
    assert.deepEqual(first.auth?.scope, { project: { id: "p1" } });
    assert.equal(second.auth?.identity?.token, CENSOR);
    assert.deepEqual(third.user, { password: CENSOR, original_password: CENSOR });
    const parseError = parsed.find((l) => l.err?.type === "SyntaxError");
    assert.ok(parseError, "the parse error was logged");
    assert.equal(parseError.level, "error");
    assert.match(String(parseError.err?.message), /withheld/);
    assert.ok(parsed.some((l) => l.err?.code === "FST_ERR_CTP_INVALID_JSON_BODY"));
    await app.close();
  });
});

test("log times are the current millisecond in ISO 8601, also when reused", async () => {
  const deadline = Date.now() + 30;
  let seen = 0;
  while (Date.now() < deadline) {
    const before = Date.now();
    const got = isoTimestamp();
    const after = Date.now();
    const m = /^,"time":"(.*)"$/.exec(got);
    assert.ok(m, got);
    const t = Date.parse(m[1] as string);
    assert.equal(new Date(t).toISOString(), m[1]);
    assert.ok(before <= t && t <= after, `${m[1]} not within [${before}, ${after}]`);
    seen++;
  }
  assert.ok(seen > 30);
});

describe("the request line", () => {
  // Its time and duration differ from a line written a moment later; nothing else may.
  const normalize = (line: string) =>
    line.replace(/"time":"[^"]*"/, '"time":"T"').replace(/"responseTime":[0-9.e+-]+/, '"responseTime":1');

  test("is written as the request's (redacting) logger would write it, byte for byte", async () => {
    const { app, lines } = await build({
      routes: (a) =>
        a.get("/v2.0/*", async (request: FastifyRequest, reply: FastifyReply) => {
          // What the line was before: the same fields through the request's own logger.
          request.log.info(
            { method: request.method, url: request.url, statusCode: 200, responseTime: 1 },
            "request completed",
          );
          return reply.send({});
        }),
    });
    const urls = [
      "/v2.0/networks",
      "/v2.0/networks?name=a%22b&x=%5C",
      '/v2.0/ports?name="quoted"&back=\\slash',
      "/v2.0/ports?password=hunter2&auth.identity.token=x",
      `/v2.0/ports/${"\u00e9\u00ff"}`,
    ];
    for (const url of urls) {
      lines.length = 0;
      const r = await app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 200, url);
      assert.equal(lines.length, 2, url);
      const [before, now] = lines.map(normalize) as [string, string];
      assert.equal(now, before, url);
      assert.equal(JSON.parse(now).request_id, r.headers["x-openstack-request-id"]);
    }
    await app.close();
  });

  test("goes through a logger without redaction, made once per server logger", async () => {
    const lines: string[] = [];
    const app = Fastify(serverOptions({ level: "info", stream: { write: (l) => lines.push(l) } }));
    await app.ready();
    const plain = unredactedLogger(app.log);
    assert.equal(unredactedLogger(app.log), plain);
    app.log.info({ password: "p" }, "redacting");
    plain.info({ password: "p" }, "plain");
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).password),
      [CENSOR, "p"],
    );
    await app.close();
  });

  test("a request's own logger becomes a pino child only when something logs through it", async () => {
    const lines: string[] = [];
    const app = Fastify(serverOptions({ level: "info", stream: { write: (l) => lines.push(l) } }));
    app.get("/silent", async () => ({}));
    app.get("/talks", async (request: FastifyRequest) => {
      request.log.warn({ password: "p" }, "talking");
      return {};
    });
    await app.ready();
    const child = app.log.child.bind(app.log);
    let made = 0;
    app.log.child = ((...a: Parameters<typeof child>) => {
      made++;
      return child(...a);
    }) as typeof app.log.child;
    await app.inject({ method: "GET", url: "/silent" }); // makes the unredacted request-line logger, once
    const afterFirst = made;
    for (let i = 0; i < 3; i++) await app.inject({ method: "GET", url: "/silent" });
    assert.equal(made, afterFirst, "a request that logs nothing made a child logger");
    await app.inject({ method: "GET", url: "/talks" });
    assert.equal(made, afterFirst + 1);
    const logged = lines.map((l) => JSON.parse(l));
    const talk = logged.find((l) => l.msg === "talking");
    const done = logged.find((l) => l.msg === "request completed" && l.url === "/talks");
    assert.match(talk?.request_id, REQ_ID);
    assert.equal(talk?.request_id, done?.request_id);
    assert.equal(talk?.password, CENSOR);
    assert.equal(talk?.level, "warn");
    await app.close();
  });

  test("a lazy request logger reports its route's level unmade, and its children and bindings are pino's", async () => {
    const lines: string[] = [];
    const app = Fastify(serverOptions({ level: "info", stream: { write: (l) => lines.push(l) } }));
    let seen: { level: string; made: boolean; bindings: Record<string, unknown> } | undefined;
    app.get("/quiet", { logLevel: "error" }, async (request: FastifyRequest) => {
      const lazy = request.log as unknown as LazyChildLogger;
      const level = lazy.level;
      const made = (lazy as unknown as { made?: unknown }).made !== undefined;
      request.log.child({ step: "inner" }).error("from a child");
      seen = { level, made, bindings: lazy.bindings() };
      return {};
    });
    await app.inject({ method: "GET", url: "/quiet" });
    assert.equal(seen?.level, "error");
    assert.equal(seen?.made, false, "reading the level made the child");
    assert.match(String(seen?.bindings.request_id), REQ_ID);
    const inner = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "from a child");
    assert.equal(inner?.step, "inner");
    assert.equal(inner?.request_id, seen?.bindings.request_id);
    await app.close();
  });

  test("a route's own log level still decides, above or below the server's", async () => {
    const lines: string[] = [];
    const app = Fastify(serverOptions({ level: "warn", stream: { write: (l) => lines.push(l) } }));
    app.get("/loud", { logLevel: "info" }, async () => ({}));
    app.get("/quiet", async () => ({}));
    await app.inject({ method: "GET", url: "/quiet" });
    assert.deepEqual(lines, []);
    await app.inject({ method: "GET", url: "/loud" });
    assert.deepEqual(
      lines.map((l) => [JSON.parse(l).msg, JSON.parse(l).url]),
      [["request completed", "/loud"]],
    );
    await app.close();
  });
});

describe("body size limit", () => {
  const LIMIT = 1024;
  const big = { network: { name: "x".repeat(2 * LIMIT) } };

  async function withRoutes(): Promise<Built> {
    return build({
      bodyLimit: LIMIT,
      routes: async (a) => {
        a.post("/v2.0/networks", async () => ({ network: {} }));
        a.post("/v3/auth/tokens", async () => ({ token: {} }));
        a.post("/v2.0/ports", { bodyLimit: 8 * LIMIT }, async () => ({ port: {} }));
        // A plugin with an error handler of its own, as the Keystone and Neutron plugins have.
        await a.register(async (child) => {
          child.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) =>
            reply.code(err.statusCode ?? 500).send({ mine: err.message }),
          );
          child.post("/v3/OS-OVN-DOCKER/vm-tokens", async () => ({}));
          child.post("/v2.0/trunks", async () => ({}));
        });
      },
    });
  }

  const neutron413 = (limit: number) => ({
    NeutronError: {
      type: "RequestEntityTooLarge",
      message: `Request body too large (limit ${limit} bytes)`,
      detail: "",
    },
  });
  const keystone413 = (limit: number) => ({
    error: {
      code: 413,
      message: `Request body too large (limit ${limit} bytes)`,
      title: "Request Entity Too Large",
    },
  });

  test("413 in Neutron's format, and in Keystone's under /v3", async () => {
    const { app } = await withRoutes();
    const n = await app.inject({ method: "POST", url: "/v2.0/networks", payload: big });
    assert.equal(n.statusCode, 413);
    assert.deepEqual(n.json(), neutron413(LIMIT));
    assert.equal(n.headers.connection, "close");
    const k = await app.inject({ method: "POST", url: "/v3/auth/tokens?nocatalog", payload: big });
    assert.equal(k.statusCode, 413);
    assert.deepEqual(k.json(), keystone413(LIMIT));
    // Under the limit, nothing happens; a route's own limit is the one that counts.
    assert.equal(
      (await app.inject({ method: "POST", url: "/v2.0/networks", payload: { network: {} } })).statusCode,
      200,
    );
    assert.equal((await app.inject({ method: "POST", url: "/v2.0/ports", payload: big })).statusCode, 200);
    const p = await app.inject({
      method: "POST",
      url: "/v2.0/ports",
      payload: { port: { name: "x".repeat(9 * LIMIT) } },
    });
    assert.deepEqual(p.json(), neutron413(8 * LIMIT));
    // No route at all: still 413 first (fastify reads bodies of unmatched requests too).
    const u = await app.inject({ method: "POST", url: "/v2.0/nothing", payload: big });
    assert.deepEqual([u.statusCode, u.json()], [413, neutron413(LIMIT)]);
    await app.close();
  });

  test("a body that streams in without Content-Length is caught by the error handler", async () => {
    const { app } = await withRoutes();
    const chunked = (url: string) =>
      app.inject({
        method: "POST",
        url,
        headers: { "content-type": "application/json" },
        payload: Readable.from([Buffer.from(JSON.stringify(big))]),
      });
    const n = await chunked("/v2.0/networks");
    assert.equal(n.statusCode, 413);
    assert.deepEqual(n.json(), neutron413(LIMIT));
    const k = await chunked("/v3/auth/tokens");
    assert.equal(k.statusCode, 413);
    assert.deepEqual(k.json(), keystone413(LIMIT));
    // Inside a plugin with its own error handler, that handler answers a streamed body...
    const own = await chunked("/v2.0/trunks");
    assert.equal(own.statusCode, 413);
    assert.deepEqual(own.json(), { mine: "Request body is too large" });
    await app.close();
  });

  test("...but a declared Content-Length is refused before any plugin's handler", async () => {
    const { app } = await withRoutes();
    const k = await app.inject({ method: "POST", url: "/v3/OS-OVN-DOCKER/vm-tokens", payload: big });
    assert.deepEqual([k.statusCode, k.json()], [413, keystone413(LIMIT)]);
    const n = await app.inject({ method: "POST", url: "/v2.0/trunks", payload: big });
    assert.deepEqual([n.statusCode, n.json()], [413, neutron413(LIMIT)]);
    await app.close();
  });

  test("413s are counted under their route", async () => {
    const { app } = await withRoutes();
    await app.inject({ method: "POST", url: "/v2.0/networks", payload: big });
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.equal(
      sample(text, "http_requests_total", { method: "POST", route: "/v2.0/networks", status: "413" }),
      1,
    );
    await app.close();
  });
});

describe("next to the real Keystone plugin", () => {
  const PASSWORD = "demo-secret-do-not-log";
  let dir: string;
  let built: Built;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "server-ops-"));
    await writeFile(path.join(dir, "token.key"), randomBytes(48));
    const text = JSON.stringify({
      mac_prefix: "fa:16:3e",
      public_url: "http://controller:9696",
      token: { key_file: "token.key" },
      projects: [{ id: "p1", name: "demo" }],
      users: [
        {
          id: "u-demo",
          name: "demo",
          password_hash: await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 }),
          roles: [{ project_id: "p1", role: "member" }],
        },
      ],
    });
    const config = parseConfig(text, dir);
    built = await build({
      bodyLimit: 4096,
      routes: (a) => a.register(keystonePlugin, { config, checkParentPort: async () => false }),
    });
  });

  after(async () => {
    await built.app.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a real login and validation: token and password stay out of the log", async () => {
    const { app, lines } = built;
    const login = await app.inject({
      method: "POST",
      url: "/v3/auth/tokens",
      payload: {
        auth: {
          identity: {
            methods: ["password"],
            password: { user: { name: "demo", domain: { id: "default" }, password: PASSWORD } },
          },
          scope: { project: { id: "p1" } },
        },
      },
    });
    assert.equal(login.statusCode, 201, login.body);
    const token = login.headers["x-subject-token"] as string;
    assert.ok(token.length > 20);
    const check = await app.inject({
      method: "GET",
      url: "/v3/auth/tokens",
      headers: { "x-auth-token": token, "x-subject-token": token },
    });
    assert.equal(check.statusCode, 200);
    assert.match(String(check.headers["x-openstack-request-id"]), REQ_ID);
    const all = lines.join("");
    // One line per request (no headers in it).
    assert.ok(lines.length >= 2);
    assert.ok(!all.includes(token), "the token reached the log");
    assert.ok(!all.includes(PASSWORD), "the password reached the log");
  });

  test("an oversized body gets the Keystone 413 from the ops plugin, not Keystone's own handler", async () => {
    const r = await built.app.inject({
      method: "POST",
      url: "/v3/auth/tokens",
      payload: {
        auth: { identity: { methods: ["password"], password: { user: { name: "x".repeat(5000) } } } },
      },
    });
    assert.equal(r.statusCode, 413);
    assert.deepEqual(r.json(), {
      error: {
        code: 413,
        message: "Request body too large (limit 4096 bytes)",
        title: "Request Entity Too Large",
      },
    });
  });
});
