// The operational side of `ovn-docker server`, as one fastify plugin:
//
//   GET /healthz     200 when OVN Northbound is reachable through a leader, else 503
//   GET /metrics     Prometheus text from the app's OpsMetrics registry
//   every response   X-Openstack-Request-Id: the request id (see logging.ts for how it is chosen)
//   every request    counted and timed by method, route pattern and status
//   body too large   413 in Neutron's or (under /v3) Keystone's error format
//
// Unlike the API plugins, it is NOT encapsulated: its hooks and error handler must see every
// route of the application, so it carries fastify's `skip-override` mark (what fastify-plugin
// sets). Register it on the root instance; routes registered before it get its hooks too.
// Its error handler is the root scope's: plugins with their own (Keystone's) answer their routes'
// errors themselves, which is why a declared oversize body is refused in onRequest instead.
//
// Wiring, in the app:
//
//   const metrics = createOpsMetrics();
//   const app = Fastify({ ...serverOptions({ level: config.log_level }) });
//   await app.register(opsPlugin, { health: nbHealthOf(nbClient), metrics });
//   metrics.trackReconnects(nbClient);
//   ... register keystonePlugin, the Neutron plugin ...
//   installGracefulShutdown(app, { timeoutMs: 15_000, onClose: () => nbClient.close() });

import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, LogLevel } from "fastify";
import { bodyLimitErrorHandler, rejectDeclaredOversize } from "./body-limit.js";
import { evaluateHealth, HealthBody, type HealthCheck } from "./health.js";
import { REQUEST_ID_HEADER } from "./logging.js";
import { type OpsMetrics, UNMATCHED_ROUTE } from "./metrics.js";

export interface OpsPluginOptions {
  /** Reports the NB connection; the app wires it to its OVSDB client (see nbHealthOf). */
  health: HealthCheck;
  /** Where HTTP metrics are recorded and what GET /metrics exposes (see createOpsMetrics). */
  metrics: OpsMetrics;
  /**
   * Log level of the probe routes (/healthz, /metrics), polled every few seconds; "warn"
   * (default) keeps their request lines out of an info-level log.
   */
  probeLogLevel?: LogLevel;
  /**
   * Set `bodyLimitErrorHandler` as the error handler of the scope the plugin is registered in
   * (default true). Turn it off when the app sets its own there, and call handleBodyTooLarge from it.
   */
  errorHandler?: boolean;
}

const plugin: FastifyPluginAsync<OpsPluginOptions> = async (fastify: FastifyInstance, opts) => {
  const { metrics } = opts;
  const probeLogLevel = opts.probeLogLevel ?? "warn";

  fastify.addHook("onRequest", rejectDeclaredOversize);

  fastify.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    return payload;
  });

  fastify.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.recordHttp(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  if (opts.errorHandler !== false) fastify.setErrorHandler(bodyLimitErrorHandler);

  fastify.get(
    "/healthz",
    { logLevel: probeLogLevel, schema: { response: { 200: HealthBody, 503: HealthBody } } },
    async (_request, reply) => {
      const { code, body } = await evaluateHealth(opts.health);
      return reply.code(code).header("cache-control", "no-store").send(body);
    },
  );

  fastify.get("/metrics", { logLevel: probeLogLevel }, async (_request, reply) => {
    const { contentType, body } = await metrics.exposition();
    return reply.header("cache-control", "no-store").type(contentType).send(body);
  });
};

/** fastify's mark for a plugin whose hooks, routes and handlers belong to the parent scope. */
function unencapsulated<T extends object>(fn: T, name: string): T {
  return Object.assign(fn, {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: name,
  });
}

export const opsPlugin = unencapsulated(plugin, "ovn-docker-ops");

export {
  BODY_TOO_LARGE_CODE,
  bodyLimitErrorHandler,
  bodyTooLargeBody,
  DEFAULT_BODY_LIMIT,
  handleBodyTooLarge,
  isBodyTooLarge,
  isIdentityUrl,
  type NeutronTooLargeBody,
  rejectDeclaredOversize,
  replyBodyTooLarge,
  type TooLargeBody,
} from "./body-limit.js";
export {
  evaluateHealth,
  HealthBody,
  type HealthCheck,
  type NbClientLike,
  type NbHealth,
  nbHealthOf,
} from "./health.js";
export {
  CENSOR,
  genRequestId,
  isWellFormedRequestId,
  type LoggerOptionsInput,
  loggerOptions,
  type OpsLoggerOptions,
  type OpsServerOptions,
  REDACT_PATHS,
  REQUEST_ID_HEADER,
  REQUEST_ID_LOG_LABEL,
  type ServerOptionsInput,
  serverOptions,
} from "./logging.js";
export {
  createOpsMetrics,
  type NbOutcome,
  OpsMetrics,
  type OpsMetricsOptions,
  type ReconnectSource,
  UNMATCHED_ROUTE,
} from "./metrics.js";
export {
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  flushLog,
  type GracefulShutdown,
  type GracefulShutdownOptions,
  installGracefulShutdown,
} from "./shutdown.js";
