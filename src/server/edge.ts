// The edge of the HTTP service: how bodies are parsed, and what clients get for every
// request that fails: in a Neutron route (the routes just throw), or before any route runs
// (malformed JSON, unknown routes, bad URLs). Under /v2.0 every such answer is a
// NeutronError, under /v3 a Keystone error (the Keystone plugin answers its own routes).

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { keystoneErrorBody } from "./keystone/errors.js";
import { sendError } from "./neutron/context.js";
import { httpBadRequest, NeutronError } from "./neutron/errors.js";
import { handleBodyTooLarge } from "./ops/index.js";

/** Deeper JSON than any request needs; deeper bodies are refused before anything reads them. */
export const MAX_JSON_DEPTH = 32;

export class BodyError extends Error {
  override name = "BodyError";
  readonly statusCode = 400;
}

/** Nesting depth of parsed JSON, without recursion (a body may be nested 100,000 deep). */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push([x, d + 1]);
  }
  return max;
}

/**
 * A string (or key) of parsed JSON that is not valid Unicode: only a `\uD800`-style escape in
 * the body can make one (raw bytes that are not UTF-8 are decoded as U+FFFD). NB refuses such
 * strings, so the request is refused here, once, for every route.
 */
export function hasUnpairedSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (!v.isWellFormed()) return true;
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else
      for (const [k, x] of Object.entries(v)) {
        if (!k.isWellFormed()) return true;
        stack.push(x);
      }
  }
  return false;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function parseJsonBody(
  _req: FastifyRequest,
  body: string,
  done: (err: Error | null, value?: unknown) => void,
): void {
  // A DELETE or GET sent with Content-Type: application/json and no body is fine.
  if (body.trim() === "") {
    done(null, undefined);
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    // V8's message quotes the body (it may hold a password): say only what is wrong.
    done(new BodyError("The request body is not valid JSON"));
    return;
  }
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    done(new BodyError(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels`));
    return;
  }
  if (SURROGATE_ESCAPE.test(body) && hasUnpairedSurrogate(value)) {
    done(
      new BodyError(
        "The request body has a string that is not valid Unicode (an unpaired surrogate escape such as \\ud800)",
      ),
    );
    return;
  }
  done(null, value);
}

const isIdentity = (req: FastifyRequest) => req.url === "/" || req.url.startsWith("/v3");

function answer(req: FastifyRequest, reply: FastifyReply, status: number, message: string): FastifyReply {
  if (isIdentity(req)) {
    return reply.code(status).send(keystoneErrorBody(status, message));
  }
  return sendError(
    reply,
    status === 404 ? new NeutronError(404, "HTTPNotFound", message) : httpBadRequest(message),
  );
}

/** Errors of the Neutron routes and what fastify itself rejects, as the API's own errors. */
export function installEdge(app: FastifyInstance): void {
  app.removeContentTypeParser(["application/json"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, parseJsonBody);
  app.setNotFoundHandler((req, reply) =>
    answer(req, reply, 404, `The resource could not be found: ${req.method} ${req.url.split("?")[0]}`),
  );
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (handleBodyTooLarge(err, req, reply)) return reply;
    if (err instanceof NeutronError) return sendError(reply, err);
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message =
        err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
          ? `Unsupported Content-Type ${String(req.headers["content-type"])}: send application/json`
          : err.message;
      return answer(req, reply, status === 404 ? 404 : 400, message);
    }
    return sendError(reply, err);
  });
}

/** fastify option: URLs it cannot decode get the API's 400 too. */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  void answer(req, reply, 400, `Malformed URL: ${err.message}`);
}
