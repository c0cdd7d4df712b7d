// The service's default log destination (src/server/ops/log-writer.ts): lines are held and
// written together, but never later than the flush interval, and never lost on an orderly exit.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Fastify from "fastify";
import { installGracefulShutdown, loggerOptions, serverOptions } from "../../src/server/ops/index.js";
import {
  BufferedLineWriter,
  FLUSH_INTERVAL_MS,
  stdoutLineWriter,
  writeAllSync,
} from "../../src/server/ops/log-writer.js";

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function capture(opts: { flushIntervalMs?: number; flushBytes?: number } = {}) {
  const writes: string[] = [];
  const writer = new BufferedLineWriter({ ...opts, sink: (d) => writes.push(d) });
  return { writer, writes };
}

describe("BufferedLineWriter", () => {
  test("holds lines and writes them together within the flush interval", async () => {
    const { writer, writes } = capture();
    writer.write("a\n");
    writer.write("b\n");
    assert.deepEqual(writes, []);
    await sleep(FLUSH_INTERVAL_MS / 2);
    writer.write("c\n");
    await sleep(FLUSH_INTERVAL_MS / 2 + 60);
    assert.deepEqual(writes, ["a\nb\nc\n"]);
    // The interval starts again at the next line.
    writer.write("d\n");
    await sleep(FLUSH_INTERVAL_MS + 60);
    assert.deepEqual(writes, ["a\nb\nc\n", "d\n"]);
  });

  test("writes at once when flushBytes have gathered", () => {
    const { writer, writes } = capture({ flushBytes: 10 });
    writer.write("12345\n");
    assert.deepEqual(writes, []);
    writer.write("6789\n");
    assert.deepEqual(writes, ["12345\n6789\n"]);
    writer.flushSync();
    assert.deepEqual(writes, ["12345\n6789\n"]);
  });

  test("pino's logger.flush() writes what is held, synchronously", () => {
    const { writer, writes } = capture();
    const app = Fastify(serverOptions({ level: "info", stream: writer }));
    app.log.info("one");
    assert.equal(writes.length, 0);
    (app.log as unknown as { flush(): void }).flush();
    assert.equal(writes.length, 1);
    assert.equal(JSON.parse(writes[0] as string).msg, "one");
  });

  test("the graceful shutdown writes the last lines before it exits", async () => {
    const { writer, writes } = capture();
    const app = Fastify(serverOptions({ level: "info", stream: writer }));
    await app.ready();
    let linesAtExit: string[] | undefined;
    const g = installGracefulShutdown(app, {
      signals: [],
      exit: () => {
        linesAtExit = writes.join("").trim().split("\n");
      },
    });
    await g.shutdown("test");
    assert.deepEqual(
      linesAtExit?.map((l) => JSON.parse(l).msg),
      ["shutdown: closing the listener, waiting for requests in flight", "shutdown: done"],
    );
  });

  test("a closed standard output (EPIPE) stops logging instead of throwing; other errors still throw", () => {
    let calls = 0;
    const epipe = new BufferedLineWriter({
      sink: () => {
        calls++;
        throw Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
      },
    });
    epipe.write("a\n");
    assert.doesNotThrow(() => epipe.flushSync());
    epipe.write("b\n");
    epipe.flushSync();
    assert.equal(calls, 1, "nothing is written after EPIPE");
    const eio = new BufferedLineWriter({
      sink: () => {
        throw Object.assign(new Error("write EIO"), { code: "EIO" });
      },
    });
    eio.write("a\n");
    assert.throws(() => eio.flushSync(), /EIO/);
  });

  test("writeAllSync writes everything", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "log-writer-"));
    try {
      const file = path.join(dir, "out");
      const fd = openSync(file, "w");
      const big = `${"x".repeat(300_000)}\n`;
      writeAllSync(fd, big);
      writeAllSync(fd, "é\n");
      closeSync(fd);
      assert.equal(await readFile(file, "utf8"), `${big}é\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("standard output", () => {
  test("is the logger's default destination", () => {
    assert.equal(loggerOptions({ level: "info" }).stream, stdoutLineWriter());
    assert.equal(stdoutLineWriter(), stdoutLineWriter());
  });

  // A process that logs one line and then ends in each way but SIGKILL: the line must be out.
  const writerModule = fileURLToPath(new URL("../../src/server/ops/log-writer.js", import.meta.url));
  const endings: Record<string, string> = {
    "the event loop empties (the timer does not hold the process)": "",
    "process.exit() at once": "process.exit(3);",
    "an uncaught exception": 'throw new Error("boom");',
  };
  for (const [how, ending] of Object.entries(endings)) {
    test(`its lines are written when ${how}`, async () => {
      const script = `
        const { stdoutLineWriter } = await import(${JSON.stringify(writerModule)});
        stdoutLineWriter().write('{"msg":"last words"}\\n');
        ${ending}`;
      const started = Date.now();
      const r = await execFileP(process.execPath, ["--input-type=module", "-e", script]).catch(
        (e: { stdout: string; code: number }) => e,
      );
      assert.equal(r.stdout, '{"msg":"last words"}\n');
      assert.ok(Date.now() - started < 5000);
    });
  }
});
