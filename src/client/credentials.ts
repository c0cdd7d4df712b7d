// Credentials resolved the OpenStack way, from the command line, the environment and
// clouds.yaml, validated once. Pure over an env object and a file reader so it can be
// unit-tested without touching the process.
//
// Order (first that applies wins):
//   1. an explicit token: `--cred=TOKEN` (the `cred` option), else OS_CLOUD's clouds.yaml entry
//   2. OS_CLOUD: the named cloud in clouds.yaml (OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
//      ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml, as openstacksdk searches)
//   3. OS_TOKEN (+ OS_AUTH_URL or a network endpoint URL)
//   4. password auth: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME or OS_PROJECT_ID,
//      OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME (both default "Default")
// The network endpoint can be given explicitly (the `networkUrl` option,
// OS_NETWORK_ENDPOINT_OVERRIDE, or `network_endpoint_override` in clouds.yaml); otherwise it
// comes from the token's service catalog.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// The YAML parser is loaded only when a clouds.yaml is read: the agent runs once per container
// and most runs never need it (loading it costs about as much as starting node).
const requireLazily = createRequire(import.meta.url);
function parseYaml(text: string): unknown {
  return (requireLazily("yaml") as typeof import("yaml")).parse(text);
}

export type Env = Record<string, string | undefined>;

/** Returns the file's text, or undefined when it does not exist. */
export type ReadFile = (file: string) => string | undefined;

interface Common {
  /** Where the credentials came from, for messages ("environment", "clouds.yaml (/path) cloud 'x'", "--cred"). */
  source: string;
  /** Explicit network (Neutron) endpoint; when absent it comes from the catalog. */
  network_url?: string;
  /** Catalog interface to use (default "public"). */
  interface: string;
  region_name?: string;
}

export interface TokenCredentials extends Common {
  kind: "token";
  token: string;
  auth_url?: string;
}

export interface PasswordCredentials extends Common {
  kind: "password";
  auth_url: string;
  username: string;
  password: string;
  project_name?: string;
  project_id?: string;
  user_domain_name: string;
  project_domain_name: string;
}

export type Credentials = TokenCredentials | PasswordCredentials;

export interface ResolveOptions {
  env: Env;
  /** `--cred=TOKEN` from the command line. */
  cred?: string;
  /** An explicit network endpoint URL (e.g. `--network-url`). */
  networkUrl?: string;
  readFile?: ReadFile;
  /** For ./clouds.yaml; default process.cwd(). */
  cwd?: string;
  /** For ~/.config/openstack; default env.HOME. */
  home?: string;
}

/** Credentials are missing or malformed; `missing` names what to set. */
export class CredentialsError extends Error {
  readonly missing: string[];
  constructor(message: string, missing: string[] = []) {
    super(message);
    this.name = "CredentialsError";
    this.missing = missing;
  }
}

export const defaultReadFile: ReadFile = (file) => {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
};

const nonEmpty = (v: unknown): string | undefined =>
  typeof v === "string" && v.trim() !== "" ? v.trim() : typeof v === "number" ? String(v) : undefined;

function checkUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CredentialsError(`${what} is not a URL: ${JSON.stringify(value)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new CredentialsError(`${what} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, "");
}

/** The clouds.yaml files openstacksdk searches, in order. */
export function cloudsYamlCandidates(env: Env, cwd: string, home: string | undefined): string[] {
  const out: string[] = [];
  const explicit = nonEmpty(env.OS_CLIENT_CONFIG_FILE);
  if (explicit) out.push(explicit);
  out.push(path.join(cwd, "clouds.yaml"));
  if (home) out.push(path.join(home, ".config", "openstack", "clouds.yaml"));
  out.push("/etc/openstack/clouds.yaml");
  return out;
}

const HOW_TO =
  "Give a token with --cred=TOKEN (or OS_TOKEN) plus OS_AUTH_URL or a network endpoint URL; " +
  "or set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (or OS_PROJECT_ID); " +
  "or set OS_CLOUD to a cloud in clouds.yaml.";

export function resolveCredentials(opts: ResolveOptions): Credentials {
  const env = opts.env;
  const readFile = opts.readFile ?? defaultReadFile;
  const cwd = opts.cwd ?? process.cwd();
  const home = opts.home ?? nonEmpty(env.HOME);
  const iface = nonEmpty(env.OS_INTERFACE) ?? "public";
  const region = nonEmpty(env.OS_REGION_NAME);
  const networkOverride = nonEmpty(opts.networkUrl) ?? nonEmpty(env.OS_NETWORK_ENDPOINT_OVERRIDE);
  const common = (source: string, network: string | undefined, i = iface, r = region): Common => ({
    source,
    interface: i,
    ...(network ? { network_url: checkUrl(network, `the network endpoint URL (${source})`) } : {}),
    ...(r ? { region_name: r } : {}),
  });

  const cloudName = nonEmpty(env.OS_CLOUD);
  const cred = opts.cred !== undefined ? opts.cred.trim() : undefined;
  if (cred !== undefined) {
    if (cred === "") throw new CredentialsError(`--cred was given an empty token. ${HOW_TO}`, ["--cred"]);
    const authUrl = nonEmpty(env.OS_AUTH_URL);
    return tokenCreds(cred, authUrl, common("--cred", networkOverride), "--cred", "OS_AUTH_URL");
  }

  if (cloudName) return fromCloudsYaml(cloudName, env, readFile, cwd, home, networkOverride, iface, region);

  const token = nonEmpty(env.OS_TOKEN);
  if (token) {
    return tokenCreds(
      token,
      nonEmpty(env.OS_AUTH_URL),
      common("environment (OS_TOKEN)", networkOverride),
      "OS_TOKEN",
      "OS_AUTH_URL",
    );
  }

  const anySet = ["OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID"].some(
    (k) => nonEmpty(env[k]) !== undefined,
  );
  if (!anySet) {
    throw new CredentialsError(
      `no OpenStack credentials found (none of --cred, OS_TOKEN, OS_CLOUD, OS_AUTH_URL/OS_USERNAME/OS_PASSWORD is set). ${HOW_TO}`,
      ["OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"],
    );
  }
  return passwordCreds(
    {
      auth_url: env.OS_AUTH_URL,
      username: env.OS_USERNAME,
      password: env.OS_PASSWORD,
      project_name: env.OS_PROJECT_NAME,
      project_id: env.OS_PROJECT_ID,
      user_domain_name: env.OS_USER_DOMAIN_NAME,
      project_domain_name: env.OS_PROJECT_DOMAIN_NAME,
    },
    {
      auth_url: "OS_AUTH_URL",
      username: "OS_USERNAME",
      password: "OS_PASSWORD",
      project: "OS_PROJECT_NAME (or OS_PROJECT_ID)",
    },
    common("environment", networkOverride),
    "set them in the environment (e.g. source your openrc file)",
  );
}

function tokenCreds(
  token: string,
  authUrl: string | undefined,
  c: Common,
  tokenName: string,
  authName: string,
): TokenCredentials {
  if (!authUrl && !c.network_url) {
    throw new CredentialsError(
      `a token was given (${tokenName}) but no way to find the network endpoint: set ${authName} (the ` +
        "Keystone URL, to read the service catalog) or give the network endpoint URL " +
        "(OS_NETWORK_ENDPOINT_OVERRIDE).",
      [authName],
    );
  }
  return {
    kind: "token",
    token,
    ...(authUrl ? { auth_url: checkUrl(authUrl, authName) } : {}),
    ...c,
  };
}

function passwordCreds(
  v: Record<string, unknown>,
  names: { auth_url: string; username: string; password: string; project: string },
  c: Common,
  fix: string,
): PasswordCredentials {
  const authUrl = nonEmpty(v.auth_url);
  const username = nonEmpty(v.username);
  const password = typeof v.password === "string" && v.password !== "" ? v.password : undefined;
  const projectName = nonEmpty(v.project_name);
  const projectId = nonEmpty(v.project_id);
  const missing: string[] = [];
  if (!authUrl) missing.push(names.auth_url);
  if (!username) missing.push(names.username);
  if (!password) missing.push(names.password);
  if (!projectName && !projectId) missing.push(names.project);
  if (missing.length > 0 || !authUrl || !username || !password) {
    throw new CredentialsError(
      `incomplete OpenStack credentials from ${c.source}: missing ${missing.join(", ")}; ${fix}. ${HOW_TO}`,
      missing,
    );
  }
  return {
    kind: "password",
    auth_url: checkUrl(authUrl, names.auth_url),
    username,
    password,
    ...(projectName ? { project_name: projectName } : {}),
    ...(projectId ? { project_id: projectId } : {}),
    user_domain_name: nonEmpty(v.user_domain_name) ?? "Default",
    project_domain_name: nonEmpty(v.project_domain_name) ?? "Default",
    ...c,
  };
}

function fromCloudsYaml(
  cloudName: string,
  env: Env,
  readFile: ReadFile,
  cwd: string,
  home: string | undefined,
  networkOverride: string | undefined,
  iface: string,
  region: string | undefined,
): Credentials {
  const candidates = cloudsYamlCandidates(env, cwd, home);
  let file: string | undefined;
  let text: string | undefined;
  for (const c of candidates) {
    text = readFile(c);
    if (text !== undefined) {
      file = c;
      break;
    }
  }
  if (file === undefined || text === undefined) {
    throw new CredentialsError(
      `OS_CLOUD=${cloudName} but no clouds.yaml was found (looked in ${candidates.join(", ")}); ` +
        "create one there or unset OS_CLOUD.",
      ["clouds.yaml"],
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new CredentialsError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  const clouds = (doc as { clouds?: unknown } | null)?.clouds;
  if (!clouds || typeof clouds !== "object") {
    throw new CredentialsError(`${file}: no top-level 'clouds' mapping`);
  }
  const cloud = (clouds as Record<string, unknown>)[cloudName];
  if (!cloud || typeof cloud !== "object") {
    const known = Object.keys(clouds).join(", ") || "(none)";
    throw new CredentialsError(`OS_CLOUD=${cloudName}: no such cloud in ${file} (it has: ${known})`, [
      `clouds.${cloudName}`,
    ]);
  }
  const cl = cloud as Record<string, unknown>;
  const auth = (cl.auth && typeof cl.auth === "object" ? cl.auth : {}) as Record<string, unknown>;
  const source = `${file} cloud '${cloudName}'`;
  const c: Common = {
    source,
    interface: nonEmpty(cl.interface) ?? iface,
    ...((nonEmpty(cl.region_name) ?? region) ? { region_name: nonEmpty(cl.region_name) ?? region } : {}),
  };
  const network = networkOverride ?? nonEmpty(cl.network_endpoint_override);
  if (network) c.network_url = checkUrl(network, `the network endpoint URL (${source})`);
  const prefix = `clouds.${cloudName}.auth`;
  const token = nonEmpty(auth.token);
  const authType = nonEmpty(cl.auth_type);
  if (token || authType === "token" || authType === "v3token") {
    if (!token) {
      throw new CredentialsError(`${source}: auth_type ${authType} needs ${prefix}.token`, [
        `${prefix}.token`,
      ]);
    }
    return tokenCreds(token, nonEmpty(auth.auth_url), c, `${prefix}.token`, `${prefix}.auth_url`);
  }
  return passwordCreds(
    auth,
    {
      auth_url: `${prefix}.auth_url`,
      username: `${prefix}.username`,
      password: `${prefix}.password`,
      project: `${prefix}.project_name (or project_id)`,
    },
    c,
    `add them to ${file}`,
  );
}
