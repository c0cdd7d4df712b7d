// Keeps `pool` ports ready for ovn-cni's ADD: after an ADD that has a pool configured, a
// detached copy of the plugin (OVN_CNI_POOL_FILL = the configuration) tops the network's pool
// up, so the runtime never waits for it. One filler per network at a time (an OVSDB lock of the
// VM's database); its output goes to stateDir/cni-pool.log.

import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Agent } from "../agent/agent.js";
import { fillPorts } from "../agent/port-pool.js";
import type { NetConf } from "./config.js";

export const FILL_ENV = "OVN_CNI_POOL_FILL";
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "main.js");

export function refillInBackground(agent: Agent, conf: NetConf): void {
  const dir = agent.settings.stateDir;
  let log: number | "ignore" = "ignore";
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    log = openSync(path.join(dir, "cni-pool.log"), "a", 0o600);
  } catch (e) {
    process.stderr.write(`ovn-cni: the background pool fill will not log: ${(e as Error).message}\n`);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [FILL_ENV]: JSON.stringify({ ...conf, prevResult: undefined }),
  };
  delete env.OVN_DOCKER_FAULT;
  const child = spawn(process.execPath, [MAIN], { env, detached: true, stdio: ["ignore", log, log] });
  if (typeof log === "number") closeSync(log);
  child.on("error", (e) => process.stderr.write(`ovn-cni: background pool fill: ${e.message}\n`));
  child.unref();
}

/** The filler's work: one per network (others exit at once), up to conf.pool ready ports. */
export async function fillPool(agent: Agent, conf: NetConf): Promise<number> {
  const net = await agent.network(conf.network);
  const vs = await agent.vswitch();
  // An OVSDB lock: released by the server if this process dies.
  const lock = `ovn_cni_pool_${net.network.id.replaceAll("-", "_")}`;
  if (!(await vs.lock(lock, 0))) return 0; // another filler is at it
  try {
    return await fillPorts(agent, net, "cni", conf.pool);
  } finally {
    await vs.unlock(lock);
  }
}
