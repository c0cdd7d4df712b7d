// `ovn-docker sandbox demo` (what `make demo` runs), as a user runs it: from the CLI, on a fresh
// directory. It must finish with exit 0 (each step checks what it shows), leave the sandbox
// running, and `sandbox down` must then leave nothing behind.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { stopSandbox } from "../../src/sandbox/index.js";
import { CLI } from "../helpers/server-process.js";

const run = promisify(execFile);
let dir: string | undefined;

after(async () => {
  if (!dir) return;
  try {
    await stopSandbox(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("sandbox demo plays the seed's workflow and leaves the sandbox running", async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ovn-docker-e2e-demo-"));
  const { stdout } = await run(process.execPath, [CLI, "sandbox", "demo", "--dir", dir], {
    timeout: 600_000,
    maxBuffer: 1 << 24,
  });
  for (const shown of [
    "ovn-docker create network LS1",
    "ovn-docker list networks",
    "--network=LS1 run -d --net=none",
    "parent_name",
    "3 packets transmitted, 3 packets received",
    "unreachable, as it should be",
    "ovn-docker rm",
    "Done in",
    "sandbox down",
  ]) {
    assert.ok(stdout.includes(shown), `the demo shows "${shown}":\n${stdout}`);
  }
  const status = await run(process.execPath, [CLI, "sandbox", "status", "--dir", dir, "-f", "json"]);
  assert.equal((JSON.parse(status.stdout) as { healthy: boolean }).healthy, true, "still running afterwards");
  const down = await stopSandbox(dir);
  assert.deepEqual(down.problems, [], "down leaves nothing behind");
});
