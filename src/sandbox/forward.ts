// A byte forwarder between a TCP address and a unix socket, so that the API URL the Keystone
// catalog advertises (http://127.0.0.1:PORT) works inside every VM netns too, without touching
// the root namespace's network:
//
//   VM netns: 127.0.0.1:PORT ──▶ DIR/run/api.sock ──▶ root ns: 127.0.0.1:PORT (the server)
//
// Unix sockets are filesystem objects, not netns-scoped, so one forwarder in the root ns
// (unix → tcp) and one per VM (tcp in the VM's netns → unix) connect them.

import { unlinkSync } from "node:fs";
import * as net from "node:net";

export type Endpoint = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

/** "tcp:HOST:PORT" or "unix:PATH". */
export function parseEndpoint(s: string): Endpoint {
  if (s.startsWith("unix:") && s.length > 5) return { kind: "unix", path: s.slice(5) };
  const m = /^tcp:([^:]+|\[[^\]]+\]):(\d{1,5})$/.exec(s);
  if (m?.[1] && m[2]) {
    const port = Number(m[2]);
    if (port > 0 && port < 65536) return { kind: "tcp", host: m[1].replace(/^\[|\]$/g, ""), port };
  }
  throw new Error(`bad endpoint ${JSON.stringify(s)}: use tcp:HOST:PORT or unix:PATH`);
}

export function formatEndpoint(e: Endpoint): string {
  return e.kind === "unix" ? `unix:${e.path}` : `tcp:${e.host}:${e.port}`;
}

/** Listen on `from`; for each connection open one to `to` and pipe both ways. */
export function startForwarder(from: Endpoint, to: Endpoint): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = to.kind === "unix" ? net.connect({ path: to.path }) : net.connect(to.port, to.host);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  if (from.kind === "unix") {
    try {
      unlinkSync(from.path); // a stale socket of a previous run
    } catch {}
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const ready = () => {
      server.off("error", reject);
      resolve(server);
    };
    if (from.kind === "unix") server.listen(from.path, ready);
    else server.listen(from.port, from.host, ready);
  });
}

/** The `sandbox forward` process: forward until SIGTERM/SIGINT. */
export async function runForwarder(fromText: string, toText: string): Promise<void> {
  const from = parseEndpoint(fromText);
  const to = parseEndpoint(toText);
  const server = await startForwarder(from, to);
  process.stdout.write(`forwarding ${formatEndpoint(from)} -> ${formatEndpoint(to)} (pid ${process.pid})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close();
      if (from.kind === "unix") {
        try {
          unlinkSync(from.path);
        } catch {}
      }
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  process.exit(0);
}
