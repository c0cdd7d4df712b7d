// GET /healthz: is OVN Northbound, the service's only system of record, reachable through a
// leader? 200 when it is, 503 (same body shape, with a reason) when it is not, so that a load
// balancer or an orchestrator takes a replica that cannot write out of rotation.

import { type Static, Type } from "@sinclair/typebox";

/** What the app's health function reports about its NB connection. */
export interface NbHealth {
  connected: boolean;
  /** The remote of the current session, e.g. "tcp:10.0.0.5:6641". */
  remote?: string;
  /** Is the remote the cluster leader (or a standalone server)? Defaults to `connected`. */
  leader?: boolean;
  /** Why NB is not usable, when it is not. */
  reason?: string;
}

export type HealthCheck = () => NbHealth | Promise<NbHealth>;

export const HealthBody = Type.Object({
  status: Type.Union([Type.Literal("ok"), Type.Literal("unavailable")]),
  nb: Type.Object({
    connected: Type.Boolean(),
    remote: Type.Optional(Type.String()),
    leader: Type.Boolean(),
    reason: Type.Optional(Type.String()),
  }),
});
export type HealthBody = Static<typeof HealthBody>;

/** Asks `check` and turns its answer (or its failure) into the status and body of GET /healthz. */
export async function evaluateHealth(check: HealthCheck): Promise<{ code: 200 | 503; body: HealthBody }> {
  let h: NbHealth;
  try {
    h = await check();
  } catch (e) {
    h = { connected: false, reason: `health check failed: ${(e as Error)?.message ?? String(e)}` };
  }
  const connected = h.connected === true;
  const leader = connected && (h.leader ?? true);
  const nb: HealthBody["nb"] = { connected, leader };
  if (h.remote !== undefined) nb.remote = h.remote;
  if (connected && leader) return { code: 200, body: { status: "ok", nb } };
  nb.reason =
    h.reason ??
    (connected
      ? "connected to a Northbound server that is not the leader"
      : "not connected to OVN Northbound");
  return { code: 503, body: { status: "unavailable", nb } };
}

/** What `nbHealthOf` needs of an OVSDB client (OvsdbClient fits). */
export interface NbClientLike {
  readonly connected: boolean;
  readonly currentRemote: string | undefined;
  on(event: "disconnected", listener: (reason: Error) => void): unknown;
}

/**
 * A health function for an OVSDB client. The client only keeps a session with the leader of a
 * clustered NB (its `leaderOnly` default), so connected means a leader is known; when it is not
 * connected, the reason is the last disconnection's.
 */
export function nbHealthOf(client: NbClientLike): () => NbHealth {
  let lastReason: string | undefined;
  client.on("disconnected", (reason) => {
    lastReason = reason.message;
  });
  return () => {
    const remote = client.currentRemote;
    if (client.connected && remote !== undefined) return { connected: true, remote, leader: true };
    return { connected: false, reason: lastReason ?? "not connected to OVN Northbound yet" };
  };
}
