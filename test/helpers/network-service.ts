// A real network service for tests: a real NB ovsdb-server in a temp dir, a starter
// configuration, and N server replicas listening on loopback.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type OvsdbServer, startOvsdbServer } from "../../src/sandbox/ovsdb-process.js";
import { type NetworkService, type ServerOptions, startNetworkService } from "../../src/server/app.js";
import { type InitResult, initConfig, loadConfig } from "../../src/server/config.js";

export interface Fixture {
  dir: string;
  nb: OvsdbServer;
  init: InitResult;
  servers: Array<{ svc: NetworkService; url: string }>;
  /** A project-scoped token for a configured user ("admin" or "demo"). */
  token(user: "admin" | "demo", server?: number): Promise<string>;
  /** fetch against a replica with a token, JSON in and out. */
  call(
    method: string,
    url: string,
    opts?: { token?: string; body?: unknown; server?: number },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startFixture(
  replicas = 1,
  options: Partial<Omit<ServerOptions, "config" | "nb">> = {},
): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), "netsvc-"));
  const nb = await startOvsdbServer({ dir: path.join(dir, "nb"), schema: "/usr/share/ovn/ovn-nb.ovsschema" });
  const init = await initConfig(path.join(dir, "etc"), {
    listen: "127.0.0.1:0",
    scrypt: { N: 1024, r: 8, p: 1 },
  });
  const config = await loadConfig(init.config_file);
  const servers: Fixture["servers"] = [];
  for (let i = 0; i < replicas; i++) {
    const svc = await startNetworkService({ ...options, config, nb: nb.unixRemote });
    const url = await svc.app.listen({ host: "127.0.0.1", port: 0 });
    servers.push({ svc, url });
  }
  const call: Fixture["call"] = async (method, url, opts = {}) => {
    const base = servers[opts.server ?? 0]?.url as string;
    const headers: Record<string, string> = {};
    if (opts.token) headers["x-auth-token"] = opts.token;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(`${base}${url}`, {
      method,
      headers,
      body:
        opts.body === undefined
          ? undefined
          : typeof opts.body === "string"
            ? opts.body
            : JSON.stringify(opts.body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  return {
    dir,
    nb,
    init,
    servers,
    call,
    async token(user, server = 0) {
      const u = init.users.find((x) => x.name === user);
      if (!u) throw new Error(`no user ${user}`);
      const base = servers[server]?.url as string;
      const r = await fetch(`${base}/v3/auth/tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ["password"],
              password: { user: { name: user, domain: { id: "default" }, password: u.password } },
            },
            scope: { project: { id: init.project.id } },
          },
        }),
      });
      const t = r.headers.get("x-subject-token");
      if (r.status !== 201 || !t) throw new Error(`login as ${user}: ${r.status} ${await r.text()}`);
      return t;
    },
    async close() {
      for (const s of servers) await s.svc.close();
      await nb.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
