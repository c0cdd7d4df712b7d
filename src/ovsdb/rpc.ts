// One JSON-RPC 1.0 session over one OVSDB stream (RFC 7047 section 4): requests with
// replies matched by id, notifications both ways, the server's "echo" answered, and our own
// echo sent as a keepalive when the stream has been silent, so that a dead peer is noticed.
// When the stream ends, every request still waiting fails at once with an error that names
// the remote and the method: nothing hangs.

import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { JsonStreamFramer } from "./framing.js";

export class OvsdbRpcError extends Error {
  override name = "OvsdbRpcError";
  constructor(
    readonly method: string,
    readonly error: unknown,
    remote: string,
  ) {
    super(`${method} on ${remote} failed: ${describeRpcError(error)}`);
  }
}

export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
}

export function describeRpcError(error: unknown): string {
  if (typeof error === "string") return error;
  if (error && typeof error === "object") {
    const e = error as { error?: unknown; details?: unknown };
    if (typeof e.error === "string") return e.details ? `${e.error}: ${String(e.details)}` : e.error;
  }
  return JSON.stringify(error);
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface RpcOptions {
  /** Name of the remote, for messages. */
  remote: string;
  /** Send an echo after this many ms of silence, and give up after as many more (0: never). */
  keepaliveMs?: number;
}

export interface RpcEvents {
  notification: [method: string, params: unknown[]];
  close: [reason: Error];
}

export class RpcConnection extends EventEmitter<RpcEvents> {
  readonly remote: string;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new JsonStreamFramer();
  private closedWith: Error | undefined;
  private lastRx = Date.now();
  private probeSentAt = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Duplex,
    opts: RpcOptions,
  ) {
    super();
    this.remote = opts.remote;
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("error", (e) =>
      this.close(new ConnectionClosedError(`connection to ${this.remote} failed: ${e.message}`)),
    );
    stream.on("close", () =>
      this.close(new ConnectionClosedError(`connection to ${this.remote} closed by the peer`)),
    );
    const ka = opts.keepaliveMs ?? 5000;
    if (ka > 0) {
      this.keepaliveTimer = setInterval(() => this.probe(ka), Math.max(10, Math.floor(ka / 2)));
      this.keepaliveTimer.unref();
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Number of requests waiting for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends a request and resolves with its result, or rejects with the server's error. */
  request(method: string, params: unknown[]): Promise<unknown> {
    return this.requestWithId(method, params).promise;
  }

  /** Like request, but also gives the id (for "cancel" of a pending transact). */
  requestWithId(method: string, params: unknown[]): { id: number; promise: Promise<unknown> } {
    const id = this.nextId++;
    const promise = new Promise<unknown>((resolve, reject) => {
      if (this.closedWith) {
        reject(new ConnectionClosedError(`${method} not sent: ${this.closedWith.message}`));
        return;
      }
      this.pending.set(id, { method, resolve, reject });
      this.write({ method, params, id });
    });
    return { id, promise };
  }

  /**
   * Cancels a pending request (RFC 7047 4.1.4). ovsdb-server drops a canceled transact
   * without replying, so the request fails here at once and a late reply is ignored.
   */
  cancel(id: number, reason = "canceled by the caller"): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.notify("cancel", [id]);
    p.reject(new OvsdbRpcError(p.method, `canceled: ${reason}`, this.remote));
  }

  notify(method: string, params: unknown[]): void {
    if (!this.closedWith) this.write({ method, params, id: null });
  }

  close(reason: Error = new ConnectionClosedError(`connection to ${this.remote} closed`)): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.stream.destroy();
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      p.reject(new ConnectionClosedError(`${p.method} got no reply: ${reason.message}`));
    }
    this.emit("close", reason);
  }

  private corked = false;

  /** Messages written in the same tick leave in one write (16 requests in flight: one syscall). */
  private write(msg: unknown): void {
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(JSON.stringify(msg));
  }

  private probe(keepaliveMs: number): void {
    const now = Date.now();
    if (now - this.lastRx < keepaliveMs) return;
    if (this.probeSentAt === 0) {
      this.probeSentAt = now;
      this.requestWithId("echo", ["keepalive"]).promise.catch(() => {
        // A failed probe means the connection closed; close() already reported why.
      });
      return;
    }
    if (now - this.probeSentAt >= keepaliveMs) {
      this.close(
        new ConnectionClosedError(
          `${this.remote} sent nothing for ${now - this.lastRx} ms (no reply to echo)`,
        ),
      );
    }
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    this.probeSentAt = 0;
    let messages: unknown[];
    try {
      messages = this.framer.push(chunk);
    } catch (e) {
      this.close(new ConnectionClosedError(`protocol error from ${this.remote}: ${(e as Error).message}`));
      return;
    }
    for (const m of messages) this.dispatch(m);
  }

  private dispatch(m: unknown): void {
    if (typeof m !== "object" || m === null) return;
    const msg = m as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof msg.method === "string") {
      const params = Array.isArray(msg.params) ? msg.params : [];
      if (msg.id !== null && msg.id !== undefined) {
        // A request from the server: only "echo" is defined (RFC 7047 4.1.11).
        if (msg.method === "echo") this.write({ result: params, error: null, id: msg.id });
        else this.write({ result: null, error: `unknown method ${msg.method}`, id: msg.id });
        return;
      }
      this.emit("notification", msg.method, params);
      return;
    }
    if (typeof msg.id !== "number") return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error !== null && msg.error !== undefined)
      p.reject(new OvsdbRpcError(p.method, msg.error, this.remote));
    else p.resolve(msg.result);
  }
}
