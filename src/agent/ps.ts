// `ps`: this VM's attachments as the VM's OVSDB records them, with container names from the
// engine and port status from the API (both best effort: the listing never fails for them).

import type { Agent } from "./agent.js";

export interface AttachmentRow {
  container: string;
  container_id: string;
  network: string;
  network_id: string;
  ifname: string;
  mac: string;
  ips: string[];
  vlan: number;
  port: string;
  status: string;
  state: string;
  /** Who made it and owns its lifecycle: cli, cni or docker. */
  via: string;
}

export async function listAttachments(agent: Agent, opts: { all: boolean }): Promise<AttachmentRow[]> {
  const vs = await agent.vswitch();
  const atts = (await vs.list()).filter((a) => opts.all || a.state === "attached");
  const engine = await agent.engine();
  const refs = [...new Set(atts.flatMap((a) => [a.app, a.container].filter((x): x is string => !!x)))];
  const names = new Map<string, string>();
  try {
    for (const c of await engine.inspect(refs)) names.set(c.id, c.name);
  } catch (e) {
    process.stderr.write(`ovn-docker: container names unavailable: ${(e as Error).message}\n`);
  }
  const status = new Map<string, string>();
  try {
    // By id: trunk-mode ports carry no device_id (a subport cannot have one).
    // In chunks: a request line stays well under the server's 16 KiB limit.
    const ids = atts.flatMap((a) => (a.portId ? [a.portId] : []));
    for (let i = 0; i < ids.length; i += 100) {
      for (const p of await agent.api().listPorts({ id: ids.slice(i, i + 100), fields: ["id", "status"] })) {
        status.set(p.id, p.status ?? "");
      }
    }
  } catch (e) {
    process.stderr.write(`ovn-docker: port status unavailable: ${(e as Error).message}\n`);
  }
  return atts.map((a) => {
    const id = a.app ?? a.container ?? "";
    return {
      container: names.get(id) ?? id.slice(0, 12),
      container_id: id,
      network: a.networkName ?? "",
      network_id: a.networkId ?? "",
      ifname: a.ifname ?? "",
      mac: a.mac ?? "",
      ips: a.ips ?? [],
      vlan: a.tag,
      port: a.portId ?? "",
      status: a.portId ? (status.get(a.portId) ?? "unknown") : "",
      state: a.state,
      via: a.via ?? "cli",
    };
  });
}
