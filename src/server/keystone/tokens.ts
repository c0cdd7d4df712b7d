// Signed, self-contained tokens: whoever holds the key file can check one, so any number
// of server replicas validate each other's tokens with no shared state.
//
// Wire form:  base64url(JSON payload) "." base64url(HMAC-SHA256(key, first part))
//
// The payload is a JSON array rather than an object, to keep tokens short (they travel in
// every X-Auth-Token header): about 200 characters for a project token with 32-hex ids,
// about 240 for a VM-scoped one.
//
//   [1, user_id, project_id, roleBits, methodBits, issued_at, expires_at,
//    audit_id, parent_audit_id | null, parent_port_id | null]
//
// Times are Unix seconds. The HMAC key is derived from the key file's secret with HKDF, so
// the same secret could serve another purpose without the two ever being confused.

import {
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

export const ROLE_NAMES = ["admin", "member", "reader"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];
export const AUTH_METHODS = ["password", "token"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** What a token says. `verifyToken` returns only tokens whose every field was checked. */
export interface TokenClaims {
  v: 1;
  user_id: string;
  project_id: string;
  roles: RoleName[];
  methods: AuthMethod[];
  /** Unix seconds. */
  issued_at: number;
  /** Unix seconds; the token is refused from this second on. */
  expires_at: number;
  /** 22 characters, as Keystone's audit ids. */
  audit_id: string;
  /** The audit id of the token this one was renewed or rescoped from (the chain's first). */
  parent_audit_id?: string;
  /** Present on VM-scoped tokens: what the Neutron side will limit the caller to. */
  scope?: { parent_port_id: string };
}

export type TokenErrorReason = "malformed" | "bad_signature" | "expired";

export class TokenError extends Error {
  override name = "TokenError";
  constructor(
    readonly reason: TokenErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The HMAC key, derived once from the key file's secret. */
export interface TokenKey {
  readonly hmac: KeyObject;
}

export const MIN_SECRET_BYTES = 32;
const MAX_TOKEN_CHARS = 1024;
const SIGNATURE_BYTES = 32;

export function deriveTokenKey(secret: Buffer): TokenKey {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`token secret must be at least ${MIN_SECRET_BYTES} bytes, got ${secret.length}`);
  }
  const derived = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "ovn-docker token v1", 32));
  return { hmac: createSecretKey(derived) };
}

/** A fresh audit id: 16 random bytes, base64url, 22 characters (Keystone's form). */
export function newAuditId(): string {
  return randomBytes(16).toString("base64url");
}

const Id = Type.String({ minLength: 1, maxLength: 64 });
const Seconds = Type.Integer({ minimum: 0, maximum: 2 ** 40 });
const AuditId = Type.String({ pattern: "^[A-Za-z0-9_-]{22}$" });
const Wire = Type.Tuple([
  Type.Literal(1),
  Id,
  Id,
  Type.Integer({ minimum: 1, maximum: 2 ** ROLE_NAMES.length - 1 }),
  Type.Integer({ minimum: 1, maximum: 2 ** AUTH_METHODS.length - 1 }),
  Seconds,
  Seconds,
  AuditId,
  Type.Union([AuditId, Type.Null()]),
  Type.Union([Id, Type.Null()]),
]);
const wireCheck = TypeCompiler.Compile(Wire);

function toBits<T extends string>(all: readonly T[], values: readonly T[]): number {
  return all.reduce((bits, name, i) => (values.includes(name) ? bits | (1 << i) : bits), 0);
}

function fromBits<T extends string>(all: readonly T[], bits: number): T[] {
  return all.filter((_, i) => (bits & (1 << i)) !== 0);
}

function sign(key: TokenKey, body: string): Buffer {
  return createHmac("sha256", key.hmac).update(body).digest();
}

export function issueToken(key: TokenKey, claims: TokenClaims): string {
  const wire = [
    claims.v,
    claims.user_id,
    claims.project_id,
    toBits(ROLE_NAMES, claims.roles),
    toBits(AUTH_METHODS, claims.methods),
    claims.issued_at,
    claims.expires_at,
    claims.audit_id,
    claims.parent_audit_id ?? null,
    claims.scope?.parent_port_id ?? null,
  ];
  if (!wireCheck.Check(wire)) {
    const first = wireCheck.Errors(wire).First();
    throw new Error(`cannot issue a token for these claims: ${first?.path} ${first?.message}`);
  }
  const body = Buffer.from(JSON.stringify(wire)).toString("base64url");
  return `${body}.${sign(key, body).toString("base64url")}`;
}

const TOKEN_FORM = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/**
 * Checks a token's form, signature and expiry, in that order, and returns its claims.
 * Throws TokenError: "malformed" (not a token of ours), "bad_signature" (altered, or signed
 * with another key), "expired".
 */
export function verifyToken(
  key: TokenKey,
  token: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): TokenClaims {
  if (token.length > MAX_TOKEN_CHARS) {
    throw new TokenError("malformed", `token is ${token.length} characters, more than ${MAX_TOKEN_CHARS}`);
  }
  const m = TOKEN_FORM.exec(token);
  if (!m) throw new TokenError("malformed", "token is not of the form <payload>.<signature> in base64url");
  const [, body, sig] = m as unknown as [string, string, string];
  const given = Buffer.from(sig, "base64url");
  if (given.length !== SIGNATURE_BYTES || !timingSafeEqual(given, sign(key, body))) {
    throw new TokenError("bad_signature", "token signature does not match");
  }
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch (e) {
    // Signed by us yet not JSON: only a token of another format version signed with this key.
    throw new TokenError("malformed", "token payload is not JSON", { cause: e });
  }
  if (!wireCheck.Check(wire)) {
    const first = wireCheck.Errors(wire).First();
    throw new TokenError("malformed", `token payload ${first?.path || "/"}: ${first?.message}`);
  }
  const [v, user_id, project_id, roles, methods, issued_at, expires_at, audit_id, parent, port] = wire;
  if (nowSeconds >= expires_at) {
    throw new TokenError("expired", `token expired at ${new Date(expires_at * 1000).toISOString()}`);
  }
  return {
    v,
    user_id,
    project_id,
    roles: fromBits(ROLE_NAMES, roles),
    methods: fromBits(AUTH_METHODS, methods),
    issued_at,
    expires_at,
    audit_id,
    ...(parent === null ? {} : { parent_audit_id: parent }),
    ...(port === null ? {} : { scope: { parent_port_id: port } }),
  };
}
