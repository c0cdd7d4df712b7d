// The Docker remote network + IPAM driver end to end: the real dockerd of Debian's docker.io in
// sandbox VMs talks to `ovn-docker driver` (started in each VM as "ovn", on the VM's own plugin
// directory). A `docker run --net LS1` container in vm1 pings a container the CLI started in vm2;
// the driver is killed -9 and started again, and `docker rm` / `docker network rm` still free
// everything; bad inputs are one clear message and change nothing; each call's error path answers
// in the protocol's own field.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { request } from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Sandbox, type SpawnedProcess, startSandbox } from "../../src/sandbox/index.js";
import { removeDir, sandboxTempDir } from "../helpers/sandbox.js";

const run = promisify(execFile);
const IMAGE = "localhost/busybox:latest";

let sb: Sandbox;
let dir: string;
const drivers = new Map<string, SpawnedProcess>();

const socketOf = (vm: string) => path.join(sb.vm(vm).dockerPluginsDir, "ovn.sock");

async function startDriver(vm: string): Promise<SpawnedProcess> {
  const p = await sb.spawnInVm(vm, ["ovn-docker", "driver", "--socket", socketOf(vm)], {
    name: "ovn-driver",
    readySocket: socketOf(vm),
  });
  drivers.set(vm, p);
  return p;
}

before(async () => {
  dir = await sandboxTempDir("driver");
  sb = await startSandbox({ dir, vms: 2, engine: "docker" });
  await startDriver("vm1");
});

after(async () => {
  try {
    if (sb) {
      for (const vm of ["vm1", "vm2"]) {
        const left = (await sb.exec(vm, ["docker", "ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (left.length) await sb.exec(vm, ["docker", "rm", "-f", ...left]);
        for (const n of ["LS1", "LS2", "LS3", "LS4", "NEWNET"])
          await sb.exec(vm, ["docker", "network", "rm", n]);
      }
      await sb.down();
    }
  } finally {
    await removeDir(dir);
  }
});

async function ovn(vm: string, args: string[]) {
  return sb.exec(vm, ["ovn-docker", ...args], { timeoutMs: 120_000 });
}

async function ok(vm: string, argv: string[]): Promise<string> {
  const r = await sb.exec(vm, argv, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${argv.join(" ")} in ${vm} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

async function nbctl(...args: string[]): Promise<string> {
  const { stdout } = await run("ovn-nbctl", [`--db=${sb.nbUnix}`, ...args]);
  return stdout.trim();
}

/** Everything a leak could hide in: NB ports, the VM's OVS ports and links, API ports and networks. */
async function snapshot(vm: string) {
  const v = sb.vm(vm);
  const vsctl = await run("ovs-vsctl", [`--db=${v.ovsdbRemote}`, "list-ports", "br-vm"]);
  const links = await sb.exec(vm, ["ip", "-o", "link", "show"]);
  const api = sb.client("demo");
  return {
    nb: (await nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port")).split("\n").sort().join(" "),
    ovs: vsctl.stdout.split("\n").sort().join(" "),
    links: links.stdout
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0])
      .filter(Boolean)
      .sort()
      .join(" "),
    apiPorts: (await api.listPorts())
      .map((p) => p.id)
      .sort()
      .join(" "),
    networks: (await api.listNetworks())
      .map((n) => n.name)
      .sort()
      .join(" "),
    dockerNetworks: (await sb.exec(vm, ["docker", "network", "ls", "--format", "{{.Name}}"])).stdout
      .split("\n")
      .sort()
      .join(" "),
  };
}

/** POST /<call> on the driver's socket: status, content type, parsed body. */
function call(vm: string, name: string, body: unknown | string = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Promise<{ status: number; type: string; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      {
        socketPath: socketOf(vm),
        path: `/${name}`,
        method: "POST",
        headers: { "Content-Type": "application/vnd.docker.plugins.v1.2+json" },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8").on("data", (d: string) => {
          data += d;
        });
        res.once("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers["content-type"]),
            body: JSON.parse(data) as Record<string, unknown>,
          }),
        );
      },
    );
    req.once("error", reject);
    req.end(text);
  });
}

async function waitDead(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`pid ${pid} still alive`);
}

describe("ovn-docker driver with the real dockerd", () => {
  let ip1 = "";
  let ip2 = "";
  let portId = "";
  let tag = 0;
  let before1: Awaited<ReturnType<typeof snapshot>>;

  test("docker network create -d ovn --ipam-driver ovn, docker run, ping a CLI container in vm2", async () => {
    await ok("vm1", ["ovn-docker", "create", "network", "LS1", "--subnet", "10.30.0.0/24"]);
    // A host route on the subnet becomes a static route in the container (Join's StaticRoutes).
    const api = sb.client("demo");
    const [subnet] = await api.listSubnets({ cidr: "10.30.0.0/24" });
    assert.ok(subnet);
    await api.request("PUT", `/subnets/${subnet.id}`, "adding a host route", {
      subnet: { host_routes: [{ destination: "10.77.0.0/16", nexthop: "10.30.0.254" }] },
    });
    before1 = await snapshot("vm1");
    await ok("vm1", [
      "docker",
      "network",
      "create",
      "-d",
      "ovn",
      "--ipam-driver",
      "ovn",
      "--ipam-opt",
      "network=LS1",
      "LS1",
    ]);
    const inspectNet = JSON.parse(await ok("vm1", ["docker", "network", "inspect", "LS1"])) as Array<{
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
    }>;
    assert.deepEqual(inspectNet[0]?.IPAM.Config, [{ Subnet: "10.30.0.0/24", Gateway: "10.30.0.1" }]);

    await ok("vm1", ["docker", "run", "-d", "--name", "d1", "--net", "LS1", IMAGE, "sleep", "1000"]);
    ip1 = await ok("vm1", ["docker", "inspect", "-f", "{{.NetworkSettings.Networks.LS1.IPAddress}}", "d1"]);
    assert.match(ip1, /^10\.30\.0\.\d+$/);
    const addr = await ok("vm1", ["docker", "exec", "d1", "ip", "-o", "addr", "show", "eth0"]);
    assert.match(addr, new RegExp(`inet ${ip1.replaceAll(".", "\\.")}/24`));
    assert.match(await ok("vm1", ["docker", "exec", "d1", "ip", "link", "show", "eth0"]), /mtu 1442/);
    const routes = await ok("vm1", ["docker", "exec", "d1", "ip", "route"]);
    assert.match(routes, /default via 10\.30\.0\.1 dev eth0/);
    assert.match(routes, /10\.77\.0\.0\/16 via 10\.30\.0\.254 dev eth0/);

    // The API port: parent = vm1's vif-id, a VLAN tag; the NB row has parent_name and tag.
    const ports = (await sb.client("demo").listPorts()).filter((p) =>
      p.fixed_ips.some((f) => f.ip_address === ip1),
    );
    assert.equal(ports.length, 1, `one API port holds ${ip1}`);
    const port = ports[0] as (typeof ports)[number];
    portId = port.id;
    assert.equal(port["binding:profile"]?.parent_name, sb.vm("vm1").vifId);
    tag = Number(port["binding:profile"]?.tag);
    assert.ok(tag >= 1 && tag <= 4094, `tag ${tag}`);
    assert.equal(port.status, "ACTIVE");
    const mac = await ok("vm1", [
      "docker",
      "inspect",
      "-f",
      "{{.NetworkSettings.Networks.LS1.MacAddress}}",
      "d1",
    ]);
    assert.equal(mac, port.mac_address);
    assert.equal(await nbctl("get", "Logical_Switch_Port", portId, "parent_name"), `"${sb.vm("vm1").vifId}"`);
    assert.equal(await nbctl("get", "Logical_Switch_Port", portId, "tag"), String(tag));
    const ovsPorts = await run("ovs-vsctl", [`--db=${sb.vm("vm1").ovsdbRemote}`, "list-ports", "br-vm"]);
    assert.ok(ovsPorts.stdout.split("\n").includes(`ovd${tag}`));

    // A container attached by the CLI in the other VM.
    const r = await ovn("vm2", ["--network=LS1", "run", "-d", "--name", "c2", IMAGE, "sleep", "1000"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse((await ovn("vm2", ["ps", "-f", "json"])).stdout) as Array<{ ips: string[] }>;
    ip2 = rows[0]?.ips[0] ?? "";
    assert.match(ip2, /^10\.30\.0\.\d+$/);

    await ok("vm1", ["docker", "exec", "d1", "ping", "-c", "3", "-W", "3", ip2]);
    await ok("vm2", ["docker", "exec", "c2", "ping", "-c", "3", "-W", "3", ip1]);
  });

  test("kill -9 the driver, start it again: docker rm and docker network rm free everything", async () => {
    assert.ok(portId, "needs the previous test");
    const old = drivers.get("vm1") as SpawnedProcess;
    process.kill(old.pid, "SIGKILL");
    await waitDead(old.pid);
    // The stale socket file is still there: the new driver sees nobody answers and takes it over.
    await startDriver("vm1");

    // A restarted driver still knows the endpoint (EndpointOperInfo from the VM's OVSDB rows).
    const ep = JSON.parse(
      await ok("vm1", ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks.LS1}}", "d1"]),
    ) as { EndpointID: string; NetworkID: string };
    const info = await call("vm1", "NetworkDriver.EndpointOperInfo", {
      NetworkID: ep.NetworkID,
      EndpointID: ep.EndpointID,
    });
    assert.equal((info.body.Value as Record<string, unknown>)["ovn-docker.port-id"], portId);
    await ok("vm1", ["docker", "exec", "d1", "ping", "-c", "1", "-W", "3", ip2]);

    await ok("vm1", ["docker", "rm", "-f", "d1"]);
    assert.equal((await sb.client("demo").listPorts({ id: portId })).length, 0, "API port deleted");
    assert.equal(
      await nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", `name=${portId}`),
      "",
    );
    const ovsPorts = await run("ovs-vsctl", [`--db=${sb.vm("vm1").ovsdbRemote}`, "list-ports", "br-vm"]);
    assert.ok(!ovsPorts.stdout.split("\n").includes(`ovd${tag}`), "OVS port removed");
    const links = await sb.exec("vm1", ["ip", "-o", "link", "show"]);
    assert.doesNotMatch(links.stdout, new RegExp(`ov[dc]${tag}\\b`), "veth removed");

    await ok("vm1", ["docker", "network", "rm", "LS1"]);
    // The CLI's container in vm2 was left alone; without it, vm1 and the API are as before.
    assert.equal((await ovn("vm2", ["rm", "c2"])).code, 0);
    assert.deepEqual(await snapshot("vm1"), before1, "vm1 as before the Docker network");
  });

  test("bad inputs: one clear message each, nothing changed", async () => {
    await ok("vm1", ["ovn-docker", "create", "network", "LS2", "--subnet", "10.31.0.0/24"]);
    const s0 = await snapshot("vm1");
    const create = (...args: string[]) =>
      sb.exec("vm1", ["docker", "network", "create", "-d", "ovn", ...args]);
    const cases: Array<[string[], RegExp]> = [
      [["BAD"], /--ipam-driver ovn/],
      [["--ipam-driver", "ovn", "BAD"], /--ipam-opt network=/],
      [["--ipam-driver", "ovn", "--ipam-opt", "network=NOPE", "BAD"], /unknown network "NOPE"/],
      [["--ipam-driver", "ovn", "--subnet", "10.99.0.0/24", "BAD"], /no API subnet 10\.99\.0\.0\/24/],
      [["--ipam-driver", "ovn", "--ipam-opt", "network=LS2", "--ipv6", "BAD"], /IPv6/],
      [
        ["--ipam-driver", "ovn", "--ipam-opt", "network=LS2", "--subnet", "10.32.0.0/24", "BAD"],
        /has no subnet/,
      ],
      [
        ["--ipam-driver", "ovn", "--ipam-opt", "network=LS2", "--ipam-opt", "color=red", "BAD"],
        /unknown --ipam-opt color/,
      ],
      [["--ipam-driver", "ovn", "--ipam-opt", "network=LS2", "-o", "network=mgmt", "BAD"], /disagrees/],
      [["--ipam-driver", "ovn", "--ipam-opt", "network=LS2", "-o", "vlan=7", "BAD"], /unknown -o vlan/],
    ];
    for (const [args, why] of cases) {
      const r = await create(...args);
      assert.notEqual(r.code, 0, `docker network create ${args.join(" ")} succeeded`);
      assert.match(r.stderr, why, `docker network create ${args.join(" ")}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.deepEqual(await snapshot("vm1"), s0);

    // A chosen MAC is refused at CreateEndpoint; the address already taken is given back.
    await ok("vm1", [
      "docker",
      "network",
      "create",
      "-d",
      "ovn",
      "--ipam-driver",
      "ovn",
      "--ipam-opt",
      "network=LS2",
      "LS2",
    ]);
    const s1 = await snapshot("vm1");
    const r = await sb.exec("vm1", [
      "docker",
      "run",
      "-d",
      "--net",
      "LS2",
      "--mac-address",
      "02:00:00:00:00:01",
      IMAGE,
      "sleep",
      "1",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /drop --mac-address/);
    const left = (await sb.exec("vm1", ["docker", "ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (left.length) await ok("vm1", ["docker", "rm", "-f", ...left]);
    assert.deepEqual(await snapshot("vm1"), s1, "the refused endpoint's port is gone");
    await ok("vm1", ["docker", "network", "rm", "LS2"]);
    await ok("vm1", ["ovn-docker", "delete", "network", "LS2"]);
  });

  test("--ipam-opt network=NEW --subnet CIDR creates the API network; docker network rm deletes it", async () => {
    const s0 = await snapshot("vm1");
    await ok("vm1", [
      "docker",
      "network",
      "create",
      "-d",
      "ovn",
      "--ipam-driver",
      "ovn",
      "--ipam-opt",
      "network=NEWNET",
      "--subnet",
      "10.33.0.0/24",
      "NEWNET",
    ]);
    const nets = await sb.client("demo").listNetworks({ name: "NEWNET" });
    assert.equal(nets.length, 1);
    // docker run --ip (allowed by Docker on networks created with --subnet): that address.
    const out = await ok("vm1", [
      "docker",
      "run",
      "--rm",
      "--net",
      "NEWNET",
      "--ip",
      "10.33.0.77",
      IMAGE,
      "ip",
      "-o",
      "-4",
      "addr",
      "show",
      "eth0",
    ]);
    assert.match(out, /inet 10\.33\.0\.77\/24/);
    const gw = await sb.exec("vm1", [
      "docker",
      "run",
      "--rm",
      "--net",
      "NEWNET",
      "--ip",
      "10.33.0.1",
      IMAGE,
      "true",
    ]);
    assert.notEqual(gw.code, 0);
    assert.match(gw.stderr, /is the gateway of 10\.33\.0\.0\/24/);
    await ok("vm1", ["docker", "network", "rm", "NEWNET"]);
    assert.deepEqual(await snapshot("vm1"), s0);
  });

  test("the protocol: content type, Activate, and each call's error in its own field", async () => {
    const act = await call("vm1", "Plugin.Activate");
    assert.equal(act.type, "application/vnd.docker.plugins.v1.2+json");
    assert.deepEqual(act.body, { Implements: ["NetworkDriver", "IpamDriver"] });

    const unknown = await call("vm1", "NetworkDriver.AllocateNetwork");
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.Err), /not implemented/);

    const notJson = await call("vm1", "NetworkDriver.CreateNetwork", "{nope");
    assert.match(String(notJson.body.Err), /not JSON/);

    // IPAM errors go in "Error" (libnetwork's IPAM API), network driver errors in "Err".
    const v6 = await call("vm1", "IpamDriver.RequestPool", {
      AddressSpace: "ovn-local",
      V6: true,
      Options: {},
    });
    assert.match(String(v6.body.Error), /IPv6/);
    assert.equal(v6.body.Err, undefined);
    const gone = await call("vm1", "IpamDriver.RequestAddress", {
      PoolID: "00000000-0000-4000-8000-000000000000",
      Address: "",
      Options: null,
    });
    assert.match(String(gone.body.Error), /no longer exists/);
    const badSpace = await call("vm1", "IpamDriver.RequestPool", {
      AddressSpace: "LocalDefault",
      Pool: "10.1.0.0/24",
    });
    assert.match(String(badSpace.body.Error), /address space "LocalDefault"/);
    assert.deepEqual(
      (await call("vm1", "IpamDriver.ReleaseAddress", { PoolID: "x", Address: "10.250.0.9" })).body,
      {},
    );

    const ep = "e".repeat(64);
    const noIpam = await call("vm1", "NetworkDriver.CreateNetwork", {
      NetworkID: "n".repeat(64),
      Options: {},
      IPv4Data: [{ AddressSpace: "LocalDefault", Pool: "172.18.0.0/16", Gateway: "172.18.0.1/16" }],
      IPv6Data: [],
    });
    assert.match(String(noIpam.body.Err), /--ipam-driver ovn/);
    const noRow = await call("vm1", "NetworkDriver.CreateEndpoint", {
      NetworkID: "n",
      EndpointID: ep,
      Interface: { Address: "10.250.0.9/24", AddressIPv6: "", MacAddress: "" },
    });
    assert.match(String(noRow.body.Err), /no port of this VM holds 10\.250\.0\.9/);
    const noEp = await call("vm1", "NetworkDriver.Join", {
      NetworkID: "n",
      EndpointID: ep,
      SandboxKey: "/x",
    });
    assert.match(String(noEp.body.Err), /has no port in this VM/);
    const badEp = await call("vm1", "NetworkDriver.DeleteEndpoint", { NetworkID: "n", EndpointID: "a b" });
    assert.match(String(badEp.body.Err), /no valid EndpointID/);
    // Idempotent: an endpoint this VM does not know is already deleted.
    assert.deepEqual(
      (await call("vm1", "NetworkDriver.DeleteEndpoint", { NetworkID: "n", EndpointID: ep })).body,
      {},
    );
    assert.deepEqual((await call("vm1", "NetworkDriver.GetCapabilities")).body, {
      Scope: "local",
      ConnectivityScope: "local",
    });
  });

  test("a driver per VM (vm2 in trunk mode): concurrent runs, network connect/disconnect, all ping, nothing left", async () => {
    await ok("vm1", ["ovn-docker", "create", "network", "LS3", "--subnet", "10.34.0.0/24"]);
    await ok("vm1", ["ovn-docker", "create", "network", "LS4", "--subnet", "10.35.0.0/24"]);
    const s1 = await snapshot("vm1");
    const s2 = await snapshot("vm2");
    const p2 = await sb.spawnInVm(
      "vm2",
      ["ovn-docker", "--mode", "trunk", "driver", "--socket", socketOf("vm2")],
      { name: "ovn-driver", readySocket: socketOf("vm2") },
    );
    drivers.set("vm2", p2);
    const net = (vm: string, name: string) =>
      ok(vm, [
        "docker",
        "network",
        "create",
        "-d",
        "ovn",
        "--ipam-driver",
        "ovn",
        "--ipam-opt",
        `network=${name}`,
        name,
      ]);
    await Promise.all([net("vm1", "LS3"), net("vm1", "LS4"), net("vm2", "LS3")]);

    const names = ["p1", "p2", "p3"];
    await Promise.all(
      names.map((n) =>
        ok("vm1", ["docker", "run", "-d", "--name", n, "--net", "LS3", IMAGE, "sleep", "1000"]),
      ),
    );
    await ok("vm2", ["docker", "run", "-d", "--name", "q1", "--net", "LS3", IMAGE, "sleep", "1000"]);
    const ipOf = async (vm: string, c: string, n = "LS3") =>
      ok(vm, ["docker", "inspect", "-f", `{{.NetworkSettings.Networks.${n}.IPAddress}}`, c]);
    const ips = await Promise.all(names.map((n) => ipOf("vm1", n)));
    assert.equal(new Set(ips).size, 3, `distinct addresses: ${ips.join(" ")}`);
    const q1 = await ipOf("vm2", "q1");

    // vm2's port is a trunk subport of vm2's port (trunk mode), not a binding:profile child.
    const api = sb.client("demo");
    const [trunk] = await api.listTrunks({ port_id: sb.vm("vm2").vifId });
    const q1Port = (await api.listPorts()).find((p) => p.fixed_ips.some((f) => f.ip_address === q1));
    assert.ok(trunk && q1Port);
    assert.ok(trunk.sub_ports.some((sp) => sp.port_id === q1Port.id));

    // A second network on a running container: eth1.
    await ok("vm1", ["docker", "network", "connect", "LS4", "p1"]);
    assert.match(
      await ok("vm1", ["docker", "exec", "p1", "ip", "-o", "-4", "addr", "show", "eth1"]),
      /10\.35\.0\./,
    );

    for (const ip of [...ips.slice(1), q1])
      await ok("vm1", ["docker", "exec", "p1", "ping", "-c", "1", "-W", "3", ip]);
    await ok("vm2", ["docker", "exec", "q1", "ping", "-c", "1", "-W", "3", ips[0] as string]);

    await ok("vm1", ["docker", "network", "disconnect", "LS4", "p1"]);
    await ok("vm1", ["docker", "rm", "-f", ...names]);
    await ok("vm2", ["docker", "rm", "-f", "q1"]);
    await ok("vm1", ["docker", "network", "rm", "LS3", "LS4"]);
    await ok("vm2", ["docker", "network", "rm", "LS3"]);
    assert.deepEqual((await api.getTrunk(trunk.id)).sub_ports, []);
    const after1 = await snapshot("vm1");
    const after2 = await snapshot("vm2");
    assert.deepEqual(after1, s1);
    assert.deepEqual({ ...after2, apiPorts: "", nb: "" }, { ...s2, apiPorts: "", nb: "" });
    assert.ok(await sb.stopInVm("vm2", "ovn-driver"));
    await ok("vm1", ["ovn-docker", "delete", "network", "LS3"]);
    await ok("vm1", ["ovn-docker", "delete", "network", "LS4"]);
  });

  test("a port made for an address no endpoint claimed (dockerd died in between) is released", async () => {
    await ok("vm1", ["ovn-docker", "create", "network", "LS5", "--subnet", "10.36.0.0/24"]);
    const s0 = await snapshot("vm1");
    const api = sb.client("demo");
    const [subnet] = await api.listSubnets({ cidr: "10.36.0.0/24" });
    assert.ok(subnet);
    // What dockerd does first for a new container, and then never follows up.
    const r = await call("vm1", "IpamDriver.RequestAddress", {
      PoolID: subnet.id,
      Address: "",
      Options: null,
    });
    assert.match(String(r.body.Address), /^10\.36\.0\.\d+\/24$/);
    assert.equal((await api.listPorts({ network_id: subnet.network_id })).length, 1);
    // A young one is left alone by a restart (its CreateEndpoint may be on the way) ...
    assert.ok(await sb.stopInVm("vm1", "ovn-driver"));
    await startDriver("vm1");
    assert.equal((await api.listPorts({ network_id: subnet.network_id })).length, 1);
    // ... one older than --release-unclaimed-after is taken apart.
    assert.ok(await sb.stopInVm("vm1", "ovn-driver"));
    const p = await sb.spawnInVm(
      "vm1",
      ["ovn-docker", "driver", "--socket", socketOf("vm1"), "--release-unclaimed-after", "0"],
      { name: "ovn-driver", readySocket: socketOf("vm1") },
    );
    drivers.set("vm1", p);
    assert.equal((await api.listPorts({ network_id: subnet.network_id })).length, 0);
    assert.deepEqual(await snapshot("vm1"), s0);
    assert.ok(await sb.stopInVm("vm1", "ovn-driver"));
    await startDriver("vm1");
    await ok("vm1", ["ovn-docker", "delete", "network", "LS5"]);
  });

  test("one driver per socket; SIGTERM removes the socket", async () => {
    const second = await ovn("vm1", ["driver", "--socket", socketOf("vm1")]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /another process is serving/);
    assert.ok(await sb.stopInVm("vm1", "ovn-driver"));
    const ls = await sb.exec("vm1", ["test", "-e", socketOf("vm1")]);
    assert.notEqual(ls.code, 0, "socket removed at clean shutdown");
    await startDriver("vm1");
  });
});
