// OVSDB remotes as ovsdb-server and ovn-nbctl spell them ("unix:PATH", "tcp:HOST:PORT",
// "ssl:HOST:PORT"; IPv6 hosts in brackets), and opening a byte stream to one.

import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";

export type Remote =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "ssl"; host: string; port: number };

export interface TlsFiles {
  /** PEM private key, certificate and CA certificate, as ovn-nbctl's -p/-c/-C take them. */
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
}

export class RemoteError extends Error {
  override name = "RemoteError";
}

export function parseRemote(s: string): Remote {
  const text = s.trim();
  const colon = text.indexOf(":");
  const kind = colon < 0 ? "" : text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (kind === "unix") {
    if (!rest)
      throw new RemoteError(`remote "${s}": unix: needs a socket path, e.g. unix:/run/ovn/ovnnb_db.sock`);
    return { kind, path: rest };
  }
  if (kind === "tcp" || kind === "ssl") {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(rest);
    const port = m ? Number(m[3]) : Number.NaN;
    if (!m || port < 1 || port > 65535) {
      throw new RemoteError(`remote "${s}": expected ${kind}:HOST:PORT (IPv6 as ${kind}:[ADDR]:PORT)`);
    }
    return { kind, host: (m[1] ?? m[2]) as string, port };
  }
  throw new RemoteError(`remote "${s}": unknown kind; use unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT`);
}

/** Parses one remote, a comma-separated list (the clustered form ovn-nbctl accepts) or an array. */
export function parseRemotes(spec: string | readonly string[]): Remote[] {
  const items = (typeof spec === "string" ? spec.split(",") : spec.flatMap((x) => x.split(",")))
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (items.length === 0) throw new RemoteError("no OVSDB remote given");
  return items.map(parseRemote);
}

export function formatRemote(r: Remote): string {
  if (r.kind === "unix") return `unix:${r.path}`;
  return `${r.kind}:${r.host.includes(":") ? `[${r.host}]` : r.host}:${r.port}`;
}

/** Opens a stream to the remote; rejects after timeoutMs with an error naming the remote. */
export function openStream(r: Remote, timeoutMs: number, tlsFiles?: TlsFiles): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    const readyEvent = r.kind === "ssl" ? "secureConnect" : "connect";
    if (r.kind === "unix") sock = net.connect({ path: r.path });
    else if (r.kind === "tcp") sock = net.connect({ host: r.host, port: r.port });
    else {
      if (!tlsFiles) {
        reject(
          new RemoteError(
            `remote ${formatRemote(r)}: ssl needs a private key, certificate and CA certificate`,
          ),
        );
        return;
      }
      sock = tls.connect({ host: r.host, port: r.port, ...tlsFiles, servername: r.host });
    }
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new RemoteError(`connecting to ${formatRemote(r)}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once(readyEvent, () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      if (sock instanceof net.Socket) sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(
        new RemoteError(
          `connecting to ${formatRemote(r)}: ${e.code ?? ""} ${e.message}`.replace(/\s+/g, " "),
        ),
      );
    });
  });
}
