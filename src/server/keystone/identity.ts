// From a token to the caller: verify the signature and expiry (tokens.ts), then resolve
// the claims against the current configuration. A token whose user or project has been
// removed, or whose roles have all been taken away, stops working at the next restart of
// each replica: the effective roles are the token's roles that the configuration still
// grants.
//
// `createAuthenticator(config).authenticate(request)` is what the Neutron routes call.

import type { DomainConfig, ProjectConfig, ServerConfig, UserConfig } from "../config.js";
import { canonicalRoles, Directory } from "./directory.js";
import { AUTH_REQUIRED, type KeystoneError, unauthorized } from "./errors.js";
import {
  deriveTokenKey,
  type RoleName,
  type TokenClaims,
  TokenError,
  type TokenKey,
  verifyToken,
} from "./tokens.js";

export interface Identity {
  user: { id: string; name: string; domain: { id: string; name: string } };
  project: { id: string; name: string; domain: { id: string; name: string } };
  /** Effective roles, implied ones included: admin ⇒ member ⇒ reader. */
  roles: RoleName[];
  /** Holds the admin role and is not VM-scoped. */
  isAdmin: boolean;
  /** Set on VM-scoped tokens: the caller may act only for this parent port. */
  vmScope?: { parentPortId: string };
  /** The verified token's claims, with `roles` narrowed to the effective ones. */
  claims: TokenClaims;
}

/** Why a verified-looking token does not name a live identity; a TokenError otherwise. */
export class StaleTokenError extends Error {
  override name = "StaleTokenError";
}

export interface Resolved {
  identity: Identity;
  user: UserConfig;
  project: ProjectConfig;
}

function domainRef(d: DomainConfig): { id: string; name: string } {
  return { id: d.id, name: d.name };
}

/** Resolves verified claims against the configuration; throws StaleTokenError. */
export function resolveClaims(directory: Directory, claims: TokenClaims): Resolved {
  const user = directory.userById(claims.user_id);
  if (!user) throw new StaleTokenError(`the token's user ${claims.user_id} no longer exists`);
  const project = directory.projectById(claims.project_id);
  if (!project) throw new StaleTokenError(`the token's project ${claims.project_id} no longer exists`);
  const granted = new Set(directory.rolesOn(user, project.id));
  const roles = canonicalRoles(claims.roles.filter((r) => granted.has(r)));
  if (roles.length === 0) {
    throw new StaleTokenError(`user ${user.id} no longer has a role on project ${project.id}`);
  }
  const vm = claims.scope?.parent_port_id;
  const identity: Identity = {
    user: { id: user.id, name: user.name, domain: domainRef(directory.domainOf(user)) },
    project: { id: project.id, name: project.name, domain: domainRef(directory.domainOf(project)) },
    roles,
    isAdmin: vm === undefined && roles.includes("admin"),
    ...(vm === undefined ? {} : { vmScope: { parentPortId: vm } }),
    claims: { ...claims, roles },
  };
  return { identity, user, project };
}

export interface AuthenticatorOptions {
  /** Milliseconds since the epoch; tests move the clock. */
  now?: () => number;
  /** How many verified tokens to remember (default DEFAULT_TOKEN_CACHE_SIZE; 0: none). */
  tokenCacheSize?: number;
}

/**
 * Verified tokens remembered per authenticator. A client sends the same token with every
 * request until it expires, and checking it (HMAC, base64 and JSON decoding, the payload
 * schema, resolving the claims) was 2-3 % of the service's CPU per request (bench/server).
 */
export const DEFAULT_TOKEN_CACHE_SIZE = 4096;

/**
 * Token string -> what it resolved to, least recently used first (a Map keeps insertion order;
 * a hit moves its entry to the end). The key is the whole token, signature included, so an
 * altered token is never found here and is checked in full. Only resolved tokens are stored, and
 * an entry is used only before its token's expires_at: from that second on the token is checked
 * in full again, which refuses it exactly as before. Nothing else can change a stored answer:
 * the directory is fixed for the authenticator's life, and tokens cannot be revoked.
 */
class TokenCache {
  private readonly entries = new Map<string, Resolved>();

  constructor(private readonly capacity: number) {}

  get(token: string, nowSeconds: number): Resolved | undefined {
    const hit = this.entries.get(token);
    if (hit === undefined) return undefined;
    this.entries.delete(token);
    if (nowSeconds >= hit.identity.claims.expires_at) return undefined;
    this.entries.set(token, hit);
    return hit;
  }

  set(token: string, resolved: Resolved): void {
    if (this.capacity <= 0) return;
    this.entries.delete(token);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, resolved);
  }
}

function deepFreeze(o: object): void {
  Object.freeze(o);
  for (const v of Object.values(o)) {
    if (v !== null && typeof v === "object" && !Object.isFrozen(v)) deepFreeze(v);
  }
}

export interface Authenticator {
  readonly key: TokenKey;
  readonly directory: Directory;
  nowSeconds(): number;
  /** Verifies and resolves a token string; throws TokenError or StaleTokenError. */
  resolve(token: string): Resolved;
  /**
   * Reads X-Auth-Token, verifies it and returns the caller, or throws a KeystoneError
   * with status 401 saying why (missing header, malformed, bad signature, expired, stale).
   */
  authenticate(request: { headers: Record<string, string | string[] | undefined> }): Identity;
}

export function createAuthenticator(config: ServerConfig, opts: AuthenticatorOptions = {}): Authenticator {
  const key = deriveTokenKey(config.token.secret);
  const directory = new Directory(config);
  const now = opts.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const cache = new TokenCache(opts.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
  const resolve = (token: string): Resolved => {
    const at = nowSeconds();
    const cached = cache.get(token, at);
    if (cached !== undefined) return cached;
    const resolved = resolveClaims(directory, verifyToken(key, token, at));
    // Every request with this token now gets the same identity: none may change it for the next.
    deepFreeze(resolved.identity);
    cache.set(token, resolved);
    return resolved;
  };
  return {
    key,
    directory,
    nowSeconds,
    resolve,
    authenticate(request) {
      const header = request.headers["x-auth-token"];
      if (header === undefined || header === "") {
        throw unauthorized(`${AUTH_REQUIRED} (no X-Auth-Token header)`);
      }
      if (typeof header !== "string") {
        throw unauthorized(`${AUTH_REQUIRED} (more than one X-Auth-Token header)`);
      }
      try {
        return resolve(header).identity;
      } catch (e) {
        throw asUnauthorized(e);
      }
    },
  };
}

/** Token failures become 401s that say what was wrong; anything else is rethrown. */
export function asUnauthorized(e: unknown): KeystoneError {
  if (e instanceof TokenError || e instanceof StaleTokenError) {
    return unauthorized(`${AUTH_REQUIRED} (${e.message})`, { cause: e });
  }
  throw e;
}

export type { RoleName };
