// VM-scoped credentials: a token that a tenant hands to one of its VMs, good only for
// acting on behalf of one parent port (the VM's vif). It is minted by
//
//   POST /v3/OS-OVN-DOCKER/vm-tokens  {"parent_port_id": "...", "ttl_seconds": 86400}
//
// with a project token of an admin or member; the port must belong to the caller's project,
// which the Neutron side decides through the `checkParentPort` hook. The new token carries
// the caller's user and project, the member role only (never admin, whoever mints it) and
// `scope.parent_port_id`; the Neutron routes enforce what that scope allows. It can be
// renewed with the token method (same expiry) but not rescoped, and it cannot mint others.

import { badRequest, forbidden } from "./errors.js";
import type { Authenticator, Identity } from "./identity.js";
import { resolveClaims } from "./identity.js";
import type { Issued } from "./issue.js";
import type { VmTokenRequest } from "./schemas.js";
import { issueToken, newAuditId, type TokenClaims } from "./tokens.js";

/** Does port `portId` exist and belong to project `projectId`? */
export type CheckParentPort = (projectId: string, portId: string) => Promise<boolean>;

const DAY = 86_400;

export async function mintVmToken(
  auth: Authenticator,
  caller: Identity,
  req: VmTokenRequest,
  maxTtlSeconds: number,
  checkParentPort: CheckParentPort,
): Promise<Issued> {
  if (caller.vmScope) throw forbidden("A VM-scoped token cannot mint VM-scoped tokens.");
  if (!caller.roles.includes("admin") && !caller.roles.includes("member")) {
    throw forbidden("Minting a VM-scoped token needs the admin or member role on the project.");
  }
  const ttl = req.ttl_seconds ?? Math.min(DAY, maxTtlSeconds);
  if (ttl > maxTtlSeconds) {
    throw badRequest(
      `ttl_seconds ${ttl} is more than the maximum of ${maxTtlSeconds} (token.vm_max_lifetime_seconds).`,
    );
  }
  if (!(await checkParentPort(caller.project.id, req.parent_port_id))) {
    throw forbidden(`Port ${req.parent_port_id} is not a port of project ${caller.project.id}.`);
  }
  const now = auth.nowSeconds();
  const claims: TokenClaims = {
    v: 1,
    user_id: caller.user.id,
    project_id: caller.project.id,
    roles: ["member", "reader"],
    methods: ["token"],
    issued_at: now,
    expires_at: now + ttl,
    audit_id: newAuditId(),
    parent_audit_id: caller.claims.parent_audit_id ?? caller.claims.audit_id,
    scope: { parent_port_id: req.parent_port_id },
  };
  return { token: issueToken(auth.key, claims), identity: resolveClaims(auth.directory, claims).identity };
}
