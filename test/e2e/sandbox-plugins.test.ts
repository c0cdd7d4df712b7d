// Each sandbox VM's dockerd finds its own Docker network plugins: its /run/docker/plugins is the
// VM's DIR/vmN/docker-plugins (a bind mount in dockerd's private mount namespace), so two VMs
// can each run a plugin named "ovn" and each dockerd talks to its own. The plugins here are a
// minimal legacy remote network driver written inline, started with Sandbox.spawnInVm the way
// the real driver will be; one of them is killed -9 and started again, as the driver-restart
// test will do. The host's /run/docker/plugins must stay untouched throughout.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  layout,
  type Sandbox,
  type SpawnedProcess,
  startSandbox,
  stopSandbox,
} from "../../src/sandbox/index.js";
import { isAlive, readPidFile } from "../../src/sandbox/proc.js";
import { assertNothingLeft, removeDir, sandboxTempDir } from "../helpers/sandbox.js";

const HOST_PLUGINS = "/run/docker/plugins";

/** node -e PLUGIN SOCKET: logs every call as `CALL <path> <body>` on stdout (the spawned log). */
const PLUGIN = `
const http = require("http"), fs = require("fs");
const sock = process.argv[1];
try { fs.unlinkSync(sock); } catch {}
const answers = {
  "/Plugin.Activate": { Implements: ["NetworkDriver"] },
  "/NetworkDriver.GetCapabilities": { Scope: "local" },
};
http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    process.stdout.write("CALL " + req.url + " " + (body.trim() || "{}") + "\\n");
    res.writeHead(200, { "Content-Type": "application/vnd.docker.plugins.v1.2+json" });
    res.end(JSON.stringify(answers[req.url] || {}));
  });
}).listen(sock, () => process.stdout.write("LISTENING " + sock + " pid " + process.pid + "\\n"));
`;

/** Mount points of a process's mount namespace, from /proc/PID/mountinfo. */
async function mountPoints(pid: number | "self"): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/mountinfo`, "utf8");
  return text
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m);
}

/** The calls a plugin's log recorded: [path, body]. */
async function calls(p: SpawnedProcess): Promise<Array<[string, Record<string, unknown>]>> {
  const text = await readFile(p.log, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((l) => l.startsWith("CALL "))
    .map((l) => {
      const [, url, ...rest] = l.split(" ");
      return [url as string, JSON.parse(rest.join(" ")) as Record<string, unknown>];
    });
}

const created = async (p: SpawnedProcess) =>
  (await calls(p)).filter(([u]) => u === "/NetworkDriver.CreateNetwork").map(([, b]) => b.NetworkID);
const deleted = async (p: SpawnedProcess) =>
  (await calls(p)).filter(([u]) => u === "/NetworkDriver.DeleteNetwork").map(([, b]) => b.NetworkID);

describe("sandbox: a Docker network plugin per VM", () => {
  let dir: string;
  let sb: Sandbox;
  let hostBefore: string[];
  const plugins = new Map<string, SpawnedProcess>();

  const docker = async (vm: string, ...args: string[]) => {
    const r = await sb.exec(vm, ["docker", ...args], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `docker ${args.join(" ")} in ${vm}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const startPlugin = async (vm: string) => {
    const sock = path.join(sb.vm(vm).dockerPluginsDir, "ovn.sock");
    const p = await sb.spawnInVm(vm, [process.execPath, "-e", PLUGIN, sock], {
      name: "ovn-plugin",
      readySocket: sock,
    });
    plugins.set(vm, p);
    return p;
  };
  const plugin = (vm: string) => plugins.get(vm) as SpawnedProcess;

  before(async () => {
    hostBefore = existsSync(HOST_PLUGINS) ? (await readdir(HOST_PLUGINS)).sort() : [];
    dir = await sandboxTempDir("plug");
    sb = await startSandbox({ dir, vms: 2 });
  });

  after(async () => {
    try {
      await stopSandbox(dir);
    } finally {
      await removeDir(dir);
    }
  });

  test("each dockerd has its VM's plugin directory on /run/docker/plugins; the host's has nothing mounted", async () => {
    for (const vm of sb.vms) {
      const l = sb.vmLayout(vm.name);
      assert.equal(vm.dockerPluginsDir, path.join(dir, vm.name, "docker-plugins"));
      const pid = await readPidFile(l.dockerdPid);
      assert.ok(pid && (await isAlive(pid)), `${vm.name} dockerd pid file`);
      // the pid file is dockerd's own pid (nsenter, unshare and sh all exec)
      assert.equal((await readFile(`/proc/${pid}/comm`, "utf8")).trim(), "dockerd");
      assert.ok(
        (await mountPoints(pid)).includes(HOST_PLUGINS),
        `${vm.name} dockerd sees a mount on ${HOST_PLUGINS}`,
      );
      // and what is mounted there is the VM's directory: a file put there shows in dockerd's view
      const marker = path.join(vm.dockerPluginsDir, `marker-${vm.name}`);
      await writeFile(marker, "");
      try {
        assert.deepEqual(await readdir(`/proc/${pid}/root${HOST_PLUGINS}`), [`marker-${vm.name}`]);
      } finally {
        await rm(marker);
      }
    }
    assert.ok(
      !(await mountPoints("self")).includes(HOST_PLUGINS),
      `nothing mounted on ${HOST_PLUGINS} on the host`,
    );
  });

  test("a plugin named ovn in each VM: `docker network create -d ovn` reaches only that VM's plugin", async () => {
    await Promise.all(sb.vms.map((vm) => startPlugin(vm.name)));
    assert.notEqual(plugin("vm1").pid, plugin("vm2").pid);
    assert.deepEqual(existsSync(HOST_PLUGINS) ? (await readdir(HOST_PLUGINS)).sort() : [], hostBefore);

    const n1 = await docker("vm1", "network", "create", "-d", "ovn", "n1");
    assert.deepEqual(await created(plugin("vm1")), [n1]);
    assert.deepEqual(await created(plugin("vm2")), []);
    assert.equal((await calls(plugin("vm2"))).length, 0, "vm2's plugin was not even activated");

    const n2 = await docker("vm2", "network", "create", "-d", "ovn", "n2");
    assert.deepEqual(await created(plugin("vm2")), [n2]);
    assert.deepEqual(await created(plugin("vm1")), [n1]);
    // each VM's docker knows only its own network
    assert.match(
      await docker("vm1", "network", "ls", "--filter", "driver=ovn", "--format", "{{.Name}}"),
      /^n1$/,
    );
    assert.match(
      await docker("vm2", "network", "ls", "--filter", "driver=ovn", "--format", "{{.Name}}"),
      /^n2$/,
    );
    // the env the plugin got is the VM's (DOCKER_HOST, OVN_DOCKER_*), as with `exec`
    const environ = (await readFile(`/proc/${plugin("vm2").pid}/environ`, "utf8")).split("\0");
    assert.ok(environ.includes(`DOCKER_HOST=${sb.vm("vm2").dockerHost}`));
    assert.ok(environ.includes("OVN_DOCKER_VM=vm2"));
    const st = await sb.status();
    const listed = st.daemons.filter((d) => d.name.endsWith(" ovn-plugin"));
    assert.deepEqual(
      listed.map((d) => [d.name, d.pid, d.alive, d.log]),
      ["vm1", "vm2"].map((v) => [`${v} ovn-plugin`, plugin(v).pid, true, plugin(v).log]),
    );
  });

  test("spawnInVm refuses a name that is running; after kill -9 a new plugin takes over", async () => {
    await assert.rejects(startPlugin("vm1"), /already running/);
    const old = plugin("vm1");
    process.kill(old.pid, "SIGKILL");
    for (let i = 0; i < 100 && (await isAlive(old.pid)); i++) await new Promise((r) => setTimeout(r, 20));
    const fresh = await startPlugin("vm1");
    assert.notEqual(fresh.pid, old.pid);
    assert.equal(fresh.log, old.log); // the same log, appended to
    const before = (await calls(fresh)).length;
    const n3 = await docker("vm1", "network", "create", "-d", "ovn", "n3");
    const after = (await calls(fresh)).slice(before);
    assert.ok(
      after.some(([u, b]) => u === "/NetworkDriver.CreateNetwork" && b.NetworkID === n3),
      JSON.stringify(after),
    );
    assert.ok(!(await created(plugin("vm2"))).includes(n3));
  });

  test("docker network rm reaches the right plugin; down stops the plugins and leaves nothing", async () => {
    const ids = {
      vm1: (await docker("vm1", "network", "inspect", "-f", "{{.Id}}", "n1", "n3")).split("\n"),
      vm2: (await docker("vm2", "network", "inspect", "-f", "{{.Id}}", "n2")).split("\n"),
    };
    await docker("vm1", "network", "rm", "n1", "n3");
    await docker("vm2", "network", "rm", "n2");
    assert.deepEqual((await deleted(plugin("vm1"))).sort(), [...ids.vm1].sort());
    assert.deepEqual(await deleted(plugin("vm2")), ids.vm2);

    const pids = [...plugins.values()].map((p) => p.pid);
    const r = await sb.down();
    assert.deepEqual(r.problems, []);
    for (const v of ["vm1", "vm2"])
      assert.ok(
        r.stopped.some((s) => s.startsWith(`${v} ovn-plugin (pid`)),
        r.stopped.join(", "),
      );
    assert.deepEqual(r.swept, []);
    for (const pid of pids) assert.equal(await isAlive(pid), false, `plugin pid ${pid} after down`);
    await assertNothingLeft(dir);
    assert.ok(!existsSync(layout(dir).vm(1).dockerPluginsDir));
    assert.ok(!(await mountPoints("self")).includes(HOST_PLUGINS));
    assert.deepEqual(existsSync(HOST_PLUGINS) ? (await readdir(HOST_PLUGINS)).sort() : [], hostBefore);
  });
});
