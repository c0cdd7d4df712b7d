// An in-memory copy of the monitored tables, kept current from monitor notifications:
// rows decoded to their typed JS form, keyed by uuid, with change events for watchers.

import { EventEmitter } from "node:events";
import type { MonitorHandler, TableUpdates } from "./client.js";
import { applyDiff, type Value } from "./datum.js";
import { type ColumnType, columnSchema, type DatabaseSchema } from "./schema.js";
import { decodeRow, type Row, type TableMap } from "./transaction.js";

export type CachedRow<R> = R & { _uuid: string };

export interface CacheEvents<T extends TableMap> {
  /** One row changed: `old` is undefined for an insert, `row` undefined for a delete. */
  change: [
    table: keyof T & string,
    uuid: string,
    old: CachedRow<T[keyof T]> | undefined,
    row: CachedRow<T[keyof T]> | undefined,
  ];
  /** A batch of updates (one notification) has been applied. */
  updated: [];
  reset: [];
}

export class MonitorCache<T extends TableMap> extends EventEmitter<CacheEvents<T>> implements MonitorHandler {
  private readonly tables = new Map<string, Map<string, Row>>();

  constructor(
    private readonly schema: DatabaseSchema,
    tableNames: ReadonlyArray<keyof T & string>,
  ) {
    super();
    this.setMaxListeners(0);
    for (const t of tableNames) this.tables.set(t, new Map());
  }

  /** The rows of one monitored table, by uuid. */
  table<K extends keyof T & string>(name: K): ReadonlyMap<string, CachedRow<T[K]>> {
    const t = this.tables.get(name);
    if (!t) throw new Error(`table ${name} is not monitored by this cache`);
    return t as Map<string, CachedRow<T[K]>>;
  }

  get<K extends keyof T & string>(name: K, uuid: string): CachedRow<T[K]> | undefined {
    return this.table(name).get(uuid);
  }

  /** Rows of `name` for which `pred` holds. */
  find<K extends keyof T & string>(name: K, pred: (r: CachedRow<T[K]>) => boolean): Array<CachedRow<T[K]>> {
    const out: Array<CachedRow<T[K]>> = [];
    for (const r of this.table(name).values()) if (pred(r)) out.push(r);
    return out;
  }

  reset(): void {
    for (const t of this.tables.values()) t.clear();
    this.emit("reset");
  }

  update(updates: TableUpdates): void {
    for (const [table, rows] of Object.entries(updates)) {
      const t = this.tables.get(table);
      if (!t) continue;
      for (const [uuid, u] of Object.entries(rows)) {
        const old = t.get(uuid);
        let next: Row | undefined;
        switch (u.kind) {
          case "initial":
          case "insert":
          case "replace":
            next = {
              ...(u.kind === "replace" ? old : undefined),
              ...decodeRow(this.schema, table, u.row),
              _uuid: uuid,
            };
            break;
          case "modify": {
            next = { ...old, _uuid: uuid };
            for (const [col, diff] of Object.entries(u.diff)) {
              const type = columnSchema(this.schema, table, col).type;
              next[col] = applyDiff((old?.[col] ?? emptyOf(type)) as Value, diff, type, `${table}.${col}`);
            }
            break;
          }
          case "delete":
            next = undefined;
            break;
        }
        if (next) t.set(uuid, next);
        else t.delete(uuid);
        this.emit("change", table, uuid, old as never, next as never);
      }
    }
    this.emit("updated");
  }
}

function emptyOf(type: { value?: unknown; min: number; max: number }): Value {
  if (type.value)
    return (type as ColumnType).key.type === "string" || (type as ColumnType).key.type === "uuid"
      ? {}
      : new Map();
  if (type.max > 1) return [];
  return null;
}
