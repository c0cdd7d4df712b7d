// OVSDB schema model (RFC 7047 section 3.2) with the shorthand forms normalized,
// so the rest of the client can ask "what is this column?" without re-parsing.

export type AtomicType = "integer" | "real" | "boolean" | "string" | "uuid";

export interface BaseType {
  type: AtomicType;
  /** Allowed values, when the schema gives an enum (already unwrapped from ["set", …]). */
  enum?: Array<string | number | boolean>;
  minInteger?: number;
  maxInteger?: number;
  minReal?: number;
  maxReal?: number;
  minLength?: number;
  maxLength?: number;
  refTable?: string;
  refType?: "strong" | "weak";
}

export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  /** Infinity stands for "unlimited". */
  max: number;
}

export interface ColumnSchema {
  type: ColumnType;
  ephemeral: boolean;
  mutable: boolean;
}

export interface TableSchema {
  columns: Record<string, ColumnSchema>;
  maxRows?: number;
  isRoot: boolean;
  indexes: string[][];
}

export interface DatabaseSchema {
  name: string;
  version: string;
  cksum?: string;
  tables: Record<string, TableSchema>;
}

/** The shape of a column's value once decoded: one atom, an optional atom, a set or a map. */
export type ColumnKind = "atom" | "optional" | "set" | "map";

export function columnKind(t: ColumnType): ColumnKind {
  if (t.value) return "map";
  if (t.min === 1 && t.max === 1) return "atom";
  if (t.min === 0 && t.max === 1) return "optional";
  return "set";
}

export class SchemaError extends Error {
  override name = "SchemaError";
}

const ATOMIC_TYPES = new Set<string>(["integer", "real", "boolean", "string", "uuid"]);

function parseBaseType(json: unknown, where: string): BaseType {
  if (typeof json === "string") {
    if (!ATOMIC_TYPES.has(json)) throw new SchemaError(`${where}: unknown atomic type "${json}"`);
    return { type: json as AtomicType };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SchemaError(`${where}: base type must be a string or an object`);
  }
  const o = json as Record<string, unknown>;
  if (typeof o.type !== "string" || !ATOMIC_TYPES.has(o.type)) {
    throw new SchemaError(`${where}: base type needs a "type" among ${[...ATOMIC_TYPES].join(", ")}`);
  }
  const b: BaseType = { type: o.type as AtomicType };
  if (o.enum !== undefined) {
    const e = o.enum;
    if (Array.isArray(e) && e[0] === "set" && Array.isArray(e[1])) b.enum = e[1] as BaseType["enum"];
    else b.enum = [e as string | number | boolean];
  }
  for (const k of ["minInteger", "maxInteger", "minReal", "maxReal", "minLength", "maxLength"] as const) {
    if (typeof o[k] === "number") b[k] = o[k] as number;
  }
  if (typeof o.refTable === "string") {
    b.refTable = o.refTable;
    b.refType = o.refType === "weak" ? "weak" : "strong";
  }
  return b;
}

function parseColumnType(json: unknown, where: string): ColumnType {
  if (typeof json === "string") return { key: parseBaseType(json, where), min: 1, max: 1 };
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SchemaError(`${where}: column type must be a string or an object`);
  }
  const o = json as Record<string, unknown>;
  if (o.key === undefined) return { key: parseBaseType(o, where), min: 1, max: 1 };
  const t: ColumnType = {
    key: parseBaseType(o.key, `${where}.key`),
    min: typeof o.min === "number" ? o.min : 1,
    max: o.max === "unlimited" ? Number.POSITIVE_INFINITY : typeof o.max === "number" ? o.max : 1,
  };
  if (o.value !== undefined) t.value = parseBaseType(o.value, `${where}.value`);
  return t;
}

/** Parses a schema as returned by get_schema or found in a .ovsschema file. */
export function parseSchema(json: unknown): DatabaseSchema {
  if (typeof json !== "object" || json === null) throw new SchemaError("schema must be a JSON object");
  const o = json as Record<string, unknown>;
  if (typeof o.name !== "string") throw new SchemaError('schema has no "name"');
  if (typeof o.tables !== "object" || o.tables === null)
    throw new SchemaError(`schema ${o.name} has no tables`);
  const tables: Record<string, TableSchema> = {};
  for (const [tname, tjson] of Object.entries(o.tables as Record<string, unknown>)) {
    const t = tjson as Record<string, unknown>;
    const columns: Record<string, ColumnSchema> = {};
    for (const [cname, cjson] of Object.entries((t.columns ?? {}) as Record<string, unknown>)) {
      const c = cjson as Record<string, unknown>;
      columns[cname] = {
        type: parseColumnType(c.type, `${o.name}.${tname}.${cname}`),
        ephemeral: c.ephemeral === true,
        mutable: c.mutable !== false,
      };
    }
    const table: TableSchema = {
      columns,
      isRoot: t.isRoot === true,
      indexes: Array.isArray(t.indexes) ? (t.indexes as string[][]) : [],
    };
    if (typeof t.maxRows === "number") table.maxRows = t.maxRows;
    tables[tname] = table;
  }
  const s: DatabaseSchema = { name: o.name, version: String(o.version ?? ""), tables };
  if (typeof o.cksum === "string") s.cksum = o.cksum;
  return s;
}

/** The column's schema, with the implicit _uuid and _version columns. */
export function columnSchema(db: DatabaseSchema, table: string, column: string): ColumnSchema {
  const t = db.tables[table];
  if (!t) throw new SchemaError(`database ${db.name} has no table ${table}`);
  if (column === "_uuid" || column === "_version") {
    return { type: { key: { type: "uuid" }, min: 1, max: 1 }, ephemeral: false, mutable: false };
  }
  const c = t.columns[column];
  if (!c) throw new SchemaError(`table ${db.name}.${table} has no column ${column}`);
  return c;
}

export function tableSchema(db: DatabaseSchema, table: string): TableSchema {
  const t = db.tables[table];
  if (!t) throw new SchemaError(`database ${db.name} has no table ${table}`);
  return t;
}
