// Where the service's log lines go by default: standard output, a few lines per write(2).
//
// pino's default destination writes every line with its own synchronous write(2), one per
// request; syscalls are dear on the machines this runs on (~3 % of the service's CPU at
// concurrency 16 in bench/server). This writer keeps lines in memory and writes them together,
// synchronously, when
//   - FLUSH_BYTES have gathered,
//   - FLUSH_INTERVAL_MS have passed since the first line still held (an unref'd timer, so a
//     `tail -f` of the log sees every line within that time, and an idle process may exit),
//   - the process exits (its 'exit' event: process.exit(), the end of the event loop, an uncaught
//     exception), or the graceful shutdown finishes (ops/shutdown.ts),
//   - pino's logger.flush() is called.
// Only a process killed outright (SIGKILL, a crash of the runtime itself) loses lines: those of its
// last FLUSH_INTERVAL_MS at most (docs/operations.md).

import { writeSync } from "node:fs";

export const FLUSH_INTERVAL_MS = 100;
export const FLUSH_BYTES = 16 * 1024;

export interface LineWriterOptions {
  /** Writes a chunk of lines, all of it, before returning (default: to file descriptor 1). */
  sink?: (data: string) => void;
  /** Longest a line is held, in ms (default FLUSH_INTERVAL_MS). */
  flushIntervalMs?: number;
  /** Held characters that trigger a write at once (default FLUSH_BYTES). */
  flushBytes?: number;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `data` to `fd`, waiting out EAGAIN (standard output may be a non-blocking pipe). */
export function writeAllSync(fd: number, data: string): void {
  let buf = Buffer.from(data);
  while (buf.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, buf);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 1);
      continue;
    }
    buf = buf.subarray(n);
  }
}

export class BufferedLineWriter {
  private held: string[] = [];
  private heldChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sink: (data: string) => void;
  private readonly intervalMs: number;
  private readonly flushBytes: number;

  constructor(opts: LineWriterOptions = {}) {
    this.sink = opts.sink ?? ((data) => writeAllSync(1, data));
    this.intervalMs = opts.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.flushBytes = opts.flushBytes ?? FLUSH_BYTES;
  }

  /** pino's stream interface: one line, newline included. */
  write(line: string): void {
    this.held.push(line);
    this.heldChars += line.length;
    if (this.heldChars >= this.flushBytes) {
      this.flushSync();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flushSync();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes every line held, now. */
  flushSync(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.held.length === 0) return;
    const data = this.held.length === 1 ? (this.held[0] as string) : this.held.join("");
    this.held = [];
    this.heldChars = 0;
    if (this.broken) return;
    try {
      this.sink(data);
    } catch (e) {
      // The reader of standard output went away (EPIPE: a log shipper or `| tee` ended): as
      // pino's own destination does, stop logging rather than take the service down with it.
      if ((e as NodeJS.ErrnoException).code !== "EPIPE") throw e;
      this.broken = true;
      process.stderr.write(
        "ovn-docker: standard output is closed (EPIPE); log lines are dropped from now on\n",
      );
    }
  }

  /** Standard output went away: lines are dropped. */
  private broken = false;

  /** pino's logger.flush(cb) calls this. */
  flush(cb?: (err?: Error) => void): void {
    try {
      this.flushSync();
    } catch (e) {
      if (cb) cb(e as Error);
      else throw e;
      return;
    }
    cb?.();
  }
}

let stdoutWriter: BufferedLineWriter | undefined;

/** The process's one writer to standard output, flushed when the process exits. */
export function stdoutLineWriter(): BufferedLineWriter {
  if (stdoutWriter === undefined) {
    const writer = new BufferedLineWriter();
    process.on("exit", () => writer.flushSync());
    stdoutWriter = writer;
  }
  return stdoutWriter;
}
