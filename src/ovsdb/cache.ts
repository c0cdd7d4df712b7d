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

  /** Per table, the value of every monitored column in a row that omits it (its default). */
  private readonly defaults = new Map<string, Row>();

  /** `tables` maps each monitored table to its monitored columns (undefined: all of them). */
  constructor(
    private readonly schema: DatabaseSchema,
    tables: { [K in keyof T & string]?: readonly string[] | undefined },
  ) {
    super();
    this.setMaxListeners(0);
    for (const [t, cols] of Object.entries(tables) as Array<[string, readonly string[] | undefined]>) {
      this.tables.set(t, new Map());
      const names = cols ?? Object.keys(schema.tables[t]?.columns ?? {});
      const d: Row = {};
      for (const c of names) d[c] = defaultValue(columnSchema(schema, t, c).type);
      this.defaults.set(t, d);
    }
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
            // update2 leaves out the columns that hold their default value.
            next = { ...this.defaults.get(table), ...decodeRow(this.schema, table, u.row), _uuid: uuid };
            break;
          case "replace":
            next = { ...old, ...decodeRow(this.schema, table, u.row), _uuid: uuid };
            break;
          case "modify": {
            next = { ...old, _uuid: uuid };
            for (const [col, diff] of Object.entries(u.diff)) {
              const type = columnSchema(this.schema, table, col).type;
              next[col] = applyDiff(
                (old?.[col] ?? defaultValue(type)) as Value,
                diff,
                type,
                `${table}.${col}`,
              );
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

/** The OVSDB default of a column (RFC 7047 5.1): empty set or map, or the atom type's zero. */
function defaultValue(type: ColumnType): Value {
  if (type.value) return type.key.type === "string" || type.key.type === "uuid" ? {} : new Map();
  if (type.min === 0) return type.max > 1 ? [] : null;
  if (type.max > 1) return [];
  switch (type.key.type) {
    case "integer":
    case "real":
      return 0;
    case "boolean":
      return false;
    case "string":
      return "";
    case "uuid":
      return "00000000-0000-0000-0000-000000000000";
  }
}
