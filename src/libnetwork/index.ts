// `ovn-docker driver`: Docker's remote network driver and IPAM driver "ovn" on one unix socket
// (default /run/docker/plugins/ovn.sock, where dockerd finds plugins by name). Both are thin
// front ends over the VM agent core; the driver keeps nothing in memory that a restart would lose.

import type { Agent } from "../agent/agent.js";
import { gc } from "../agent/gc.js";
import { IpamDriver } from "./ipam-driver.js";
import { NetworkDriver } from "./network-driver.js";
import { type Handler, jsonLogger, type Logger, type PluginServer, servePlugin } from "./protocol.js";

export const DEFAULT_SOCKET = "/run/docker/plugins/ovn.sock";

/** How old a port with no endpoint must be before the driver takes it apart (default 5 min). */
export const DEFAULT_UNCLAIMED_MS = 300_000;
const SWEEP_EVERY_MS = 60_000;

export interface DriverOptions {
  socket?: string;
  log?: Logger;
  /** See IpamDriver.releaseUnclaimed; checked at start and every minute. */
  unclaimedMs?: number;
}

/** The whole call table: Plugin.Activate, NetworkDriver.*, IpamDriver.*. */
export function driverHandlers(
  agent: Agent,
  log: Logger,
  ipam = new IpamDriver(agent, log),
): Record<string, Handler> {
  return {
    "/Plugin.Activate": () => ({ Implements: ["NetworkDriver", "IpamDriver"] }),
    ...new NetworkDriver(agent, log).handlers(),
    ...ipam.handlers(),
  };
}

/**
 * Starts serving. Half-done work of processes that died (a driver killed in the middle of a
 * call, a CLI run) is taken apart first, as `ovn-docker gc --cheap` does.
 */
export async function startDriver(agent: Agent, opts: DriverOptions = {}): Promise<PluginServer> {
  const log = opts.log ?? jsonLogger();
  const socket = opts.socket ?? DEFAULT_SOCKET;
  const ipam = new IpamDriver(agent, log);
  const unclaimedMs = opts.unclaimedMs ?? DEFAULT_UNCLAIMED_MS;
  const sweep = async () => {
    try {
      await ipam.releaseUnclaimed(unclaimedMs);
    } catch (e) {
      log.error("releasing unclaimed addresses failed (will try again)", { err: (e as Error).message });
    }
  };
  try {
    const r = await gc(agent, { cheap: true });
    for (const a of r.attachments) log.info("gc", { vlan: a.tag, reason: a.reason });
  } catch (e) {
    log.error("gc at start failed (continuing)", { err: (e as Error).message });
  }
  await sweep();
  const server = await servePlugin(socket, driverHandlers(agent, log, ipam), log);
  const timer = setInterval(() => void sweep(), SWEEP_EVERY_MS);
  timer.unref();
  return {
    socket: server.socket,
    close: async () => {
      clearInterval(timer);
      await server.close();
    },
  };
}

/** Serves until SIGTERM or SIGINT, then removes the socket and returns. */
export async function runDriver(agent: Agent, opts: DriverOptions = {}): Promise<void> {
  const log = opts.log ?? jsonLogger();
  const server = await startDriver(agent, { ...opts, log });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info("stopping", { signal });
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      resolve();
    };
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  });
  await server.close();
  log.info("stopped", { socket: server.socket });
}
