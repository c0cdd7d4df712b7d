// The measured HTTP client of bench/server: HTTP/1.1 over plain keep-alive sockets, one request
// outstanding per connection, as a load generator (wrk, autocannon) does it. Each request is one
// socket write of text rendered from a header block made once; each response is read by its
// Content-Length. It runs on the same two cores as the service and NB, so what it spends is
// taken from them: node:http's client cost ~120-180 µs of CPU per request here, this one a
// fraction of that (docs/benchmarks.md). It understands exactly what the service sends (a status
// line, headers, a Content-Length body) and fails loudly on anything else.

import net from "node:net";

export interface HttpResponse {
  status: number;
  text: string;
}

const HEADER_END = Buffer.from("\r\n\r\n");

/** One keep-alive connection: one request at a time. */
class Connection {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Once the head is read: where the body starts and how long it is. */
  private head: { status: number; bodyStart: number; length: number } | undefined;
  private waiting: { resolve: (r: HttpResponse) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on("data", (c: Buffer) => this.onData(c));
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.fail(new Error("the service closed the connection")));
  }

  static open(host: string, port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new Connection(s));
      });
      s.once("error", reject);
    });
  }

  get usable(): boolean {
    return this.failure === undefined;
  }

  send(request: string): Promise<HttpResponse> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error("bench HTTP client: a request is already outstanding"));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  private onData(c: Buffer): void {
    this.chunks.push(c);
    this.bytes += c.length;
    if (!this.waiting) {
      this.fail(new Error(`the service sent ${this.bytes} bytes nobody asked for`));
      this.socket.destroy();
      return;
    }
    const all = this.chunks.length === 1 ? c : Buffer.concat(this.chunks, this.bytes);
    if (this.chunks.length > 1) this.chunks = [all];
    try {
      this.head ??= parseHead(all);
    } catch (e) {
      this.fail(e as Error);
      this.socket.destroy();
      return;
    }
    if (!this.head) return;
    const { status, bodyStart, length } = this.head;
    const end = bodyStart + length;
    if (all.length < end) return;
    if (all.length > end) {
      this.fail(new Error(`the service sent ${all.length - end} bytes after a response`));
      this.socket.destroy();
      return;
    }
    const text = all.toString("utf8", bodyStart, end);
    this.chunks = [];
    this.bytes = 0;
    this.head = undefined;
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve({ status, text });
  }
}

/** The status and body framing of a response whose head has arrived; undefined until it has. */
function parseHead(b: Buffer): { status: number; bodyStart: number; length: number } | undefined {
  const end = b.indexOf(HEADER_END);
  if (end === -1) return undefined;
  const lines = b.toString("latin1", 0, end).split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? "");
  if (!m) throw new Error(`bench HTTP client: bad status line ${JSON.stringify(lines[0])}`);
  let length: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    if (name === "content-length") length = Number(line.slice(colon + 1).trim());
    else if (name === "transfer-encoding")
      throw new Error(
        "bench HTTP client: the service sent a chunked body; this client reads Content-Length only",
      );
  }
  if (length === undefined || !Number.isInteger(length) || length < 0)
    throw new Error("bench HTTP client: a response without a valid Content-Length");
  return { status: Number(m[1]), bodyStart: end + HEADER_END.length, length };
}

/**
 * Up to `concurrency` keep-alive connections to one service, opened as requests need them (so
 * every worker of the run ends up with its own, as with node:http's keep-alive Agent).
 * `headers` go on every request.
 */
export class BenchHttpClient {
  private readonly idle: Connection[] = [];
  private readonly all: Connection[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly common: string;

  constructor(url: string, headers: Record<string, string>) {
    const u = new URL(url);
    if (u.protocol !== "http:") throw new Error(`bench HTTP client: plain http only, not ${url}`);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.common = `Host: ${u.host}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}`;
  }

  /** One request; resolves with the status and the whole body once it has been read. */
  async request(method: string, path: string, body?: string): Promise<HttpResponse> {
    const text =
      body === undefined
        ? `${method} ${path} HTTP/1.1\r\n${this.common}\r\n`
        : `${method} ${path} HTTP/1.1\r\n${this.common}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    let c = this.idle.pop();
    // A connection the service ended while it sat idle is dropped, not used.
    while (c && !c.usable) c = this.idle.pop();
    if (!c) {
      c = await Connection.open(this.host, this.port);
      this.all.push(c);
    }
    const r = await c.send(text);
    if (c.usable) this.idle.push(c);
    return r;
  }

  close(): void {
    for (const c of this.all) c.close();
    this.all.length = 0;
    this.idle.length = 0;
  }
}
