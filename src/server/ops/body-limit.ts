// Request bodies larger than the limit are refused with 413 in the body format of the API the
// URL belongs to: Keystone's under /v3, Neutron's everywhere else.
//
// Two places catch them. A declared Content-Length over the route's limit is refused in
// onRequest, before any plugin's own error handler can answer in its own words (the Keystone
// plugin sets one for its routes). A body that only turns out too large while it streams in
// (chunked) raises fastify's FST_ERR_CTP_BODY_TOO_LARGE, which `bodyLimitErrorHandler` answers
// when it is the handler in charge, and `handleBodyTooLarge` lets any other handler answer alike.

import type { FastifyReply, FastifyRequest } from "fastify";
import { type KeystoneErrorBody, keystoneErrorBody } from "../keystone/errors.js";

/** The default `bodyLimit` for the server: 1 MiB, the same as fastify's and Neutron's API workers. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export const BODY_TOO_LARGE_CODE = "FST_ERR_CTP_BODY_TOO_LARGE";

export interface NeutronTooLargeBody {
  NeutronError: { type: "RequestEntityTooLarge"; message: string; detail: "" };
}

export type TooLargeBody = NeutronTooLargeBody | KeystoneErrorBody;

/** Is this URL one of the identity API's (Keystone error format)? */
export function isIdentityUrl(url: string): boolean {
  const path = url.split("?", 1)[0] ?? "";
  return path === "/v3" || path.startsWith("/v3/");
}

/** The 413 body for a request to `url` whose limit was `limit` bytes. */
export function bodyTooLargeBody(url: string, limit: number): TooLargeBody {
  const message = `Request body too large (limit ${limit} bytes)`;
  if (isIdentityUrl(url)) return keystoneErrorBody(413, message);
  return { NeutronError: { type: "RequestEntityTooLarge", message, detail: "" } };
}

export function isBodyTooLarge(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === BODY_TOO_LARGE_CODE;
}

/** Answers 413 for `request`, closing the connection: the rest of the body is not read. */
export function replyBodyTooLarge(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const limit = request.routeOptions.bodyLimit;
  request.log.info({ limit, declared: request.headers["content-length"] }, "request body too large");
  return reply
    .code(413)
    .header("connection", "close")
    .type("application/json; charset=utf-8")
    .send(bodyTooLargeBody(request.url, limit));
}

/**
 * For other plugins' error handlers: answers a too-large body and returns true, or returns
 * false and leaves the error to the caller.
 */
export function handleBodyTooLarge(err: unknown, request: FastifyRequest, reply: FastifyReply): boolean {
  if (!isBodyTooLarge(err)) return false;
  replyBodyTooLarge(request, reply);
  return true;
}

/**
 * An error handler that answers FST_ERR_CTP_BODY_TOO_LARGE and rethrows anything else, which
 * hands it to the enclosing scope's handler (fastify's default at the root).
 */
export function bodyLimitErrorHandler(
  err: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (handleBodyTooLarge(err, request, reply)) return reply;
  throw err;
}

/** onRequest hook: refuses a declared Content-Length over the route's limit without reading the body. */
export async function rejectDeclaredOversize(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const declared = Number(request.headers["content-length"]);
  if (declared > request.routeOptions.bodyLimit) replyBodyTooLarge(request, reply);
}
