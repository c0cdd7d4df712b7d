// The plugin's input: the CNI_* environment and the network configuration on stdin (one plugin's
// entry of a conflist, with name, cniVersion, and prevResult/runtimeConfig injected by the
// runtime). Validated here, once, by hand: the plugin runs once per container and a schema
// library costs more to load (~100 ms) than everything else the plugin does before its first
// API call.

import { CniError, CODE } from "./errors.js";

export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const COMMANDS = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface NetConf {
  cniVersion: CniVersion;
  /** The CNI network's name (the conflist's). */
  name: string;
  type: string;
  /** The API network (name or id); default: `name`. */
  network: string;
  /**
   * A file with the API credentials: an openrc-style file of OS_* variables (OS_AUTH_URL,
   * OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ... or OS_TOKEN), or a clouds.yaml when `cloud`
   * names its entry. Secrets never go in the configuration itself.
   */
  credentials?: string | undefined;
  cloud?: string | undefined;
  vifId?: string | undefined;
  uplink?: string | undefined;
  bridge?: string | undefined;
  ovsdb?: string | undefined;
  mode?: "binding-profile" | "trunk" | undefined;
  activeTimeoutMs?: number | undefined;
  stateDir?: string | undefined;
  /** Ports kept ready on this network so ADD finds one already bound by OVN (default 0). */
  pool: number;
  prevResult?: Record<string, unknown> | undefined;
  validAttachments?: Array<{ containerID: string; ifname: string }> | undefined;
}

export interface CniEnv {
  command: CniCommand;
  containerId?: string | undefined;
  netns?: string | undefined;
  ifname?: string | undefined;
  args: Record<string, string>;
  path?: string | undefined;
}

const KNOWN_KEYS = new Set([
  "cniVersion",
  "cniVersions",
  "name",
  "type",
  "network",
  "credentials",
  "cloud",
  "vifId",
  "uplink",
  "bridge",
  "ovsdb",
  "mode",
  "activeTimeoutMs",
  "stateDir",
  "pool",
  "prevResult",
  "runtimeConfig",
  "args",
  "capabilities",
  "ipMasq",
  "ipam",
  "dns",
  "cni.dev/valid-attachments",
  "cni.dev/attachments",
]);

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function bad(key: string, what: string): CniError {
  return new CniError(CODE.invalidConfig, `network configuration: "${key}" ${what}`);
}

function str(o: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw bad(key, "is missing");
    return undefined;
  }
  if (typeof v !== "string" || v === "")
    throw bad(key, `must be a non-empty string, not ${JSON.stringify(v)}`);
  return v;
}

/** Only the version, for VERSION and for shaping errors before the rest is known. */
export function versionOf(stdin: string): string {
  try {
    const o = JSON.parse(stdin) as { cniVersion?: unknown };
    return typeof o.cniVersion === "string" ? o.cniVersion : "1.1.0";
  } catch {
    return "1.1.0";
  }
}

export function parseNetConf(stdin: string, command: CniCommand): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(
      CODE.decodeFailure,
      `the network configuration on stdin is not JSON (${(e as Error).message}); the runtime passes the conflist's plugin entry`,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(CODE.decodeFailure, "the network configuration on stdin must be a JSON object");
  }
  const o = raw as Record<string, unknown>;
  const version = str(o, "cniVersion", true) as string;
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CODE.incompatibleVersion,
      `cniVersion ${version} is not supported: ovn-cni speaks ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  if ((command === "GC" || command === "STATUS") && version !== "1.1.0") {
    throw new CniError(
      CODE.incompatibleVersion,
      `${command} needs cniVersion 1.1.0 (configuration says ${version})`,
    );
  }
  const unknown = Object.keys(o).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) {
    throw new CniError(
      CODE.unsupportedField,
      `network configuration: unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}; ` +
        "see docs/cni.md for the keys ovn-cni reads",
    );
  }
  const name = str(o, "name", true) as string;
  const mode = str(o, "mode");
  if (mode !== undefined && mode !== "binding-profile" && mode !== "trunk") {
    throw bad("mode", `must be "binding-profile" or "trunk", not "${mode}"`);
  }
  const vifId = str(o, "vifId");
  if (vifId !== undefined && !UUID.test(vifId))
    throw bad("vifId", `must be the VM's port id (a UUID), not "${vifId}"`);
  const timeout = o.activeTimeoutMs;
  if (timeout !== undefined && (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0)) {
    throw bad("activeTimeoutMs", `must be a number of milliseconds > 0, not ${JSON.stringify(timeout)}`);
  }
  const pool = o.pool ?? 0;
  if (typeof pool !== "number" || !Number.isInteger(pool) || pool < 0 || pool > 256) {
    throw bad("pool", `must be the number of ready ports to keep, 0..256, not ${JSON.stringify(o.pool)}`);
  }
  const credentials = str(o, "credentials");
  if (credentials !== undefined && !credentials.startsWith("/")) {
    throw bad(
      "credentials",
      `must be an absolute path to a file (OS_* variables or clouds.yaml), not "${credentials}"`,
    );
  }
  for (const k of ["stateDir"]) {
    const v = str(o, k);
    if (v !== undefined && !v.startsWith("/")) throw bad(k, `must be an absolute path, not "${v}"`);
  }
  const prev = o.prevResult;
  if (prev !== undefined && (typeof prev !== "object" || prev === null || Array.isArray(prev))) {
    throw bad("prevResult", "must be an object (a CNI result)");
  }
  let validAttachments: NetConf["validAttachments"];
  const va = o["cni.dev/valid-attachments"];
  if (va !== undefined) {
    if (!Array.isArray(va)) throw bad("cni.dev/valid-attachments", "must be a list of {containerID, ifname}");
    validAttachments = va.map((x, i) => {
      const e = x as { containerID?: unknown; ifname?: unknown };
      if (typeof e?.containerID !== "string" || typeof e?.ifname !== "string") {
        throw bad(`cni.dev/valid-attachments[${i}]`, "must be {containerID: string, ifname: string}");
      }
      return { containerID: e.containerID, ifname: e.ifname };
    });
  } else if (command === "GC") {
    throw bad("cni.dev/valid-attachments", "is missing: GC needs the list of attachments to keep");
  }
  return {
    cniVersion: version as CniVersion,
    name,
    type: str(o, "type", true) as string,
    network: str(o, "network") ?? name,
    credentials,
    cloud: str(o, "cloud"),
    vifId,
    uplink: str(o, "uplink"),
    bridge: str(o, "bridge"),
    ovsdb: str(o, "ovsdb"),
    mode: mode as NetConf["mode"],
    activeTimeoutMs: timeout as number | undefined,
    stateDir: str(o, "stateDir"),
    pool,
    prevResult: prev as Record<string, unknown> | undefined,
    validAttachments,
  };
}

function envErr(msg: string): CniError {
  return new CniError(CODE.invalidEnv, msg);
}

/** CNI_* variables, checked for the command at hand. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command) {
    throw envErr("CNI_COMMAND is not set: ovn-cni is run by a container runtime (CNI spec 1.1.0)");
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw envErr(`CNI_COMMAND "${command}" is unknown: use one of ${COMMANDS.join(", ")}`);
  }
  const c = command as CniCommand;
  const args: Record<string, string> = {};
  for (const kv of (env.CNI_ARGS ?? "").split(";").filter(Boolean)) {
    const i = kv.indexOf("=");
    if (i <= 0) throw envErr(`CNI_ARGS: "${kv}" is not KEY=VALUE (pairs are separated by ";")`);
    args[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const needs = c === "ADD" || c === "DEL" || c === "CHECK";
  const containerId = env.CNI_CONTAINERID || undefined;
  const ifname = env.CNI_IFNAME || undefined;
  const netns = env.CNI_NETNS || undefined;
  if (needs) {
    if (!containerId) throw envErr(`CNI_CONTAINERID is not set (needed for ${c})`);
    if (!CONTAINER_ID.test(containerId)) {
      throw envErr(`CNI_CONTAINERID "${containerId}" is not a container id (letters, digits, "_", "-", ".")`);
    }
    if (!ifname) throw envErr(`CNI_IFNAME is not set (needed for ${c})`);
    if (!IFNAME.test(ifname)) {
      throw envErr(`CNI_IFNAME "${ifname}" is not an interface name (1-15 letters, digits, "_", "-", ".")`);
    }
    // DEL may come without a namespace (it is gone); ADD and CHECK need it.
    if (c !== "DEL" && !netns) throw envErr(`CNI_NETNS is not set (needed for ${c})`);
    if (netns && !netns.startsWith("/")) throw envErr(`CNI_NETNS "${netns}" is not an absolute path`);
  }
  return { command: c, containerId, ifname, netns, args, path: env.CNI_PATH || undefined };
}
