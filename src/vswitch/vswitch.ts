// The VM's own Open_vSwitch database: the bridge that trunks the VM's NIC, one access port per
// container interface, and the VLAN tags in use.
//
// This database is the system of record for what the VM has attached (DESIGN.md): the Port row
// holds the VLAN tag, its Interface row's external_ids name the container, the interface name
// inside it, the network and the API port. A tag is taken by one OVSDB transaction that inserts
// the Port and Interface rows guarded by a server-side `wait` ("no Port has this tag"), so two
// processes in the same VM (CLI, CNI plugin, driver) can never hold the same tag: the loser's
// transaction fails and it picks another tag. Nothing is scanned and then written.

import { randomInt } from "node:crypto";
import { Database, OvsdbClient, TransactionError } from "../ovsdb/index.js";
import type { VswitchTables } from "../ovsdb/schemas/vswitch.generated.js";

/** external_ids keys on our Interface rows. Every key of ours starts with this prefix. */
export const KEY = "ovn-docker:";
export const MIN_TAG = 1;
export const MAX_TAG = 4094;
/** Access ports (and the VM-side veth ends) are named after their tag: ovd17. */
export const PORT_PREFIX = "ovd";

export type AttachmentState =
  /** The tag is taken; the API port, the veth or the container may not exist yet. */
  | "reserving"
  /** Fully plumbed and in use by a container. */
  | "attached"
  /** Fully plumbed in a pre-started network sandbox, waiting to be claimed by `run`. */
  | "pool"
  /** Being taken apart. */
  | "detaching";

/** One container interface of this VM, as its OVS rows record it. */
export interface Attachment {
  tag: number;
  /** The OVS port and VM-side veth name (ovd<tag>). */
  portName: string;
  state: AttachmentState;
  /** The process working on it while reserving/detaching ("pid:starttime"). */
  owner?: string | undefined;
  /** The container that owns the network namespace (a network sandbox or the container itself). */
  container?: string | undefined;
  /** The application container that joined the sandbox's namespace (when different). */
  app?: string | undefined;
  /** A process in the container's network namespace (the sandbox's pid when it was attached). */
  pid?: number | undefined;
  /** The interface name inside the container (eth0, eth1, ...). */
  ifname?: string | undefined;
  /** The container's network namespace file, when the runtime named it by path (CNI_NETNS). */
  netns?: string | undefined;
  /** The front end that made it and owns its lifecycle: "cli" (also when absent), "cni", "docker". */
  via?: string | undefined;
  /** ovn-cni: the CNI network (the conflist's name) it was added for; GC is per CNI network. */
  cniNetwork?: string | undefined;
  networkId?: string | undefined;
  networkName?: string | undefined;
  /** The API port (Neutron port id). */
  portId?: string | undefined;
  mac?: string | undefined;
  ips?: string[] | undefined;
  /** The VM's own port (parent_name of the API port). */
  vifId?: string | undefined;
  /** "binding-profile" or "trunk". */
  mode?: string | undefined;
  created?: string | undefined;
  /** ofport as the switch reports it (undefined until vswitchd opened the device, -1 on error). */
  ofport?: number | undefined;
  /** The switch's error for this interface, if any. */
  error?: string | undefined;
  /** Everything under our prefix, raw. */
  externalIds: Record<string, string>;
}

/** Fields that may be recorded on an attachment (all strings on the wire). */
export interface AttachmentFields {
  state?: AttachmentState;
  owner?: string | null;
  container?: string | null;
  app?: string | null;
  pid?: number;
  ifname?: string;
  netns?: string;
  via?: string;
  cniNetwork?: string;
  networkId?: string;
  networkName?: string;
  portId?: string | null;
  mac?: string;
  ips?: string[];
  vifId?: string;
  mode?: string;
  created?: string;
}

const FIELD_KEYS: Record<keyof AttachmentFields, string> = {
  state: "state",
  owner: "owner",
  container: "container",
  app: "app",
  pid: "pid",
  ifname: "ifname",
  netns: "netns",
  via: "via",
  cniNetwork: "cni-network",
  networkId: "network-id",
  networkName: "network-name",
  portId: "port-id",
  mac: "mac",
  ips: "ips",
  vifId: "vif-id",
  mode: "mode",
  created: "created",
};

/** What `update` checks before it writes (compare-and-swap); null = the key is absent. */
export interface UpdateExpectation {
  state?: AttachmentState;
  /** The reservation's creation time: a row of the same tag reserved again has another. */
  created?: string;
  owner?: string | null;
  container?: string | null;
}

export const POOL_KEY = `${KEY}pool:`;

export interface PoolSettings {
  min: number;
  max: number;
  batch: number;
  networkName: string;
}

export class VSwitchError extends Error {
  override name = "VSwitchError";
  constructor(
    message: string,
    /** "bridge-missing" | "tags-exhausted" | "unreachable" | "conflict" */
    readonly code: string,
  ) {
    super(message);
  }
}

/** Encodes our fields as external_ids: set keys, and keys to remove (null). */
function encodeFields(f: AttachmentFields): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const [k, v] of Object.entries(f) as Array<[keyof AttachmentFields, unknown]>) {
    if (v === undefined) continue;
    const key = KEY + FIELD_KEYS[k];
    if (v === null) remove.push(key);
    else set[key] = Array.isArray(v) ? v.join(",") : String(v);
  }
  // OVS's own conventions, read by other tools (ovs-vsctl users, ovn-controller if ever local).
  if (f.mac) set["attached-mac"] = f.mac;
  if (f.portId) set["iface-id"] = f.portId;
  return { set, remove };
}

function decodeAttachment(
  port: { name: string; tag: number | null },
  iface: { external_ids: Record<string, string>; ofport: number | null; error: string | null } | undefined,
): Attachment {
  const e = iface?.external_ids ?? {};
  const g = (k: string): string | undefined => e[KEY + k];
  const ips = g("ips");
  const ours: Record<string, string> = {};
  for (const [k, v] of Object.entries(e)) if (k.startsWith(KEY)) ours[k] = v;
  return {
    tag: port.tag ?? 0,
    portName: port.name,
    state: (g("state") ?? "reserving") as AttachmentState,
    owner: g("owner"),
    container: g("container"),
    app: g("app"),
    pid: g("pid") ? Number(g("pid")) : undefined,
    ifname: g("ifname"),
    netns: g("netns"),
    via: g("via"),
    cniNetwork: g("cni-network"),
    networkId: g("network-id"),
    networkName: g("network-name"),
    portId: g("port-id"),
    mac: g("mac"),
    ips: ips ? ips.split(",").filter(Boolean) : undefined,
    vifId: g("vif-id"),
    mode: g("mode"),
    created: g("created"),
    ofport: iface?.ofport ?? undefined,
    error: iface?.error ?? undefined,
    externalIds: ours,
  };
}

export interface VSwitchOptions {
  /** e.g. "unix:/var/run/openvswitch/db.sock". */
  remote: string;
  /** The bridge that trunks the VM's NIC. */
  bridge: string;
  /** How long to wait for the database (default 15000 ms). */
  connectTimeoutMs?: number;
}

export class VSwitch {
  private constructor(
    private readonly client: OvsdbClient,
    private readonly db: Database<VswitchTables>,
    readonly bridge: string,
    readonly remote: string,
  ) {}

  static async open(opts: VSwitchOptions): Promise<VSwitch> {
    // Generous: many agents may start at once in a busy VM (a timeout here fails a `run`).
    const wait = opts.connectTimeoutMs ?? 15_000;
    let client: OvsdbClient;
    try {
      client = await OvsdbClient.connect({
        remotes: opts.remote,
        database: "Open_vSwitch",
        leaderOnly: false,
        keepaliveMs: 0,
        initialWaitMs: wait,
        waitForConnectionMs: wait,
        connectTimeoutMs: wait,
      });
    } catch (e) {
      throw new VSwitchError(
        `cannot reach the VM's Open vSwitch database at ${opts.remote}: ${(e as Error).message}; ` +
          "start ovsdb-server/ovs-vswitchd in this VM or point OVN_DOCKER_OVSDB (--ovsdb) at its socket",
        "unreachable",
      );
    }
    try {
      const db = await Database.open<VswitchTables>(client, "Open_vSwitch");
      return new VSwitch(client, db, opts.bridge, opts.remote);
    } catch (e) {
      await client.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Throws a VSwitchError saying how to create the bridge when it does not exist. */
  async checkBridge(): Promise<void> {
    const rows = await this.db.select("Bridge", [["name", "==", this.bridge]], ["name"]);
    if (rows.length === 0) {
      throw new VSwitchError(
        `the VM's OVS bridge "${this.bridge}" does not exist in ${this.remote}; create it with ` +
          `"ovs-vsctl add-br ${this.bridge} -- add-port ${this.bridge} eth0" or set OVN_DOCKER_BRIDGE (--bridge)`,
        "bridge-missing",
      );
    }
  }

  /** Names of the ports on the bridge (to check the uplink is there). */
  async bridgePorts(): Promise<string[]> {
    const tx = this.db.transaction();
    const b = tx.select("Bridge", [["name", "==", this.bridge]], ["ports"]);
    const p = tx.select("Port", [], ["name"]);
    const r = await tx.execute();
    const ports = new Set(r.rows(b)[0]?.ports ?? []);
    return r
      .rows(p)
      .filter((x) => ports.has(x._uuid))
      .map((x) => x.name);
  }

  /** Every tag in use on any port of this switch (ours or not). */
  async usedTags(): Promise<Set<number>> {
    const rows = await this.db.select("Port", [], ["tag"]);
    const used = new Set<number>();
    for (const r of rows) if (r.tag !== null) used.add(r.tag);
    return used;
  }

  /** All our attachments (ports whose interface carries our keys), ordered by tag. */
  async list(): Promise<Attachment[]> {
    const tx = this.db.transaction();
    const p = tx.select("Port", [], ["name", "tag", "interfaces", "external_ids"]);
    const i = tx.select("Interface", [], ["external_ids", "ofport", "error"]);
    const r = await tx.execute();
    const ifaces = new Map(r.rows(i).map((x) => [x._uuid, x]));
    const out: Attachment[] = [];
    for (const port of r.rows(p)) {
      if (port.external_ids[`${KEY}owned`] !== "true") continue;
      out.push(decodeAttachment(port, ifaces.get(port.interfaces[0] ?? "")));
    }
    return out.sort((a, b) => a.tag - b.tag);
  }

  async get(tag: number): Promise<Attachment | undefined> {
    return (await this.list()).find((a) => a.tag === tag);
  }

  /**
   * Takes a free VLAN tag for a new attachment: one transaction inserts the access port ovd<tag>
   * (and its interface, whose device may not exist yet: vswitchd opens it when it appears) on
   * the bridge, guarded by "no port has this tag". Picks a random free tag so that concurrent
   * callers rarely collide; on a collision it tries another.
   */
  async reserve(fields: AttachmentFields, opts: { attempts?: number } = {}): Promise<Attachment> {
    const attempts = opts.attempts ?? 20;
    for (let attempt = 0; ; attempt++) {
      const used = await this.usedTags();
      const free = MAX_TAG - MIN_TAG + 1 - [...used].filter((t) => t >= MIN_TAG && t <= MAX_TAG).length;
      if (free <= 0) {
        throw new VSwitchError(
          `all ${MAX_TAG} VLAN tags of this VM are in use on ${this.bridge}; ` +
            "remove containers (ovn-docker rm), drain the pool (ovn-docker pool drain) or run ovn-docker gc",
          "tags-exhausted",
        );
      }
      // The k-th free tag, k random.
      let k = randomInt(free);
      let tag = MIN_TAG;
      for (; tag <= MAX_TAG; tag++) {
        if (used.has(tag)) continue;
        if (k-- === 0) break;
      }
      try {
        return await this.insertPort(tag, fields);
      } catch (e) {
        if (
          e instanceof TransactionError &&
          (e.error === "timed out" || e.error === "constraint violation")
        ) {
          if (attempt + 1 < attempts) continue;
          throw new VSwitchError(
            `could not take a VLAN tag on ${this.bridge} after ${attempts} attempts: other processes took each one first`,
            "conflict",
          );
        }
        throw e;
      }
    }
  }

  private async insertPort(tag: number, fields: AttachmentFields): Promise<Attachment> {
    const name = `${PORT_PREFIX}${tag}`;
    const tx = this.db.transaction();
    // The compare-and-swap guards: nobody holds this tag, and no port has this name.
    tx.wait("Port", [["tag", "==", tag]], ["tag"], "==", [], 0);
    tx.wait("Port", [["name", "==", name]], ["name"], "==", [], 0);
    const bridge = tx.select("Bridge", [["name", "==", this.bridge]], ["name"]);
    const { set } = encodeFields({ state: "reserving", ...fields });
    const iface = tx.insert("Interface", { name, external_ids: set });
    const port = tx.insert("Port", {
      name,
      tag,
      interfaces: [iface],
      external_ids: { [`${KEY}owned`]: "true" },
    });
    const m = tx.mutate("Bridge", [["name", "==", this.bridge]], [["ports", "insert", [port]]]);
    tx.comment(`ovn-docker: take VLAN ${tag} on ${this.bridge}`);
    const r = await tx.execute();
    if (r.rows(bridge).length === 0 || r.count(m) === 0) {
      // Port and Interface are not root tables: unreferenced, they were not kept. Say why.
      await this.checkBridge();
      throw new VSwitchError(`bridge ${this.bridge} vanished while taking VLAN ${tag}`, "bridge-missing");
    }
    return decodeAttachment({ name, tag }, { external_ids: set, ofport: null, error: null });
  }

  /**
   * Records fields on an attachment. With `expect`, a compare-and-swap: it applies only if the
   * attachment's state is still `expect` (returns false otherwise).
   */
  async update(tag: number, fields: AttachmentFields, expect?: UpdateExpectation): Promise<boolean> {
    const name = `${PORT_PREFIX}${tag}`;
    const tx = this.db.transaction();
    const before = tx.select("Interface", [["name", "==", name]], ["external_ids"]);
    const r0 = await tx.execute();
    const row = r0.rows(before)[0];
    if (!row) return false;
    const e = row.external_ids;
    if (expect?.state !== undefined && (e[`${KEY}state`] ?? "reserving") !== expect.state) return false;
    if (expect?.created !== undefined && e[`${KEY}created`] !== expect.created) return false;
    if (expect?.owner !== undefined && (e[`${KEY}owner`] ?? null) !== expect.owner) return false;
    if (expect?.container !== undefined && (e[`${KEY}container`] ?? null) !== expect.container) return false;
    const { set, remove } = encodeFields(fields);
    const next: Record<string, string> = { ...row.external_ids, ...set };
    for (const k of remove) delete next[k];
    const tx2 = this.db.transaction();
    // Guard: nobody changed the row between our read and this write.
    tx2.wait(
      "Interface",
      [["name", "==", name]],
      ["external_ids"],
      "==",
      [{ external_ids: row.external_ids }],
      0,
    );
    tx2.update("Interface", [["name", "==", name]], { external_ids: next });
    try {
      await tx2.execute();
      return true;
    } catch (e) {
      if (e instanceof TransactionError && e.error === "timed out") {
        // Someone else changed it: retry unless the expectation no longer holds.
        return this.update(tag, fields, expect);
      }
      throw e;
    }
  }

  /**
   * Takes an OVSDB lock of the VM's database (RFC 7047 4.1.8): held by this connection until
   * `unlock`, and released by the server when the process dies (no stale lock files). Waits up
   * to `timeoutMs` for a holder to let go; false when it did not.
   */
  async lock(name: string, timeoutMs: number): Promise<boolean> {
    let on: ((n: string) => void) | undefined;
    const granted = new Promise<true>((resolve) => {
      on = (n: string) => {
        if (n === name) resolve(true);
      };
      this.client.on("locked", on);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      if (await this.client.lock(name)) return true;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const got = await Promise.race([granted, timedOut]);
      if (!got) await this.client.unlock(name);
      return got;
    } finally {
      clearTimeout(timer);
      if (on) this.client.off("locked", on);
    }
  }

  async unlock(name: string): Promise<void> {
    await this.client.unlock(name);
  }

  /** Pool settings per network id, kept on the bridge's external_ids (survive agent restarts). */
  async poolSettings(): Promise<Map<string, PoolSettings>> {
    const rows = await this.db.select("Bridge", [["name", "==", this.bridge]], ["external_ids"]);
    const out = new Map<string, PoolSettings>();
    for (const [k, v] of Object.entries(rows[0]?.external_ids ?? {})) {
      if (!k.startsWith(POOL_KEY)) continue;
      const f = Object.fromEntries(v.split(",").map((kv) => kv.split("=")));
      out.set(k.slice(POOL_KEY.length), {
        min: Number(f.min ?? 0),
        max: Number(f.max ?? 0),
        batch: Number(f.batch ?? 1),
        networkName: f.name ?? "",
      });
    }
    return out;
  }

  /** Sets (or, with null, removes) the pool settings of a network. */
  async setPoolSettings(networkId: string, s: PoolSettings | null): Promise<void> {
    const key = POOL_KEY + networkId;
    const tx = this.db.transaction();
    tx.mutate("Bridge", [["name", "==", this.bridge]], [["external_ids", "delete", [key]]]);
    if (s) {
      const value = `min=${s.min},max=${s.max},batch=${s.batch},name=${s.networkName}`;
      tx.mutate(
        "Bridge",
        [["name", "==", this.bridge]],
        [["external_ids", "insert", new Map([[key, value]])]],
      );
    }
    await tx.execute();
  }

  /** Removes the access port of `tag` (its Interface row goes with it). Idempotent. */
  async release(tag: number): Promise<void> {
    const name = `${PORT_PREFIX}${tag}`;
    const tx = this.db.transaction();
    const port = tx.select("Port", [["name", "==", name]], ["name"]);
    const r = await tx.execute();
    const row = r.rows(port)[0];
    if (!row) return;
    const tx2 = this.db.transaction();
    tx2.mutate("Bridge", [], [["ports", "delete", [row._uuid]]]);
    tx2.delete("Port", [["_uuid", "==", row._uuid]]);
    tx2.comment(`ovn-docker: release VLAN ${tag}`);
    await tx2.execute();
  }

  /**
   * Waits until vswitchd opened the device of `tag` (ofport > 0), up to `timeoutMs`. The waiting
   * happens in ovsdb-server (a `wait` operation until ofport is set), not by polling.
   */
  async waitOpened(tag: number, timeoutMs: number): Promise<{ opened: boolean; error?: string }> {
    const name = `${PORT_PREFIX}${tag}`;
    const tx = this.db.transaction();
    tx.wait(
      "Interface",
      [["name", "==", name]],
      ["ofport"],
      "!=",
      [{ ofport: null }],
      Math.max(1, Math.round(timeoutMs)),
    );
    const sel = tx.select("Interface", [["name", "==", name]], ["ofport", "error"]);
    let row: { ofport: number | null; error: string | null } | undefined;
    try {
      row = (await tx.execute()).rows(sel)[0];
    } catch (e) {
      if (!(e instanceof TransactionError && e.error === "timed out")) throw e;
      row = (await this.db.select("Interface", [["name", "==", name]], ["ofport", "error"]))[0];
    }
    if (row && row.ofport !== null && row.ofport > 0) return { opened: true };
    return {
      opened: false,
      error: row ? (row.error ?? `ofport ${row.ofport ?? "unset"}`) : "no such interface",
    };
  }
}
