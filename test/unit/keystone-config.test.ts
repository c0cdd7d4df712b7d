import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  ConfigError,
  ConfigExistsError,
  initConfig,
  loadConfig,
  parseConfig,
  parseListen,
} from "../../src/server/config.js";
import { hashPassword, verifyPassword } from "../../src/server/keystone/passwords.js";

let dir: string;
let hash: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keystone-config-"));
  await writeFile(path.join(dir, "token.key"), randomBytes(48));
  await writeFile(path.join(dir, "short.key"), randomBytes(16));
  hash = await hashPassword("pw", { N: 1024, r: 8, p: 1 });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Row {
  id: string;
  name: string;
  domain_id?: string;
  password_hash?: string;
  roles?: { project_id: string; role: string }[];
}
interface Editable extends Record<string, unknown> {
  projects: Row[];
  users: Row[];
}

function at<T>(xs: T[] | undefined, i: number): T {
  const x = xs?.[i];
  assert.ok(x !== undefined, `no element ${i}`);
  return x;
}

/** A valid configuration, with `edit` applied to its YAML-to-be. */
function yaml(edit: (c: Editable) => void = () => {}): string {
  const c: Editable = {
    mac_prefix: "fa:16:3e",
    token: { key_file: "token.key" },
    projects: [{ id: "p1", name: "demo" }],
    users: [
      { id: "u1", name: "admin", password_hash: hash, roles: [{ project_id: "p1", role: "admin" }] },
      { id: "u2", name: "demo", password_hash: hash, roles: [{ project_id: "p1", role: "member" }] },
    ],
  };
  edit(c);
  return JSON.stringify(c); // JSON is YAML
}

function problems(text: string): string[] {
  try {
    parseConfig(text, dir, "test.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.match(e.message, /^invalid server configuration test\.yaml:/);
    return e.problems;
  }
  assert.fail("the configuration was accepted");
}

function rejects(text: string, pattern: RegExp) {
  const p = problems(text);
  assert.ok(
    p.some((x) => pattern.test(x)),
    `no problem matches ${pattern}:\n${p.join("\n")}`,
  );
}

test("a minimal configuration gets its defaults", () => {
  const c = parseConfig(yaml(), dir);
  assert.deepEqual(c.domains, [{ id: "default", name: "Default" }]);
  assert.equal(c.projects[0]?.domain_id, "default");
  assert.equal(c.users[1]?.domain_id, "default");
  assert.equal(c.token.lifetime_seconds, 3600);
  assert.equal(c.token.key_file, path.join(dir, "token.key"));
  assert.equal(c.token.secret.length, 48);
  assert.deepEqual(c.listen, { host: "127.0.0.1", port: 9696 });
  assert.equal(c.public_url, "http://127.0.0.1:9696");
  assert.equal(c.mac_prefix, "fa:16:3e");
  assert.equal(c.users[0]?.password.N, 1024);
});

test("public_url: explicit, derived from listen, or left to the request", () => {
  const with_ = (edit: (c: Editable) => void) => parseConfig(yaml(edit), dir);
  assert.equal(
    with_((c) => (c.public_url = "https://net.example:443/network/")).public_url,
    "https://net.example/network",
  );
  assert.equal(with_((c) => (c.listen = "[::1]:9797")).public_url, "http://[::1]:9797");
  assert.equal(with_((c) => (c.listen = "0.0.0.0:9696")).public_url, undefined);
  assert.equal(with_((c) => (c.listen = "127.0.0.1:0")).public_url, undefined);
  rejects(
    yaml((c) => (c.public_url = "ftp://x")),
    /^public_url: expected an http\(s\) URL/,
  );
  rejects(
    yaml((c) => (c.public_url = "not a url")),
    /^public_url: expected an absolute/,
  );
});

test("a bad MAC prefix is named with what is expected", () => {
  rejects(
    yaml((c) => (c.mac_prefix = "fa:16:3")),
    /^mac_prefix: expected 1 to 5 hex octets .* got "fa:16:3"/,
  );
  rejects(
    yaml((c) => (c.mac_prefix = "zz:16:3e")),
    /^mac_prefix: expected/,
  );
  rejects(
    yaml((c) => (c.mac_prefix = "01:00:5e")),
    /^mac_prefix: first octet 01 has the multicast bit set/,
  );
  assert.equal(
    parseConfig(
      yaml((c) => (c.mac_prefix = "FA:16:3E")),
      dir,
    ).mac_prefix,
    "fa:16:3e",
  );
});

test("duplicate user names in a domain are refused; the same name in two domains is not", () => {
  rejects(
    yaml((c) => c.users.push({ id: "u3", name: "demo", password_hash: hash })),
    /^users: name "demo" in domain "default" appears twice/,
  );
  rejects(
    yaml((c) => c.users.push({ id: "u1", name: "other", password_hash: hash })),
    /^users: id "u1" appears twice/,
  );
  const ok = parseConfig(
    yaml((c) => {
      c.domains = [
        { id: "default", name: "Default" },
        { id: "d2", name: "Other" },
      ];
      c.users.push({ id: "u3", name: "demo", domain_id: "d2", password_hash: hash });
    }),
    dir,
  );
  assert.equal(ok.users.length, 3);
});

test("a role on an unknown project names the user and the project", () => {
  rejects(
    yaml((c) =>
      c.users.push({
        id: "u3",
        name: "x",
        password_hash: hash,
        roles: [{ project_id: "nope", role: "member" }],
      }),
    ),
    /^users\[2\]\.roles\[0\]\.project_id: no project "nope" \(user "x"\)/,
  );
});

test("the key file must exist and hold at least 32 bytes", () => {
  rejects(
    yaml((c) => (c.token = { key_file: "missing.key" })),
    new RegExp(`^token\\.key_file: cannot read ${path.join(dir, "missing.key")}: no such file`),
  );
  rejects(
    yaml((c) => (c.token = { key_file: "short.key" })),
    /^token\.key_file: .* holds 16 bytes; at least 32/,
  );
});

test("shape errors name the path and what was expected", () => {
  rejects(
    yaml((c) => {
      at(at(c.users, 0).roles, 0).role = "owner";
    }),
    /^users\[0\]\.roles\[0\]\.role: expected one of "admin", "member", got "owner"/,
  );
  rejects(
    yaml((c) => delete c.mac_prefix),
    /^mac_prefix: is required/,
  );
  rejects(
    yaml((c) => (c.colour = "blue")),
    /^colour: unknown key/,
  );
  rejects(
    yaml((c) => {
      at(c.projects, 0).id = "has space";
    }),
    /^projects\[0\]\.id: expected 1 to 64 of/,
  );
  rejects(
    yaml((c) => (c.token = { key_file: "token.key", lifetime_seconds: "1h" })),
    /^token\.lifetime_seconds: expected integer, got "1h"/,
  );
  rejects(
    yaml((c) => (c.listen = "localhost")),
    /^listen: expected HOST:PORT/,
  );
  rejects(
    yaml((c) => {
      at(c.users, 0).password_hash = "plain";
    }),
    /^users\[0\]\.password_hash: expected "scrypt\$N/,
  );
  rejects("just a string", /^\(top level\): expected a mapping/);
  rejects("a: [1,\nb: 2", /^YAML: /);
  rejects("a: 1\na: 2", /^YAML: .*unique/);
});

test("every problem is listed, not only the first", () => {
  const p = problems(
    yaml((c) => {
      c.mac_prefix = "x";
      c.listen = "y";
    }),
  );
  assert.ok(p.length >= 2, p.join("\n"));
});

test("listen addresses as ovn-docker spells them", () => {
  assert.deepEqual(parseListen("127.0.0.1:9696"), { host: "127.0.0.1", port: 9696 });
  assert.deepEqual(parseListen("[::]:1"), { host: "::", port: 1 });
  assert.deepEqual(parseListen("controller.example:80"), { host: "controller.example", port: 80 });
  assert.throws(() => parseListen("127.0.0.1:65536"), /HOST:PORT/);
  assert.throws(() => parseListen("::1:9696"), /HOST:PORT/);
});

test("initConfig writes a loadable configuration and refuses to overwrite it", async () => {
  const target = path.join(dir, "init");
  const r = await initConfig(target, { scrypt: { N: 1024, r: 8, p: 1 } });
  assert.equal(r.config_file, path.join(target, "server.yaml"));
  assert.equal(r.auth_url, "http://127.0.0.1:9696/v3");
  assert.equal((await stat(r.config_file)).mode & 0o777, 0o600);
  assert.equal((await stat(r.key_file)).mode & 0o777, 0o600);
  const c = await loadConfig(r.config_file);
  assert.equal(c.source, r.config_file);
  assert.deepEqual(
    c.users.map((u) => [u.name, u.roles[0]?.role, u.roles[0]?.project_id]),
    [
      ["admin", "admin", r.project.id],
      ["demo", "member", r.project.id],
    ],
  );
  assert.deepEqual(c.projects, [{ id: r.project.id, name: "demo", domain_id: "default" }]);
  for (const [i, u] of r.users.entries()) {
    assert.equal(await verifyPassword(u.password, at(c.users, i).password), true);
  }
  const before = await readFile(r.config_file, "utf8");
  await assert.rejects(initConfig(target), ConfigExistsError);
  assert.equal(await readFile(r.config_file, "utf8"), before);
});

test("initConfig leaves an existing key file alone", async () => {
  const target = path.join(dir, "init-key");
  await initConfig(target, { scrypt: { N: 1024, r: 8, p: 1 } });
  await rm(path.join(target, "server.yaml"));
  const key = await readFile(path.join(target, "token.key"));
  await assert.rejects(initConfig(target), /token\.key already exists/);
  assert.deepEqual(await readFile(path.join(target, "token.key")), key);
  await assert.rejects(stat(path.join(target, "server.yaml")), /ENOENT/);
});

test("initConfig on a wildcard address leaves the auth URL to the operator", async () => {
  const r = await initConfig(path.join(dir, "init-any"), {
    listen: "0.0.0.0:9696",
    scrypt: { N: 1024, r: 8, p: 1 },
  });
  assert.equal(r.auth_url, undefined);
  const withUrl = await initConfig(path.join(dir, "init-url"), {
    listen: "0.0.0.0:9696",
    public_url: "http://controller:9696/",
    scrypt: { N: 1024, r: 8, p: 1 },
  });
  assert.equal(withUrl.auth_url, "http://controller:9696/v3");
  assert.equal((await loadConfig(withUrl.config_file)).public_url, "http://controller:9696");
});

test("initConfig checks its options before writing", async () => {
  const target = path.join(dir, "init-bad");
  await assert.rejects(initConfig(target, { mac_prefix: "01:00:00" }), /mac_prefix: first octet/);
  await assert.rejects(stat(path.join(target, "server.yaml")), /ENOENT/);
});

test("loadConfig names the file it cannot read", async () => {
  await assert.rejects(loadConfig(path.join(dir, "absent.yaml")), (e: unknown) => {
    return e instanceof ConfigError && /absent\.yaml/.test(e.message) && /cannot read/.test(e.message);
  });
});
