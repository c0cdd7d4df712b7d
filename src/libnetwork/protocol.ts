// Docker's legacy remote plugin protocol: HTTP POST /<Interface>.<Method> on a unix socket, JSON
// bodies in and out with the content type application/vnd.docker.plugins.v1.2+json. A failed call
// answers {"Err": "<message>"} ({"Error": ...} for IPAM calls), which dockerd shows to the user as
// it is ("remote: <message>"),
// so every message says what was being done and what to do about it.
//
// This module knows nothing of networks: it serves a table of handlers, logs one JSON line per
// call on stderr, removes a stale socket file at start (only if nothing answers on it) and its
// own socket at close.

import { existsSync } from "node:fs";
import { mkdir, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import path from "node:path";

export const CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json";

/** A handler gets the parsed request body ({} when empty) and returns the answer's body. */
export type Handler = (
  body: Record<string, unknown>,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** A call's failure that the caller can act on: its message goes to Docker (and the user) as is. */
export class PluginError extends Error {
  override name = "PluginError";
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** pino-style JSON lines (level 30 info, 50 error) on stderr. */
export function jsonLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: number, msg: string, fields?: Record<string, unknown>) => {
    stream.write(`${JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...fields })}\n`);
  };
  return {
    info: (msg, fields) => line(30, msg, fields),
    error: (msg, fields) => line(50, msg, fields),
  };
}

/** Whether something accepts connections on the unix socket at `file`. */
export function socketAnswers(file: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(file);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

const MAX_BODY = 1 << 20;

/**
 * The field a failed call's message goes in: libnetwork's network driver API reads "Err", its
 * IPAM API reads "Error" (a message in the other field would be taken for success).
 */
export function errorKey(call: string): "Err" | "Error" {
  return call.startsWith("/IpamDriver.") ? "Error" : "Err";
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new PluginError(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": CONTENT_TYPE, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export interface PluginServer {
  socket: string;
  close(): Promise<void>;
}

/**
 * Serves `handlers` (keyed by "/Plugin.Activate", "/NetworkDriver.Join", ...) on the unix socket
 * `socket`. Refuses to start when another process answers on it.
 */
export async function servePlugin(
  socket: string,
  handlers: Readonly<Record<string, Handler>>,
  log: Logger,
): Promise<PluginServer> {
  await mkdir(path.dirname(socket), { recursive: true });
  if (existsSync(socket)) {
    if (await socketAnswers(socket)) {
      throw new PluginError(
        `another process is serving ${socket}: stop it first (only one driver per socket), or give --socket`,
      );
    }
    await unlink(socket).catch(() => {});
  }
  const server: Server = createServer((req, res) => {
    const started = Date.now();
    const call = req.url ?? "";
    void (async () => {
      let body: Record<string, unknown> = {};
      try {
        if (req.method !== "POST") {
          send(res, 405, { Err: `${req.method} ${call}: the plugin protocol uses POST` });
          return;
        }
        const handler = Object.hasOwn(handlers, call) ? handlers[call] : undefined;
        if (!handler) {
          await readBody(req);
          log.info("unsupported call", { call });
          send(res, 404, { Err: `${call.slice(1)} is not implemented by the ovn-docker driver` });
          return;
        }
        const text = await readBody(req);
        if (text.trim() !== "") {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new PluginError(`${call.slice(1)}: the request body is not JSON`);
          }
          if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed))
            body = parsed as Record<string, unknown>;
          else if (parsed !== null)
            throw new PluginError(`${call.slice(1)}: the request body is not a JSON object`);
        }
        const out = await handler(body);
        log.info("call", { call, ms: Date.now() - started, req: body, res: out });
        send(res, 200, out);
      } catch (e) {
        const err = e instanceof Error ? e.message : String(e);
        log.error("call failed", {
          call,
          ms: Date.now() - started,
          req: body,
          err,
          ...(e instanceof PluginError ? {} : { stack: (e as Error)?.stack }),
        });
        if (!res.headersSent) send(res, 200, { [errorKey(call)]: err });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, () => {
      server.off("error", reject);
      resolve();
    });
  });
  log.info("listening", { socket });
  let closing: Promise<void> | undefined;
  return {
    socket,
    close() {
      if (!closing) {
        closing = (async () => {
          await new Promise<void>((resolve) => {
            // Calls in flight finish (up to 10 s); dockerd's idle keep-alive connections go now.
            const force = setTimeout(() => server.closeAllConnections(), 10_000);
            server.close(() => {
              clearTimeout(force);
              resolve();
            });
            server.closeIdleConnections();
          });
          await unlink(socket).catch(() => {});
        })();
      }
      return closing;
    },
  };
}
