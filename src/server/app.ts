// The network service: one fastify app serving the Keystone subset (/v3) and the Neutron
// subset (/v2.0) on one port, over an NB connection and the Neutron view derived from it.

import fastify, { type FastifyInstance } from "fastify";
import { NeutronView } from "../ovn/neutron-view.js";
import { OvsdbClient } from "../ovsdb/client.js";
import { Database } from "../ovsdb/database.js";
import type { NbTables } from "../ovsdb/schemas/ovn-nb.generated.js";
import type { ServerConfig } from "./config.js";
import { createAuthenticator } from "./keystone/identity.js";
import { keystonePlugin } from "./keystone/routes.js";
import { isoNow, type NeutronContext } from "./neutron/context.js";
import { extensionRoutes, neutronVersion } from "./neutron/extensions.js";
import { networkRoutes } from "./neutron/networks.js";
import { PortCreator, portRoutes } from "./neutron/ports.js";
import { subnetRoutes } from "./neutron/subnets.js";

export interface ServerOptions {
  config: ServerConfig;
  /** NB remotes, comma-separated for a cluster. */
  nb: string;
  /** fastify logger option (false in tests). */
  logger?: boolean | Record<string, unknown>;
  /** How long a request waits for NB when it is unreachable before answering 503 (default 1000 ms). */
  nbWaitMs?: number;
}

export interface NetworkService {
  app: FastifyInstance;
  client: OvsdbClient;
  view: NeutronView;
  close(): Promise<void>;
}

export async function startNetworkService(opts: ServerOptions): Promise<NetworkService> {
  const client = await OvsdbClient.connect({
    remotes: opts.nb,
    database: "OVN_Northbound",
    waitForConnectionMs: opts.nbWaitMs ?? 1000,
    initialWaitMs: 10000,
  });
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
    };
    const app = fastify({ logger: opts.logger ?? false, bodyLimit: 1024 * 1024 });
    await app.register(keystonePlugin, {
      config: opts.config,
      checkParentPort: async (projectId, portId) => view.portFields(portId)?.project_id === projectId,
      extraRootVersions: (url) => [neutronVersion(url)],
    });
    extensionRoutes(app, ctx);
    networkRoutes(app, ctx);
    subnetRoutes(app, ctx);
    portRoutes(app, ctx, new PortCreator(ctx));
    return {
      app,
      client,
      view,
      async close() {
        await app.close();
        await cancel().catch(() => undefined);
        await client.close();
      },
    };
  } catch (e) {
    await client.close();
    throw e;
  }
}
