// The OVSDB client: one live JSON-RPC session at a time to one of a list of remotes,
// re-established with backoff when it drops. For a clustered database it only settles on
// the leader (it reads the `_Server` database's Database row, as ovsdb-server(7) describes)
// and keeps watching that row, so it moves to the new leader when leadership changes.
// Monitors and locks are re-established on every new session. Requests made while no
// session is up wait a bounded time for one and then fail with a clear error.

import { EventEmitter, once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { formatRemote, openStream, parseRemotes, type Remote, type TlsFiles } from "./remote.js";
import { ConnectionClosedError, OvsdbRpcError, RpcConnection } from "./rpc.js";
import { type DatabaseSchema, parseSchema } from "./schema.js";

export interface ClientOptions {
  /** One remote, a comma-separated list, or an array (all members of a cluster). */
  remotes: string | readonly string[];
  /** The database this client is for: with a clustered database, connect to its leader only. */
  database?: string;
  /** Accept only the cluster leader for `database` (default true, like ovn-nbctl). */
  leaderOnly?: boolean;
  /** Echo probe after this much silence, disconnect after as much again (default 5000; 0 disables). */
  keepaliveMs?: number;
  /** Per connection attempt (default 2000). */
  connectTimeoutMs?: number;
  /** Delay between full passes over the remotes: starts at initialMs and doubles up to maxMs. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long a request made while disconnected waits for a session (default 10000; 0 fails at once). */
  waitForConnectionMs?: number;
  /** How long connect() waits for the first session (default 10000). */
  initialWaitMs?: number;
  tls?: TlsFiles;
  /** Receives one line per connection event. */
  log?: (line: string) => void;
  /**
   * Told of every transact: its duration and how it ended ("ok"; "conflict" when a wait
   * guard failed, i.e. an operation answered "timed out"; "error" for any other failure).
   */
  observeTransaction?: (seconds: number, outcome: "ok" | "conflict" | "error") => void;
}

export class NotConnectedError extends Error {
  override name = "NotConnectedError";
}

/** One table's monitor request, already encoded (RFC 7047 4.1.5 / ovsdb-server(7) monitor_cond). */
export interface MonitorTableRequest {
  columns?: string[];
  where?: unknown[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}

/** A row change, normalised from update / update2 / update3 notifications. */
export type RowUpdate =
  | { kind: "initial" | "insert"; row: Record<string, unknown> }
  | { kind: "modify"; diff: Record<string, unknown> }
  | { kind: "replace"; row: Record<string, unknown> }
  | { kind: "delete" };

export type TableUpdates = Record<string, Record<string, RowUpdate>>;

export interface MonitorHandler {
  /** The next updates describe the whole monitored state: forget what you had. */
  reset(): void;
  update(updates: TableUpdates): void;
}

export type MonitorMethod = "monitor" | "monitor_cond" | "monitor_cond_since";

interface ActiveMonitor {
  id: string;
  db: string;
  requests: Record<string, MonitorTableRequest>;
  handler: MonitorHandler;
  method: MonitorMethod;
  lastTxnId: string | undefined;
}

export interface ClientEvents {
  connected: [remote: string];
  disconnected: [reason: Error];
  locked: [lock: string];
  stolen: [lock: string];
}

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";
const SERVER_MONITOR_ID = "ovn-docker:_Server";

export class OvsdbClient extends EventEmitter<ClientEvents> {
  readonly remotes: Remote[];
  private readonly opts: Required<
    Omit<ClientOptions, "tls" | "log" | "database" | "remotes" | "observeTransaction">
  > &
    ClientOptions;
  private conn: RpcConnection | undefined;
  private closing = false;
  private lastError: Error | undefined;
  private remoteIndex = 0;
  private readonly schemas = new Map<string, DatabaseSchema>();
  private readonly monitors = new Map<string, ActiveMonitor>();
  private readonly locks = new Set<string>();
  private nextMonitor = 1;
  private loop: Promise<void> | undefined;
  /** Sessions established so far (1 after the first connection; more after reconnects). */
  sessions = 0;

  private constructor(opts: ClientOptions) {
    super();
    this.remotes = parseRemotes(opts.remotes);
    this.opts = {
      leaderOnly: true,
      keepaliveMs: 5000,
      connectTimeoutMs: 2000,
      backoff: {},
      waitForConnectionMs: 10000,
      initialWaitMs: 10000,
      ...opts,
    };
  }

  /** Connects (following the leader if clustered); rejects if no remote is usable within waitForConnectionMs. */
  static async connect(opts: ClientOptions): Promise<OvsdbClient> {
    const c = new OvsdbClient(opts);
    c.loop = c.runLoop();
    try {
      await c.connection(c.opts.initialWaitMs);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  /** The remote of the current session, if any. */
  get currentRemote(): string | undefined {
    return this.connected ? this.conn?.remote : undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.conn?.close(new ConnectionClosedError("client closed"));
    this.emit("disconnected", new ConnectionClosedError("client closed"));
    await this.loop;
  }

  // ------------------------------------------------------------ RFC 7047 methods

  async listDbs(): Promise<string[]> {
    return (await this.call("list_dbs", [])) as string[];
  }

  async getSchema(db: string): Promise<DatabaseSchema> {
    const cached = this.schemas.get(db);
    if (cached) return cached;
    const s = parseSchema(await this.call("get_schema", [db]));
    this.schemas.set(db, s);
    return s;
  }

  /** Raw transact: operations as RFC 7047 JSON; resolves with the result array. */
  async transact(db: string, ops: unknown[], signal?: AbortSignal): Promise<unknown[]> {
    const conn = await this.connection();
    signal?.throwIfAborted();
    const { id, promise } = conn.requestWithId("transact", [db, ...ops]);
    const onAbort = () => conn.cancel(id);
    signal?.addEventListener("abort", onAbort, { once: true });
    const started = process.hrtime.bigint();
    const observe = this.opts.observeTransaction;
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await promise;
      if (!Array.isArray(result))
        throw new OvsdbRpcError("transact", `malformed reply ${JSON.stringify(result)}`, conn.remote);
      if (observe) {
        const errors = result.flatMap((r) =>
          r && typeof r === "object" && "error" in r ? [(r as { error: unknown }).error] : [],
        );
        observe(seconds(), errors.length === 0 ? "ok" : errors.includes("timed out") ? "conflict" : "error");
      }
      return result;
    } catch (e) {
      observe?.(seconds(), "error");
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async echo(...params: unknown[]): Promise<unknown[]> {
    return (await this.call("echo", params)) as unknown[];
  }

  /**
   * Starts a monitor; `handler` sees the initial rows now and every change after, including
   * a reset() and the full state again whenever the session is re-established (unless the
   * server can replay what was missed, with monitor_cond_since).
   */
  async monitor(
    db: string,
    requests: Record<string, MonitorTableRequest>,
    handler: MonitorHandler,
    method: MonitorMethod = "monitor_cond_since",
  ): Promise<{ id: string; method: MonitorMethod; cancel: () => Promise<void> }> {
    const m: ActiveMonitor = {
      id: `m${this.nextMonitor++}`,
      db,
      requests,
      handler,
      method,
      lastTxnId: undefined,
    };
    const conn = await this.connection();
    await this.startMonitor(conn, m);
    this.monitors.set(m.id, m);
    return { id: m.id, method: m.method, cancel: () => this.cancelMonitor(m.id) };
  }

  async cancelMonitor(id: string): Promise<void> {
    if (!this.monitors.delete(id)) return;
    if (this.connected) await this.call("monitor_cancel", [id]);
  }

  /** Asks for a lock; true if granted now, else a "locked" event follows when it is. */
  async lock(name: string): Promise<boolean> {
    checkLockName(name);
    // A lock asked for before (held, waited for, or stolen from us) must be released first.
    if (this.locks.has(name)) await this.call("unlock", [name]);
    this.locks.add(name);
    const r = (await this.call("lock", [name])) as { locked?: boolean };
    return r.locked === true;
  }

  async steal(name: string): Promise<boolean> {
    checkLockName(name);
    // Likewise, ovsdb-server wants a pending "lock" withdrawn before a "steal".
    if (this.locks.has(name)) await this.call("unlock", [name]);
    this.locks.add(name);
    const r = (await this.call("steal", [name])) as { locked?: boolean };
    return r.locked === true;
  }

  async unlock(name: string): Promise<void> {
    this.locks.delete(name);
    await this.call("unlock", [name]);
  }

  /** Any method, on the current session. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    const conn = await this.connection();
    return conn.request(method, params);
  }

  // ------------------------------------------------------------ session management

  /** The current session, waiting up to waitForConnectionMs for one. */
  private async connection(wait = this.opts.waitForConnectionMs): Promise<RpcConnection> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.closing) throw new NotConnectedError("OVSDB client is closed");
    if (wait > 0) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), wait);
      try {
        await once(this, "connected", { signal: ac.signal });
        if (this.conn && !this.conn.closed) return this.conn;
      } catch {
        // timed out: report below with the last connection error
      } finally {
        clearTimeout(timer);
      }
    }
    const remotes = this.remotes.map(formatRemote).join(",");
    throw new NotConnectedError(
      `no OVSDB session to ${remotes}${this.opts.database ? ` (${this.opts.database})` : ""}` +
        `${wait > 0 ? ` after ${wait} ms` : ""}: ${this.lastError?.message ?? "not connected yet"}`,
    );
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private async runLoop(): Promise<void> {
    const initial = this.opts.backoff.initialMs ?? 100;
    const max = this.opts.backoff.maxMs ?? 4000;
    let delay = initial;
    while (!this.closing) {
      let established = false;
      for (let n = 0; n < this.remotes.length && !this.closing; n++) {
        const i = (this.remoteIndex + n) % this.remotes.length;
        const remote = this.remotes[i] as Remote;
        let conn: RpcConnection;
        try {
          conn = await this.establish(remote);
        } catch (e) {
          this.lastError = e as Error;
          this.log(`ovsdb: ${(e as Error).message}`);
          continue;
        }
        if (this.closing) {
          conn.close();
          break;
        }
        established = true;
        this.remoteIndex = i;
        this.conn = conn;
        this.sessions++;
        delay = initial;
        this.log(`ovsdb: connected to ${conn.remote}`);
        const closed = once(conn, "close");
        this.emit("connected", conn.remote);
        const [reason] = (await closed) as [Error];
        this.lastError = reason;
        this.log(`ovsdb: ${reason.message}`);
        if (!this.closing) this.emit("disconnected", reason);
        // Try the other members first: the one we lost is the least likely to be leader now.
        this.remoteIndex = (i + 1) % this.remotes.length;
        break;
      }
      if (!established && !this.closing) {
        await sleep(delay);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  /** Opens a session to one remote, checks it is usable (leader), and restores monitors and locks. */
  private async establish(remote: Remote): Promise<RpcConnection> {
    const stream = await openStream(remote, this.opts.connectTimeoutMs, this.opts.tls);
    const conn = new RpcConnection(stream, {
      remote: formatRemote(remote),
      keepaliveMs: this.opts.keepaliveMs,
    });
    conn.on("notification", (method, params) => this.onNotification(conn, method, params));
    try {
      const db = this.opts.database;
      if (db && this.opts.leaderOnly) await this.checkLeader(conn, db);
      for (const m of this.monitors.values()) await this.startMonitor(conn, m);
      for (const l of this.locks) {
        const r = (await conn.request("lock", [l])) as { locked?: boolean };
        if (r.locked) this.emit("locked", l);
      }
      return conn;
    } catch (e) {
      conn.close(e as Error);
      throw e;
    }
  }

  /** Reads _Server.Database for `db`; refuses a follower or a disconnected member, then watches the row. */
  private async checkLeader(conn: RpcConnection, db: string): Promise<void> {
    const where = [["name", "==", db]];
    const columns = ["name", "model", "connected", "leader"];
    let reply: unknown;
    try {
      reply = await conn.request("monitor_cond", [
        "_Server",
        SERVER_MONITOR_ID,
        {
          Database: [{ where, columns, select: { initial: true, insert: true, delete: true, modify: true } }],
        },
      ]);
    } catch (e) {
      // Servers older than the _Server database (OVS < 2.9) are standalone: nothing to check.
      if (e instanceof OvsdbRpcError && /unknown database/.test(e.message)) return;
      throw e;
    }
    const rows = Object.values(
      ((reply as TableUpdates2Wire).Database ?? {}) as Record<string, { initial?: ServerDbRow }>,
    );
    const row = rows[0]?.initial;
    if (!row) throw new NotConnectedError(`${conn.remote} does not serve database ${db}`);
    if (row.model === "clustered" && (!row.leader || !row.connected)) {
      throw new NotConnectedError(
        `${conn.remote} is not the leader of ${db} (${row.connected ? "follower" : "not connected to its cluster"})`,
      );
    }
  }

  private async startMonitor(conn: RpcConnection, m: ActiveMonitor): Promise<void> {
    const requests: Record<string, unknown> = {};
    for (const [t, r] of Object.entries(m.requests)) {
      if (m.method === "monitor") {
        const { where: _w, ...rest } = r;
        requests[t] = rest;
      } else requests[t] = [r];
    }
    for (;;) {
      try {
        if (m.method === "monitor_cond_since") {
          const reply = (await conn.request(m.method, [m.db, m.id, requests, m.lastTxnId ?? ZERO_UUID])) as [
            boolean,
            string,
            TableUpdates2Wire,
          ];
          const [found, lastTxnId, updates] = reply;
          if (!found) m.handler.reset();
          m.lastTxnId = lastTxnId;
          m.handler.update(normalizeUpdate2(updates));
        } else {
          const reply = (await conn.request(m.method, [m.db, m.id, requests])) as TableUpdates2Wire;
          m.handler.reset();
          m.handler.update(m.method === "monitor" ? normalizeUpdate1(reply) : normalizeUpdate2(reply));
        }
        return;
      } catch (e) {
        // Fall back for servers that do not know the newer methods.
        if (e instanceof OvsdbRpcError && /unknown method/i.test(e.message) && m.method !== "monitor") {
          m.method = m.method === "monitor_cond_since" ? "monitor_cond" : "monitor";
          continue;
        }
        throw e;
      }
    }
  }

  private onNotification(conn: RpcConnection, method: string, params: unknown[]): void {
    if (method === "update2" && params[0] === SERVER_MONITOR_ID) {
      // The watched _Server row changed: leave if this member is no longer a usable leader.
      for (const u of Object.values(
        ((params[1] as TableUpdates2Wire).Database ?? {}) as Record<string, unknown>,
      )) {
        const mod = (u as { modify?: ServerDbRow }).modify;
        if (
          u &&
          ("delete" in (u as object) || (mod && (mod.leader !== undefined || mod.connected !== undefined)))
        ) {
          conn.close(
            new ConnectionClosedError(`${conn.remote} is no longer the leader of ${this.opts.database}`),
          );
        }
      }
      return;
    }
    if (method === "update" || method === "update2" || method === "update3") {
      const m = this.monitors.get(String(params[0]));
      if (!m) return;
      if (method === "update3") m.lastTxnId = params[1] as string;
      const wire = (method === "update3" ? params[2] : params[1]) as TableUpdates2Wire;
      m.handler.update(method === "update" ? normalizeUpdate1(wire) : normalizeUpdate2(wire));
      return;
    }
    if (method === "locked") this.emit("locked", String(params[0]));
    else if (method === "stolen") this.emit("stolen", String(params[0]));
  }
}

/** ovsdb-server takes lock names that are ids: letters, digits and underscores, not starting with a digit. */
function checkLockName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(
      `invalid lock name "${name}": use letters, digits and _ (ovsdb-server refuses anything else)`,
    );
  }
}

interface ServerDbRow {
  name?: string;
  model?: string;
  connected?: boolean;
  leader?: boolean;
}

type TableUpdates2Wire = Record<string, Record<string, unknown>>;

function normalizeUpdate2(wire: TableUpdates2Wire): TableUpdates {
  const out: TableUpdates = {};
  for (const [table, rows] of Object.entries(wire ?? {})) {
    const t: Record<string, RowUpdate> = {};
    for (const [uuid, u] of Object.entries(rows)) {
      const x = u as Record<string, Record<string, unknown>>;
      if (x.initial) t[uuid] = { kind: "initial", row: x.initial };
      else if (x.insert) t[uuid] = { kind: "insert", row: x.insert };
      else if (x.modify) t[uuid] = { kind: "modify", diff: x.modify };
      else if ("delete" in x) t[uuid] = { kind: "delete" };
    }
    out[table] = t;
  }
  return out;
}

function normalizeUpdate1(wire: TableUpdates2Wire): TableUpdates {
  const out: TableUpdates = {};
  for (const [table, rows] of Object.entries(wire ?? {})) {
    const t: Record<string, RowUpdate> = {};
    for (const [uuid, u] of Object.entries(rows)) {
      const x = u as { old?: Record<string, unknown>; new?: Record<string, unknown> };
      if (x.new && !x.old) t[uuid] = { kind: "insert", row: x.new };
      else if (x.new) t[uuid] = { kind: "replace", row: x.new };
      else t[uuid] = { kind: "delete" };
    }
    out[table] = t;
  }
  return out;
}
