// Graceful shutdown against a real listener: a request in flight when SIGTERM arrives still gets
// its 200, new connections are refused, the app's onClose runs after the last response, and a
// second signal or the timeout forces the exit. The process is not really exited: `exit` records.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import {
  createOpsMetrics,
  installGracefulShutdown,
  opsPlugin,
  serverOptions,
} from "../../src/server/ops/index.js";

interface Lab {
  app: FastifyInstance;
  url: string;
  events: string[];
  /** Resolves when /slow has started. */
  started: Promise<void>;
  /** Lets /slow answer. */
  release: () => void;
}

async function lab(): Promise<Lab> {
  const events: string[] = [];
  let markStarted!: () => void;
  const started = new Promise<void>((r) => {
    markStarted = r;
  });
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const app = Fastify(serverOptions({ level: "silent" }));
  await app.register(opsPlugin, {
    health: () => ({ connected: true }),
    metrics: createOpsMetrics({ defaultMetrics: false }),
  });
  app.get("/slow", async () => {
    events.push("handler started");
    markStarted();
    await gate;
    return { done: true };
  });
  // A response whose headers are out before the shutdown starts: its body ends after.
  app.get("/stream", async (_request, reply) => {
    const body = new Readable({ read() {} });
    body.push("first half,");
    void gate.then(() => {
      body.push("second half");
      body.push(null);
    });
    events.push("handler started");
    markStarted();
    return reply.type("text/plain").send(body);
  });
  app.addHook("onResponse", async (request) => {
    if (request.url === "/slow" || request.url === "/stream") events.push("slow response sent");
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, events, started, release };
}

/** A GET on a fresh connection (no keep-alive pool): rejects when nothing listens. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
  });
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("installGracefulShutdown", () => {
  test("SIGTERM: the request in flight gets its 200, then onClose, then exit 0", async () => {
    const { app, url, events, started, release } = await lab();
    const exits: number[] = [];
    const handle = installGracefulShutdown(app, {
      timeoutMs: 5000,
      onClose: async () => {
        events.push("onClose");
      },
      exit: (code) => {
        events.push(`exit ${code}`);
        exits.push(code);
      },
    });
    try {
      assert.equal(await freshGet(`${url}/healthz`), 200);
      const inFlight = fetch(`${url}/slow`);
      await started;

      process.kill(process.pid, "SIGTERM");
      await until(() => handle.closing, "the signal");
      events.push("signal handled");
      await until(() => !app.server.listening, "the listener to close");
      await assert.rejects(freshGet(`${url}/healthz`), { code: "ECONNREFUSED" });
      assert.deepEqual(exits, [], "must not exit while a request is in flight");

      release();
      const r = await inFlight;
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { done: true });
      assert.match(String(r.headers.get("x-openstack-request-id")), /^req-/);

      await until(() => exits.length > 0, "the exit");
      assert.deepEqual(events, [
        "handler started",
        "signal handled",
        "slow response sent",
        "onClose",
        "exit 0",
      ]);
      // The listeners are gone once done.
      assert.equal(process.listenerCount("SIGTERM"), 0);
    } finally {
      handle.uninstall();
      release();
      await app.close();
    }
  });

  test("a response already streaming when the shutdown starts ends, and so does its connection", async () => {
    const { app, url, events, started, release } = await lab();
    const exits: number[] = [];
    const handle = installGracefulShutdown(app, {
      signals: ["SIGTERM"],
      timeoutMs: 5000,
      onClose: () => {
        events.push("onClose");
      },
      exit: (code) => {
        events.push(`exit ${code}`);
        exits.push(code);
      },
    });
    try {
      const r = await fetch(`${url}/stream`);
      assert.equal(r.status, 200);
      await started;
      void handle.shutdown("test");
      await until(() => !app.server.listening, "the listener to close");
      release();
      assert.equal(await r.text(), "first half,second half");
      await until(() => exits.length > 0, "the exit");
      assert.deepEqual(events, ["handler started", "slow response sent", "onClose", "exit 0"]);
    } finally {
      handle.uninstall();
      release();
      await app.close();
    }
  });

  test("a second signal while closing forces exit 1 at once", async () => {
    const { app, url, events, started, release } = await lab();
    const exits: number[] = [];
    const handle = installGracefulShutdown(app, {
      signals: ["SIGINT"],
      timeoutMs: 5000,
      onClose: () => {
        events.push("onClose");
      },
      exit: (code) => {
        exits.push(code);
      },
    });
    try {
      const inFlight = fetch(`${url}/slow`);
      await started;
      process.kill(process.pid, "SIGINT");
      await until(() => handle.closing, "the first signal");
      assert.deepEqual(exits, []);
      process.kill(process.pid, "SIGINT");
      await until(() => exits.length > 0, "the forced exit");
      assert.deepEqual(exits, [1]);
      assert.ok(!events.includes("onClose"));

      // Had the process not exited, the first shutdown would finish without exiting again.
      release();
      assert.equal((await inFlight).status, 200);
      await until(() => events.includes("onClose"), "onClose");
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(exits, [1]);
    } finally {
      handle.uninstall();
      release();
      await app.close();
    }
  });

  test("the timeout forces exit 1 when a request does not finish", async () => {
    const { app, url, started, release } = await lab();
    const exits: number[] = [];
    const handle = installGracefulShutdown(app, {
      signals: ["SIGTERM"],
      timeoutMs: 150,
      exit: (code) => {
        exits.push(code);
      },
    });
    try {
      const inFlight = fetch(`${url}/slow`);
      await started;
      const t0 = Date.now();
      void handle.shutdown("test");
      await until(() => exits.length > 0, "the timeout");
      assert.deepEqual(exits, [1]);
      assert.ok(Date.now() - t0 >= 140, `exited after ${Date.now() - t0} ms`);
      release();
      await inFlight;
    } finally {
      handle.uninstall();
      release();
      await app.close();
    }
  });
});
