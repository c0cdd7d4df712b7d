// From the network configuration to the VM agent's settings. The API credentials come from the
// file the configuration names (never inline), or, without one, from the environment the
// runtime passes (OS_*), as for the CLI.

import { readFileSync } from "node:fs";
import type { AgentSettings } from "../agent/agent.js";
import { httpFetch } from "../client/http-fetch.js";
import type { NetConf } from "./config.js";
import { CniError, CODE } from "./errors.js";

/** OS_* assignments of an openrc-style file (`export OS_X=value`, quotes optional, # comments). */
export function parseOpenrc(text: string, file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [n, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?(OS_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) {
      throw new CniError(
        CODE.invalidConfig,
        `credentials file ${file}, line ${n + 1}: expected OS_NAME=value (an openrc file), or set "cloud" for a clouds.yaml`,
      );
    }
    let v = (m[2] as string).trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    env[m[1] as string] = v;
  }
  return env;
}

function credentialsEnv(conf: NetConf, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!conf.credentials) {
    if (conf.cloud) return { ...env, OS_CLOUD: conf.cloud };
    return env;
  }
  if (conf.cloud) return { OS_CLIENT_CONFIG_FILE: conf.credentials, OS_CLOUD: conf.cloud };
  let text: string;
  try {
    text = readFileSync(conf.credentials, "utf8");
  } catch (e) {
    throw new CniError(
      CODE.invalidConfig,
      `cannot read the credentials file ${conf.credentials} named by "credentials": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseOpenrc(text, conf.credentials);
}

export function agentSettings(conf: NetConf, env: NodeJS.ProcessEnv): AgentSettings {
  return {
    cred: undefined,
    vifId: conf.vifId,
    ovsdb: conf.ovsdb ?? "unix:/var/run/openvswitch/db.sock",
    bridge: conf.bridge ?? "br-vm",
    uplink: conf.uplink ?? "eth0",
    stateDir: conf.stateDir ?? "/var/lib/ovn-docker",
    engine: undefined,
    mode: conf.mode ?? "binding-profile",
    activeTimeoutMs: conf.activeTimeoutMs ?? 30_000,
    // A runtime waits for us: a missing database is reported soon, as try-again-later.
    ovsdbWaitMs: 3_000,
    // node:http, not fetch: see src/client/http-fetch.ts (bench/cni).
    fetch: httpFetch,
    env: credentialsEnv(conf, env),
  };
}
