// The VM agent's context: its settings, and lazily opened handles on the three things it talks
// to (the network API, the VM's Open vSwitch database, the container engine). Every front end
// (the CLI, the CNI plugin, the Docker driver) builds one of these and calls the core.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import path from "node:path";
import ipaddr from "ipaddr.js";
import {
  type FetchLike,
  type Network,
  type NeutronClient,
  openClient,
  type Subnet,
} from "../client/index.js";
import { VSwitch } from "../vswitch/vswitch.js";
import { Engine } from "./engine.js";
import { execCommand } from "./exec.js";

export type AttachMode = "binding-profile" | "trunk";

export interface AgentSettings {
  /** `--cred=TOKEN`. */
  cred?: string | undefined;
  /** The VM's own port id; discovered from the uplink's MAC when absent. */
  vifId?: string | undefined;
  /** The VM's Open_vSwitch database, e.g. unix:/var/run/openvswitch/db.sock. */
  ovsdb: string;
  /** The bridge that trunks the VM's NIC. */
  bridge: string;
  /** The VM's NIC (its MAC identifies the VM's port). */
  uplink: string;
  /** Token cache and vif-id cache. */
  stateDir: string;
  engine?: string | undefined;
  mode: AttachMode;
  /** How long to wait for a new port to become ACTIVE. */
  activeTimeoutMs: number;
  /** How long to wait for the VM's Open_vSwitch database (default 15 s). */
  ovsdbWaitMs?: number | undefined;
  /** The HTTP client for the API (default: node's fetch). */
  fetch?: FetchLike | undefined;
  env: NodeJS.ProcessEnv;
}

/** Device owner of every API port this agent creates (device_id is the VM's vif-id). */
export const DEVICE_OWNER = "ovn-docker:container";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class AgentError extends Error {
  override name = "AgentError";
}

/** The settings from the environment (flags override them in the front ends). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): AgentSettings {
  return {
    cred: undefined,
    vifId: env.OVN_DOCKER_VIF_ID || undefined,
    ovsdb: env.OVN_DOCKER_OVSDB || "unix:/var/run/openvswitch/db.sock",
    bridge: env.OVN_DOCKER_BRIDGE || "br-vm",
    uplink: env.OVN_DOCKER_UPLINK || "eth0",
    stateDir: env.OVN_DOCKER_STATE_DIR || "/var/lib/ovn-docker",
    engine: env.OVN_DOCKER_ENGINE || undefined,
    mode: (env.OVN_DOCKER_MODE as AttachMode) || "binding-profile",
    activeTimeoutMs: Number(env.OVN_DOCKER_ACTIVE_TIMEOUT_MS || 30_000),
    env,
  };
}

export interface NetworkInfo {
  network: Network;
  subnets: Subnet[];
}

export class Agent {
  private apiClient: NeutronClient | undefined;
  private vs: Promise<VSwitch> | undefined;
  private eng: Promise<Engine> | undefined;
  private vif: Promise<string> | undefined;

  constructor(readonly settings: AgentSettings) {
    if (settings.mode !== "binding-profile" && settings.mode !== "trunk") {
      throw new AgentError(`unknown mode "${settings.mode}": use --mode binding-profile or --mode trunk`);
    }
    if (!Number.isFinite(settings.activeTimeoutMs) || settings.activeTimeoutMs <= 0) {
      throw new AgentError(`bad ACTIVE timeout ${settings.activeTimeoutMs}: give milliseconds > 0`);
    }
    if (settings.vifId !== undefined && !UUID.test(settings.vifId)) {
      throw new AgentError(
        `malformed vif-id "${settings.vifId}": expected the VM's port id, a UUID like 3f2a9c1e-0b5d-4e8f-9a17-2c4b6d8e0f13 ` +
          "(openstack port list --device-id <vm>)",
      );
    }
  }

  api(): NeutronClient {
    if (!this.apiClient) {
      this.apiClient = openClient({
        env: this.settings.env,
        ...(this.settings.cred !== undefined ? { cred: this.settings.cred } : {}),
        cacheFile: path.join(this.settings.stateDir, "token.json"),
        ...(this.settings.fetch ? { fetch: this.settings.fetch } : {}),
      });
    }
    return this.apiClient;
  }

  vswitch(): Promise<VSwitch> {
    if (!this.vs) {
      this.vs = VSwitch.open({
        remote: this.settings.ovsdb,
        bridge: this.settings.bridge,
        ...(this.settings.ovsdbWaitMs !== undefined ? { connectTimeoutMs: this.settings.ovsdbWaitMs } : {}),
      });
      this.vs.catch(() => {
        this.vs = undefined;
      });
    }
    return this.vs;
  }

  engine(): Promise<Engine> {
    if (!this.eng) this.eng = Engine.detect(this.settings.engine, this.settings.env);
    return this.eng;
  }

  /** The MAC of an interface, as this network namespace sees it (undefined if there is none). */
  async macOf(ifname: string): Promise<string | undefined> {
    const r = await execCommand(["ip", "-j", "link", "show", "dev", ifname]);
    if (r.code !== 0) return undefined;
    const links = JSON.parse(r.stdout) as Array<{ address?: string }>;
    return links[0]?.address?.toLowerCase();
  }

  /**
   * The VM's port id: --vif-id / OVN_DOCKER_VIF_ID, else the cached answer for the uplink's MAC,
   * else asked from the API (the port with that MAC) and cached.
   */
  vifId(): Promise<string> {
    if (!this.vif) {
      this.vif = this.discoverVif();
      this.vif.catch(() => {
        this.vif = undefined;
      });
    }
    return this.vif;
  }

  /** The MACs of the uplink and the bridge that getifaddrs(3) knows (those with an address): no process. */
  private quickMacs(): string[] {
    const ifs = networkInterfaces();
    return [this.settings.uplink, this.settings.bridge].flatMap((n) =>
      (ifs[n] ?? []).map((a) => a.mac.toLowerCase()).filter((m) => m !== "00:00:00:00:00:00"),
    );
  }

  private async readVifCache(macs: readonly string[]): Promise<string | undefined> {
    try {
      const cached = JSON.parse(await readFile(path.join(this.settings.stateDir, "vif-id.json"), "utf8")) as {
        mac?: string;
        vif_id?: string;
      };
      if (cached.mac && macs.includes(cached.mac) && cached.vif_id && UUID.test(cached.vif_id))
        return cached.vif_id;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" && !(e instanceof SyntaxError)) throw e;
    }
    return undefined;
  }

  private async discoverVif(): Promise<string> {
    if (this.settings.vifId) return this.settings.vifId;
    // The cached answer, checked against the MACs the C library lists (an interface with an
    // address, e.g. the bridge's internal port): no `ip` process on the common path.
    const quick = await this.readVifCache(this.quickMacs());
    if (quick) return quick;
    // The VM's MAC is on its NIC, or (OVS on the NIC, as here) on the bridge's internal port.
    const uplinkMac = await this.macOf(this.settings.uplink);
    if (!uplinkMac) {
      throw new AgentError(
        `the VM's uplink "${this.settings.uplink}" does not exist here; set OVN_DOCKER_UPLINK (--uplink) ` +
          "to the NIC attached to the cloud network, or give --vif-id",
      );
    }
    const macs = [
      ...new Set([uplinkMac, await this.macOf(this.settings.bridge)].filter((m): m is string => !!m)),
    ];
    const cacheFile = path.join(this.settings.stateDir, "vif-id.json");
    const cached = await this.readVifCache(macs);
    if (cached) return cached;
    const ports = (await this.api().listPorts({ mac_address: macs })).filter(
      (p) => p["binding:profile"]?.parent_name === undefined,
    );
    if (ports.length === 0) {
      throw new AgentError(
        `no port with the VM's MAC (${macs.join(" or ")}, of ${this.settings.uplink}/${this.settings.bridge}) is visible ` +
          "to these credentials; give --vif-id=<the VM's port id>, or check OVN_DOCKER_UPLINK and that the " +
          "credentials are the VM owner's project",
      );
    }
    if (ports.length > 1) {
      throw new AgentError(
        `${ports.length} ports have the VM's MAC: ${ports.map((p) => p.id).join(", ")}; give --vif-id`,
      );
    }
    const port = ports[0] as { id: string; mac_address: string };
    await mkdir(this.settings.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(cacheFile, `${JSON.stringify({ mac: port.mac_address, vif_id: port.id })}\n`, {
      mode: 0o600,
    });
    return port.id;
  }

  /** A network by id or name, with its subnets; a clear error when unknown or ambiguous. */
  async network(ref: string): Promise<NetworkInfo> {
    const api = this.api();
    let networks: Network[] = [];
    if (UUID.test(ref)) networks = await api.listNetworks({ id: ref });
    if (networks.length === 0) networks = await api.listNetworks({ name: ref });
    if (networks.length === 0) {
      throw new AgentError(
        `unknown network "${ref}": no network with that name or id is visible to you; ` +
          `create it with "ovn-docker create network ${ref}" or see "ovn-docker list networks"`,
      );
    }
    if (networks.length > 1) {
      throw new AgentError(
        `network name "${ref}" is ambiguous (${networks.map((n) => n.id).join(", ")}); use the network id`,
      );
    }
    const network = networks[0] as Network;
    const subnets = network.subnets.length > 0 ? await api.listSubnets({ network_id: network.id }) : [];
    return { network, subnets };
  }

  async close(): Promise<void> {
    const vs = this.vs;
    this.vs = undefined;
    if (vs) await (await vs.catch(() => undefined))?.close();
  }
}

/** The prefix length of `ip` in one of `subnets`, and that subnet's gateway. */
export function addressInfo(
  ip: string,
  subnets: readonly Subnet[],
): { prefixLength: number; gateway?: string | undefined; version: 4 | 6 } | undefined {
  const addr = ipaddr.parse(ip);
  for (const s of subnets) {
    const [net, len] = ipaddr.parseCIDR(s.cidr);
    if (net.kind() === addr.kind() && addr.match(net, len)) {
      return {
        prefixLength: len,
        gateway: s.gateway_ip ?? undefined,
        version: addr.kind() === "ipv6" ? 6 : 4,
      };
    }
  }
  return undefined;
}
