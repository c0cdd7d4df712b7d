// The seed's command line inside a VM:
//   ovn-docker --cred=TOKEN create network LS1
//   ovn-docker --cred=TOKEN list networks
//   ovn-docker --cred=TOKEN --vif-id=$VIF_ID --network=LS1 run -d --net=none IMAGE CMD...
// plus rm, attach, detach, ps, pool, gc and doctor. Global options come before the verb;
// everything after `run` goes to the engine's own `run`.

import { isIPv4, isIPv6 } from "node:net";
import { type Command, Option } from "commander";
import type { Agent, AgentSettings } from "../agent/agent.js";
import { type Format, parseFormat, printRows, UsageError } from "./output.js";

// The agent's modules are loaded by the verb that needs them: the CLI runs once per container,
// and loading everything for every verb costs more than some verbs take.
const core = {
  agent: () => import("../agent/agent.js"),
  containers: () => import("../agent/containers.js"),
  doctor: () => import("../agent/doctor.js"),
  gc: () => import("../agent/gc.js"),
  driver: () => import("../libnetwork/index.js"),
  pool: () => import("../agent/pool.js"),
  ps: () => import("../agent/ps.js"),
};

/** "10.10.0.0/24" or "fd00:10::/64" with a prefix length valid for the family. */
function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const len = Number(m[2]);
  return (isIPv4(m[1] as string) && len <= 32) || (isIPv6(m[1] as string) && len <= 128);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface GlobalOpts {
  cred?: string;
  vifId?: string;
  network?: string[];
  engine?: string;
  ovsdb?: string;
  bridge?: string;
  uplink?: string;
  stateDir?: string;
  mode?: string;
  activeTimeout?: string;
}

async function settingsOf(program: Command): Promise<AgentSettings> {
  const o = program.opts<GlobalOpts>();
  const s = (await core.agent()).settingsFromEnv(process.env);
  if (o.cred !== undefined) s.cred = o.cred;
  if (o.vifId !== undefined) s.vifId = o.vifId;
  if (o.engine !== undefined) s.engine = o.engine;
  if (o.ovsdb !== undefined) s.ovsdb = o.ovsdb;
  if (o.bridge !== undefined) s.bridge = o.bridge;
  if (o.uplink !== undefined) s.uplink = o.uplink;
  if (o.stateDir !== undefined) s.stateDir = o.stateDir;
  if (o.mode !== undefined) s.mode = o.mode as AgentSettings["mode"];
  if (o.activeTimeout !== undefined) {
    const n = Number(o.activeTimeout);
    if (!Number.isFinite(n) || n <= 0)
      throw new UsageError(`--active-timeout: expected seconds > 0, got "${o.activeTimeout}"`);
    s.activeTimeoutMs = n * 1000;
  }
  return s;
}

async function withAgent<T>(program: Command, f: (agent: Agent) => Promise<T>): Promise<T> {
  const { Agent } = await core.agent();
  const agent = new Agent(await settingsOf(program));
  try {
    return await f(agent);
  } finally {
    await agent.close();
  }
}

const formatOption = () =>
  new Option("-f, --format <format>", "table or json").default("table").argParser(parseFormat);

export function addAgentCommands(program: Command): void {
  program
    .enablePositionalOptions()
    .option(
      "--cred <token>",
      "a Keystone token (else OS_TOKEN, OS_CLOUD or OS_AUTH_URL/OS_USERNAME/OS_PASSWORD...)",
    )
    .option("--vif-id <id>", "the VM's own port id (default: found by the uplink's MAC, then cached)")
    .option("--network <name>", "network for run (repeat for eth1, eth2, ...)", collect)
    .option("--engine <engine>", "docker or podman (default: OVN_DOCKER_ENGINE, else detected)")
    .option(
      "--ovsdb <remote>",
      "the VM's Open_vSwitch database (default: OVN_DOCKER_OVSDB or unix:/var/run/openvswitch/db.sock)",
    )
    .option(
      "--bridge <name>",
      "the VM's OVS bridge that trunks its NIC (default: OVN_DOCKER_BRIDGE or br-vm)",
    )
    .option(
      "--uplink <ifname>",
      "the VM's NIC, whose MAC identifies the VM's port (default: OVN_DOCKER_UPLINK or eth0)",
    )
    .option(
      "--state-dir <dir>",
      "token and vif-id cache (default: OVN_DOCKER_STATE_DIR or /var/lib/ovn-docker)",
    )
    .option("--mode <mode>", "binding-profile (default) or trunk")
    .option("--active-timeout <seconds>", "how long to wait for a new port to become ACTIVE (default 30)");

  // --- networks -------------------------------------------------------------------------
  const create = program.command("create").description("create a resource (network)");
  create
    .command("network <name>")
    .description("create a network, with subnets (IPv4 and/or IPv6; default 10.0.0.0/24 when none is given)")
    .option("--subnet <cidr>", "a subnet of the network (repeatable)", collect)
    .option("--mtu <mtu>", "the network's MTU (default: the service's, 1442 for Geneve)")
    .addOption(formatOption())
    .action(async (name: string, o: { subnet?: string[]; mtu?: string; format: Format }) => {
      const cidrs = o.subnet ?? ["10.0.0.0/24"];
      for (const c of cidrs) {
        if (!isCidr(c))
          throw new UsageError(`--subnet: "${c}" is not a CIDR like 10.10.0.0/24 or fd00:10::/64`);
      }
      const mtu = o.mtu === undefined ? undefined : Number(o.mtu);
      if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68))
        throw new UsageError(`--mtu: expected an integer >= 68, got "${o.mtu}"`);
      await withAgent(program, async (agent) => {
        const api = agent.api();
        const net = await api.createNetwork({ name, ...(mtu !== undefined ? { mtu } : {}) });
        const subnets = [];
        try {
          for (const cidr of cidrs) {
            const v6 = cidr.includes(":");
            subnets.push(
              await api.createSubnet({
                network_id: net.id,
                cidr,
                ip_version: v6 ? 6 : 4,
                name: `${name}-${v6 ? "v6" : "v4"}`,
              }),
            );
          }
        } catch (e) {
          // Nothing half-made: the network goes again when a subnet is refused.
          await api.deleteNetwork(net.id, { ignoreMissing: true });
          throw e;
        }
        printRows(
          [{ id: net.id, name: net.name, mtu: net.mtu, subnets: subnets.map((s) => s.cidr) }],
          ["id", "name", "mtu", "subnets"],
          o.format,
        );
      });
    });

  const list = program.command("list").description("list resources (networks)");
  list
    .command("networks")
    .description("the networks visible to you")
    .addOption(formatOption())
    .action(async (o: { format: Format }) => {
      await withAgent(program, async (agent) => {
        const api = agent.api();
        const [nets, subnets] = await Promise.all([api.listNetworks(), api.listSubnets()]);
        const cidrs = new Map(subnets.map((s) => [s.id, s.cidr]));
        printRows(
          nets.map((n) => ({
            id: n.id,
            name: n.name,
            mtu: n.mtu,
            status: n.status,
            subnets: n.subnets.map((s) => cidrs.get(s) ?? s),
          })),
          ["id", "name", "mtu", "status", "subnets"],
          o.format,
        );
      });
    });

  const del = program.command("delete").description("delete a resource (network)");
  del
    .command("network <name>")
    .description("delete a network (by name or id) and its subnets")
    .action(async (name: string) => {
      await withAgent(program, async (agent) => {
        const { network } = await agent.network(name);
        await agent.api().deleteNetwork(network.id);
        process.stderr.write(`deleted network ${network.name} (${network.id})\n`);
      });
    });

  // --- containers ---------------------------------------------------------------------------
  program
    .command("run")
    .description("the engine's run, on --network: the container starts once its port is ACTIVE")
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .argument("[args...]", "the engine's run arguments: [OPTIONS] IMAGE [COMMAND...] (--net=none is implied)")
    .action(async (args: string[]) => {
      const networks = program.opts<GlobalOpts>().network ?? [];
      if (networks.length === 0)
        throw new UsageError('run: give the network before "run": ovn-docker --network=LS1 run ...');
      await withAgent(program, async (agent) => {
        const r = await (await core.containers()).runContainer(agent, networks, args);
        process.exitCode = r.exitCode;
      });
    });

  program
    .command("rm <container...>")
    .description("remove containers with their network sandboxes, ports, veths and VLANs (idempotent)")
    .action(async (refs: string[]) => {
      await withAgent(program, async (agent) => {
        for (const ref of refs) {
          const r = await (await core.containers()).removeContainer(agent, ref);
          if (!r.found)
            process.stderr.write(
              `ovn-docker: no container ${ref} and nothing attached to it (nothing to do)\n`,
            );
          else process.stdout.write(`${ref}\n`);
        }
      });
    });

  program
    .command("attach <container>")
    .description("connect a running container to --network (its next interface: eth1, eth2, ...)")
    .option("--ifname <name>", "the interface name inside the container")
    .addOption(formatOption())
    .action(async (ref: string, o: { ifname?: string; format: Format }) => {
      const networks = program.opts<GlobalOpts>().network ?? [];
      if (networks.length !== 1) throw new UsageError('attach: give exactly one --network before "attach"');
      await withAgent(program, async (agent) => {
        const a = await (await core.containers()).attachContainer(
          agent,
          ref,
          networks[0] as string,
          o.ifname,
        );
        printRows(
          [
            {
              container: ref,
              network: a.networkName,
              ifname: a.ifname,
              mac: a.mac,
              ips: a.ips,
              vlan: a.tag,
              port: a.portId,
            },
          ],
          ["container", "network", "ifname", "mac", "ips", "vlan", "port"],
          o.format,
        );
      });
    });

  program
    .command("detach <container>")
    .description("disconnect a container from --network (or --ifname; all when neither is given); idempotent")
    .option("--ifname <name>", "only this interface")
    .action(async (ref: string, o: { ifname?: string }) => {
      const networks = program.opts<GlobalOpts>().network ?? [];
      await withAgent(program, async (agent) => {
        const n = await (await core.containers()).detachContainer(agent, ref, {
          ...(networks[0] !== undefined ? { network: networks[0] } : {}),
          ...(o.ifname !== undefined ? { ifname: o.ifname } : {}),
        });
        process.stderr.write(`detached ${n} interface${n === 1 ? "" : "s"} of ${ref}\n`);
      });
    });

  program
    .command("ps")
    .description("this VM's attachments: container, network, ifname, MAC, IPs, VLAN, port id, status")
    .option("-a, --all", "include pool sandboxes and work in progress")
    .addOption(formatOption())
    .action(async (o: { all?: boolean; format: Format }) => {
      await withAgent(program, async (agent) => {
        const rows = await (await core.ps()).listAttachments(agent, { all: o.all === true });
        printRows(
          rows as unknown as Array<Record<string, unknown>>,
          ["container", "network", "ifname", "mac", "ips", "vlan", "port", "status", "state", "via"],
          o.format,
        );
      });
    });

  // --- pool, gc, doctor ----------------------------------------------------------------------
  const pool = program.command("pool").description("network sandboxes prepared ahead of time, per network");
  pool
    .command("status")
    .description("ready sandboxes and settings per network")
    .addOption(formatOption())
    .action(async (o: { format: Format }) => {
      await withAgent(program, async (agent) => {
        printRows(
          (await (await core.pool()).poolStatus(agent)) as unknown as Array<Record<string, unknown>>,
          ["network", "network_id", "ready", "min", "max", "batch", "cni_ready"],
          o.format,
        );
      });
    });
  pool
    .command("fill")
    .description("prepare sandboxes on --network up to --min (settings are kept for background refills)")
    .option("--network <name>", "the network (default: the global --network)")
    .option("--min <n>", "keep at least this many ready", (v) => Number(v))
    .option("--max <n>", "never more than this many", (v) => Number(v))
    .option("--batch <n>", "how many to prepare at once", (v) => Number(v))
    .option("--quiet", "print nothing")
    .action(async (o: { network?: string; min?: number; max?: number; batch?: number; quiet?: boolean }) => {
      const network = o.network ?? program.opts<GlobalOpts>().network?.[0];
      if (!network) throw new UsageError("pool fill: give --network NAME");
      await withAgent(program, async (agent) => {
        const r = await (await core.pool()).fillPool(agent, network, {
          ...(o.min !== undefined ? { min: o.min } : {}),
          ...(o.max !== undefined ? { max: o.max } : {}),
          ...(o.batch !== undefined ? { batch: o.batch } : {}),
        });
        if (!o.quiet) process.stdout.write(`pool ${network}: ${r.created} prepared, ${r.ready} ready\n`);
      });
    });
  pool
    .command("drain")
    .description("remove the prepared sandboxes (of --network, or all) and their settings")
    .option("--network <name>", "only this network")
    .action(async (o: { network?: string }) => {
      await withAgent(program, async (agent) => {
        const n = await (await core.pool()).drainPool(agent, o.network);
        process.stdout.write(`removed ${n} prepared sandbox${n === 1 ? "" : "es"}\n`);
      });
    });

  program
    .command("gc")
    .description("remove what a crash left behind: ports, OVS ports, veths, sandboxes with no owner")
    .option("--cheap", "only half-done work of dead processes (what run does first)")
    .addOption(formatOption())
    .action(async (o: { cheap?: boolean; format: Format }) => {
      await withAgent(program, async (agent) => {
        const r = await (await core.gc()).gc(agent, { cheap: o.cheap === true });
        if (o.format === "json") {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const lines = [
          ...r.attachments.map((a) => `removed attachment VLAN ${a.tag}: ${a.reason}`),
          ...r.ports.map((p) => `deleted API port ${p} (no attachment)`),
          ...r.veths.map((v) => `deleted veth ${v} (no OVS port)`),
          ...r.sandboxes.map((s) => `removed network sandbox ${s.slice(0, 12)}`),
          ...r.containers.map((c) => `removed container ${c.slice(0, 12)} (its network sandbox is gone)`),
        ];
        process.stdout.write(lines.length ? `${lines.join("\n")}\n` : "nothing to collect\n");
      });
    });

  program
    .command("driver")
    .description(
      'Docker\'s remote network + IPAM driver "ovn" (docker network create -d ovn --ipam-driver ovn ...); serves until SIGTERM',
    )
    .option("--socket <path>", "the plugin socket dockerd finds by name", "/run/docker/plugins/ovn.sock")
    .option(
      "--release-unclaimed-after <seconds>",
      "take apart a port made for an address no endpoint claimed after this long (a dockerd crash)",
      "300",
    )
    .action(async (o: { socket: string; releaseUnclaimedAfter: string }) => {
      const seconds = Number(o.releaseUnclaimedAfter);
      if (!Number.isFinite(seconds) || seconds < 0)
        throw new UsageError(
          `--release-unclaimed-after: expected seconds >= 0, got "${o.releaseUnclaimedAfter}"`,
        );
      await withAgent(program, async (agent) => {
        await (await core.driver()).runDriver(agent, { socket: o.socket, unclaimedMs: seconds * 1000 });
      });
    });

  program
    .command("doctor")
    .description("check credentials, API, vif-id, local OVS, bridge and uplink, engine; say how to fix each")
    .addOption(formatOption())
    .action(async (o: { format: Format }) => {
      await withAgent(program, async (agent) => {
        const checks = await (await core.doctor()).runDoctor(agent);
        printRows(checks as unknown as Array<Record<string, unknown>>, ["check", "ok", "detail"], o.format);
        if (checks.some((c) => !c.ok)) process.exitCode = 1;
      });
    });
}
