// A transaction builder whose calls read like the RFC 7047 operations they produce:
//
//   const tx = nb.transaction();
//   const ls = tx.insert("Logical_Switch", { name: "LS1" });            // -> NamedUuid
//   tx.mutate("Logical_Switch", [["name", "==", "mgmt"]], [["ports", "insert", [port]]]);
//   const found = tx.select("Logical_Switch_Port", [["tag", "==", 10]], ["name"]);
//   const r = await tx.execute();
//   r.uuid(ls); r.rows(found); r.count(updated);
//
// Values are checked and encoded against the schema before anything is sent, so a bad
// value is an error that names the table and column, and the server sees nothing.

import {
  type Atom,
  DatumError,
  decodeAtom,
  decodeDatum,
  encodeDatum,
  encodeOperand,
  NamedUuid,
} from "./datum.js";
import { type ColumnType, columnSchema, type DatabaseSchema, tableSchema } from "./schema.js";

export type Row = Record<string, unknown>;
export type TableMap = { [table: string]: Row };

/** A row to write: every column optional, a NamedUuid allowed wherever a uuid goes. */
export type WritableRow<R> = {
  [K in keyof R as K extends `_${string}` ? never : K]?: Writable<R[K]>;
};
type Writable<V> = V extends string
  ? V | NamedUuid
  : V extends Array<infer E>
    ? Array<Writable<E>> | ReadonlySet<Writable<E>>
    : V extends Map<infer K, infer X>
      ? Map<Writable<K>, Writable<X>>
      : V extends Record<string, infer X>
        ? Record<string, Writable<X>>
        : V;

export type ConditionFunction = "==" | "!=" | "<" | "<=" | ">" | ">=" | "includes" | "excludes";
export type Condition<R> = readonly [
  column: (keyof R & string) | "_uuid",
  fn: ConditionFunction,
  value: unknown,
];
export type Mutator = "+=" | "-=" | "*=" | "/=" | "%=" | "insert" | "delete";
export type Mutation<R> = readonly [column: keyof R & string, mutator: Mutator, value: unknown];

/** A handle on one operation of a transaction, to read its result after execute(). */
export class OpRef<T> {
  declare readonly _type: T;
  constructor(readonly index: number) {}
}

export class TransactionError extends Error {
  override name = "TransactionError";
  constructor(
    /** The OVSDB error name, e.g. "constraint violation", "timed out", "referential integrity violation". */
    readonly error: string,
    readonly details: string | undefined,
    /** Index of the failing operation, or -1 when the commit itself failed. */
    readonly opIndex: number,
    readonly op: Record<string, unknown> | undefined,
    database: string,
  ) {
    const what = op ? `operation ${opIndex} (${String(op.op)} on ${String(op.table ?? "")})` : "commit";
    super(`transaction on ${database} failed at ${what}: ${error}${details ? `: ${details}` : ""}`);
  }
}

export type Sender = (ops: Array<Record<string, unknown>>, signal?: AbortSignal) => Promise<unknown[]>;

export class Transaction<T extends TableMap> {
  private readonly ops: Array<Record<string, unknown>> = [];
  private readonly decoders: Array<((raw: unknown) => unknown) | undefined> = [];
  private named = 0;

  constructor(
    private readonly schema: DatabaseSchema,
    private readonly send: Sender,
  ) {}

  get size(): number {
    return this.ops.length;
  }

  /** Inserts a row; the returned NamedUuid can be used in later operations of this transaction. */
  insert<K extends keyof T & string>(table: K, row: WritableRow<T[K]>, uuidName?: string): NamedUuid {
    const name = new NamedUuid(uuidName ?? `row${this.named++}_${table.replace(/[^A-Za-z0-9_]/g, "_")}`);
    this.push(
      { op: "insert", table, row: this.encodeRow(table, row as Row), "uuid-name": name.name },
      (r) => ({
        named: name.name,
        uuid: decodeAtom((r as { uuid?: unknown }).uuid, { type: "uuid" }, `insert into ${table}`),
      }),
    );
    return name;
  }

  select<K extends keyof T & string, C extends keyof T[K] & string>(
    table: K,
    where: ReadonlyArray<Condition<T[K]>> = [],
    columns?: readonly C[],
  ): OpRef<Array<Pick<T[K], C> & { _uuid: string }>> {
    const op: Record<string, unknown> = { op: "select", table, where: this.encodeWhere(table, where) };
    // _uuid always comes back, so that a selected row can be updated or referenced.
    if (columns) op.columns = columns.includes("_uuid" as C) ? [...columns] : ["_uuid", ...columns];
    return this.push(op, (r) => {
      const rows = (r as { rows?: unknown[] }).rows ?? [];
      return rows.map((x) => decodeRow(this.schema, table, x as Record<string, unknown>));
    });
  }

  update<K extends keyof T & string>(
    table: K,
    where: ReadonlyArray<Condition<T[K]>>,
    row: WritableRow<T[K]>,
  ): OpRef<number> {
    return this.push(
      { op: "update", table, where: this.encodeWhere(table, where), row: this.encodeRow(table, row as Row) },
      countOf,
    );
  }

  mutate<K extends keyof T & string>(
    table: K,
    where: ReadonlyArray<Condition<T[K]>>,
    mutations: ReadonlyArray<Mutation<T[K]>>,
  ): OpRef<number> {
    const enc = mutations.map(([col, mut, value]) => {
      const type = this.columnType(table, col);
      // Deleting from a map takes either a map or a set of keys.
      const t: ColumnType =
        mut === "delete" && type.value && (Array.isArray(value) || value instanceof Set)
          ? { key: type.key, min: 0, max: Number.POSITIVE_INFINITY }
          : type;
      return [col, mut, this.wrap(() => encodeOperand(value, t, `${table}.${col} ${mut}`))];
    });
    return this.push({ op: "mutate", table, where: this.encodeWhere(table, where), mutations: enc }, countOf);
  }

  delete<K extends keyof T & string>(table: K, where: ReadonlyArray<Condition<T[K]>>): OpRef<number> {
    return this.push({ op: "delete", table, where: this.encodeWhere(table, where) }, countOf);
  }

  /**
   * Waits (server side) until the selected columns of the rows matching `where` are (until "==")
   * or are not (until "!=") exactly `rows`; with timeout 0 it is a compare-and-swap guard:
   * the whole transaction fails with "timed out" unless the condition already holds.
   */
  wait<K extends keyof T & string>(
    table: K,
    where: ReadonlyArray<Condition<T[K]>>,
    columns: ReadonlyArray<keyof T[K] & string>,
    until: "==" | "!=",
    rows: ReadonlyArray<WritableRow<T[K]>>,
    timeoutMs?: number,
  ): OpRef<void> {
    const op: Record<string, unknown> = {
      op: "wait",
      table,
      where: this.encodeWhere(table, where),
      columns: [...columns],
      until,
      rows: rows.map((r) => this.encodeRow(table, r as Row)),
    };
    if (timeoutMs !== undefined) op.timeout = timeoutMs;
    return this.push(op);
  }

  commit(durable: boolean): OpRef<void> {
    return this.push({ op: "commit", durable });
  }

  abort(): OpRef<void> {
    return this.push({ op: "abort" });
  }

  comment(text: string): OpRef<void> {
    return this.push({ op: "comment", comment: text });
  }

  assert(lock: string): OpRef<void> {
    return this.push({ op: "assert", lock });
  }

  /** The operations as they will be sent. */
  toJSON(): Array<Record<string, unknown>> {
    return this.ops;
  }

  /** Sends the transaction; resolves when the server committed it, rejects with TransactionError if not. */
  async execute(opts: { signal?: AbortSignal } = {}): Promise<TransactionResult> {
    const results = await this.send(this.ops, opts.signal);
    // The reply has one result per operation, and one more when the commit itself failed.
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as { error?: unknown; details?: unknown } | null;
      if (r && typeof r === "object" && typeof r.error === "string") {
        const op = i < this.ops.length ? this.ops[i] : undefined;
        throw new TransactionError(
          r.error,
          typeof r.details === "string" ? r.details : undefined,
          op ? i : -1,
          op,
          this.schema.name,
        );
      }
    }
    return new TransactionResult(
      results.map((r, i) => {
        const d = this.decoders[i];
        return d ? d(r) : r;
      }),
    );
  }

  private push<R>(op: Record<string, unknown>, decoder?: (raw: unknown) => unknown): OpRef<R> {
    this.ops.push(op);
    this.decoders.push(decoder);
    return new OpRef<R>(this.ops.length - 1);
  }

  private columnType(table: string, column: string): ColumnType {
    return this.wrap(() => columnSchema(this.schema, table, column).type);
  }

  private encodeRow(table: string, row: Row): Record<string, unknown> {
    tableSchema(this.schema, table);
    const out: Record<string, unknown> = {};
    for (const [col, v] of Object.entries(row)) {
      if (v === undefined) continue;
      const t = this.columnType(table, col);
      out[col] = this.wrap(() => encodeDatum(v, t, `${table}.${col}`));
    }
    return out;
  }

  private encodeWhere(table: string, where: ReadonlyArray<Condition<Row>>): unknown[] {
    return where.map(([col, fn, v]) => {
      const t = this.columnType(table, col);
      return [col, fn, this.wrap(() => encodeOperand(v, t, `${table}.${col} ${fn}`))];
    });
  }

  private wrap<R>(f: () => R): R {
    try {
      return f();
    } catch (e) {
      if (e instanceof DatumError) throw new DatumError(`${this.schema.name}: ${e.message}`);
      throw e;
    }
  }
}

export class TransactionResult {
  constructor(readonly results: unknown[]) {}

  get<T>(ref: OpRef<T>): T {
    return this.results[ref.index] as T;
  }

  rows<T>(ref: OpRef<T>): T {
    return this.get(ref);
  }

  count(ref: OpRef<number>): number {
    return this.get(ref);
  }

  /** The real uuid of a row inserted under this NamedUuid. */
  uuid(named: NamedUuid): string {
    for (const r of this.results) {
      if (r && typeof r === "object" && (r as { named?: string }).named === named.name) {
        return (r as { uuid: string }).uuid;
      }
    }
    throw new Error(`no row was inserted as ${named.name} in this transaction`);
  }
}

function countOf(raw: unknown): number {
  return (raw as { count?: number }).count ?? 0;
}

/** Decodes a row as the server sends it (in a select result or a monitor update). */
export function decodeRow(
  schema: DatabaseSchema,
  table: string,
  raw: Record<string, unknown>,
): Row & { _uuid: string } {
  const out: Row = {};
  for (const [col, v] of Object.entries(raw)) {
    out[col] = decodeDatum(v, columnSchema(schema, table, col).type, `${table}.${col}`);
  }
  return out as Row & { _uuid: string };
}

export type { Atom };
