import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FramingError, JsonStreamFramer } from "../../src/ovsdb/framing.js";

const enc = (v: unknown) => Buffer.from(JSON.stringify(v), "utf8");

test("one message in one chunk", () => {
  const f = new JsonStreamFramer();
  assert.deepEqual(f.push(enc({ id: 1, result: [] })), [{ id: 1, result: [] }]);
  assert.equal(f.pending, false);
});

test("several messages in one chunk, with and without whitespace between them", () => {
  const f = new JsonStreamFramer();
  const text = '{"a":1}{"b":[2,{"c":3}]}\n {"d":"}{"}\r\n\t{"e":"\\"}"}';
  assert.deepEqual(f.push(Buffer.from(text)), [{ a: 1 }, { b: [2, { c: 3 }] }, { d: "}{" }, { e: '"}' }]);
});

test("a message split at every byte position comes out whole", () => {
  const msg = {
    method: "update2",
    params: ["m1", { T: { u: { insert: { s: 'br{ace}s \\ and "quotes"' } } } }],
  };
  const bytes = enc(msg);
  for (let i = 1; i < bytes.length; i++) {
    const f = new JsonStreamFramer();
    assert.deepEqual(f.push(bytes.subarray(0, i)), []);
    assert.equal(f.pending, true);
    assert.deepEqual(f.push(bytes.subarray(i)), [msg], `split at ${i}`);
  }
});

test("multi-byte UTF-8 characters split across reads are reassembled", () => {
  const msg = { s: "Grüße, 世界, 🚀, \u2028" };
  const bytes = enc(msg);
  for (let i = 1; i < bytes.length; i++) {
    const f = new JsonStreamFramer();
    const out = [...f.push(bytes.subarray(0, i)), ...f.push(bytes.subarray(i))];
    assert.deepEqual(out, [msg]);
  }
});

test("byte-at-a-time delivery of several messages", () => {
  const msgs = [{ id: 1 }, { id: 2, s: "ä{" }, { id: 3, a: [[[]]] }];
  const bytes = Buffer.concat(msgs.map(enc));
  const f = new JsonStreamFramer();
  const out: unknown[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(out, msgs);
});

test("a large message (8 MiB) in 64 KiB chunks", () => {
  const rows: Record<string, unknown> = {};
  for (let i = 0; i < 40000; i++)
    rows[`uuid-${i}`] = { insert: { name: `lsp-${i}`, addresses: ["x".repeat(150)] } };
  const msg = { method: "update2", params: ["m", { Logical_Switch_Port: rows }] };
  const bytes = enc(msg);
  assert.ok(bytes.length > 6 * 1024 * 1024);
  const f = new JsonStreamFramer();
  const out: unknown[] = [];
  for (let i = 0; i < bytes.length; i += 65536) out.push(...f.push(bytes.subarray(i, i + 65536)));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0], msg);
});

test("chunks reused by the caller after push do not corrupt a pending message", () => {
  const f = new JsonStreamFramer();
  const buf = Buffer.from('{"a":"xy');
  assert.deepEqual(f.push(buf), []);
  buf.fill(0x20);
  assert.deepEqual(f.push(Buffer.from('z"}')), [{ a: "xyz" }]);
});

test("garbage between messages is a protocol error that says what it saw", () => {
  const f = new JsonStreamFramer();
  assert.throws(
    () => f.push(Buffer.from('{"a":1}x')),
    (e: Error) => e instanceof FramingError && /0x78/.test(e.message),
  );
});

test("a message over the size limit is refused", () => {
  const f = new JsonStreamFramer({ maxMessageBytes: 100 });
  assert.throws(() => f.push(Buffer.from(`{"a":"${"x".repeat(200)}`)), FramingError);
});

test("invalid JSON inside balanced braces is reported", () => {
  const f = new JsonStreamFramer();
  assert.throws(() => f.push(Buffer.from("{a:1}")), /invalid JSON/);
});

test("property: any sequence of JSON-RPC messages cut anywhere comes out as sent", () => {
  const message = fc.record({
    id: fc.oneof(fc.integer(), fc.constant(null), fc.string()),
    method: fc.string({ unit: "binary" }),
    params: fc.array(fc.jsonValue()),
  });
  fc.assert(
    fc.property(
      fc.array(message, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (msgs, cuts) => {
        const bytes = Buffer.concat(msgs.map(enc));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const f = new JsonStreamFramer();
        const out: unknown[] = [];
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          out.push(...f.push(bytes.subarray(prev, p)));
          prev = p;
        }
        assert.deepEqual(out, JSON.parse(JSON.stringify(msgs)));
      },
    ),
    { numRuns: 300 },
  );
});

test("runs of backslashes before a quote, split at every byte position", () => {
  // Inside strings the framer jumps from quote to quote and counts the backslashes before each.
  const msgs = [
    { s: "a\\" },
    { s: 'a\\"b' },
    { s: "\\\\" },
    { s: '\\\\\\"}{' },
    { s: '"' },
    { k: ["\\", '"\\', ""] },
  ];
  const bytes = Buffer.concat(msgs.map(enc));
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 3)]) {
      const f = new JsonStreamFramer();
      const out = [
        ...f.push(bytes.subarray(0, i)),
        ...f.push(bytes.subarray(i, j)),
        ...f.push(bytes.subarray(j)),
      ];
      assert.deepEqual(out, msgs, `split at ${i}, ${j}`);
    }
  }
});
