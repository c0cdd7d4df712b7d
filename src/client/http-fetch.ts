// A fetch for short-lived processes (ovn-cni), over node:http/https. Node's global fetch
// (undici) parses HTTP in WebAssembly that V8 recompiles with its optimizing compiler after a
// few responses: ~600 ms of CPU that a process making four requests pays at exit (bench/cni).
// node:http's parser is native. Only what the client uses of Response is provided.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { FetchLike } from "./keystone.js";

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

function responseOf(res: IncomingMessage, body: Buffer): Response {
  const text = body.toString("utf8");
  const status = res.statusCode ?? 0;
  const like = {
    status,
    statusText: res.statusMessage ?? "",
    ok: status >= 200 && status < 300,
    headers: {
      get: (name: string): string | null => {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
      },
    },
    body: { cancel: async () => undefined },
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
  };
  return like as unknown as Response;
}

export const httpFetch: FetchLike = (input, init = {}) =>
  new Promise<Response>((resolve, reject) => {
    const url = new URL(input);
    const https = url.protocol === "https:";
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init.headers ?? {}) as Record<string, string>)) headers[k] = v;
    const body = typeof init.body === "string" ? Buffer.from(init.body) : undefined;
    if (body) headers["content-length"] = String(body.length);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: init.method ?? "GET", headers, agent: https ? agents.https : agents.http },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(responseOf(res, Buffer.concat(chunks))));
        res.on("error", reject);
      },
    );
    const onAbort = () => req.destroy(signal?.reason as Error);
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("close", () => signal?.removeEventListener("abort", onAbort));
    req.on("error", reject);
    req.end(body);
  });
