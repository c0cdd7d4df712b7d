// Who may do what: the seed's rules, enforced on every request, stricter than Neutron's
// defaults where Neutron is unsafe (it never checks who owns a parent port).

import type { NetworkFields, PortFields } from "../ovn/neutron-rows.js";
import type { Identity } from "./keystone/identity.js";
import { forbidden, notFound } from "./neutron/errors.js";

/** May the caller see this network (own project, shared, or admin)? */
export function canSeeNetwork(who: Identity, n: NetworkFields): boolean {
  return who.isAdmin || n.shared || n.project_id === who.project.id;
}

/** May the caller change this network or its subnets? VM-scoped tokens never may. */
export function assertOwnsNetwork(who: Identity, n: NetworkFields, action: string): void {
  if (who.vmScope) throw forbidden(action);
  if (!who.isAdmin && n.project_id !== who.project.id) {
    // Neutron answers 404 for what the caller cannot see, 403 for what it sees but may not change.
    if (!canSeeNetwork(who, n)) throw notFound("network", n.id);
    throw forbidden(action);
  }
}

/** May the caller see this port? A VM-scoped token sees only the children of its parent port. */
export function canSeePort(who: Identity, p: PortFields): boolean {
  if (who.vmScope) return p.parent_name === who.vmScope.parentPortId && p.project_id === who.project.id;
  return who.isAdmin || p.project_id === who.project.id;
}

/** Creating or deleting a port: VM-scoped tokens only for children of their own parent. */
export function assertMayWritePort(
  who: Identity,
  p: { parent_name: string | null; project_id: string },
  action: string,
): void {
  if (who.vmScope && p.parent_name !== who.vmScope.parentPortId) throw forbidden(action);
  if (!who.isAdmin && p.project_id !== who.project.id) throw forbidden(action);
}

/** Non-admins act in their own project only. */
export function projectFor(who: Identity, requested: string | undefined, action: string): string {
  if (requested === undefined || requested === who.project.id) return who.project.id;
  if (!who.isAdmin) throw forbidden(`${action}:project_id`);
  return requested;
}

/** Attributes only an admin may set (Neutron's policy: shared networks). */
export function assertAdminFor(who: Identity, attribute: string, action: string): void {
  if (!who.isAdmin) throw forbidden(`${action}:${attribute}`);
}
