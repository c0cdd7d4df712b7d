// The token body of POST and GET /v3/auth/tokens, in the shape Keystone renders for a
// project-scoped token (keystone/common/render_token.py), which keystoneauth and
// python-openstackclient parse.

import { serviceCatalog } from "./catalog.js";
import { roleRef } from "./directory.js";
import type { Identity } from "./identity.js";
import type { TokenBody } from "./schemas.js";

/** Keystone's time form: ISO 8601 in UTC with microseconds, e.g. 2024-05-01T12:00:00.000000Z. */
export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.[0-9]{3}Z$/, ".000000Z");
}

export function renderToken(identity: Identity, publicUrl: string, withCatalog: boolean): TokenBody {
  const c = identity.claims;
  return {
    methods: [...c.methods],
    user: { ...identity.user, password_expires_at: null },
    project: identity.project,
    is_domain: false,
    roles: identity.roles.map(roleRef),
    expires_at: isoTime(c.expires_at),
    issued_at: isoTime(c.issued_at),
    audit_ids: c.parent_audit_id === undefined ? [c.audit_id] : [c.audit_id, c.parent_audit_id],
    ...(withCatalog ? { catalog: serviceCatalog(publicUrl) } : {}),
    ...(identity.vmScope
      ? { "OS-OVN-DOCKER:vm_scope": { parent_port_id: identity.vmScope.parentPortId } }
      : {}),
  };
}
