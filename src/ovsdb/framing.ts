// Incremental framing of an OVSDB JSON-RPC stream (RFC 7047 section 4): the stream is a
// sequence of JSON objects with no delimiter between them, and the transport may split a
// message across reads or deliver several in one. The scanner tracks only what delimits a
// top-level object (nesting depth, whether it is inside a string, escapes); it works on
// bytes, which is safe for UTF-8 because every delimiter is ASCII and never part of a
// multi-byte sequence, so a multi-byte character split across reads is reassembled intact.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class FramingError extends Error {
  override name = "FramingError";
}

export interface FramerOptions {
  /** Largest message accepted, in bytes (default 256 MiB); a bigger one is a protocol error. */
  maxMessageBytes?: number;
}

export class JsonStreamFramer {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly maxBytes: number;

  constructor(opts: FramerOptions = {}) {
    this.maxBytes = opts.maxMessageBytes ?? 256 * 1024 * 1024;
  }

  /** Feeds one chunk; returns the complete messages it finished, parsed, in order. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    const n = chunk.length;
    let start = 0;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let i = 0;
    while (i < n) {
      if (inString) {
        // Most bytes are inside strings: jump to the next quote (native search), then see
        // whether it is escaped by counting the backslashes right before it.
        if (escaped) {
          escaped = false;
          i++;
          continue;
        }
        const q = chunk.indexOf(QUOTE, i);
        const end = q === -1 ? n : q;
        let run = 0;
        for (let j = end - 1; j >= i && chunk[j] === BACKSLASH; j--) run++;
        if (q === -1) {
          // The string goes on in the next chunk; an odd run escapes its first byte.
          escaped = run % 2 === 1;
          i = n;
        } else {
          if (run % 2 === 0) inString = false;
          i = q + 1;
        }
        continue;
      }
      const c = chunk[i] as number;
      if (depth === 0) {
        // Between messages: only whitespace may appear, then the next object.
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          i++;
          start = i;
          continue;
        }
        if (c !== OPEN_BRACE) {
          this.depth = depth;
          throw new FramingError(
            `expected '{' to start a JSON-RPC message, got byte 0x${c.toString(16)} (${JSON.stringify(String.fromCharCode(c))})`,
          );
        }
        start = i;
        depth = 1;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) {
          out.push(this.finish(chunk.subarray(start, i + 1)));
          start = i + 1;
        }
      }
      i++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    if (depth > 0 || inString) {
      const rest = chunk.subarray(start);
      this.partsBytes += rest.length;
      if (this.partsBytes > this.maxBytes) {
        throw new FramingError(`message larger than ${this.maxBytes} bytes`);
      }
      // Copy: the caller may reuse the chunk's memory after push returns.
      this.parts.push(Buffer.from(rest));
    }
    return out;
  }

  /** True when a message has started but not ended. */
  get pending(): boolean {
    return this.depth > 0;
  }

  reset(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private finish(last: Buffer): unknown {
    let bytes = last;
    if (this.parts.length > 0) {
      this.parts.push(last);
      bytes = Buffer.concat(this.parts, this.partsBytes + last.length);
      this.parts = [];
      this.partsBytes = 0;
    }
    if (bytes.length > this.maxBytes) throw new FramingError(`message larger than ${this.maxBytes} bytes`);
    const text = bytes.toString("utf8");
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FramingError(`invalid JSON in message (${(e as Error).message}): ${text.slice(0, 120)}`);
    }
  }
}
