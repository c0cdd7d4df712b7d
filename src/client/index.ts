// The VM side's Keystone + Neutron HTTP client (against the network service or a real Neutron).

import { type Env, type ReadFile, resolveCredentials } from "./credentials.js";
import { Authenticator, type FetchLike } from "./keystone.js";
import { NeutronClient } from "./neutron.js";

export * from "./credentials.js";
export * from "./keystone.js";
export * from "./neutron.js";

export interface OpenClientOptions {
  env?: Env;
  /** `--cred=TOKEN`. */
  cred?: string;
  /** An explicit network endpoint URL. */
  networkUrl?: string;
  /** Token cache file (mode 0600); no caching when absent. */
  cacheFile?: string;
  readFile?: ReadFile;
  fetch?: FetchLike;
  timeoutMs?: number;
}

/** Resolves credentials (throws CredentialsError naming what is missing) and builds a client. */
export function openClient(opts: OpenClientOptions = {}): NeutronClient {
  const credentials = resolveCredentials({
    env: opts.env ?? process.env,
    ...(opts.cred !== undefined ? { cred: opts.cred } : {}),
    ...(opts.networkUrl !== undefined ? { networkUrl: opts.networkUrl } : {}),
    ...(opts.readFile ? { readFile: opts.readFile } : {}),
  });
  const auth = new Authenticator({
    credentials,
    ...(opts.cacheFile ? { cacheFile: opts.cacheFile } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  return new NeutronClient({
    auth,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
}
