// A typed handle on one database of a client: transactions, one-shot selects and
// monitor-fed caches, all checked against the database's schema.

import { MonitorCache } from "./cache.js";
import type { MonitorMethod, MonitorTableRequest, OvsdbClient } from "./client.js";
import { type CoalescerOptions, TransactCoalescer } from "./coalescer.js";
import { encodeOperand } from "./datum.js";
import { columnSchema, type DatabaseSchema, tableSchema } from "./schema.js";
import { type Condition, type TableMap, Transaction } from "./transaction.js";

export type MonitorSpec<T extends TableMap> = {
  [K in keyof T & string]?:
    | true
    | { columns?: ReadonlyArray<keyof T[K] & string>; where?: ReadonlyArray<Condition<T[K]>> };
};

export interface DatabaseOptions {
  /**
   * Group commit: transactions executed while another is in flight are sent together as
   * one (see coalescer.ts). Worth it for many small concurrent writers; each caller still
   * gets its own result or error.
   */
  coalesce?: boolean | CoalescerOptions;
}

export class Database<T extends TableMap> {
  /** Present when the handle coalesces transactions. */
  readonly coalescer: TransactCoalescer | undefined;

  private constructor(
    readonly client: OvsdbClient,
    readonly schema: DatabaseSchema,
    opts: DatabaseOptions,
  ) {
    if (opts.coalesce) {
      this.coalescer = new TransactCoalescer(
        (ops, signal) => client.transact(schema.name, ops, signal),
        opts.coalesce === true ? {} : opts.coalesce,
      );
    }
  }

  /** Fetches the schema of `name` and returns a handle typed with the generated row types. */
  static async open<T extends TableMap>(
    client: OvsdbClient,
    name: string,
    opts: DatabaseOptions = {},
  ): Promise<Database<T>> {
    return new Database<T>(client, await client.getSchema(name), opts);
  }

  get name(): string {
    return this.schema.name;
  }

  transaction(): Transaction<T> {
    const c = this.coalescer;
    return new Transaction<T>(this.schema, (ops, signal) =>
      c ? c.submit(ops, signal) : this.client.transact(this.schema.name, ops, signal),
    );
  }

  /** One select in its own transaction. */
  async select<K extends keyof T & string, C extends keyof T[K] & string>(
    table: K,
    where: ReadonlyArray<Condition<T[K]>> = [],
    columns?: readonly C[],
  ) {
    const tx = this.transaction();
    const ref = tx.select(table, where, columns);
    return (await tx.execute()).rows(ref);
  }

  /** Monitors the given tables and returns a cache kept current until cancel(). */
  async monitor(
    spec: MonitorSpec<T>,
    method?: MonitorMethod,
  ): Promise<{ cache: MonitorCache<T>; method: MonitorMethod; cancel: () => Promise<void> }> {
    const tables = Object.keys(spec) as Array<keyof T & string>;
    const requests: Record<string, MonitorTableRequest> = {};
    for (const t of tables) {
      tableSchema(this.schema, t);
      const s = spec[t];
      const req: MonitorTableRequest = {};
      if (s && s !== true) {
        if (s.columns) req.columns = [...s.columns];
        if (s.where) {
          req.where = s.where.map(([col, fn, v]) => [
            col,
            fn,
            encodeOperand(v, columnSchema(this.schema, t, col).type, `${t}.${col}`),
          ]);
        }
      }
      requests[t] = req;
    }
    const columns: { [table: string]: readonly string[] | undefined } = {};
    for (const t of tables) columns[t] = requests[t]?.columns;
    const cache = new MonitorCache<T>(this.schema, columns as never);
    const m = await this.client.monitor(this.schema.name, requests, cache, method);
    return { cache, method: m.method, cancel: m.cancel };
  }
}
