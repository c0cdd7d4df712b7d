// The Keystone v3 subset as a fastify plugin:
//
//   GET  /                                version discovery (300 Multiple Choices)
//   GET  /v3                              version discovery
//   POST /v3/auth/tokens                  password or token method -> 201, X-Subject-Token
//   GET  /v3/auth/tokens                  validate X-Subject-Token (caller: X-Auth-Token)
//   HEAD /v3/auth/tokens                  the same, without a body
//   DELETE /v3/auth/tokens                501: stateless tokens cannot be revoked
//   POST /v3/OS-OVN-DOCKER/vm-tokens      mint a VM-scoped token (see vm-tokens.ts)
//
// The plugin is encapsulated (registered without fastify-plugin): its validator compiler
// (TypeBox's, which neither coerces nor fills defaults) and its error handler (Keystone's
// error body) apply to these routes only, whatever the host application uses elsewhere.

import { type FastifyPluginAsyncTypebox, TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerConfig } from "../config.js";
import { rootDiscovery, type VersionEntry, v3Discovery } from "./catalog.js";
import { badRequest, forbidden, KeystoneError, keystoneErrorBody, notFound } from "./errors.js";
import { type Authenticator, createAuthenticator, type Identity, StaleTokenError } from "./identity.js";
import { issueFromRequest } from "./issue.js";
import { renderToken } from "./render.js";
import {
  AuthRequest,
  ErrorResponse,
  NoCatalogQuery,
  RootDiscovery,
  TokenResponse,
  V3Discovery,
  VmTokenRequest,
} from "./schemas.js";
import { TokenError } from "./tokens.js";
import { type CheckParentPort, mintVmToken } from "./vm-tokens.js";

export interface KeystonePluginOptions {
  config: ServerConfig;
  /**
   * Does the port exist and belong to the project? Asked before minting a VM-scoped token;
   * false answers 403. To answer otherwise (e.g. 404), throw a KeystoneError.
   */
  checkParentPort: CheckParentPort;
  /** Milliseconds since the epoch; tests move the clock. */
  now?: () => number;
  /** Serve GET / (default true). Turn off when the host application serves its own root. */
  serveRoot?: boolean;
  /** More entries for the GET / document, e.g. Neutron's v2.0, since both APIs share a port. */
  extraRootVersions?: (publicUrl: string) => VersionEntry[];
}

const SUBJECT_TOKEN = "x-subject-token";
const INTERNAL = "An unexpected error prevented the server from fulfilling your request.";

/** Maps any error thrown on these routes to Keystone's status and message. */
export function keystoneErrorFor(err: unknown): { code: number; message: string; internal: boolean } {
  if (err instanceof KeystoneError) return { code: err.statusCode, message: err.message, internal: false };
  const e = err as { validation?: { instancePath?: string; message?: string }[]; validationContext?: string };
  const first = e.validation?.[0];
  if (first) {
    const field = `${e.validationContext ?? "body"}${first.instancePath ?? ""}`;
    const what =
      first.message === "Expected required property" ? "a required property is missing" : first.message;
    return { code: 400, message: `Invalid input for field '${field}': ${what}`, internal: false };
  }
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { code: status, message: (err as Error).message, internal: false };
  }
  return { code: 500, message: INTERNAL, internal: true };
}

function publicUrlOf(config: ServerConfig, request: FastifyRequest): string {
  if (config.public_url !== undefined) return config.public_url;
  // No Host header (HTTP/1.0): the address the request came in on.
  const { localAddress, localPort } = request.socket;
  const local = localAddress?.includes(":")
    ? `[${localAddress}]:${localPort}`
    : `${localAddress}:${localPort}`;
  return `${request.protocol}://${request.host || local}`;
}

function subjectOf(request: FastifyRequest): string {
  const h = request.headers[SUBJECT_TOKEN];
  if (typeof h !== "string" || h === "") {
    throw badRequest("Expecting to find X-Subject-Token in the request headers.");
  }
  return h;
}

/** The subject token of GET/HEAD /v3/auth/tokens; 404 when it is not valid, as Keystone. */
function validateSubject(auth: Authenticator, caller: Identity, token: string): Identity {
  let subject: Identity;
  try {
    subject = auth.resolve(token).identity;
  } catch (e) {
    if (e instanceof TokenError || e instanceof StaleTokenError) {
      throw notFound(`Could not find token: ${e.message}.`, { cause: e });
    }
    throw e;
  }
  if (!caller.isAdmin && caller.user.id !== subject.user.id) {
    throw forbidden("You are not authorized to perform the requested action: identity:validate_token.");
  }
  return subject;
}

export const keystonePlugin: FastifyPluginAsyncTypebox<KeystonePluginOptions> = async (fastify, opts) => {
  const { config } = opts;
  const auth = createAuthenticator(config, opts.now ? { now: opts.now } : {});
  const publicUrl = (request: FastifyRequest) => publicUrlOf(config, request);
  const errors = { "4xx": ErrorResponse };

  fastify.setValidatorCompiler(TypeBoxValidatorCompiler);
  fastify.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { code, message, internal } = keystoneErrorFor(err);
    if (internal) request.log.error({ err }, `identity API: ${request.method} ${request.url} failed`);
    return reply.code(code).send(keystoneErrorBody(code, message));
  });

  if (opts.serveRoot !== false) {
    fastify.get("/", { schema: { response: { 300: RootDiscovery } } }, async (request, reply) => {
      const url = publicUrl(request);
      return reply.code(300).send(rootDiscovery(url, opts.extraRootVersions?.(url) ?? []));
    });
  }

  fastify.get("/v3", { schema: { response: { 200: V3Discovery } } }, async (request) =>
    v3Discovery(publicUrl(request)),
  );

  fastify.post(
    "/v3/auth/tokens",
    {
      schema: { body: AuthRequest, querystring: NoCatalogQuery, response: { 201: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      const { token, identity } = await issueFromRequest(auth, config.token.lifetime_seconds, request.body);
      const withCatalog = request.query.nocatalog === undefined;
      return reply
        .code(201)
        .header("X-Subject-Token", token)
        .send({ token: renderToken(identity, publicUrl(request), withCatalog) });
    },
  );

  fastify.get(
    "/v3/auth/tokens",
    {
      exposeHeadRoute: false,
      schema: { querystring: NoCatalogQuery, response: { 200: TokenResponse, ...errors } },
    },
    async (request, reply) => {
      const caller = auth.authenticate(request);
      const token = subjectOf(request);
      const subject = validateSubject(auth, caller, token);
      const withCatalog = request.query.nocatalog === undefined;
      return reply
        .header("X-Subject-Token", token)
        .send({ token: renderToken(subject, publicUrl(request), withCatalog) });
    },
  );

  fastify.head("/v3/auth/tokens", async (request, reply) => {
    const caller = auth.authenticate(request);
    const token = subjectOf(request);
    validateSubject(auth, caller, token);
    return reply.code(200).header("X-Subject-Token", token).send();
  });

  // Keystone revokes by recording the token; tokens here are stateless, so the honest
  // answer is 501, after the same checks as validation.
  fastify.delete("/v3/auth/tokens", { schema: { response: errors } }, async (request) => {
    const caller = auth.authenticate(request);
    validateSubject(auth, caller, subjectOf(request));
    throw new KeystoneError(
      501,
      "Tokens of this service are signed and stateless and cannot be revoked; they end at expires_at. " +
        "Removing the user, or its role on the project, from the configuration ends them at the next restart.",
    );
  });

  fastify.post(
    "/v3/OS-OVN-DOCKER/vm-tokens",
    { schema: { body: VmTokenRequest, response: { 201: TokenResponse, ...errors } } },
    async (request, reply) => {
      const caller = auth.authenticate(request);
      const { token, identity } = await mintVmToken(
        auth,
        caller,
        request.body,
        config.token.vm_max_lifetime_seconds,
        opts.checkParentPort,
      );
      return reply
        .code(201)
        .header("X-Subject-Token", token)
        .send({ token: renderToken(identity, publicUrl(request), true) });
    },
  );
};
