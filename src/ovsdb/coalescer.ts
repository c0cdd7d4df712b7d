// Group commit for OVSDB transactions. ovsdb-server's cost is mostly per transaction (a
// transaction that adds one port to a switch with 10,000 ports costs about as much as one
// that adds a hundred), so transactions submitted while an earlier one is in flight are
// sent together as one transaction when it returns.
//
// Merging keeps every caller's guarantees: each caller's operations stay together and in
// order, and the merged transaction is atomic, so it is the same as running the callers'
// transactions one after the other. If the merged transaction fails, nothing of it was
// committed (OVSDB transactions are atomic), so each caller's transaction is sent again on
// its own and gets its own result or error. A lost connection fails every caller of the
// merged transaction: whether it committed is unknown, so it is not retried.

type Op = Record<string, unknown>;
export type SendOps = (ops: Op[], signal?: AbortSignal) => Promise<unknown[]>;

interface Entry {
  ops: Op[];
  resolve: (r: unknown[]) => void;
  reject: (e: Error) => void;
}

export interface CoalescerOptions {
  /** Merged transactions in flight at once (default 1: maximal merging). */
  maxInFlight?: number;
  /** Upper bound of operations in one merged transaction (default 4096). */
  maxOps?: number;
}

export interface CoalescerStats {
  /** Transactions callers submitted. */
  submitted: number;
  /** Transactions sent to the server (merged ones count once). */
  sent: number;
  /** Merged transactions that failed and were re-sent one caller at a time. */
  split: number;
}

export class TransactCoalescer {
  private readonly queue: Entry[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxOps: number;
  readonly stats: CoalescerStats = { submitted: 0, sent: 0, split: 0 };

  constructor(
    private readonly send: SendOps,
    opts: CoalescerOptions = {},
  ) {
    this.maxInFlight = opts.maxInFlight ?? 1;
    this.maxOps = opts.maxOps ?? 4096;
  }

  submit(ops: Op[], signal?: AbortSignal): Promise<unknown[]> {
    this.stats.submitted++;
    // A cancellable transaction or one that may block the server (wait with a timeout)
    // cannot share a transaction with others: it goes alone.
    if (signal || ops.some((o) => o.op === "wait" && o.timeout !== 0)) {
      this.stats.sent++;
      return this.send(ops, signal);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch: Entry[] = [];
      let n = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as Entry;
        if (batch.length > 0 && n + next.ops.length > this.maxOps) break;
        batch.push(next);
        n += next.ops.length;
        this.queue.shift();
      }
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Entry[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0] as Entry;
      this.stats.sent++;
      await this.send(only.ops).then(only.resolve, only.reject);
      return;
    }
    const merged: Op[] = [];
    const ranges: Array<[number, number]> = [];
    for (const [i, e] of batch.entries()) {
      const start = merged.length;
      for (const op of e.ops) merged.push(renameNamedUuids(op, `_c${i}`) as Op);
      ranges.push([start, merged.length]);
    }
    const { ops: fused, slot } = fuseSetInserts(merged);
    let sent: unknown[];
    try {
      this.stats.sent++;
      sent = await this.send(fused);
    } catch (e) {
      for (const x of batch) x.reject(e as Error);
      return;
    }
    if (sent.some(isError)) {
      // Nothing was committed: give every caller its own transaction and its own answer.
      this.stats.split++;
      await Promise.all(
        batch.map((x) => {
          this.stats.sent++;
          return this.send(x.ops).then(x.resolve, x.reject);
        }),
      );
      return;
    }
    const results = slot.map((j) => sent[j]);
    for (const [i, x] of batch.entries()) {
      const [start, end] = ranges[i] as [number, number];
      x.resolve(results.slice(start, end));
    }
  }
}

/**
 * Merged callers often each end with the same mutation, e.g. every "add a port" inserts its
 * new port into the same switch's `ports`. ovsdb-server copies the whole set for each such
 * mutate, so N of them on a 10,000-element set dominate the transaction. Fuses a
 * single-column set "insert" mutate into a later identical one (same table, where and column)
 * when no operation in between touches that table, so the move changes nothing any operation
 * can observe; both report the later one's count, which is the same rows. Returns the
 * operations to send and, per original operation, the index of its result.
 */
export function fuseSetInserts(ops: readonly Op[]): { ops: Op[]; slot: number[] } {
  const keyOf = (op: Op): string | undefined => {
    const m = op.mutations;
    if (op.op !== "mutate" || !Array.isArray(m) || m.length !== 1) return undefined;
    const [col, mutator] = m[0] as [unknown, unknown, unknown];
    return mutator === "insert" ? JSON.stringify([op.table, op.where, col]) : undefined;
  };
  const out: Array<Op | undefined> = ops.map((op) => op);
  const target = ops.map((_, i) => i);
  const open = new Map<string, number>(); // fusible key -> index of the latest such mutate
  for (const [j, op] of ops.entries()) {
    const key = keyOf(op);
    if (typeof op.table === "string") {
      // Anything else on this table ends the chance to fuse earlier mutates across it.
      for (const [k, i] of open) if ((ops[i] as Op).table === op.table && k !== key) open.delete(k);
    }
    if (!key) continue;
    const i = open.get(key);
    if (i !== undefined) {
      const prev = out[i] as Op;
      out[j] = {
        ...op,
        mutations: [
          [...((op.mutations as unknown[][])[0]?.slice(0, 2) ?? []), unionSets(setValue(prev), setValue(op))],
        ],
      };
      out[i] = undefined;
      for (let x = 0; x < target.length; x++) if (target[x] === i) target[x] = j;
    }
    open.set(key, j);
  }
  const index = new Map<number, number>();
  const sent: Op[] = [];
  for (const [i, op] of out.entries()) {
    if (op) {
      index.set(i, sent.length);
      sent.push(op);
    }
  }
  return { ops: sent, slot: target.map((t) => index.get(t) as number) };
}

function setValue(op: Op): unknown[] {
  const v = ((op.mutations as unknown[][])[0] as unknown[])[2];
  return Array.isArray(v) && v.length === 2 && v[0] === "set" && Array.isArray(v[1]) ? v[1] : [v];
}

function unionSets(a: unknown[], b: unknown[]): unknown {
  const seen = new Set<string>();
  const all: unknown[] = [];
  for (const x of [...a, ...b]) {
    const k = JSON.stringify(x);
    if (!seen.has(k)) {
      seen.add(k);
      all.push(x);
    }
  }
  return ["set", all];
}

function isError(r: unknown): boolean {
  return r !== null && typeof r === "object" && typeof (r as { error?: unknown }).error === "string";
}

/** Gives every uuid-name in an operation, and every ["named-uuid", …] reference, a suffix. */
function renameNamedUuids(v: unknown, suffix: string): unknown {
  if (Array.isArray(v)) {
    if (v.length === 2 && v[0] === "named-uuid" && typeof v[1] === "string")
      return ["named-uuid", v[1] + suffix];
    return v.map((x) => renameNamedUuids(x, suffix));
  }
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === "uuid-name" && typeof x === "string" ? x + suffix : renameNamedUuids(x, suffix);
    }
    return out;
  }
  return v;
}
