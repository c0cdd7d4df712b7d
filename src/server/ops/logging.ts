// Structured logs for the network service: one JSON object per line on stdout (pino, through
// fastify's built-in logger), each request line carrying the request id that OpenStack
// clients see in X-Openstack-Request-Id. Secrets never reach the log: auth headers and any
// `password` (or token-method `auth.identity.token`) in a logged body are censored by pino's
// redaction, and JSON.parse errors, whose V8 message quotes the offending input, lose their
// message before they are written.

import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { hostname } from "node:os";
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import { DEFAULT_BODY_LIMIT } from "./body-limit.js";
import { stdoutLineWriter } from "./log-writer.js";

/** The header OpenStack services answer with, and that clients may send to carry an id along. */
export const REQUEST_ID_HEADER = "x-openstack-request-id";

/** The log field holding the request id (OpenStack's own logs call it request_id). */
export const REQUEST_ID_LOG_LABEL = "request_id";

/** oslo.middleware's ID_FORMAT: `req-` and a lowercase UUID. Anything else is replaced. */
const REQUEST_ID_FORMAT = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What replaces a secret in a log line. */
export const CENSOR = "[REDACTED]";

export function isWellFormedRequestId(id: unknown): id is string {
  return typeof id === "string" && REQUEST_ID_FORMAT.test(id);
}

/**
 * fastify's `genReqId`: the caller's X-Openstack-Request-Id when it is well formed
 * (`req-<uuid>`), else a fresh `req-<uuid>`.
 */
export function genRequestId(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return isWellFormedRequestId(incoming) ? incoming : `req-${randomUUID()}`;
}

// pino wildcards match one level each, so a key is censored wherever it sits down to this depth
// below the log object (a Keystone password body logged as `body` puts the user's password at
// depth 6: body.auth.identity.password.user.password; the `password` object at depth 4 already
// hides it whole).
const SECRET_KEY_DEPTH = 7;
const SECRET_KEYS = ["password", "original_password"];

function atAnyDepth(tail: string, depth: number): string[] {
  const paths: string[] = [];
  for (let d = 0; d < depth; d++) paths.push(`${"*.".repeat(d)}${tail}`);
  return paths;
}

/** pino redact paths: auth headers of requests and responses, passwords and token-method tokens in bodies. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers["x-auth-token"]',
  'req.headers["x-subject-token"]',
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["x-subject-token"]',
  'res.headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((k) => atAnyDepth(k, SECRET_KEY_DEPTH)),
  // {"auth": {"identity": {"methods": ["token"], "token": {"id": "<a token>"}}}}
  ...atAnyDepth("auth.identity.token", 3),
];

interface RequestLike {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remotePort?: number };
}

interface ReplyLike {
  statusCode: number;
  getHeaders?: () => Record<string, unknown>;
}

interface ErrorLike {
  name?: string;
  message?: string;
  stack?: string;
  code?: unknown;
  statusCode?: unknown;
  type?: unknown;
}

/** Copies headers so that redaction, which censors in place while writing, cannot touch the live request. */
function copyHeaders(h: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return h === undefined ? undefined : { ...h };
}

function serializeReq(req: RequestLike): Record<string, unknown> {
  return {
    method: req.method,
    url: req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
    headers: copyHeaders(req.headers),
  };
}

function serializeRes(reply: ReplyLike): Record<string, unknown> {
  return { statusCode: reply.statusCode, headers: copyHeaders(reply.getHeaders?.()) };
}

/**
 * A JSON.parse failure: V8's message quotes the input around the fault
 * (`Unexpected token 'h', ..."assword": hunter2}" is not valid JSON`), and so does the stack.
 * fastify's own JSON parser already replaces it with FST_ERR_CTP_INVALID_JSON_BODY; this
 * catches the ones from other parsers and from handlers that parse for themselves.
 */
function quotesInput(err: ErrorLike): boolean {
  return err.name === "SyntaxError" && /JSON/.test(err.message ?? "");
}

const WITHHELD = "invalid JSON (parser message withheld: it quotes the input)";

type SerializedErr = { type: string; message: string; stack: string; [key: string]: unknown };

function serializeErr(err: ErrorLike, depth = 0): SerializedErr {
  if (err === null || typeof err !== "object") {
    return { type: typeof err, message: String(err), stack: "" };
  }
  const type = err.name ?? err.constructor?.name ?? "Error";
  const out: SerializedErr = quotesInput(err)
    ? { type, message: WITHHELD, stack: "" }
    : { type, message: err.message ?? "", stack: err.stack ?? "" };
  if (err.code !== undefined) out.code = err.code;
  if (err.statusCode !== undefined) out.statusCode = err.statusCode;
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined && depth < 5) out.cause = serializeErr(cause as ErrorLike, depth + 1);
  return out;
}

let stampMs = Number.NaN;
let stamp = "";

/**
 * pino's `timestamp`: `,"time":"<ISO 8601, ms>"`. Under load many lines fall in the same
 * millisecond, so the last string is reused while Date.now() has not moved (formatting a Date was
 * ~1.7 % of the service's busy time on the HTTP floor).
 */
export function isoTimestamp(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return stamp;
}

export interface LoggerOptionsInput {
  /** pino level: "fatal", "error", "warn", "info" (default), "debug", "trace" or "silent". */
  level?: string;
  /**
   * Where lines go (default: standard output through the process's BufferedLineWriter, which
   * holds lines up to 100 ms; see log-writer.ts). Tests pass an object with write(line).
   */
  stream?: { write(line: string): void };
}

/** fastify's logger options: its own and pino's. */
export type OpsLoggerOptions = Exclude<FastifyServerOptions["logger"], boolean | undefined>;

/** fastify `logger` options: JSON lines, ISO time, level by name, redaction, our serializers. */
export function loggerOptions(input: LoggerOptionsInput = {}): OpsLoggerOptions {
  const opts: OpsLoggerOptions = {
    level: input.level ?? "info",
    base: { service: "ovn-docker-server", pid: process.pid, hostname: hostname() },
    timestamp: isoTimestamp,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor: CENSOR },
    // fastify logs errors as log.error({ err, ... }, err.message): the message needs the same care.
    hooks: {
      logMethod(args, method) {
        const [first, msg] = args as unknown[];
        const err = (first as { err?: ErrorLike } | null)?.err;
        if (typeof msg === "string" && err !== null && typeof err === "object" && quotesInput(err)) {
          if (msg.includes(err.message ?? "")) (args as unknown[])[1] = WITHHELD;
        }
        return method.apply(this, args);
      },
    },
    serializers: {
      req: (req) => serializeReq(req as unknown as RequestLike),
      res: (res) => serializeRes(res as unknown as ReplyLike),
      err: (err) => serializeErr(err as unknown as ErrorLike),
    },
  };
  opts.stream = input.stream ?? stdoutLineWriter();
  return opts;
}

export interface ServerOptionsInput extends LoggerOptionsInput {
  /** Largest request body accepted, in bytes (default DEFAULT_BODY_LIMIT). */
  bodyLimit?: number;
}

export type OpsServerOptions = Pick<
  FastifyServerOptions,
  "logger" | "genReqId" | "requestIdHeader" | "logController" | "bodyLimit" | "childLoggerFactory"
>;

type ChildOptions = Parameters<FastifyBaseLogger["child"]>[1];

/**
 * A request's logger that becomes pino's child logger only when something logs through it.
 * fastify makes a child logger per request, and a pino child of a redacting logger serialises its
 * bindings through the redactor: ~2 % of the service's CPU per request (bench/server), spent for
 * nothing on the requests that never log through it, which are nearly all (the one-line request
 * log goes through unredactedLogger). What it writes, when it writes, is the same child's line.
 */
export class LazyChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly childBindings: Record<string, unknown>,
    private readonly opts: ChildOptions,
  ) {}

  /** The pino child, made on first use. */
  get logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.childBindings, this.opts);
    return this.made;
  }

  /** The child's level: its own (a route's logLevel) or its parent's, without making it. */
  get level(): string {
    return this.made?.level ?? this.opts?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  get silent(): FastifyBaseLogger["silent"] {
    return this.logger.silent;
  }

  child(bindings: Record<string, unknown>, opts?: ChildOptions): FastifyBaseLogger {
    return this.logger.child(bindings, opts);
  }

  // pino's other methods, for code that treats request.log as the pino child it stands for.
  isLevelEnabled(level: string): boolean {
    return (this.logger as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level);
  }

  bindings(): Record<string, unknown> {
    return (this.logger as unknown as { bindings(): Record<string, unknown> }).bindings();
  }

  fatal(...args: unknown[]): void {
    (this.logger.fatal as (...a: unknown[]) => void)(...args);
  }

  error(...args: unknown[]): void {
    (this.logger.error as (...a: unknown[]) => void)(...args);
  }

  warn(...args: unknown[]): void {
    (this.logger.warn as (...a: unknown[]) => void)(...args);
  }

  info(...args: unknown[]): void {
    (this.logger.info as (...a: unknown[]) => void)(...args);
  }

  debug(...args: unknown[]): void {
    (this.logger.debug as (...a: unknown[]) => void)(...args);
  }

  trace(...args: unknown[]): void {
    (this.logger.trace as (...a: unknown[]) => void)(...args);
  }
}

/** fastify's `childLoggerFactory`: request loggers made lazily (LazyChildLogger). */
export function lazyChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Record<string, unknown>,
  opts: ChildOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}

const plainLoggers = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();

/**
 * `log` without redaction: a child with no bindings of its own and an empty redact list, made once
 * per logger. Same destination, level, base fields, time and level format as `log`; for lines
 * that cannot hold a secret (see OneLineLogController).
 */
export function unredactedLogger(log: FastifyBaseLogger): FastifyBaseLogger {
  let plain = plainLoggers.get(log);
  if (plain === undefined) {
    plain = log.child({}, { redact: [] });
    plainLoggers.set(log, plain);
  }
  return plain;
}

/**
 * One line per request instead of fastify's two ("incoming request" with the request's headers,
 * then "request completed" with the response's): "request completed" once the response is sent,
 * with the request id (the logger's binding), method, url, status and duration (ms), and no
 * headers. Errors are still logged by fastify as before ("request errored", the error handler's
 * line). Serialising and redacting two sets of headers per request was a large part of the
 * service's CPU per request (docs/benchmarks.md, bench/server).
 *
 * The line is written without redaction: its fields are the request id, two strings from the
 * request line and two numbers, none of which a redact path can match (they name `password`,
 * `original_password`, `auth.identity.token` inside objects, and headers, none logged here). pino's
 * redaction runs on every top-level field once a path starts with a wildcard, and cost ~4 % of the
 * service's CPU at concurrency 16 for this line alone (bench/server). The request's own logger
 * (`request.log`, errors, handlers' lines) keeps it. The line is the same, byte for byte: the
 * unredacted logger writes the server's base fields, then the request id as the request's logger
 * would from its binding, then the same fields; strings from the request line are one-byte text,
 * which pino's own escaping and the redactor's JSON.stringify write alike.
 */
export class OneLineLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error) {
      super.requestCompleted(error, request, reply, metadata);
      return;
    }
    if (this.isLogDisabled(request)) return;
    const line = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime,
    };
    const log = reply.log;
    // A route's own log level (the probes' "warn") lives on the request's logger: when it differs
    // from the server's, take the request's logger (redacting, as before) to honour it exactly.
    const plain = unredactedLogger(request.server.log);
    if (plain.level === log.level)
      plain.info({ [this.requestIdLogLabel]: request.id, ...line }, "request completed");
    else log.info(line, "request completed");
  }
}

/**
 * The fastify server options this module owns, to spread into `Fastify({...})`:
 * the logger, `genReqId` (a server option, not a logger one: fastify ignores `logger.genReqId`),
 * the request id's log label and the body limit.
 */
export function serverOptions(input: ServerOptionsInput = {}): OpsServerOptions {
  return {
    logger: loggerOptions(input),
    genReqId: genRequestId,
    // genReqId reads the header itself, so that a malformed id is replaced, not trusted.
    requestIdHeader: false,
    logController: new OneLineLogController({ requestIdLogLabel: REQUEST_ID_LOG_LABEL }),
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: input.bodyLimit ?? DEFAULT_BODY_LIMIT,
  };
}
