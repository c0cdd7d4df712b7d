// The network service: one fastify app serving the Keystone subset (/v3) and the Neutron
// subset (/v2.0) on one port, over an NB connection and the Neutron view derived from it.

import fastify, { type FastifyInstance } from "fastify";
import { NeutronView } from "../ovn/neutron-view.js";
import { OvsdbClient } from "../ovsdb/client.js";
import { Database } from "../ovsdb/database.js";
import type { NbTables } from "../ovsdb/schemas/ovn-nb.generated.js";
import type { ServerConfig } from "./config.js";
import { frameworkErrors, installEdge } from "./edge.js";
import { createAuthenticator } from "./keystone/identity.js";
import { keystonePlugin } from "./keystone/routes.js";
import { isoNow, type NeutronContext } from "./neutron/context.js";
import { extensionRoutes, neutronVersion } from "./neutron/extensions.js";
import { parseMacPrefix } from "./neutron/macs.js";
import { networkRoutes } from "./neutron/networks.js";
import { PortCreator, portRoutes } from "./neutron/ports.js";
import { subnetRoutes } from "./neutron/subnets.js";
import { trunkRoutes } from "./neutron/trunks.js";
import { createOpsMetrics, nbHealthOf, opsPlugin, serverOptions } from "./ops/index.js";

export interface ServerOptions {
  config: ServerConfig;
  /** NB remotes, comma-separated for a cluster. */
  nb: string;
  /** Log level of the JSON logs on stdout; none when absent (tests). */
  logLevel?: string;
  /** How long a request waits for NB when it is unreachable before answering 503 (default 1000 ms). */
  nbWaitMs?: number;
  /** Batches of port creations decided and not yet answered by NB at once (default 1: one at a time). */
  portBatchesInFlight?: number;
}

export interface NetworkService {
  app: FastifyInstance;
  client: OvsdbClient;
  view: NeutronView;
  /** Creates ports in batches (its counts show how they overlapped). */
  portCreator: PortCreator;
  /** Closes the NB side (after the HTTP server has finished its requests). */
  closeNb(): Promise<void>;
  /** Closes the HTTP server (in-flight requests finish), then the NB side. */
  close(): Promise<void>;
}

export async function startNetworkService(opts: ServerOptions): Promise<NetworkService> {
  const metrics = createOpsMetrics();
  const client = await OvsdbClient.connect({
    remotes: opts.nb,
    database: "OVN_Northbound",
    waitForConnectionMs: opts.nbWaitMs ?? 1000,
    initialWaitMs: 10000,
    observeTransaction: (seconds, outcome) => metrics.observeNbTransaction(outcome, seconds),
  });
  const stopTracking = metrics.trackReconnects(client);
  try {
    const nb = await Database.open<NbTables>(client, "OVN_Northbound", { coalesce: true });
    const { view, cancel } = await NeutronView.start(nb);
    const ctx: NeutronContext = {
      nb,
      view,
      auth: createAuthenticator(opts.config),
      config: opts.config,
      now: isoNow,
      viewWaitMs: 5000,
      allocators: new Map(),
      macPrefix: parseMacPrefix(opts.config.mac_prefix),
    };
    const server = serverOptions({ level: opts.logLevel ?? "info" });
    const app = fastify({
      ...server,
      logger: opts.logLevel ? server.logger : false,
      // Without a logger, fastify's own shortcut (no child logger at all) is cheaper than a lazy one.
      childLoggerFactory: opts.logLevel ? server.childLoggerFactory : undefined,
      routerOptions: { maxParamLength: 1024 },
      frameworkErrors,
    });
    installEdge(app);
    await app.register(opsPlugin, { health: nbHealthOf(client), metrics, errorHandler: false });
    await app.register(keystonePlugin, {
      config: opts.config,
      checkParentPort: async (projectId, portId) => view.portFields(portId)?.project_id === projectId,
      extraRootVersions: (url) => [neutronVersion(url)],
    });
    extensionRoutes(app, ctx);
    networkRoutes(app, ctx);
    subnetRoutes(app, ctx);
    const portCreator = new PortCreator(ctx, {
      maxInFlight: opts.portBatchesInFlight ?? 1,
    });
    portRoutes(app, ctx, portCreator);
    trunkRoutes(app, ctx);
    const closeNb = async () => {
      stopTracking();
      await cancel().catch(() => undefined); // the session may already be gone
      await client.close();
    };
    return {
      app,
      client,
      view,
      portCreator,
      closeNb,
      async close() {
        await app.close();
        await closeNb();
      },
    };
  } catch (e) {
    await client.close();
    throw e;
  }
}
