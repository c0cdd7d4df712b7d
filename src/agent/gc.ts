// gc: reconciles the places a container's network leaves traces in this VM and removes what has
// no owner: API ports of this VM's children with no attachment, OVS ports whose container is
// gone or whose half-done work belongs to a dead process, veths with no OVS port, network
// sandboxes with no attachment. Work in progress (its owner process is alive) is left alone,
// and so is anything we did not create (no "ovn-docker:" marker, other device owners or VMs).

import type { Attachment } from "../vswitch/vswitch.js";
import { PORT_PREFIX } from "../vswitch/vswitch.js";
import { type Agent, DEVICE_OWNER } from "./agent.js";
import { detach, trunkPortName, vmTrunk } from "./attach.js";
import { LABEL_ROLE, LABEL_SANDBOX, LABEL_VIF } from "./engine.js";
import { ownerAlive } from "./owner.js";
import { hostLinks, unplumb } from "./plumbing.js";

export interface GcReport {
  /** OVS ports (and their API ports and veths) taken apart. */
  attachments: Array<{ tag: number; reason: string }>;
  /** API ports deleted that no attachment referred to. */
  ports: string[];
  /** veths deleted that had no OVS port. */
  veths: string[];
  /** Network sandboxes removed. */
  sandboxes: string[];
  /** Application containers removed whose network sandbox was gone. */
  containers: string[];
}

/** The VM-side veth ends we create: ovd<tag>. */
const ACCESS_PORT = new RegExp(`^${PORT_PREFIX}\\d+$`);

function inProgress(a: Attachment): boolean {
  return (a.state === "reserving" || a.state === "detaching") && ownerAlive(a.owner);
}

/**
 * `cheap`: only the VM's own records (half-done work of dead processes); no engine or API
 * listing. This is what runs before each `run`.
 */
export async function gc(agent: Agent, opts: { cheap?: boolean } = {}): Promise<GcReport> {
  const report: GcReport = { attachments: [], ports: [], veths: [], sandboxes: [], containers: [] };
  const vs = await agent.vswitch();
  const atts = await vs.list();

  const teardown = async (a: Attachment, reason: string) => {
    // (false: another process took it apart first, or it was reserved again)
    if (await detach(agent, vs, a)) report.attachments.push({ tag: a.tag, reason });
  };

  // 1. half-done work whose process died
  const remaining: Attachment[] = [];
  for (const a of atts) {
    if (inProgress(a)) continue;
    if (a.state === "reserving" || a.state === "detaching" || (a.owner && !ownerAlive(a.owner))) {
      await teardown(a, `${a.state} by process ${a.owner ?? "?"}, which is gone`);
    } else remaining.push(a);
  }
  if (opts.cheap) return report;

  // 2. attachments whose container is gone (or whose application container is gone). Those of
  // the CNI plugin and the Docker driver are left to their runtimes (CNI DEL/GC, docker rm):
  // their containers are not this engine's to look up.
  const engine = await agent.engine();
  const mine = remaining.filter((a) => (a.via ?? "cli") === "cli");
  const refs = [...new Set(mine.flatMap((a) => [a.container, a.app].filter((x): x is string => !!x)))];
  const infos = new Map((await engine.inspect(refs)).map((c) => [c.id, c]));
  const sandboxesToRemove = new Set<string>();
  for (const a of mine) {
    const sb = a.container ? infos.get(a.container) : undefined;
    if (!sb?.running) {
      await teardown(a, `container ${a.container?.slice(0, 12) ?? "?"} is ${sb ? "not running" : "gone"}`);
      if (sb && sb.labels[LABEL_ROLE] === "sandbox") sandboxesToRemove.add(sb.id);
      continue;
    }
    if (a.state === "attached" && a.app && a.app !== a.container && !infos.has(a.app)) {
      await teardown(a, `application container ${a.app.slice(0, 12)} is gone`);
      if (sb.labels[LABEL_ROLE] === "sandbox") sandboxesToRemove.add(sb.id);
    }
  }

  // 3. network sandboxes of this VM that nothing refers to (and no live process is building)
  const vifId = await agent.vifId();
  const live = new Set((await vs.list()).flatMap((a) => (a.container ? [a.container] : [])));
  const ours = await engine.inspect(await engine.listByLabel(`${LABEL_VIF}=${vifId}`));
  for (const info of ours) {
    if (live.has(info.id) || info.labels[LABEL_ROLE] !== "sandbox") continue;
    if (ownerAlive(info.labels["ovn-docker.owner"]) && info.running) continue;
    sandboxesToRemove.add(info.id);
  }
  // Application containers of a failed `run` whose network sandbox is gone (or going) can never
  // run again. They go first: podman refuses to remove a sandbox others depend on.
  const alive = new Set(ours.filter((c) => c.running && !sandboxesToRemove.has(c.id)).map((c) => c.id));
  for (const info of ours) {
    const sbId = info.labels[LABEL_SANDBOX];
    if (sbId && !alive.has(sbId)) {
      await engine.remove(info.id);
      report.containers.push(info.id);
    }
  }
  for (const id of sandboxesToRemove) {
    await engine.remove(id);
    report.sandboxes.push(id);
  }

  // 4. API ports of this VM's children that no attachment refers to
  const now = await vs.list();
  const known = new Set(now.flatMap((a) => (a.portId ? [a.portId] : [])));
  const busyTags = new Set(now.filter(inProgress).map((a) => a.tag));
  const api = agent.api();
  const candidates: Array<{ id: string; tag: number | undefined; trunk?: string }> = [];
  for (const p of await api.listPorts({ device_id: vifId, device_owner: DEVICE_OWNER })) {
    const b = p["binding:profile"];
    if (b?.parent_name === vifId) candidates.push({ id: p.id, tag: b.tag });
  }
  // trunk mode: subports of this VM's trunk, and ports made for it but never added (a crash).
  const trunkId = await vmTrunk(agent, vifId, false);
  if (trunkId) {
    for (const sp of (await api.getTrunk(trunkId)).sub_ports) {
      candidates.push({ id: sp.port_id, tag: sp.segmentation_id, trunk: trunkId });
    }
  }
  const prefix = trunkPortName(vifId, 0).replace(/0$/, "");
  for (const p of await api.listPorts({ device_owner: DEVICE_OWNER })) {
    if (p.name.startsWith(prefix)) candidates.push({ id: p.id, tag: Number(p.name.slice(prefix.length)) });
  }
  const done = new Set<string>();
  for (const c of candidates) {
    if (known.has(c.id) || done.has(c.id)) continue;
    if (c.tag !== undefined && busyTags.has(c.tag)) continue;
    done.add(c.id);
    if (c.trunk) await api.removeSubports(c.trunk, [{ port_id: c.id }]);
    await api.deletePort(c.id, { ignoreMissing: true });
    report.ports.push(c.id);
  }

  // 5. veths named like our access ports with no OVS port
  const names = new Set(now.map((a) => a.portName));
  for (const link of await hostLinks()) {
    if (ACCESS_PORT.test(link) && !names.has(link)) {
      await unplumb(link);
      report.veths.push(link);
    }
  }
  return report;
}
