// ovn-cni STATUS against a real Open_vSwitch database (ovsdb-server, no vswitchd): every VLAN
// tag of the VM in use is "not available" (code 50) before the API is even asked; a missing
// database too. The plugin runs as the runtime runs it: a process, CNI_* env, config on stdin.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type OvsdbServer, startOvsdbServer, stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { MAX_TAG } from "../../src/vswitch/vswitch.js";

const run = promisify(execFile);
const PLUGIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cni/main.js");

let dir: string;
let server: OvsdbServer;

function cni(
  command: string,
  conf: Record<string, unknown>,
): Promise<{ code: number | null; out: { code?: number; msg?: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLUGIN], {
      env: { PATH: process.env.PATH, CNI_COMMAND: command },
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out: out.trim() ? JSON.parse(out) : {} }));
    child.stdin.end(JSON.stringify(conf));
  });
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cni-status-"));
  server = await startOvsdbServer({ dir, schema: "/usr/share/openvswitch/vswitch.ovsschema" });
  const vsctl = (...a: string[]) => run("ovs-vsctl", [`--db=${server.unixRemote}`, "--no-wait", ...a]);
  await vsctl("init");
  await vsctl("add-br", "br-vm", "--", "add-port", "br-vm", "eth0");
  // Someone else's access ports hold every tag.
  const args: string[] = [];
  for (let t = 1; t <= MAX_TAG; t++) args.push("--", "add-port", "br-vm", `x${t}`, `tag=${t}`);
  await vsctl(...args);
  // Credentials that point nowhere: STATUS must not get as far as the API.
  await fs.writeFile(path.join(dir, "openrc"), "OS_AUTH_URL=http://127.0.0.1:9/v3\nOS_TOKEN=t\n", {
    mode: 0o600,
  });
});

after(async () => {
  try {
    await stopAllOvsdbServers();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

const conf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.1.0",
  name: "LS1",
  type: "ovn-cni",
  credentials: path.join(dir, "openrc"),
  ovsdb: server.unixRemote,
  stateDir: path.join(dir, "state"),
  ...extra,
});

test("STATUS: every VLAN tag in use is code 50, saying so", async () => {
  const r = await cni("STATUS", conf());
  assert.equal(r.code, 1);
  assert.equal(r.out.code, 50, JSON.stringify(r.out));
  assert.match(String(r.out.msg), /all 4094 VLAN tags of this VM are in use on br-vm/);
});

test("STATUS: no database is code 50 naming it, within a few seconds", async () => {
  const r = await cni("STATUS", conf({ ovsdb: `unix:${path.join(dir, "nope.sock")}` }));
  assert.equal(r.out.code, 50, JSON.stringify(r.out));
  assert.match(String(r.out.msg), /Open vSwitch.*nope\.sock/);
});
