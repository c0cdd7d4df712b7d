// Graceful shutdown on SIGTERM/SIGINT: stop accepting connections, let the requests in flight
// finish, then the app's own cleanup (closing its OVSDB client), then exit. A second signal, or
// the timeout, exits at once with status 1.
//
// fastify's close() closes the listener, drops idle keep-alive connections and answers 503 to
// requests that arrive on busy ones, then waits for every connection to end. But a connection
// busy when close() starts is kept alive after its response (until keepAliveTimeout, 72 s by
// default), so close() would wait that long: the responses in flight at that moment are told
// to close their connection (`Connection: close`) instead.

import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";

export interface GracefulShutdownOptions {
  /** Signals that start the shutdown (default SIGTERM and SIGINT). */
  signals?: NodeJS.Signals[];
  /** Longest the whole shutdown may take before the process exits anyway (default 10000 ms). */
  timeoutMs?: number;
  /** Runs after the server has closed (all responses sent): close the OVSDB client here. */
  onClose?: () => void | Promise<void>;
  /** How to end the process (default process.exit); tests pass a recorder. */
  exit?: (code: number) => void;
}

export interface GracefulShutdown {
  /** Starts the shutdown as a signal would (a second call forces the exit). */
  shutdown(reason?: string): Promise<void>;
  /** Whether a shutdown has started. */
  readonly closing: boolean;
  /** Removes the signal listeners (tests; or when the app takes over signal handling). */
  uninstall(): void;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** Writes the log lines the logger's destination still holds (log-writer.ts), now. */
export function flushLog(app: FastifyInstance): void {
  try {
    (app.log as { flush?: () => void }).flush?.();
  } catch {
    // standard output is gone: nothing more can be said there
  }
}

export function installGracefulShutdown(
  app: FastifyInstance,
  opts: GracefulShutdownOptions = {},
): GracefulShutdown {
  const signals = opts.signals ?? ["SIGTERM", "SIGINT"];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let closing = false;
  let exited = false;
  let timer: NodeJS.Timeout | undefined;

  // The responses in progress, so that a shutdown can end their connections with them.
  const active = new Set<ServerResponse>();
  const track = (_req: unknown, res: ServerResponse) => {
    active.add(res);
    res.once("close", () => active.delete(res));
  };
  app.server.on("request", track);
  const endConnectionsInFlight = () => {
    for (const res of active) {
      if (!res.headersSent) res.shouldKeepAlive = false;
      else res.once("finish", () => setImmediate(() => app.server.closeIdleConnections()));
    }
  };

  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    if (timer !== undefined) clearTimeout(timer);
    uninstall();
    flushLog(app);
    exit(code);
  };

  const shutdown = async (reason = "shutdown requested"): Promise<void> => {
    if (closing) {
      app.log.warn({ reason }, "shutdown: second request while closing, exiting now");
      finish(1);
      return;
    }
    closing = true;
    app.log.info({ reason, timeoutMs }, "shutdown: closing the listener, waiting for requests in flight");
    // Not unref'd: if close() hangs on something that holds no handle, the exit must still come.
    timer = setTimeout(() => {
      app.log.error({ timeoutMs }, "shutdown: timed out, exiting now");
      finish(1);
    }, timeoutMs);
    let code = 0;
    endConnectionsInFlight();
    try {
      await app.close();
    } catch (err) {
      app.log.error({ err }, "shutdown: closing the HTTP server failed");
      code = 1;
    }
    try {
      await opts.onClose?.();
    } catch (err) {
      app.log.error({ err }, "shutdown: onClose failed");
      code = 1;
    }
    if (!exited) app.log.info({ code }, "shutdown: done");
    finish(code);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    void shutdown(`received ${signal}`);
  };
  for (const s of signals) process.on(s, onSignal);

  function uninstall() {
    for (const s of signals) process.off(s, onSignal);
    app.server.off("request", track);
  }

  return {
    shutdown,
    get closing() {
      return closing;
    },
    uninstall,
  };
}
