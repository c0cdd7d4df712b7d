// Output of listings: an aligned table for people, JSON (-f json) for scripts.

export type Format = "table" | "json";

export function parseFormat(v: string): Format {
  if (v === "table" || v === "json") return v;
  throw new UsageError(`unknown format "${v}": use -f table or -f json`);
}

/** A mistake in how the command was called: exit code 2, like other CLI tools. */
export class UsageError extends Error {
  override name = "UsageError";
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map(cell).join(",");
  if (v instanceof Map) return [...v].map(([k, x]) => `${cell(k)}=${cell(x)}`).join(",");
  if (typeof v === "object")
    return Object.entries(v)
      .map(([k, x]) => `${k}=${cell(x)}`)
      .join(",");
  return String(v);
}

export function formatTable(
  rows: ReadonlyArray<Record<string, unknown>>,
  columns: readonly string[],
): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (vals: readonly string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n");
}

function toJson(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

export function printRows(
  rows: ReadonlyArray<Record<string, unknown>>,
  columns: readonly string[],
  format: Format,
): void {
  if (format === "json") process.stdout.write(`${JSON.stringify(toJson(rows), null, 2)}\n`);
  else process.stdout.write(`${formatTable(rows, columns)}\n`);
}
