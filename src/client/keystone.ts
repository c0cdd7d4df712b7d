// Keystone v3: obtain a token (password) or describe a given one, find the network endpoint
// in the service catalog, and cache the result in a file (mode 0600) so a CLI run per
// container does not log in every time.

import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Credentials, PasswordCredentials } from "./credentials.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export const DEFAULT_TIMEOUT_MS = 30_000;
/** Tokens are renewed this long before they expire. */
export const DEFAULT_REFRESH_MARGIN_S = 120;

/** What the cache file holds. */
export interface CachedToken {
  token: string;
  /** ISO 8601; absent when unknown (a plain token without an auth URL). */
  expires_at?: string;
  network_url: string;
  auth_url?: string;
  user?: { id?: string; name?: string; domain?: string };
  project?: { id?: string; name?: string; domain?: string };
}

export interface Session extends CachedToken {
  /** True when this session was read from the cache file rather than just obtained. */
  fromCache: boolean;
}

/** The request did not complete: timeout or connection failure. */
export class ClientRequestError extends Error {
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, what: string, options?: ErrorOptions) {
    super(`${method} ${url}: ${what}`, options);
    this.name = "ClientRequestError";
    this.method = method;
    this.url = url;
  }
}

/** Keystone answered with an error. */
export class KeystoneApiError extends Error {
  readonly status: number;
  readonly method: string;
  readonly url: string;
  constructor(context: string, status: number, detail: string, method: string, url: string) {
    super(`${context}: ${status} ${detail}`);
    this.name = "KeystoneApiError";
    this.status = status;
    this.method = method;
    this.url = url;
  }
}

/** fetch with a timeout and errors that name the request. */
export async function timedFetch(
  fetchFn: FetchLike,
  method: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response> {
  try {
    return await fetchFn(url, { ...init, method, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === "TimeoutError" || err.name === "AbortError") {
      throw new ClientRequestError(method, url, `no answer within ${timeoutMs / 1000}s (timed out)`, {
        cause: e,
      });
    }
    const why = err.cause?.code ?? err.cause?.message ?? err.message;
    throw new ClientRequestError(method, url, `request failed: ${why}`, { cause: e });
  }
}

/** `http://h:5000`, `http://h:5000/`, `http://h:5000/v3/` → `http://h:5000/v3`. */
export function identityV3(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, "");
  if (/\/v3$/.test(u)) return u;
  if (/\/v2\.0$/.test(u)) return `${u.slice(0, -"/v2.0".length)}/v3`;
  return `${u}/v3`;
}

interface CatalogEndpoint {
  interface?: string;
  region?: string;
  region_id?: string;
  url?: string;
}
interface TokenBodyShape {
  token?: {
    expires_at?: string;
    user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
    project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
    catalog?: Array<{ type?: string; endpoints?: CatalogEndpoint[] }>;
  };
}

/** The network endpoint of a catalog for an interface (and region, when given). */
export function networkEndpoint(body: unknown, iface = "public", region?: string): string | undefined {
  const catalog = (body as TokenBodyShape).token?.catalog ?? [];
  for (const svc of catalog) {
    if (svc.type !== "network") continue;
    const ep = (svc.endpoints ?? []).find(
      (e) =>
        (e.interface ?? "public") === iface &&
        (region === undefined || e.region === region || e.region_id === region) &&
        typeof e.url === "string",
    );
    if (ep?.url) return ep.url.replace(/\/+$/, "");
  }
  return undefined;
}

async function errorText(r: Response): Promise<string> {
  const text = await r.text().catch(() => "");
  try {
    const j = JSON.parse(text) as { error?: { message?: string; title?: string } };
    if (j.error?.message) return `${j.error.title ?? r.statusText}: ${j.error.message}`;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 300) || r.statusText;
}

function sessionFromBody(
  body: unknown,
  token: string,
  authUrl: string | undefined,
): Omit<CachedToken, "network_url"> {
  const t = (body as TokenBodyShape).token ?? {};
  return {
    token,
    ...(t.expires_at ? { expires_at: t.expires_at } : {}),
    ...(authUrl ? { auth_url: authUrl } : {}),
    ...(t.user
      ? { user: { id: t.user.id, name: t.user.name, domain: t.user.domain?.name ?? t.user.domain?.id } }
      : {}),
    ...(t.project
      ? {
          project: {
            id: t.project.id,
            name: t.project.name,
            domain: t.project.domain?.name ?? t.project.domain?.id,
          },
        }
      : {}),
  };
}

export interface AuthenticatorOptions {
  credentials: Credentials;
  /** The token cache file; no caching when absent. */
  cacheFile?: string;
  fetch?: FetchLike;
  timeoutMs?: number;
  refreshMarginSeconds?: number;
  /** Milliseconds since the epoch; tests move the clock. */
  now?: () => number;
}

/** Hands out a valid session (token + network endpoint), from the cache or by logging in. */
export class Authenticator {
  readonly credentials: Credentials;
  readonly cacheFile: string | undefined;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;
  private readonly marginMs: number;
  private readonly now: () => number;
  private current: Session | undefined;
  private pending: Promise<Session> | undefined;

  constructor(opts: AuthenticatorOptions) {
    this.credentials = opts.credentials;
    this.cacheFile = opts.cacheFile;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.marginMs = (opts.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_S) * 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Can a rejected token be replaced by logging in again? */
  get canRelogin(): boolean {
    return this.credentials.kind === "password";
  }

  /** A usable session: in memory, else from the cache file, else obtained from Keystone. */
  async session(): Promise<Session> {
    if (this.current && this.usable(this.current)) return this.current;
    this.pending ??= this.obtain().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forget the session (memory and cache file), e.g. after the network service answered 401. */
  async invalidate(): Promise<void> {
    this.current = undefined;
    if (this.cacheFile) await rm(this.cacheFile, { force: true });
  }

  private usable(s: CachedToken): boolean {
    if (s.expires_at === undefined) return true;
    const exp = Date.parse(s.expires_at);
    return Number.isFinite(exp) && exp - this.marginMs > this.now();
  }

  private async obtain(): Promise<Session> {
    const cached = await this.readCache();
    if (cached) {
      this.current = { ...cached, fromCache: true };
      return this.current;
    }
    const fresh =
      this.credentials.kind === "password"
        ? await this.passwordLogin(this.credentials)
        : await this.describeToken(this.credentials.token);
    await this.writeCache(fresh);
    this.current = { ...fresh, fromCache: false };
    return this.current;
  }

  /** The cached token, when it belongs to these credentials and is not about to expire. */
  private async readCache(): Promise<CachedToken | undefined> {
    if (!this.cacheFile) return undefined;
    let c: CachedToken;
    try {
      c = JSON.parse(await readFile(this.cacheFile, "utf8")) as CachedToken;
    } catch {
      return undefined; // missing or corrupt: log in again
    }
    if (typeof c?.token !== "string" || typeof c.network_url !== "string") return undefined;
    if (!this.usable(c)) return undefined;
    const cr = this.credentials;
    if (cr.kind === "token") {
      if (c.token !== cr.token) return undefined;
    } else {
      if (c.auth_url !== identityV3(cr.auth_url)) return undefined;
      if (c.user?.name !== cr.username) return undefined;
      if (cr.project_id ? c.project?.id !== cr.project_id : c.project?.name !== cr.project_name)
        return undefined;
    }
    if (cr.network_url && c.network_url !== cr.network_url) return undefined;
    return c;
  }

  private async writeCache(s: CachedToken): Promise<void> {
    if (!this.cacheFile) return;
    await mkdir(path.dirname(this.cacheFile), { recursive: true, mode: 0o700 });
    const tmp = `${this.cacheFile}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.cacheFile);
  }

  private endpointOr(body: unknown, who: string): string {
    const cr = this.credentials;
    if (cr.network_url) return cr.network_url;
    const ep = networkEndpoint(body, cr.interface, cr.region_name);
    if (!ep) {
      throw new Error(
        `${who}: the service catalog has no network endpoint for interface '${cr.interface}'` +
          `${cr.region_name ? ` in region '${cr.region_name}'` : ""}; give the network endpoint URL explicitly`,
      );
    }
    return ep;
  }

  /** POST /v3/auth/tokens with the password method. */
  async passwordLogin(cr: PasswordCredentials): Promise<CachedToken> {
    const base = identityV3(cr.auth_url);
    const url = `${base}/auth/tokens`;
    const project = cr.project_id
      ? { id: cr.project_id }
      : { name: cr.project_name, domain: { name: cr.project_domain_name } };
    const r = await timedFetch(
      this.fetchFn,
      "POST",
      url,
      {
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ["password"],
              password: {
                user: { name: cr.username, domain: { name: cr.user_domain_name }, password: cr.password },
              },
            },
            scope: { project },
          },
        }),
      },
      this.timeoutMs,
    );
    const who = `logging in to ${base} as ${cr.username}`;
    if (r.status !== 201 && r.status !== 200) {
      throw new KeystoneApiError(who, r.status, await errorText(r), "POST", url);
    }
    const token = r.headers.get("x-subject-token");
    const body = (await r.json()) as unknown;
    if (!token)
      throw new KeystoneApiError(who, r.status, "no X-Subject-Token header in the answer", "POST", url);
    return { ...sessionFromBody(body, token, base), network_url: this.endpointOr(body, who) };
  }

  /** GET /v3/auth/tokens for a given token (its expiry and catalog), or just the explicit URL. */
  async describeToken(token: string): Promise<CachedToken> {
    const cr = this.credentials;
    const authUrl = cr.auth_url;
    if (!authUrl) {
      if (!cr.network_url) throw new Error("a token without an auth URL needs an explicit network URL");
      return { token, network_url: cr.network_url };
    }
    const base = identityV3(authUrl);
    const url = `${base}/auth/tokens`;
    const r = await timedFetch(
      this.fetchFn,
      "GET",
      url,
      { headers: { "x-auth-token": token, "x-subject-token": token, accept: "application/json" } },
      this.timeoutMs,
    );
    const who = `validating the given token at ${base}`;
    if (r.status !== 200) throw new KeystoneApiError(who, r.status, await errorText(r), "GET", url);
    const body = (await r.json()) as unknown;
    return { ...sessionFromBody(body, token, base), network_url: this.endpointOr(body, who) };
  }
}
