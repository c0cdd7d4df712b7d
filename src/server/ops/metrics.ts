// Prometheus metrics of the network service, in a registry of its own (never prom-client's
// global one, so that two apps in one process, as in tests, do not share counters):
//
//   http_requests_total{method,route,status}                 counter
//   http_request_duration_seconds{method,route,status}       histogram
//   nb_transaction_duration_seconds{outcome}                 histogram (ok | conflict | error)
//   nb_reconnects_total                                      counter
//   process_* and nodejs_*                                   prom-client's default metrics
//
// `route` is the route pattern ("/v2.0/ports/:id"), never the raw URL, and "unmatched" for a
// request no route matched, so that scanners cannot grow the label set without bound.

import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The route label of requests that matched no route (404s from the not-found handler). */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * How an NB transaction ended: committed ("ok"), lost a compare-and-swap race or failed a
 * `wait` precondition ("conflict", the caller retries), or failed otherwise ("error").
 */
export type NbOutcome = "ok" | "conflict" | "error";

/** What `trackReconnects` needs of an OVSDB client (OvsdbClient fits). */
export interface ReconnectSource {
  /** Sessions established so far, counted before "connected" is emitted. */
  readonly sessions: number;
  on(event: "connected", listener: (remote: string) => void): unknown;
  off(event: "connected", listener: (remote: string) => void): unknown;
}

export interface OpsMetricsOptions {
  /** Register prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** Buckets of http_request_duration_seconds, in seconds. */
  httpBuckets?: number[];
  /** Buckets of nb_transaction_duration_seconds, in seconds. */
  nbBuckets?: number[];
}

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// NB transactions on one machine take a few hundred microseconds; across a cluster, milliseconds.
const NB_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type HttpLabel = "method" | "route" | "status";

export class OpsMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<HttpLabel>;
  readonly httpRequestDuration: Histogram<HttpLabel>;
  readonly nbTransactionDuration: Histogram<"outcome">;
  readonly nbReconnects: Counter;

  constructor(opts: OpsMetricsOptions = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by method, route pattern and status code.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.httpRequestDuration = new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from receiving an HTTP request to the end of its response, by method, route pattern and status code.",
      labelNames: ["method", "route", "status"],
      buckets: opts.httpBuckets ?? HTTP_BUCKETS,
      registers,
    });
    this.nbTransactionDuration = new Histogram({
      name: "nb_transaction_duration_seconds",
      help: "Duration of OVN Northbound transactions, by outcome (ok, conflict, error).",
      labelNames: ["outcome"],
      buckets: opts.nbBuckets ?? NB_BUCKETS,
      registers,
    });
    this.nbReconnects = new Counter({
      name: "nb_reconnects_total",
      help: "Sessions to OVN Northbound established after the first one.",
      registers,
    });
    // Zero series from the start, so that rate() and absent() behave before the first event.
    for (const outcome of ["ok", "conflict", "error"] satisfies NbOutcome[]) {
      this.nbTransactionDuration.zero({ outcome });
    }
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one answered HTTP request; `route` is the pattern, or UNMATCHED_ROUTE. */
  recordHttp(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpRequestDuration.observe(labels, seconds);
  }

  /** Records one NB transaction that took `seconds`. */
  observeNbTransaction(outcome: NbOutcome, seconds: number): void {
    this.nbTransactionDuration.observe({ outcome }, seconds);
  }

  /**
   * Runs an NB transaction and records its duration: "ok" when it resolves, and when it rejects
   * whatever `classify` says ("error" without one). The result or the error passes through.
   */
  async timeNbTransaction<T>(run: () => Promise<T>, classify?: (err: unknown) => NbOutcome): Promise<T> {
    const start = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
    try {
      const result = await run();
      this.observeNbTransaction("ok", seconds());
      return result;
    } catch (err) {
      this.observeNbTransaction(classify?.(err) ?? "error", seconds());
      throw err;
    }
  }

  /** Counts the client's reconnects (every session after the first); returns a function that stops counting. */
  trackReconnects(client: ReconnectSource): () => void {
    const onConnected = () => {
      if (client.sessions > 1) this.nbReconnects.inc();
    };
    client.on("connected", onConnected);
    return () => {
      client.off("connected", onConnected);
    };
  }

  /** The exposition text and its content type, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export function createOpsMetrics(opts: OpsMetricsOptions = {}): OpsMetrics {
  return new OpsMetrics(opts);
}
