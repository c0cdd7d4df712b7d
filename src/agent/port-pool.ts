// Ready ports for front ends whose runtime makes the network namespace (ovn-cni): a VLAN tag and
// an API port allocated ahead of time (so OVN has bound it, ACTIVE, by the time it is needed),
// recorded on the VM's OVSDB row as state "pool" with no container and no veth. A claim is a
// compare-and-swap on that row; the claimer plumbs the veth and waits only for OVS to open it.
// The CLI's pool holds whole network sandboxes instead (pool.ts); both are rows of the same
// table, told apart by `via`, and `ovn-docker pool drain` empties both.

import type { Attachment } from "../vswitch/vswitch.js";
import type { Agent, NetworkInfo } from "./agent.js";
import { allocate, finish, type Via } from "./attach.js";
import { selfOwner } from "./owner.js";

/** The pooled ports of this VM on a network, made for `via`. */
export function pooledPorts(
  atts: readonly Attachment[],
  networkId: string,
  via: Via,
  vifId: string,
): Attachment[] {
  return atts.filter(
    (a) =>
      a.state === "pool" && a.via === via && a.networkId === networkId && a.vifId === vifId && !!a.portId,
  );
}

/**
 * Takes a ready port for `container`: the row becomes "reserving" with this process as owner and
 * the container recorded, as if `allocate` had just made it. Undefined when none is ready.
 */
export async function claimPort(
  agent: Agent,
  net: NetworkInfo,
  via: Via,
  container: { id: string; netns?: string; ifname: string; cniNetwork?: string },
): Promise<Attachment | undefined> {
  const vs = await agent.vswitch();
  const vifId = await agent.vifId();
  for (;;) {
    const ready = pooledPorts(await vs.list(), net.network.id, via, vifId);
    if (ready.length === 0) return undefined;
    const pick = ready[Math.floor(Math.random() * ready.length)] as Attachment;
    const fields = {
      state: "reserving" as const,
      owner: selfOwner(),
      container: container.id,
      ifname: container.ifname,
      ...(container.netns ? { netns: container.netns } : {}),
      ...(container.cniNetwork ? { cniNetwork: container.cniNetwork } : {}),
    };
    if (!(await vs.update(pick.tag, fields, { state: "pool" }))) continue; // another took it
    return { ...pick, ...fields };
  }
}

/** Allocates ports until `target` are ready on the network; returns how many it made. */
export async function fillPorts(agent: Agent, net: NetworkInfo, via: Via, target: number): Promise<number> {
  const vs = await agent.vswitch();
  const vifId = await agent.vifId();
  let made = 0;
  for (;;) {
    const want = target - pooledPorts(await vs.list(), net.network.id, via, vifId).length;
    if (want <= 0) return made;
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(want, 4) }, async () => {
        const { att } = await allocate(agent, { network: net, via, portName: "pool" });
        await finish(vs, att.tag, { state: "pool", owner: null });
      }),
    );
    const failed = batch.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    made += batch.filter((r) => r.status === "fulfilled").length;
    if (failed) throw failed.reason;
  }
}
