// A small typed Neutron v2.0 client over fetch: networks, subnets, ports (with
// binding:profile for child ports) and trunks. Errors carry Neutron's type and message and
// the request that failed; a 401 on a cached token drops the cache and logs in again once.

import { type Authenticator, DEFAULT_TIMEOUT_MS, type FetchLike, timedFetch } from "./keystone.js";

export type FilterValue = string | number | boolean;
export type Filters = Record<string, FilterValue | FilterValue[] | undefined>;

interface Resource {
  id: string;
  name: string;
  project_id?: string;
  tenant_id?: string;
  description?: string;
  [key: string]: unknown;
}

export interface Network extends Resource {
  status?: string;
  subnets: string[];
  admin_state_up?: boolean;
  shared?: boolean;
  mtu?: number;
}

export interface AllocationPool {
  start: string;
  end: string;
}

export interface Subnet extends Resource {
  network_id: string;
  cidr: string;
  ip_version: 4 | 6;
  gateway_ip: string | null;
  enable_dhcp?: boolean;
  allocation_pools?: AllocationPool[];
  dns_nameservers?: string[];
}

export interface FixedIp {
  subnet_id?: string;
  ip_address?: string;
}

export interface BindingProfile {
  parent_name?: string;
  tag?: number;
  [key: string]: unknown;
}

export interface Port extends Resource {
  network_id: string;
  mac_address: string;
  fixed_ips: FixedIp[];
  device_id?: string;
  device_owner?: string;
  status?: string;
  admin_state_up?: boolean;
  port_security_enabled?: boolean;
  "binding:profile"?: BindingProfile;
}

export interface SubPort {
  port_id: string;
  segmentation_type: string;
  segmentation_id: number;
}

export interface Trunk extends Resource {
  port_id: string;
  status?: string;
  admin_state_up?: boolean;
  sub_ports: SubPort[];
}

export interface CreateNetwork {
  name: string;
  description?: string;
  admin_state_up?: boolean;
  shared?: boolean;
  mtu?: number;
  project_id?: string;
  [key: string]: unknown;
}

export interface CreateSubnet {
  network_id: string;
  cidr: string;
  ip_version?: 4 | 6;
  name?: string;
  gateway_ip?: string | null;
  enable_dhcp?: boolean;
  allocation_pools?: AllocationPool[];
  dns_nameservers?: string[];
  [key: string]: unknown;
}

export interface CreatePort {
  network_id: string;
  name?: string;
  description?: string;
  mac_address?: string;
  fixed_ips?: FixedIp[];
  device_id?: string;
  device_owner?: string;
  admin_state_up?: boolean;
  port_security_enabled?: boolean;
  "binding:profile"?: BindingProfile;
  [key: string]: unknown;
}

export type UpdatePort = Partial<Omit<CreatePort, "network_id">>;

export interface CreateTrunk {
  port_id: string;
  name?: string;
  description?: string;
  admin_state_up?: boolean;
  sub_ports?: SubPort[];
  [key: string]: unknown;
}

/** Neutron (or the network service) answered with an error status. */
export class NeutronApiError extends Error {
  readonly status: number;
  /** Neutron's error type, e.g. "VlanTagInUse", "PortNotFound"; "" when the body had none. */
  readonly type: string;
  /** Neutron's message (or the body text). */
  readonly neutronMessage: string;
  readonly method: string;
  readonly path: string;
  /** What was being done, e.g. "creating port on network X". */
  readonly context: string;
  constructor(context: string, status: number, type: string, message: string, method: string, path: string) {
    super(`${context}: ${status}${type ? ` ${type}` : ""}: ${message} (${method} ${path})`);
    this.name = "NeutronApiError";
    this.status = status;
    this.type = type;
    this.neutronMessage = message;
    this.method = method;
    this.path = path;
    this.context = context;
  }
}

export interface NeutronClientOptions {
  auth: Authenticator;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export interface DeleteOptions {
  /** A 404 counts as success (already gone). */
  ignoreMissing?: boolean;
}

function query(filters: Filters | undefined): string {
  if (!filters) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function parseError(r: Response): Promise<{ type: string; message: string }> {
  const text = await r.text().catch(() => "");
  try {
    const j = JSON.parse(text) as {
      NeutronError?: { type?: string; message?: string } | string;
      error?: { message?: string; title?: string };
      message?: string;
    };
    if (j.NeutronError && typeof j.NeutronError === "object") {
      return { type: j.NeutronError.type ?? "", message: j.NeutronError.message ?? text };
    }
    if (typeof j.NeutronError === "string") return { type: "", message: j.NeutronError };
    if (j.error?.message) return { type: j.error.title ?? "", message: j.error.message };
    if (typeof j.message === "string") return { type: "", message: j.message };
  } catch {
    // not JSON
  }
  return { type: "", message: text.trim().slice(0, 500) || r.statusText };
}

const enc = encodeURIComponent;

/** add/remove_subports answer the trunk itself (Neutron) or wrapped in {trunk}. */
function unwrapTrunk(body: Trunk | { trunk: Trunk }): Trunk {
  const wrapped = (body as { trunk?: unknown }).trunk;
  return wrapped !== null && typeof wrapped === "object" ? (wrapped as Trunk) : (body as Trunk);
}

export class NeutronClient {
  readonly auth: Authenticator;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;

  constructor(opts: NeutronClientOptions) {
    this.auth = opts.auth;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * One request against the network endpoint. `path` is below /v2.0 (e.g. "/ports").
   * Returns the parsed body (undefined for 204), or throws NeutronApiError.
   */
  async request<T>(
    method: string,
    path: string,
    context: string,
    body?: unknown,
    opts: { ignore404?: boolean } = {},
  ): Promise<T | undefined> {
    const fullPath = `/v2.0${path}`;
    let session = await this.auth.session();
    let retried = false;
    // Reads are safe to repeat: a dropped connection or a timeout gets two more tries.
    let transportTries = method === "GET" || method === "HEAD" ? 3 : 1;
    for (;;) {
      const base = session.network_url.replace(/\/v2\.0$/, "");
      const headers: Record<string, string> = { "x-auth-token": session.token, accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      let r: Response;
      try {
        r = await timedFetch(
          this.fetchFn,
          method,
          `${base}${fullPath}`,
          { headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) },
          this.timeoutMs,
        );
      } catch (e) {
        if (--transportTries > 0) continue;
        throw e;
      }
      if (r.status === 401 && !retried) {
        // The token was refused (cached and revoked, key rotated, corrupt): drop it and, with
        // a password, log in again once.
        retried = true;
        await r.body?.cancel();
        await this.auth.invalidate();
        if (this.auth.canRelogin) {
          session = await this.auth.session();
          continue;
        }
        const e = await parseError(r).catch(() => ({ type: "", message: "" }));
        throw new NeutronApiError(
          context,
          401,
          e.type,
          "the given token was refused; obtain a new one",
          method,
          fullPath,
        );
      }
      if (r.status === 404 && opts.ignore404) {
        await r.body?.cancel();
        return undefined;
      }
      if (r.status >= 400) {
        const e = await parseError(r);
        throw new NeutronApiError(context, r.status, e.type, e.message, method, fullPath);
      }
      if (r.status === 204) return undefined;
      const text = await r.text();
      return (text ? JSON.parse(text) : undefined) as T | undefined;
    }
  }

  private async must<T>(method: string, path: string, context: string, body?: unknown): Promise<T> {
    const out = await this.request<T>(method, path, context, body);
    if (out === undefined) {
      throw new NeutronApiError(
        context,
        0,
        "",
        "empty answer from the network service",
        method,
        `/v2.0${path}`,
      );
    }
    return out;
  }

  /** GET a collection, following `<collection>_links` rel=next when the server paginates. */
  private async list<T>(collection: string, filters: Filters | undefined, context: string): Promise<T[]> {
    const out: T[] = [];
    let path = `/${collection}${query(filters)}`;
    for (let page = 0; page < 10_000; page++) {
      const body = await this.must<Record<string, unknown>>("GET", path, context);
      const items = body[collection];
      if (Array.isArray(items)) out.push(...(items as T[]));
      const links = body[`${collection}_links`] as Array<{ rel?: string; href?: string }> | undefined;
      const next = links?.find((l) => l.rel === "next")?.href;
      if (!next || !Array.isArray(items) || items.length === 0) break;
      const u = new URL(next);
      path = `${u.pathname.replace(/^.*\/v2\.0/, "")}${u.search}`;
    }
    return out;
  }

  // Networks

  listNetworks(filters?: Filters): Promise<Network[]> {
    return this.list<Network>("networks", filters, "listing networks");
  }

  async getNetwork(id: string): Promise<Network> {
    return (await this.must<{ network: Network }>("GET", `/networks/${enc(id)}`, `showing network ${id}`))
      .network;
  }

  async createNetwork(network: CreateNetwork): Promise<Network> {
    return (
      await this.must<{ network: Network }>("POST", "/networks", `creating network ${network.name}`, {
        network,
      })
    ).network;
  }

  async deleteNetwork(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.request("DELETE", `/networks/${enc(id)}`, `deleting network ${id}`, undefined, {
      ignore404: opts.ignoreMissing === true,
    });
  }

  // Subnets

  listSubnets(filters?: Filters): Promise<Subnet[]> {
    return this.list<Subnet>("subnets", filters, "listing subnets");
  }

  async getSubnet(id: string): Promise<Subnet> {
    return (await this.must<{ subnet: Subnet }>("GET", `/subnets/${enc(id)}`, `showing subnet ${id}`)).subnet;
  }

  async createSubnet(subnet: CreateSubnet): Promise<Subnet> {
    const body = { subnet: { ip_version: 4, ...subnet } };
    return (
      await this.must<{ subnet: Subnet }>(
        "POST",
        "/subnets",
        `creating subnet ${subnet.cidr} on network ${subnet.network_id}`,
        body,
      )
    ).subnet;
  }

  async deleteSubnet(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.request("DELETE", `/subnets/${enc(id)}`, `deleting subnet ${id}`, undefined, {
      ignore404: opts.ignoreMissing === true,
    });
  }

  // Ports

  listPorts(filters?: Filters): Promise<Port[]> {
    return this.list<Port>("ports", filters, "listing ports");
  }

  async getPort(id: string): Promise<Port> {
    return (await this.must<{ port: Port }>("GET", `/ports/${enc(id)}`, `showing port ${id}`)).port;
  }

  async createPort(port: CreatePort): Promise<Port> {
    const parent = port["binding:profile"]?.parent_name;
    const context = `creating port on network ${port.network_id}${
      parent !== undefined ? ` (child of ${parent}, tag ${port["binding:profile"]?.tag})` : ""
    }`;
    return (await this.must<{ port: Port }>("POST", "/ports", context, { port })).port;
  }

  async updatePort(id: string, port: UpdatePort): Promise<Port> {
    return (await this.must<{ port: Port }>("PUT", `/ports/${enc(id)}`, `updating port ${id}`, { port }))
      .port;
  }

  async deletePort(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.request("DELETE", `/ports/${enc(id)}`, `deleting port ${id}`, undefined, {
      ignore404: opts.ignoreMissing === true,
    });
  }

  // Trunks

  listTrunks(filters?: Filters): Promise<Trunk[]> {
    return this.list<Trunk>("trunks", filters, "listing trunks");
  }

  async getTrunk(id: string): Promise<Trunk> {
    return (await this.must<{ trunk: Trunk }>("GET", `/trunks/${enc(id)}`, `showing trunk ${id}`)).trunk;
  }

  async createTrunk(trunk: CreateTrunk): Promise<Trunk> {
    return (
      await this.must<{ trunk: Trunk }>("POST", "/trunks", `creating trunk on port ${trunk.port_id}`, {
        trunk,
      })
    ).trunk;
  }

  async deleteTrunk(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.request("DELETE", `/trunks/${enc(id)}`, `deleting trunk ${id}`, undefined, {
      ignore404: opts.ignoreMissing === true,
    });
  }

  /** PUT /trunks/{id}/add_subports; answers the trunk. */
  async addSubports(id: string, subPorts: SubPort[]): Promise<Trunk> {
    const body = await this.must<Trunk | { trunk: Trunk }>(
      "PUT",
      `/trunks/${enc(id)}/add_subports`,
      `adding subports ${subPorts.map((s) => `${s.port_id}@${s.segmentation_id}`).join(", ")} to trunk ${id}`,
      { sub_ports: subPorts },
    );
    return unwrapTrunk(body);
  }

  /** PUT /trunks/{id}/remove_subports (only port_id is needed per subport). */
  async removeSubports(id: string, subPorts: Array<Pick<SubPort, "port_id">>): Promise<Trunk> {
    const body = await this.must<Trunk | { trunk: Trunk }>(
      "PUT",
      `/trunks/${enc(id)}/remove_subports`,
      `removing subports ${subPorts.map((s) => s.port_id).join(", ")} from trunk ${id}`,
      { sub_ports: subPorts.map((s) => ({ port_id: s.port_id })) },
    );
    return unwrapTrunk(body);
  }
}
