// The pool: network sandboxes prepared ahead of time, per network, each with its API port (owned
// by this VM: device_owner ovn-docker:container, device_id = vif-id, name "pool") ACTIVE and its
// veth plumbed. `run` claims one with a compare-and-swap on the VM's OVSDB (no API round trip
// on its critical path) and a background `pool fill` tops the pool up again. Everything about
// the pool lives where it is visible and survives restarts: the entries are OVSDB rows + API
// ports + containers, the settings are on the bridge's external_ids.

import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Attachment, PoolSettings } from "../vswitch/vswitch.js";
import { type Agent, AgentError } from "./agent.js";
import { detach } from "./attach.js";
import { createSandbox } from "./containers.js";
import { PAUSE_SECONDS } from "./engine.js";
import { selfOwner } from "./owner.js";

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../cli/main.js");

/** Whether `pid` is a network sandbox's pause process (our pause image sleeps 2147483647 s). */
function pauseRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(PAUSE_SECONDS);
  } catch {
    return false;
  }
}

/** Claims a ready sandbox on `networkRef` (name or id), or undefined when the pool has none. */
export async function claimFromPool(agent: Agent, networkRef: string): Promise<Attachment | undefined> {
  const vs = await agent.vswitch();
  const engine = await agent.engine();
  const vifId = await agent.vifId();
  for (;;) {
    const candidates = (await vs.list()).filter(
      (a) =>
        a.state === "pool" &&
        (a.via ?? "cli") === "cli" &&
        a.vifId === vifId &&
        (a.networkId === networkRef || a.networkName === networkRef),
    );
    if (candidates.length === 0) return undefined;
    const pick = candidates[Math.floor(Math.random() * candidates.length)] as Attachment;
    if (!(await vs.update(pick.tag, { state: "attached", owner: selfOwner() }, { state: "pool" }))) continue;
    // A sandbox whose container died (engine restart) is useless: free it and try the next.
    // Its pause process still running is proof enough (a /proc read instead of an engine call).
    if (pick.pid && pauseRunning(pick.pid)) return { ...pick, state: "attached" };
    const sb = pick.container ? await engine.inspectOne(pick.container) : undefined;
    if (!sb?.running) {
      await detach(agent, vs, pick);
      if (pick.container) await engine.remove(pick.container);
      continue;
    }
    // This process stays the owner until `run` records the application container.
    return { ...pick, state: "attached" };
  }
}

export interface PoolStatus {
  network_id: string;
  network: string;
  /** Network sandboxes ready for `run`. */
  ready: number;
  /** Ports ready for ovn-cni (its configuration's "pool"). */
  cni_ready: number;
  min: number;
  max: number;
  batch: number;
}

export async function poolStatus(agent: Agent): Promise<PoolStatus[]> {
  const vs = await agent.vswitch();
  const [atts, settings] = await Promise.all([vs.list(), vs.poolSettings()]);
  const by = new Map<string, PoolStatus>();
  const entry = (id: string, name: string): PoolStatus => {
    let s = by.get(id);
    if (!s) {
      const cfg = settings.get(id);
      s = {
        network_id: id,
        network: cfg?.networkName || name,
        ready: 0,
        cni_ready: 0,
        min: cfg?.min ?? 0,
        max: cfg?.max ?? 0,
        batch: cfg?.batch ?? 0,
      };
      by.set(id, s);
    }
    return s;
  };
  for (const [id, cfg] of settings) entry(id, cfg.networkName);
  for (const a of atts) {
    if (!a.networkId) continue;
    if (a.state !== "pool") continue;
    if (a.via === "cni") entry(a.networkId, a.networkName ?? "").cni_ready++;
    else if ((a.via ?? "cli") === "cli") entry(a.networkId, a.networkName ?? "").ready++;
  }
  return [...by.values()].sort((a, b) => a.network.localeCompare(b.network));
}

/**
 * Fills the pool of a network up to `min` (never above `max`), `batch` sandboxes at a time.
 * Given settings are stored first so that later background refills use them.
 */
export async function fillPool(
  agent: Agent,
  networkRef: string,
  given: Partial<Omit<PoolSettings, "networkName">>,
): Promise<{ created: number; ready: number }> {
  const vs = await agent.vswitch();
  const net = await agent.network(networkRef);
  const stored = (await vs.poolSettings()).get(net.network.id);
  const s: PoolSettings = {
    min: given.min ?? stored?.min ?? 2,
    max: given.max ?? stored?.max ?? Math.max(given.min ?? stored?.min ?? 2, 8),
    batch: given.batch ?? stored?.batch ?? 4,
    networkName: net.network.name,
  };
  for (const [k, v] of Object.entries({ min: s.min, max: s.max, batch: s.batch })) {
    if (!Number.isInteger(v) || v < 0 || v > 4094)
      throw new AgentError(`pool --${k}: expected 0..4094, got ${v}`);
  }
  if (s.batch < 1) throw new AgentError("pool --batch: expected at least 1");
  if (s.max < s.min) throw new AgentError(`pool: --max (${s.max}) is below --min (${s.min})`);
  if (!stored || stored.min !== s.min || stored.max !== s.max || stored.batch !== s.batch) {
    await vs.setPoolSettings(net.network.id, s);
  }
  let created = 0;
  for (;;) {
    const ready = (await vs.list()).filter(
      (a) => a.state === "pool" && (a.via ?? "cli") === "cli" && a.networkId === net.network.id,
    ).length;
    const want = Math.min(s.min - ready, s.max - ready, s.batch);
    if (want <= 0) return { created, ready };
    const results = await Promise.allSettled(
      Array.from({ length: want }, () => createSandbox(agent, [net], "pool")),
    );
    const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    created += results.length - failed.length;
    if (failed.length > 0) throw failed[0]?.reason;
  }
}

/** Removes every prepared sandbox and ready CNI port (of one network, or all) and the settings. */
export async function drainPool(agent: Agent, networkRef?: string): Promise<number> {
  const vs = await agent.vswitch();
  let removed = 0;
  const settings = await vs.poolSettings();
  for (const [id, cfg] of settings) {
    if (networkRef === undefined || networkRef === id || networkRef === cfg.networkName) {
      await vs.setPoolSettings(id, null);
    }
  }
  for (const a of await vs.list()) {
    if (a.state !== "pool") continue;
    if (networkRef !== undefined && a.networkId !== networkRef && a.networkName !== networkRef) continue;
    // Claim it first, so a concurrent run cannot take it while we remove it.
    if (!(await vs.update(a.tag, { state: "detaching", owner: selfOwner() }, { state: "pool" }))) continue;
    await detach(agent, vs, a);
    // (ovn-cni's ready ports have no container; a VM may have no engine for the CLI at all)
    if (a.container) await (await agent.engine()).remove(a.container);
    removed++;
  }
  return removed;
}

/**
 * After `run` took a sandbox: a detached `ovn-docker pool fill` tops the pool up, so the next
 * `run` finds one ready. It inherits this agent's settings through the environment.
 */
export function refillInBackground(agent: Agent, networkId: string): void {
  const s = agent.settings;
  const env: NodeJS.ProcessEnv = {
    ...s.env,
    OVN_DOCKER_OVSDB: s.ovsdb,
    OVN_DOCKER_BRIDGE: s.bridge,
    OVN_DOCKER_UPLINK: s.uplink,
    OVN_DOCKER_STATE_DIR: s.stateDir,
    OVN_DOCKER_MODE: s.mode,
    OVN_DOCKER_ACTIVE_TIMEOUT_MS: String(s.activeTimeoutMs),
    ...(s.engine ? { OVN_DOCKER_ENGINE: s.engine } : {}),
    ...(s.vifId ? { OVN_DOCKER_VIF_ID: s.vifId } : {}),
    ...(s.cred ? { OS_TOKEN: s.cred } : {}),
  };
  delete env.OVN_DOCKER_FAULT;
  // Its errors go to a log in the state dir (nobody waits for it to say them).
  let log: number | "ignore" = "ignore";
  try {
    mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
    log = openSync(path.join(s.stateDir, "pool-fill.log"), "a", 0o600);
  } catch (e) {
    process.stderr.write(`ovn-docker: background pool refill will not log: ${(e as Error).message}\n`);
  }
  const child = spawn(process.execPath, [CLI, "pool", "fill", "--network", networkId, "--quiet"], {
    env,
    detached: true,
    stdio: ["ignore", log, log],
  });
  if (typeof log === "number") closeSync(log);
  child.on("error", (e) => process.stderr.write(`ovn-docker: background pool refill: ${e.message}\n`));
  child.unref();
}
