// The identity API over real HTTP: two replicas started from one configuration written by
// initConfig, each listening on 127.0.0.1 with an ephemeral port, spoken to with plain fetch
// as keystoneauth would (discovery, then password auth, then the catalog).

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { type InitResult, initConfig, loadConfig } from "../../src/server/config.js";
import { keystonePlugin } from "../../src/server/keystone/routes.js";
import type { TokenBody } from "../../src/server/keystone/schemas.js";

let dir: string;
let init: InitResult;
const replicas: { app: FastifyInstance; url: string }[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keystone-http-"));
  init = await initConfig(dir, { listen: "127.0.0.1:0" });
  for (let i = 0; i < 2; i++) {
    // Each replica reads the files itself, as separate processes would.
    const config = await loadConfig(init.config_file);
    assert.equal(config.public_url, undefined, "port 0: the URL comes from the request");
    const app = Fastify();
    await app.register(keystonePlugin, {
      config,
      checkParentPort: async (project) => project === init.project.id,
    });
    const address = await app.listen({ host: config.listen.host, port: config.listen.port });
    replicas.push({ app, url: address });
  }
});

after(async () => {
  for (const r of replicas) await r.app.close();
  await rm(dir, { recursive: true, force: true });
});

function replica(i: number): string {
  const r = replicas[i];
  assert.ok(r);
  return r.url;
}

async function password(base: string, name: string, pw: string): Promise<Response> {
  return fetch(`${base}/v3/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name, domain: { name: "Default" }, password: pw } },
        },
        scope: { project: { name: "demo", domain: { name: "Default" } } },
      },
    }),
  });
}

test("discovery, password login and the catalog, over HTTP", async () => {
  const base = replica(0);
  const root = await fetch(`${base}/`);
  assert.equal(root.status, 300);
  assert.equal(
    ((await root.json()) as { versions: { values: { links: { href: string }[] }[] } }).versions.values[0]
      ?.links[0]?.href,
    `${base}/v3/`,
  );
  const v3 = await fetch(`${base}/v3`);
  assert.equal(v3.status, 200);
  assert.equal(v3.headers.get("content-type"), "application/json; charset=utf-8");

  const admin = init.users.find((u) => u.name === "admin");
  assert.ok(admin);
  const r = await password(base, admin.name, admin.password);
  assert.equal(r.status, 201);
  const token = r.headers.get("x-subject-token");
  assert.ok(token && token.length < 300, `token of ${token?.length} characters`);
  const body = ((await r.json()) as { token: TokenBody }).token;
  assert.equal(body.project.id, init.project.id);
  const network = body.catalog?.find((s) => s.type === "network");
  assert.equal(network?.endpoints.find((e) => e.interface === "public")?.url, base);
});

test("wrong password over HTTP: 401 with Keystone's body", async () => {
  const r = await password(replica(0), "demo", "wrong");
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), {
    error: {
      code: 401,
      message: "The request you have made requires authentication.",
      title: "Unauthorized",
    },
  });
});

test("each replica validates the other's tokens", async () => {
  const demo = init.users.find((u) => u.name === "demo");
  assert.ok(demo);
  const fromA = (await password(replica(0), demo.name, demo.password)).headers.get("x-subject-token") ?? "";
  const fromB = (await password(replica(1), demo.name, demo.password)).headers.get("x-subject-token") ?? "";
  for (const [base, caller, subject] of [
    [replica(1), fromB, fromA],
    [replica(0), fromA, fromB],
  ] as const) {
    const r = await fetch(`${base}/v3/auth/tokens`, {
      headers: { "x-auth-token": caller, "x-subject-token": subject },
    });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { token: TokenBody }).token.user.name, "demo");
    const head = await fetch(`${base}/v3/auth/tokens`, {
      method: "HEAD",
      headers: { "x-auth-token": caller, "x-subject-token": subject },
    });
    assert.equal(head.status, 200);
  }
  const vm = await fetch(`${replica(1)}/v3/OS-OVN-DOCKER/vm-tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-auth-token": fromA },
    body: JSON.stringify({ parent_port_id: "vif-1", ttl_seconds: 600 }),
  });
  assert.equal(vm.status, 201);
  const vmToken = vm.headers.get("x-subject-token") ?? "";
  const check = await fetch(`${replica(0)}/v3/auth/tokens`, {
    headers: { "x-auth-token": vmToken, "x-subject-token": vmToken },
  });
  assert.equal(check.status, 200);
  assert.deepEqual(((await check.json()) as { token: TokenBody }).token["OS-OVN-DOCKER:vm_scope"], {
    parent_port_id: "vif-1",
  });
});
