// `ovn-docker sandbox demo` (what `make demo` runs): brings the sandbox up, then plays the seed
// document's workflow step by step, showing each real command as it runs and how long it took:
// create network LS1, list networks, a container on LS1 in VM vm1 and one in vm2, their MAC, IP,
// VLAN and NB rows (parent_name, tag), a ping between them, the management network out of their
// reach, then `rm` and proof that ports and VLANs are gone. The sandbox keeps running afterwards.

import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { IMAGE, loadSandbox, type Sandbox, startSandbox } from "./index.js";
import { layout } from "./layout.js";
import { readState } from "./state.js";

const run = promisify(execFile);

export class DemoError extends Error {
  override name = "DemoError";
}

interface DemoOptions {
  dir: string;
  /** Prints one line. */
  log: (line: string) => void;
  color?: boolean;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const c = opts.color ?? false;
  const bold = (s: string) => (c ? `\x1b[1m${s}\x1b[0m` : s);
  const cyan = (s: string) => (c ? `\x1b[36m${s}\x1b[0m` : s);
  const dim = (s: string) => (c ? `\x1b[2m${s}\x1b[0m` : s);
  const log = opts.log;
  const step = (title: string) => log(`\n${bold(`== ${title}`)}`);

  const t0 = Date.now();
  step("Bring the sandbox up: OVN central, the network service, a hypervisor, two VMs");
  let sb: Sandbox;
  const state = await readState(layout(opts.dir)).catch(() => undefined);
  if (state?.phase === "up" && (await (await loadSandbox(opts.dir)).status()).healthy) {
    sb = await loadSandbox(opts.dir);
    log(`(a healthy sandbox is already running in ${sb.dir}: using it)`);
  } else {
    sb = await startSandbox({ dir: opts.dir, vms: 2, log: (l) => log(dim(l)) });
  }
  const [vm1, vm2] = [sb.vm(0), sb.vm(1)];

  /** Shows and runs a command inside a VM; returns its output. */
  const inVm = async (vm: string, argv: string[], show = argv.join(" "), expectFail = false) => {
    log(cyan(`[${vm}]$ ${show}`));
    const t = Date.now();
    const r = await sb.exec(vm, argv);
    const out = `${r.stdout}${r.stderr}`.trimEnd();
    if (out) log(out);
    log(dim(`  (${Date.now() - t} ms)`));
    if (expectFail ? r.code === 0 : r.code !== 0) {
      throw new DemoError(`step failed in ${vm}: ${show} (exit ${r.code})`);
    }
    return r.stdout.trim();
  };
  const onController = async (argv: string[], show: string) => {
    log(cyan(`[controller]$ ${show}`));
    const t = Date.now();
    const { stdout } = await run(argv[0] as string, argv.slice(1));
    if (stdout.trim()) log(stdout.trimEnd());
    log(dim(`  (${Date.now() - t} ms)`));
    return stdout.trim();
  };

  step("Inside VM vm1, as the tenant: create logical network LS1 (the seed: ovn-docker create network LS1)");
  const nets = JSON.parse(
    await sb.exec("vm1", ["ovn-docker", "list", "networks", "-f", "json"]).then((r) => r.stdout || "[]"),
  ) as Array<{
    name: string;
  }>;
  if (nets.some((n) => n.name === "LS1")) log("(LS1 exists already from an earlier demo run)");
  else
    await inVm("vm1", [
      "ovn-docker",
      "create",
      "network",
      "LS1",
      "--subnet",
      "10.10.0.0/24",
      "--subnet",
      "fd00:10::/64",
    ]);

  step("List networks (the seed: ovn-docker list networks)");
  await inVm("vm1", ["ovn-docker", "list", "networks"]);

  step("In vm1: run a container on LS1 with a token and the VM's vif-id, exactly as the seed writes it");
  const token = (await sb.client("demo").auth.session()).token;
  log(
    dim(
      `  TOKEN is a Keystone token of user demo (openstack token issue); VIF_ID is vm1's port: ${vm1.vifId}`,
    ),
  );
  const loop = ["/bin/sh", "-c", "while true; do echo hello world; sleep 1; done"];
  const a = await inVm(
    "vm1",
    [
      "ovn-docker",
      `--cred=${token}`,
      `--vif-id=${vm1.vifId}`,
      "--network=LS1",
      "run",
      "-d",
      "--net=none",
      IMAGE,
      ...loop,
    ],
    `ovn-docker --cred=$TOKEN --vif-id=$VIF_ID --network=LS1 run -d --net=none ${IMAGE} /bin/sh -c "while true; do echo hello world; sleep 1; done"`,
  );
  const idA = a.split("\n").pop() as string;

  step("In vm2: the same without --vif-id (found through the API by the VM's MAC) and with OS_* credentials");
  const b = await inVm(
    "vm2",
    ["ovn-docker", "--network=LS1", "run", "-d", "--net=none", IMAGE, ...loop],
    `ovn-docker --network=LS1 run -d --net=none ${IMAGE} /bin/sh -c "while true; ..."`,
  );
  const idB = b.split("\n").pop() as string;

  step("Each container's port: MAC, IPs, VLAN chosen inside its VM, status ACTIVE");
  await inVm("vm1", ["ovn-docker", "ps"]);
  await inVm("vm2", ["ovn-docker", "ps"]);
  type Row = { ips: string[]; vlan: number; port: string; container_id: string };
  const rowOf = async (vm: string, id: string) =>
    (JSON.parse((await sb.exec(vm, ["ovn-docker", "ps", "-f", "json"])).stdout) as Row[]).find(
      (r) => r.container_id === id,
    );
  const ra = await rowOf("vm1", idA);
  const rb = await rowOf("vm2", idB);
  if (!ra || !rb) throw new DemoError("ps shows no attachment");

  step(
    "Their OVN Northbound rows: parent_name = the VM's port, tag = the VLAN (written by the network service)",
  );
  await onController(
    [
      "ovn-nbctl",
      `--db=${sb.nbUnix}`,
      "--columns=name,parent_name,tag,addresses",
      "list",
      "Logical_Switch_Port",
      ra.port,
      rb.port,
    ],
    `ovn-nbctl --columns=name,parent_name,tag,addresses list Logical_Switch_Port ${ra.port} ${rb.port}`,
  );
  log(
    dim(
      `  vm1's access port ovd${ra.vlan} on br-vm tags the container's frames with VLAN ${ra.vlan}; OVN strips it.`,
    ),
  );

  step("Ping from the container in vm1 to the container in vm2 (over LS1)");
  const ipB = rb.ips.find((x) => !x.includes(":")) as string;
  await inVm("vm1", ["docker", "exec", idA, "ping", "-c", "3", "-W", "2", ipB]);
  const ip6B = rb.ips.find((x) => x.includes(":"));
  if (ip6B) await inVm("vm1", ["docker", "exec", idA, "ping", "-6", "-c", "2", "-W", "2", ip6B]);

  step("The management network is not reachable from LS1 (vm2's own address)");
  await inVm("vm1", ["docker", "exec", idA, "ping", "-c", "1", "-W", "1", vm2.ip], undefined, true);
  log("  unreachable, as it should be: the container is only on LS1.");

  step("Remove the containers: their ports, VLANs, veths and network sandboxes go with them");
  await inVm("vm1", ["ovn-docker", "rm", idA]);
  await inVm("vm2", ["ovn-docker", "rm", idB]);
  await inVm("vm1", ["ovn-docker", "ps", "-a"]);
  await onController(
    ["ovs-vsctl", `--db=${vm1.ovsdbRemote}`, "list-ports", "br-vm"],
    "ovs-vsctl --db=<vm1's OVSDB> list-ports br-vm   # only the trunk eth0 is left",
  );
  const left = await onController(
    [
      "ovn-nbctl",
      `--db=${sb.nbUnix}`,
      "--bare",
      "--columns=name",
      "find",
      "Logical_Switch_Port",
      `name=${ra.port}`,
    ],
    `ovn-nbctl --bare --columns=name find Logical_Switch_Port name=${ra.port}   # the container's port is gone`,
  );
  if (left) throw new DemoError(`the container's port ${ra.port} is still in NB`);

  const dirArg = sb.dir === "/tmp/ovn-docker-sandbox" ? "" : ` --dir ${sb.dir}`;
  // The sandbox's wrapper runs this build: it works whether or not ovn-docker is on PATH.
  const cli = path.join(sb.layout.bin, "ovn-docker");
  log(
    `\n${bold(`Done in ${((Date.now() - t0) / 1000).toFixed(1)} s.`)} The sandbox keeps running for you to explore:`,
  );
  log(`  ${cli} sandbox shell vm1${dirArg}`);
  log(`      (inside: ovn-docker --network=LS1 run -d ${IMAGE} sleep 1000; ovn-docker ps; exit)`);
  log(`  ${cli} sandbox status${dirArg}`);
  log(`  ${cli} sandbox down${dirArg}          (stops everything it started)`);
}
