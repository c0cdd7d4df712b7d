// The network service's configuration: one YAML file, read and validated once at start-up
// and turned into a typed object. It holds what Keystone would keep in SQL (domains,
// projects, users with scrypt password hashes, role assignments), the token settings, and
// where the server listens. Every problem is reported with its path and what was expected.
//
//   projects: [{id, name, domain_id: default}]
//   users:    [{id, name, domain_id: default, password_hash: "scrypt$N$r$p$salt$hash",
//               roles: [{project_id, role: admin|member}]}]
//   token:    {lifetime_seconds: 3600, vm_max_lifetime_seconds: 2592000, key_file}
//   mac_prefix: "fa:16:3e"
//   listen: "127.0.0.1:9696"
//   public_url: "http://controller:9696"     (optional)
//   domains:  [{id: default, name: Default}] (optional)

import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type FileHandle, mkdir, open, readFile, unlink } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value, type ValueError, ValueErrorType } from "@sinclair/typebox/value";
import YAML from "yaml";
import {
  DEFAULT_SCRYPT,
  hashPassword,
  type PasswordHash,
  parsePasswordHash,
  type ScryptParams,
} from "./keystone/passwords.js";
import { MIN_SECRET_BYTES } from "./keystone/tokens.js";

// ---- the file's schema --------------------------------------------------------------------

const Id = Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", description: "1 to 64 of A-Z a-z 0-9 _ . -" });
const Name = Type.String({ minLength: 1, maxLength: 255 });
const DomainRef = Type.String({ minLength: 1, default: "default" });
const ConfigRole = Type.Union([Type.Literal("admin"), Type.Literal("member")]);

const DomainSchema = Type.Object({ id: Id, name: Name }, { additionalProperties: false });
const ProjectSchema = Type.Object(
  { id: Id, name: Name, domain_id: DomainRef },
  { additionalProperties: false },
);
const RoleAssignmentSchema = Type.Object(
  { project_id: Id, role: ConfigRole },
  { additionalProperties: false },
);
const UserSchema = Type.Object(
  {
    id: Id,
    name: Name,
    domain_id: DomainRef,
    password_hash: Type.String({ minLength: 1 }),
    roles: Type.Array(RoleAssignmentSchema, { default: [] }),
  },
  { additionalProperties: false },
);

const DAY = 86_400;
const TokenSchema = Type.Object(
  {
    lifetime_seconds: Type.Integer({ minimum: 60, maximum: 7 * DAY, default: 3600 }),
    vm_max_lifetime_seconds: Type.Integer({ minimum: 60, maximum: 365 * DAY, default: 30 * DAY }),
    key_file: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    domains: Type.Array(DomainSchema, { minItems: 1, default: [{ id: "default", name: "Default" }] }),
    projects: Type.Array(ProjectSchema),
    users: Type.Array(UserSchema),
    token: TokenSchema,
    mac_prefix: Type.String(),
    listen: Type.String({ default: "127.0.0.1:9696" }),
    public_url: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigFileSchema>;

// ---- the typed result ----------------------------------------------------------------------

export type ConfigRoleName = Static<typeof ConfigRole>;
export type DomainConfig = Static<typeof DomainSchema>;
export type ProjectConfig = Static<typeof ProjectSchema>;
export type RoleAssignment = Static<typeof RoleAssignmentSchema>;
export interface UserConfig extends Static<typeof UserSchema> {
  /** password_hash, parsed and checked. */
  password: PasswordHash;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServerConfig {
  /** The file this came from, when it came from one. */
  source?: string;
  domains: DomainConfig[];
  projects: ProjectConfig[];
  users: UserConfig[];
  token: {
    lifetime_seconds: number;
    vm_max_lifetime_seconds: number;
    /** Absolute path. */
    key_file: string;
    /** The key file's bytes. */
    secret: Buffer;
  };
  /** Lower case, e.g. "fa:16:3e". */
  mac_prefix: string;
  listen: ListenAddress;
  /**
   * What the catalog and discovery documents advertise, without a trailing slash. When the
   * file gives none it is derived from `listen`; when that listens on a wildcard address or
   * on port 0 it stays undefined and each response is built from the request's Host header,
   * as Keystone does without `public_endpoint`.
   */
  public_url?: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid server configuration ${source}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

export class ConfigExistsError extends Error {
  override name = "ConfigExistsError";
}

// ---- parsing -------------------------------------------------------------------------------

/** "/users/0/roles/1/role" -> "users[0].roles[1].role" */
function dotted(pointer: string): string {
  const parts = pointer.split("/").slice(1);
  let out = "";
  for (const p of parts) out += /^[0-9]+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || "(top level)";
}

function describe(e: ValueError): string {
  const s = e.schema as TSchema & { anyOf?: { const?: unknown }[]; pattern?: string; description?: string };
  const got = JSON.stringify(e.value) ?? "nothing";
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return "unknown key";
    case ValueErrorType.ObjectRequiredProperty:
      return "is required";
    case ValueErrorType.Union:
      if (s.anyOf?.every((x) => x.const !== undefined)) {
        return `expected one of ${s.anyOf.map((x) => JSON.stringify(x.const)).join(", ")}, got ${got}`;
      }
      return `${e.message}, got ${got}`;
    case ValueErrorType.StringPattern:
      return `expected ${s.description ?? `a string matching ${s.pattern}`}, got ${got}`;
    default:
      return `${e.message.replace(/^Expected/, "expected")}, got ${got}`;
  }
}

function schemaProblems(value: unknown): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const e of Value.Errors(ConfigFileSchema, value)) {
    // A value wrong in several ways is reported once, by its first complaint.
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    problems.push(`${dotted(e.path)}: ${describe(e)}`);
    if (problems.length === 20) break;
  }
  return problems;
}

const MAC_PREFIX = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$/;

function checkMacPrefix(raw: string, problems: string[]): string {
  const mac = raw.toLowerCase();
  if (!MAC_PREFIX.test(mac)) {
    problems.push(`mac_prefix: expected 1 to 5 hex octets separated by ":" like "fa:16:3e", got "${raw}"`);
  } else if ((Number.parseInt(mac.slice(0, 2), 16) & 1) !== 0) {
    problems.push(
      `mac_prefix: first octet ${mac.slice(0, 2)} has the multicast bit set; ports need unicast MACs`,
    );
  }
  return mac;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function parseListen(raw: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(raw);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const hostOk =
    host !== undefined && (m?.[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || HOSTNAME.test(host));
  if (!m || !hostOk || port > 65535) {
    throw new Error(`expected HOST:PORT like "127.0.0.1:9696" or "[::1]:9696", got "${raw}"`);
  }
  return { host: host as string, port };
}

function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

function checkPublicUrl(raw: string, problems: string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`public_url: expected an absolute http(s) URL like "http://controller:9696", got "${raw}"`);
    return raw;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash || url.username) {
    problems.push(`public_url: expected an http(s) URL without credentials, query or fragment, got "${raw}"`);
  }
  return url.href.replace(/\/+$/, "");
}

function derivedPublicUrl(listen: ListenAddress): string | undefined {
  const wildcard = listen.host === "0.0.0.0" || listen.host === "::";
  return wildcard || listen.port === 0 ? undefined : `http://${urlHost(listen.host)}:${listen.port}`;
}

function duplicates<T>(items: T[], key: (t: T) => string): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const k of items.map(key)) (seen.has(k) ? dup : seen).add(k);
  return [...dup];
}

function checkReferences(file: ConfigFile, problems: string[]): void {
  const domainIds = new Set(file.domains.map((d) => d.id));
  const projectIds = new Set(file.projects.map((p) => p.id));
  for (const d of duplicates(file.domains, (x) => x.id)) problems.push(`domains: id "${d}" appears twice`);
  for (const d of duplicates(file.domains, (x) => x.name))
    problems.push(`domains: name "${d}" appears twice`);
  for (const d of duplicates(file.projects, (x) => x.id)) problems.push(`projects: id "${d}" appears twice`);
  for (const d of duplicates(file.projects, (x) => `${x.name}" in domain "${x.domain_id}`)) {
    problems.push(`projects: name "${d}" appears twice`);
  }
  for (const d of duplicates(file.users, (x) => x.id)) problems.push(`users: id "${d}" appears twice`);
  for (const d of duplicates(file.users, (x) => `${x.name}" in domain "${x.domain_id}`)) {
    problems.push(`users: name "${d}" appears twice`);
  }
  file.projects.forEach((p, i) => {
    if (!domainIds.has(p.domain_id)) problems.push(`projects[${i}].domain_id: no domain "${p.domain_id}"`);
  });
  file.users.forEach((u, i) => {
    if (!domainIds.has(u.domain_id)) problems.push(`users[${i}].domain_id: no domain "${u.domain_id}"`);
    u.roles.forEach((r, j) => {
      if (!projectIds.has(r.project_id)) {
        problems.push(`users[${i}].roles[${j}].project_id: no project "${r.project_id}" (user "${u.name}")`);
      }
    });
  });
}

function readKeyFile(file: string, problems: string[]): Buffer {
  let secret: Buffer;
  try {
    secret = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : (e as Error).message;
    problems.push(
      `token.key_file: cannot read ${file}: ${why} (it must hold at least ${MIN_SECRET_BYTES} random bytes)`,
    );
    return Buffer.alloc(0);
  }
  if (secret.length < MIN_SECRET_BYTES) {
    problems.push(
      `token.key_file: ${file} holds ${secret.length} bytes; at least ${MIN_SECRET_BYTES} random bytes are needed`,
    );
  }
  return secret;
}

/**
 * Validates a configuration given as YAML text. Relative paths in it (the key file) are
 * resolved against `baseDir`. Throws ConfigError listing every problem found.
 */
export function parseConfig(text: string, baseDir: string, source = "(text)"): ServerConfig {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML: ${e.message.replace(/\n+/g, " ").trim()}`),
    );
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, [
      "(top level): expected a mapping with projects, users, token, mac_prefix",
    ]);
  }
  const withDefaults = Value.Default(ConfigFileSchema, structuredClone(raw));
  const shapeProblems = schemaProblems(withDefaults);
  if (shapeProblems.length > 0) throw new ConfigError(source, shapeProblems);
  const file = withDefaults as ConfigFile;

  const problems: string[] = [];
  checkReferences(file, problems);
  const users: UserConfig[] = file.users.map((u, i) => {
    try {
      return { ...u, password: parsePasswordHash(u.password_hash) };
    } catch (e) {
      problems.push(`users[${i}].password_hash: ${(e as Error).message} (user "${u.name}")`);
      return { ...u, password: { N: 0, r: 0, p: 0, salt: Buffer.alloc(0), hash: Buffer.alloc(0) } };
    }
  });
  const macPrefix = checkMacPrefix(file.mac_prefix, problems);
  let listen: ListenAddress = { host: "127.0.0.1", port: 9696 };
  try {
    listen = parseListen(file.listen);
  } catch (e) {
    problems.push(`listen: ${(e as Error).message}`);
  }
  const publicUrl =
    file.public_url === undefined ? derivedPublicUrl(listen) : checkPublicUrl(file.public_url, problems);
  const keyFile = path.resolve(baseDir, file.token.key_file);
  const secret = readKeyFile(keyFile, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);

  return {
    ...(source === "(text)" ? {} : { source }),
    domains: file.domains,
    projects: file.projects,
    users,
    token: { ...file.token, key_file: keyFile, secret },
    mac_prefix: macPrefix,
    listen,
    ...(publicUrl === undefined ? {} : { public_url: publicUrl }),
  };
}

/** Reads and validates the configuration file at `file`. */
export async function loadConfig(file: string): Promise<ServerConfig> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, "utf8");
  } catch (e) {
    throw new ConfigError(abs, [`cannot read the file: ${(e as Error).message}`]);
  }
  return parseConfig(text, path.dirname(abs), abs);
}

// ---- a starter configuration ----------------------------------------------------------------

export const CONFIG_FILE_NAME = "server.yaml";
export const KEY_FILE_NAME = "token.key";

export interface InitOptions {
  listen?: string;
  public_url?: string;
  mac_prefix?: string;
  /** Cost of the password hashes written; tests lower it. */
  scrypt?: ScryptParams;
}

export interface InitCredentials {
  id: string;
  name: string;
  password: string;
  role: ConfigRoleName;
  project_id: string;
  project_name: string;
  domain_name: string;
}

export interface InitResult {
  config_file: string;
  key_file: string;
  /** What clients set as OS_AUTH_URL; absent when listening on a wildcard address or port 0. */
  auth_url?: string;
  project: { id: string; name: string };
  users: InitCredentials[];
}

const keystoneId = (): string => randomUUID().replaceAll("-", "");

/** Creates `file` for writing, failing with ConfigExistsError if it exists. */
async function claim(file: string): Promise<FileHandle> {
  try {
    return await open(file, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new ConfigExistsError(`${file} already exists; not overwriting it`);
    }
    throw e;
  }
}

/**
 * Writes `dir/server.yaml` and `dir/token.key` (mode 0600): one project "demo", an admin
 * user "admin" and a member user "demo", each with a random password, returned here so
 * the caller can show them once. Refuses (ConfigExistsError) if either file exists, and
 * then leaves both as they were.
 */
export async function initConfig(dir: string, opts: InitOptions = {}): Promise<InitResult> {
  // Options come from the command line: check them before touching the disk.
  const listenText = opts.listen ?? "127.0.0.1:9696";
  const macPrefix = opts.mac_prefix ?? "fa:16:3e";
  const problems: string[] = [];
  checkMacPrefix(macPrefix, problems);
  let listen: ListenAddress | undefined;
  try {
    listen = parseListen(listenText);
  } catch (e) {
    problems.push(`listen: ${(e as Error).message}`);
  }
  const publicUrl = opts.public_url === undefined ? undefined : checkPublicUrl(opts.public_url, problems);
  if (problems.length > 0 || !listen) throw new ConfigError("(init options)", problems);
  const advertised = publicUrl ?? derivedPublicUrl(listen);

  const absDir = path.resolve(dir);
  await mkdir(absDir, { recursive: true, mode: 0o700 });
  const configFile = path.join(absDir, CONFIG_FILE_NAME);
  const keyFile = path.join(absDir, KEY_FILE_NAME);
  const configHandle = await claim(configFile);
  let keyHandle: FileHandle;
  try {
    keyHandle = await claim(keyFile);
  } catch (e) {
    await configHandle.close();
    await unlink(configFile);
    throw e;
  }

  const project = { id: keystoneId(), name: "demo", domain_id: "default" };
  const users: InitCredentials[] = (["admin", "demo"] as const).map((name) => ({
    id: keystoneId(),
    name,
    password: randomBytes(18).toString("base64url"),
    role: name === "admin" ? "admin" : "member",
    project_id: project.id,
    project_name: project.name,
    domain_name: "Default",
  }));
  try {
    const file = {
      listen: listenText,
      ...(publicUrl === undefined ? {} : { public_url: publicUrl }),
      mac_prefix: macPrefix,
      token: { lifetime_seconds: 3600, key_file: KEY_FILE_NAME },
      domains: [{ id: "default", name: "Default" }],
      projects: [project],
      users: await Promise.all(
        users.map(async (u) => ({
          id: u.id,
          name: u.name,
          domain_id: "default",
          password_hash: await hashPassword(u.password, opts.scrypt ?? DEFAULT_SCRYPT),
          roles: [{ project_id: project.id, role: u.role }],
        })),
      ),
    };
    await keyHandle.writeFile(`${randomBytes(48).toString("base64")}\n`);
    await configHandle.writeFile(
      `# ovn-docker server configuration, written by ovn-docker server init.\n${YAML.stringify(file)}`,
    );
  } catch (e) {
    await Promise.all([unlink(configFile), unlink(keyFile)]);
    throw e;
  } finally {
    await Promise.all([configHandle.close(), keyHandle.close()]);
  }
  return {
    config_file: configFile,
    key_file: keyFile,
    ...(advertised === undefined ? {} : { auth_url: `${advertised}/v3` }),
    project: { id: project.id, name: project.name },
    users,
  };
}
