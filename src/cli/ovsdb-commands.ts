// `ovn-docker ovsdb ...` and `ovn-docker nb ...`: look at and change OVSDB databases with
// the project's own client (the same code the network service and the VM agent use).

import type { Command } from "commander";
import { createSwitch, deleteSwitch, listSwitches } from "../ovn/switches.js";
import { OvsdbClient } from "../ovsdb/client.js";
import { Database, type MonitorSpec } from "../ovsdb/database.js";
import type { NbTables } from "../ovsdb/schemas/ovn-nb.generated.js";
import { type Format, parseFormat, printRows, UsageError } from "./output.js";

const DEFAULT_NB = "unix:/var/run/ovn/ovnnb_db.sock";

function nbRemotes(opt: string | undefined): string {
  return opt ?? process.env.OVN_NB_DB ?? DEFAULT_NB;
}

async function withClient<T>(
  remotes: string,
  database: string | undefined,
  f: (c: OvsdbClient) => Promise<T>,
): Promise<T> {
  const c = await OvsdbClient.connect({ remotes, database, initialWaitMs: 2000, waitForConnectionMs: 2000 });
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

function keyValues(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`"${kv}" is not KEY=VALUE`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function addOvsdbCommands(program: Command): void {
  const ovsdb = program
    .command("ovsdb")
    .description("inspect any OVSDB database with ovn-docker's own client")
    .option(
      "--db <remotes>",
      "OVSDB remote(s): unix:PATH, tcp:HOST:PORT, comma-separated for a cluster",
      process.env.OVSDB_REMOTE,
    );

  const remotesOf = (): string => {
    const db = ovsdb.opts().db as string | undefined;
    if (!db)
      throw new UsageError(
        "no database remote: pass --db REMOTE (e.g. --db unix:/var/run/openvswitch/db.sock)",
      );
    return db;
  };

  ovsdb
    .command("list-dbs")
    .description("the databases the server holds")
    .action(async () => {
      const dbs = await withClient(remotesOf(), undefined, (c) => c.listDbs());
      process.stdout.write(`${dbs.join("\n")}\n`);
    });

  ovsdb
    .command("dump <database> <table>")
    .description("the rows of one table")
    .option("--columns <list>", "comma-separated columns (default: all)")
    .option("-f, --format <format>", "table or json", parseFormat, "table" as Format)
    .action(async (database: string, table: string, o: { columns?: string; format: Format }) => {
      await withClient(remotesOf(), database, async (c) => {
        const db = await Database.open<Record<string, Record<string, unknown>>>(c, database);
        if (!db.schema.tables[table]) {
          throw new UsageError(
            `database ${database} has no table ${table}: tables are ${Object.keys(db.schema.tables).sort().join(", ")}`,
          );
        }
        const columns = o.columns
          ? o.columns.split(",")
          : Object.keys(db.schema.tables[table]?.columns ?? {}).sort();
        const rows = await db.select(table, [], columns);
        printRows(rows, ["_uuid", ...columns], o.format);
      });
    });

  ovsdb
    .command("watch <database> <table>")
    .description("print every change to a table as a JSON line, until interrupted")
    .option("--columns <list>", "comma-separated columns (default: all)")
    .option("--count <n>", "stop after this many changes", (v) => Number.parseInt(v, 10))
    .action(async (database: string, table: string, o: { columns?: string; count?: number }) => {
      const c = await OvsdbClient.connect({ remotes: remotesOf(), database });
      const db = await Database.open<Record<string, Record<string, unknown>>>(c, database);
      const spec: MonitorSpec<Record<string, Record<string, unknown>>> = {
        [table]: o.columns ? { columns: o.columns.split(",") } : true,
      };
      const { cache } = await db.monitor(spec);
      let seen = 0;
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        cache.on("change", (_t, uuid, old, row) => {
          const kind = old === undefined ? "insert" : row === undefined ? "delete" : "modify";
          process.stdout.write(`${JSON.stringify({ kind, uuid, row: row ?? old })}\n`);
          if (o.count !== undefined && ++seen >= o.count) stop();
        });
        process.stderr.write(`watching ${database}.${table} (${cache.table(table).size} rows now)\n`);
      });
      await c.close();
    });

  ovsdb
    .command("transact <database> <operations>")
    .description("run one raw RFC 7047 transaction (operations as a JSON array) and print the result")
    .action(async (database: string, operations: string) => {
      let ops: unknown;
      try {
        ops = JSON.parse(operations);
      } catch (e) {
        throw new UsageError(`operations are not JSON: ${(e as Error).message}`);
      }
      if (!Array.isArray(ops)) throw new UsageError("operations must be a JSON array of operation objects");
      const result = await withClient(remotesOf(), database, (c) => c.transact(database, ops as unknown[]));
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    });

  const nb = program
    .command("nb")
    .description("logical switches in OVN Northbound, through ovn-docker's own client")
    .option(
      "--db <remotes>",
      "NB remote(s), comma-separated for a cluster (default: $OVN_NB_DB or unix:/var/run/ovn/ovnnb_db.sock)",
    );
  const openNb = <T>(f: (db: Database<NbTables>) => Promise<T>) =>
    withClient(nbRemotes(nb.opts().db as string | undefined), "OVN_Northbound", async (c) =>
      f(await Database.open<NbTables>(c, "OVN_Northbound")),
    );

  nb.command("ls-add <name>")
    .description("create a logical switch (fails if one of that name exists)")
    .option("--external-id <key=value>", "an external_ids entry (repeatable)", collect)
    .action(async (name: string, o: { externalId?: string[] }) => {
      const ids = keyValues(o.externalId ?? []);
      const uuid = await openNb((db) => createSwitch(db, name, ids));
      process.stdout.write(`${uuid}\n`);
    });

  nb.command("ls-list")
    .description("the logical switches")
    .option("-f, --format <format>", "table or json", parseFormat, "table" as Format)
    .action(async (o: { format: Format }) => {
      const rows = await openNb(listSwitches);
      printRows(rows, ["_uuid", "name", "ports", "external_ids"], o.format);
    });

  nb.command("ls-del <name>")
    .description("delete a logical switch")
    .option("--if-exists", "succeed when there is no such switch")
    .action(async (name: string, o: { ifExists?: boolean }) => {
      const deleted = await openNb((db) => deleteSwitch(db, name));
      if (!deleted && !o.ifExists)
        throw new UsageError(`no logical switch named ${name} (use --if-exists to ignore)`);
    });
}
