// `doctor`: each prerequisite of the agent checked on its own, with how to fix what fails.

import { type Agent, AgentError } from "./agent.js";

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

async function check(name: string, f: () => Promise<string>): Promise<Check> {
  try {
    return { check: name, ok: true, detail: await f() };
  } catch (e) {
    return { check: name, ok: false, detail: (e as Error).message };
  }
}

export async function runDoctor(agent: Agent): Promise<Check[]> {
  const s = agent.settings;
  const out: Check[] = [];
  out.push(
    await check("credentials", async () => {
      const session = await agent.api().auth.session();
      const who = session.user?.name ? `user ${session.user.name}, ` : "";
      return `${who}project ${session.project?.name ?? session.project?.id ?? "?"} (from ${agent.api().auth.credentials.source})`;
    }),
  );
  out.push(
    await check("network API", async () => {
      const n = await agent.api().listNetworks({ limit: 1 });
      return `reachable (${n.length > 0 ? "networks visible" : "no networks yet"})`;
    }),
  );
  out.push(
    await check("vif-id", async () => {
      const id = await agent.vifId();
      const port = await agent.api().getPort(id);
      return `${id} (${s.vifId ? "given" : `found by ${s.uplink}'s MAC`}), status ${port.status ?? "?"}`;
    }),
  );
  const ovs = await check("local OVS", async () => {
    await agent.vswitch();
    return `reachable at ${s.ovsdb}`;
  });
  out.push(ovs);
  if (ovs.ok) {
    out.push(
      await check("bridge and uplink", async () => {
        const vs = await agent.vswitch();
        await vs.checkBridge();
        const ports = await vs.bridgePorts();
        if (!ports.includes(s.uplink)) {
          throw new AgentError(
            `bridge ${s.bridge} has no port ${s.uplink}: add it with "ovs-vsctl add-port ${s.bridge} ${s.uplink}" ` +
              "(the VM's NIC must be the bridge's trunk), or set OVN_DOCKER_UPLINK",
          );
        }
        return `${s.bridge} with uplink ${s.uplink}`;
      }),
    );
  } else {
    out.push({ check: "bridge and uplink", ok: false, detail: "skipped: local OVS unreachable" });
  }
  out.push(
    await check("container engine", async () => {
      const engine = await agent.engine();
      const v = await engine.ping();
      return `${engine.kind} ${v}`;
    }),
  );
  return out;
}
