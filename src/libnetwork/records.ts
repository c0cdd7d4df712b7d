// What the driver knows about Docker's endpoints, found again on every call from the VM's own
// Open_vSwitch database (the attachment rows with via "docker") and the network API. The driver
// keeps nothing in memory, so a restarted driver answers for endpoints made before it started.

import ipaddr from "ipaddr.js";
import type { Attachment, VSwitch } from "../vswitch/vswitch.js";
import { PluginError } from "./protocol.js";

export const VIA = "docker";

/** "10.10.0.5/24" or "10.10.0.5" → "10.10.0.5" (canonical); undefined for "" or garbage. */
export function bareIp(address: unknown): string | undefined {
  if (typeof address !== "string" || address === "") return undefined;
  const ip = address.split("/")[0] as string;
  if (!ipaddr.isValid(ip)) return undefined;
  return ipaddr.parse(ip).toString();
}

/** Whether two CIDRs name the same network (10.10.0.0/24 == 10.10.0.7/24). */
export function sameCidr(a: string, b: string): boolean {
  try {
    const [na, la] = ipaddr.parseCIDR(a);
    const [nb, lb] = ipaddr.parseCIDR(b);
    return na.kind() === nb.kind() && la === lb && na.match(nb, lb);
  } catch {
    return false;
  }
}

export function prefixLength(cidr: string): number {
  return ipaddr.parseCIDR(cidr)[1];
}

/** The driver's attachments in this VM. */
export async function dockerRows(vs: VSwitch): Promise<Attachment[]> {
  return (await vs.list()).filter((a) => a.via === VIA);
}

/** The attachment of a Docker endpoint (its id is recorded as the row's container). */
export async function rowOfEndpoint(vs: VSwitch, endpointId: string): Promise<Attachment | undefined> {
  return (await dockerRows(vs)).find((a) => a.container === endpointId);
}

/** The endpoint id of a request, checked (Docker's are 64 hex digits). */
export function endpointIdOf(body: Record<string, unknown>, call: string): string {
  const id = body.EndpointID;
  if (typeof id !== "string" || !/^[A-Za-z0-9_.-]{1,128}$/.test(id)) {
    throw new PluginError(`${call}: the request has no valid EndpointID (got ${JSON.stringify(id)})`);
  }
  return id;
}
