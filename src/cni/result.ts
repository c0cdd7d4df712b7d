// The CNI result of an ADD (spec 1.1.0 "Success"; 0.4.0 and 1.0.0 shapes where they differ):
// the VM-side end and the container's interface, its addresses with prefix and gateway,
// default routes, DNS servers. Appended to prevResult when ovn-cni is not first in a chain.

import ipaddr from "ipaddr.js";
import type { NetworkInfo } from "../agent/agent.js";
import { addressInfo } from "../agent/agent.js";
import type { Attachment } from "../vswitch/vswitch.js";
import type { CniVersion } from "./config.js";

interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: "4" | "6";
}

interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: CniRoute[];
  dns?: { nameservers?: string[] };
}

export function buildResult(
  version: CniVersion,
  att: Attachment,
  network: NetworkInfo,
  netns: string,
  prev?: Record<string, unknown>,
): CniResult {
  const base = (prev ?? {}) as Partial<CniResult>;
  const interfaces = [...(base.interfaces ?? [])];
  const ips = [...(base.ips ?? [])];
  const routes = [...(base.routes ?? [])];
  const mtu = network.network.mtu ?? 1442;
  const withMtu = version === "1.1.0" ? { mtu } : {};
  interfaces.push({ name: att.portName, ...withMtu });
  const index = interfaces.length;
  interfaces.push({
    name: att.ifname ?? "eth0",
    ...(att.mac ? { mac: att.mac } : {}),
    ...withMtu,
    sandbox: netns,
  });
  const nameservers = new Set(base.dns?.nameservers ?? []);
  for (const ip of att.ips ?? []) {
    const info = addressInfo(ip, network.subnets);
    const v6 = ipaddr.parse(ip).kind() === "ipv6";
    ips.push({
      address: `${ip}/${info?.prefixLength ?? (v6 ? 128 : 32)}`,
      ...(info?.gateway ? { gateway: info.gateway } : {}),
      interface: index,
      ...(version === "0.4.0" ? { version: v6 ? ("6" as const) : ("4" as const) } : {}),
    });
    if (info?.gateway && !routes.some((r) => r.dst === (v6 ? "::/0" : "0.0.0.0/0"))) {
      routes.push({ dst: v6 ? "::/0" : "0.0.0.0/0", gw: info.gateway });
    }
  }
  for (const s of network.subnets) for (const d of s.dns_nameservers ?? []) nameservers.add(d);
  return {
    cniVersion: version,
    interfaces,
    ips,
    routes,
    dns: nameservers.size > 0 ? { ...base.dns, nameservers: [...nameservers] } : (base.dns ?? {}),
  };
}
