// `ovn-docker server` (run the network service) and `ovn-docker server init` (write a
// starter configuration and print its credentials once).

import type { Command } from "commander";
import { UsageError } from "./output.js";

export function addServerCommands(program: Command): void {
  const server = program
    .command("server")
    .description("run the network service: Keystone v3 + Neutron v2.0 subset writing OVN Northbound")
    .option("-c, --config <file>", "server configuration (YAML)", "/etc/ovn-docker/server.yaml")
    .option(
      "--nb <remotes>",
      "OVN NB remote(s), comma-separated for a cluster",
      process.env.OVN_NB_DB ?? "unix:/var/run/ovn/ovnnb_db.sock",
    )
    .option("--listen <host:port>", "address to listen on (default: the config's listen, 127.0.0.1:9696)")
    .option("--log-level <level>", "info, debug, warn, error", "info")
    .option(
      "--port-batches <n>",
      "batches of port creations in flight at once, 1-64: above 1, a batch is decided while NB commits the one before (default 1)",
      "1",
    )
    .action(
      async (o: { config: string; nb: string; listen?: string; logLevel: string; portBatches: string }) => {
        const portBatchesInFlight = Number(o.portBatches);
        if (!/^\d+$/.test(o.portBatches) || portBatchesInFlight < 1 || portBatchesInFlight > 64) {
          throw new UsageError(
            `--port-batches ${JSON.stringify(o.portBatches)}: give a whole number from 1 to 64`,
          );
        }
        const { loadConfig, parseListen } = await import("../server/config.js");
        const config = await loadConfig(o.config);
        if (o.listen) {
          try {
            config.listen = parseListen(o.listen);
          } catch (e) {
            throw new UsageError(`--listen: ${(e as Error).message}`);
          }
        }
        const { startNetworkService } = await import("../server/app.js");
        const { flushLog, installGracefulShutdown } = await import("../server/ops/index.js");
        const svc = await startNetworkService({
          config,
          nb: o.nb,
          logLevel: o.logLevel,
          portBatchesInFlight,
        });
        // SIGTERM/SIGINT: stop accepting, let in-flight requests finish, then close NB and exit.
        installGracefulShutdown(svc.app, { timeoutMs: 15_000, onClose: () => svc.closeNb() });
        const addr = await svc.app.listen({ host: config.listen.host, port: config.listen.port });
        svc.app.log.info({ nb: o.nb, listen: addr }, "ovn-docker server ready");
        // Log lines are written in groups (ops/log-writer.ts); whoever waits for this one sees it now.
        flushLog(svc.app);
      },
    );

  server
    .command("init")
    .description(
      "write a starter configuration (one project, an admin and a member user) and print the credentials once",
    )
    .option("-d, --dir <dir>", "where to write server.yaml and token.key", "/etc/ovn-docker")
    .option("--listen <host:port>", "address the server will listen on (default 127.0.0.1:9696)")
    .option("--mac-prefix <prefix>", "MAC prefix of allocated ports", "fa:16:3e")
    .option("--json", "print the result as JSON (for scripts)")
    .action(async (o: { dir: string; listen?: string; macPrefix: string; json?: boolean }) => {
      // `server` has a --listen of its own, which commander may hand the value to.
      const listen = o.listen ?? (server.opts().listen as string | undefined) ?? "127.0.0.1:9696";
      const { initConfig } = await import("../server/config.js");
      const r = await initConfig(o.dir, { listen, mac_prefix: o.macPrefix });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const lines = [
        `wrote ${r.config_file} and ${r.key_file}`,
        `project ${r.project.name} (${r.project.id})`,
        ...r.users.map((u) => `user ${u.name} (${u.role}) password ${u.password}`),
        "These passwords are shown only now.",
        r.auth_url ? `OS_AUTH_URL=${r.auth_url}` : "",
      ];
      process.stdout.write(`${lines.filter(Boolean).join("\n")}\n`);
    });
}
