// The VM side's Keystone + Neutron client against a real network service (real NB, real
// server on loopback): credential resolution (env, --cred, clouds.yaml), the token cache
// (reuse, expiry, 401 recovery), resources including child ports and trunks, error shapes.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  Authenticator,
  type CachedToken,
  ClientRequestError,
  CredentialsError,
  type Env,
  type FetchLike,
  NeutronApiError,
  NeutronClient,
  openClient,
  resolveCredentials,
} from "../../src/client/index.js";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

let f: Fixture;
let tmp: string;
let base: string;
const hang: Server[] = [];

/** A fetch that counts requests by "METHOD path" (and by status for the network API). */
function counting() {
  const counts = new Map<string, number>();
  const fetchFn: FetchLike = async (input, init) => {
    const key = `${init?.method ?? "GET"} ${new URL(input).pathname}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const r = await fetch(input, init);
    if (r.status === 401) counts.set("401", (counts.get("401") ?? 0) + 1);
    return r;
  };
  return { fetchFn, n: (key: string) => counts.get(key) ?? 0 };
}

const LOGIN = "POST /v3/auth/tokens";
const VALIDATE = "GET /v3/auth/tokens";

function envFor(user: "admin" | "demo"): Env {
  const u = f.init.users.find((x) => x.name === user);
  assert.ok(u);
  return {
    OS_AUTH_URL: `${base}/v3`,
    OS_USERNAME: u.name,
    OS_PASSWORD: u.password,
    OS_PROJECT_NAME: u.project_name,
    OS_USER_DOMAIN_NAME: u.domain_name,
    OS_PROJECT_DOMAIN_NAME: u.domain_name,
  };
}

function client(env: Env, cacheFile: string | undefined, fetchFn?: FetchLike, extra: { cred?: string } = {}) {
  return openClient({
    env,
    ...(cacheFile ? { cacheFile } : {}),
    ...(fetchFn ? { fetch: fetchFn } : {}),
    ...extra,
  });
}

const readCache = async (file: string) => JSON.parse(await readFile(file, "utf8")) as CachedToken;

before(async () => {
  f = await startFixture();
  const url = f.servers[0]?.url;
  assert.ok(url);
  base = url.replace(/\/+$/, "");
  tmp = await mkdtemp(path.join(tmpdir(), "client-test-"));
});

after(async () => {
  for (const s of hang) s.close();
  await f?.close();
  await stopAllOvsdbServers();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("missing credentials: the error names what is missing and how to fix it", () => {
  assert.throws(
    () => resolveCredentials({ env: {}, readFile: () => undefined }),
    (e: unknown) => {
      assert.ok(e instanceof CredentialsError);
      assert.match(e.message, /no OpenStack credentials found/);
      assert.match(e.message, /--cred=TOKEN/);
      assert.match(e.message, /OS_CLOUD/);
      return true;
    },
  );
  assert.throws(
    () =>
      resolveCredentials({
        env: { OS_AUTH_URL: "http://127.0.0.1:1/v3", OS_USERNAME: "demo" },
        readFile: () => undefined,
      }),
    (e: unknown) => {
      assert.ok(e instanceof CredentialsError);
      assert.deepEqual(e.missing, ["OS_PASSWORD", "OS_PROJECT_NAME (or OS_PROJECT_ID)"]);
      assert.match(e.message, /missing OS_PASSWORD, OS_PROJECT_NAME \(or OS_PROJECT_ID\)/);
      return true;
    },
  );
  assert.throws(
    () => resolveCredentials({ env: { OS_TOKEN: "abc" }, readFile: () => undefined }),
    (e: unknown) => e instanceof CredentialsError && /OS_AUTH_URL/.test(e.message),
  );
  assert.throws(
    () => resolveCredentials({ env: { OS_CLOUD: "nope" }, readFile: () => undefined, cwd: tmp, home: tmp }),
    (e: unknown) => e instanceof CredentialsError && /no clouds\.yaml was found/.test(e.message),
  );
  // Defaults: domains "Default".
  const c = resolveCredentials({
    env: { OS_AUTH_URL: "http://h:5000", OS_USERNAME: "u", OS_PASSWORD: "p", OS_PROJECT_ID: "x" },
  });
  assert.equal(c.kind, "password");
  if (c.kind === "password") {
    assert.equal(c.user_domain_name, "Default");
    assert.equal(c.project_domain_name, "Default");
    assert.equal(c.project_id, "x");
  }
});

test("password login from env-style credentials; the token cache is reused, then refreshed when expired", async () => {
  const cacheFile = path.join(tmp, "cache1", "token.json");
  const a = counting();
  const nets = await client(envFor("demo"), cacheFile, a.fetchFn).listNetworks();
  assert.ok(Array.isArray(nets));
  assert.equal(a.n(LOGIN), 1);
  const st = await stat(cacheFile);
  assert.equal(st.mode & 0o777, 0o600);
  const cached = await readCache(cacheFile);
  assert.equal(cached.network_url, base);
  assert.equal(cached.auth_url, `${base}/v3`);
  assert.equal(cached.user?.name, "demo");
  assert.equal(cached.project?.name, f.init.project.name);
  assert.ok(Date.parse(cached.expires_at as string) > Date.now());

  // A second client (the next CLI run) does not log in.
  const b = counting();
  await client(envFor("demo"), cacheFile, b.fetchFn).listNetworks();
  assert.equal(b.n(LOGIN), 0);
  assert.equal(b.n("GET /v2.0/networks"), 1);

  // Another user does not reuse demo's cache.
  const other = counting();
  await client(envFor("admin"), cacheFile, other.fetchFn).listNetworks();
  assert.equal(other.n(LOGIN), 1);
  assert.equal((await readCache(cacheFile)).user?.name, "admin");

  // Expired (or about to): logs in again and rewrites the cache.
  await writeFile(
    cacheFile,
    JSON.stringify({ ...cached, expires_at: new Date(Date.now() - 1000).toISOString() }),
    { mode: 0o600 },
  );
  const c = counting();
  await client(envFor("demo"), cacheFile, c.fetchFn).listNetworks();
  assert.equal(c.n(LOGIN), 1);
  const renewed = await readCache(cacheFile);
  assert.ok(Date.parse(renewed.expires_at as string) > Date.now());
  assert.equal(renewed.user?.name, "demo");
});

test("--cred token: network endpoint from the catalog (GET /v3/auth/tokens) or an explicit URL", async () => {
  const token = await f.token("demo");
  const a = counting();
  await client({ OS_AUTH_URL: base }, undefined, a.fetchFn, { cred: token }).listNetworks();
  assert.equal(a.n(LOGIN), 0);
  assert.equal(a.n(VALIDATE), 1);

  const b = counting();
  const c = openClient({ env: {}, cred: token, networkUrl: base, fetch: b.fetchFn });
  await c.listNetworks();
  assert.equal(b.n(LOGIN) + b.n(VALIDATE), 0);

  // OS_TOKEN works the same; a refused token is reported, not retried with a login.
  const bad = openClient({ env: { OS_TOKEN: "not-a-token" }, networkUrl: base });
  await assert.rejects(bad.listNetworks(), (e: unknown) => {
    assert.ok(e instanceof NeutronApiError);
    assert.equal(e.status, 401);
    assert.match(e.message, /token was refused/);
    return true;
  });
});

test("clouds.yaml in ~/.config/openstack, selected by OS_CLOUD", async () => {
  const home = path.join(tmp, "home");
  await mkdir(path.join(home, ".config", "openstack"), { recursive: true });
  const u = f.init.users.find((x) => x.name === "demo");
  assert.ok(u);
  await writeFile(
    path.join(home, ".config", "openstack", "clouds.yaml"),
    [
      "clouds:",
      "  test:",
      "    auth:",
      `      auth_url: ${base}/v3`,
      `      username: ${u.name}`,
      `      password: "${u.password}"`,
      `      project_name: ${u.project_name}`,
      `      user_domain_name: ${u.domain_name}`,
      `      project_domain_name: ${u.domain_name}`,
      "",
    ].join("\n"),
  );
  const creds = resolveCredentials({ env: { OS_CLOUD: "test", HOME: home }, cwd: tmp });
  assert.equal(creds.kind, "password");
  assert.match(creds.source, /clouds\.yaml cloud 'test'/);
  const a = counting();
  const c = new NeutronClient({ auth: new Authenticator({ credentials: creds, fetch: a.fetchFn }) });
  await c.listNetworks();
  assert.equal(a.n(LOGIN), 1);

  assert.throws(
    () => resolveCredentials({ env: { OS_CLOUD: "other", HOME: home }, cwd: tmp }),
    (e: unknown) => e instanceof CredentialsError && /no such cloud .* \(it has: test\)/.test(e.message),
  );
});

test("network, subnet, port, child port with binding:profile, trunks; error shapes", async () => {
  const c = client(envFor("demo"), path.join(tmp, "cache2", "token.json"));
  const net = await c.createNetwork({ name: "client-net" });
  assert.equal(net.name, "client-net");
  assert.equal((await c.getNetwork(net.id)).id, net.id);
  assert.ok((await c.listNetworks({ name: "client-net" })).some((n) => n.id === net.id));
  const sub = await c.createSubnet({ network_id: net.id, cidr: "10.77.0.0/24", name: "client-sub" });
  assert.equal(sub.network_id, net.id);
  assert.equal((await c.listSubnets({ network_id: net.id })).length, 1);

  const parent = await c.createPort({ network_id: net.id, name: "vm" });
  assert.equal(parent.fixed_ips[0]?.subnet_id, sub.id);
  const child = await c.createPort({
    network_id: net.id,
    name: "ctr",
    "binding:profile": { parent_name: parent.id, tag: 10 },
  });
  const shown = await c.getPort(child.id);
  assert.deepEqual(shown["binding:profile"], { parent_name: parent.id, tag: 10 });
  const ports = await c.listPorts({ network_id: net.id });
  assert.deepEqual(ports.map((p) => p.id).sort(), [parent.id, child.id].sort());
  const upd = await c.updatePort(child.id, { name: "ctr-renamed" });
  assert.equal(upd.name, "ctr-renamed");

  // 409: the tag is taken.
  await assert.rejects(
    c.createPort({ network_id: net.id, "binding:profile": { parent_name: parent.id, tag: 10 } }),
    (e: unknown) => {
      assert.ok(e instanceof NeutronApiError, String(e));
      assert.equal(e.status, 409);
      assert.equal(e.type, "VlanTagInUse");
      assert.equal(e.method, "POST");
      assert.equal(e.path, "/v2.0/ports");
      assert.match(
        e.message,
        new RegExp(
          `^creating port on network ${net.id} .*: 409 VlanTagInUse: VLAN 10 under parent port ${parent.id} is already used`,
        ),
      );
      return true;
    },
  );

  // 404, and the idempotent delete.
  const missing = randomUUID();
  await assert.rejects(c.getPort(missing), (e: unknown) => {
    assert.ok(e instanceof NeutronApiError);
    assert.equal(e.status, 404);
    assert.equal(e.type, "PortNotFound");
    assert.equal(e.path, `/v2.0/ports/${missing}`);
    assert.match(e.message, new RegExp(`^showing port ${missing}: 404 PortNotFound: `));
    return true;
  });
  await c.deletePort(missing, { ignoreMissing: true });
  await assert.rejects(
    c.deletePort(missing),
    (e: unknown) => e instanceof NeutronApiError && e.status === 404,
  );

  // Trunks.
  const tparent = await c.createPort({ network_id: net.id, name: "trunk-parent" });
  const tsub = await c.createPort({ network_id: net.id, name: "trunk-sub" });
  const trunk = await c.createTrunk({ port_id: tparent.id, name: "t1" });
  assert.equal(trunk.port_id, tparent.id);
  const added = await c.addSubports(trunk.id, [
    { port_id: tsub.id, segmentation_type: "vlan", segmentation_id: 101 },
  ]);
  assert.deepEqual(
    added.sub_ports.map((s) => [s.port_id, s.segmentation_id]),
    [[tsub.id, 101]],
  );
  assert.equal((await c.getTrunk(trunk.id)).sub_ports.length, 1);
  assert.ok((await c.listTrunks({ port_id: tparent.id })).some((t) => t.id === trunk.id));
  const removed = await c.removeSubports(trunk.id, [{ port_id: tsub.id }]);
  assert.equal(removed.sub_ports.length, 0);
  await c.deleteTrunk(trunk.id);

  // Clean up in order.
  for (const p of [child, parent, tsub, tparent]) await c.deletePort(p.id);
  await c.deleteNetwork(net.id);
  await c.deleteNetwork(net.id, { ignoreMissing: true });
});

test("401 on a cached token: the cache is dropped, one login, one retry", async () => {
  const cacheFile = path.join(tmp, "cache3", "token.json");
  await client(envFor("demo"), cacheFile).listNetworks();
  const good = await readCache(cacheFile);
  await writeFile(cacheFile, JSON.stringify({ ...good, token: `${good.token}garbage` }), { mode: 0o600 });
  const a = counting();
  await client(envFor("demo"), cacheFile, a.fetchFn).listNetworks();
  assert.equal(a.n("401"), 1);
  assert.equal(a.n(LOGIN), 1);
  assert.equal(a.n("GET /v2.0/networks"), 2);
  const renewed = await readCache(cacheFile);
  assert.notEqual(renewed.token, `${good.token}garbage`);
  // A wrong password is a clear Keystone error, not a loop.
  const wrong = counting();
  await writeFile(cacheFile, JSON.stringify({ ...good, token: "junk" }), { mode: 0o600 });
  await assert.rejects(
    client({ ...envFor("demo"), OS_PASSWORD: "wrong" }, cacheFile, wrong.fetchFn).listNetworks(),
    (e: unknown) => e instanceof Error && /logging in to .* as demo: 401/.test(e.message),
  );
  assert.equal(wrong.n(LOGIN), 1);
});

test("a network service that does not answer: a timeout naming the URL", async () => {
  const sockets: Socket[] = [];
  const srv = createServer((sock) => {
    sockets.push(sock); // accept and never answer
  });
  hang.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  assert.ok(addr && typeof addr === "object");
  const url = `http://127.0.0.1:${addr.port}`;
  const c = openClient({ env: {}, cred: "tok", networkUrl: url, timeoutMs: 200 });
  await assert.rejects(c.listNetworks(), (e: unknown) => {
    assert.ok(e instanceof ClientRequestError);
    assert.equal(e.message, `GET ${url}/v2.0/networks: no answer within 0.2s (timed out)`);
    return true;
  });
  for (const s of sockets) s.destroy();
});
