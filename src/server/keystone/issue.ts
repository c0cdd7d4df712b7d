// POST /v3/auth/tokens without HTTP: who is asking (password or token method), for which
// project (the scope), and the claims of the token to issue.
//
// Scope rule. Every token this service issues is scoped to a project (Neutron needs one).
//   - auth.scope.project by id, or by name with a domain {id | name}: that project, if the
//     user has a role on it; otherwise 401, as Keystone answers.
//   - no scope, password method: the user's only project when they have roles on exactly
//     one (Keystone's default_project_id, implied); 401 naming the count when they have
//     none or several, since Keystone would hand back an unscoped token that no Neutron
//     call accepts.
//   - no scope, token method: the original token's project (a renewal).
//   - "unscoped", domain, system or trust scope: 400, not supported here.
// The token method keeps the original token's expiry, as Keystone does, and chains its
// audit id; a VM-scoped token can be renewed but never rescoped to another project.

import type { ProjectConfig, UserConfig } from "../config.js";
import type { Directory } from "./directory.js";
import { AUTH_REQUIRED, badRequest, forbidden, unauthorized } from "./errors.js";
import { type Authenticator, asUnauthorized, type Identity, resolveClaims } from "./identity.js";
import { verifyDecoy, verifyPassword } from "./passwords.js";
import type { AuthRequest, AuthScope, IdOrName } from "./schemas.js";
import { AUTH_METHODS, type AuthMethod, issueToken, newAuditId, type TokenClaims } from "./tokens.js";

export interface Issued {
  token: string;
  identity: Identity;
}

type IdentityBlock = AuthRequest["auth"]["identity"];

/** Who is authenticating, before the scope is decided. */
interface Subject {
  user: UserConfig;
  methods: AuthMethod[];
  expiresAt?: number;
  parentAuditId?: string;
  /** The original token's claims, for the token method. */
  original?: TokenClaims;
}

function lookupDomain(directory: Directory, ref: IdOrName, where: string) {
  if (ref.id === undefined && ref.name === undefined) {
    throw badRequest(`Invalid input for field ${where}: id or name must be present.`);
  }
  return ref.id !== undefined ? directory.domainById(ref.id) : directory.domainByName(ref.name as string);
}

async function passwordSubject(directory: Directory, identity: IdentityBlock): Promise<Subject> {
  const u = identity.password?.user;
  if (!u) throw badRequest("Expecting to find password in identity.");
  let user: UserConfig | undefined;
  if (u.id !== undefined) {
    user = directory.userById(u.id);
  } else if (u.name !== undefined) {
    if (!u.domain) {
      throw badRequest("Expecting to find domain in user: a user given by name needs its domain.");
    }
    const domain = lookupDomain(directory, u.domain, "identity/password/user/domain");
    user = domain ? directory.userByName(u.name, domain.id) : undefined;
  } else {
    throw badRequest("Invalid input for field identity/password/user: id or name must be present.");
  }
  const password = u.password ?? "";
  const ok = user
    ? await verifyPassword(password, user.password)
    : await verifyDecoy(password, directory.passwordParams);
  // One answer for an unknown user and a wrong password, as Keystone gives.
  if (!user || !ok) throw unauthorized();
  return { user, methods: ["password"] };
}

function tokenSubject(auth: Authenticator, identity: IdentityBlock): Subject {
  const id = identity.token?.id;
  if (id === undefined) throw badRequest("Expecting to find token in identity.");
  let original: Identity;
  try {
    original = auth.resolve(id).identity;
  } catch (e) {
    throw asUnauthorized(e);
  }
  const user = auth.directory.userById(original.user.id) as UserConfig;
  const c = original.claims;
  return {
    user,
    methods: ["token", ...c.methods],
    expiresAt: c.expires_at,
    parentAuditId: c.parent_audit_id ?? c.audit_id,
    original: c,
  };
}

function scopedProject(directory: Directory, scope: AuthScope | undefined, subject: Subject): ProjectConfig {
  const unsupported = (what: string) =>
    badRequest(`${what} tokens are not issued by this service; ask for a project in auth.scope.project.`);
  if (typeof scope === "string") throw unsupported(scope === "unscoped" ? "Unscoped" : `"${scope}"-scoped`);
  if (scope?.unscoped !== undefined) throw unsupported("Unscoped");
  if (scope?.domain !== undefined) throw unsupported("Domain-scoped");
  if (scope?.system !== undefined) throw unsupported("System-scoped");
  if (scope?.["OS-TRUST:trust"] !== undefined) throw unsupported("Trust-scoped");
  const p = scope?.project;
  if (p !== undefined) {
    let project: ProjectConfig | undefined;
    if (p.id !== undefined) {
      project = directory.projectById(p.id);
    } else if (p.name !== undefined) {
      if (!p.domain) {
        throw badRequest("Expecting to find domain in project: a project given by name needs its domain.");
      }
      const domain = lookupDomain(directory, p.domain, "scope/project/domain");
      project = domain ? directory.projectByName(p.name, domain.id) : undefined;
    } else {
      throw badRequest("Invalid input for field scope/project: id or name must be present.");
    }
    if (!project) throw unauthorized(`Could not find project: ${p.id ?? p.name}.`);
    return project;
  }
  if (subject.original) return directory.projectById(subject.original.project_id) as ProjectConfig;
  const mine = directory.projectsOf(subject.user);
  if (mine.length === 1) return mine[0] as ProjectConfig;
  throw unauthorized(
    mine.length === 0
      ? `${AUTH_REQUIRED} (user ${subject.user.id} has no role on any project)`
      : `${AUTH_REQUIRED} (user ${subject.user.id} has roles on ${mine.length} projects; name one in auth.scope.project)`,
  );
}

/** Authenticates a POST /v3/auth/tokens body and issues the token. */
export async function issueFromRequest(
  auth: Authenticator,
  lifetimeSeconds: number,
  body: AuthRequest,
): Promise<Issued> {
  const identity = body.auth.identity;
  const methods = [...new Set(identity.methods)];
  if (methods.length === 0) {
    throw badRequest("Expecting to find methods in identity: name one of password, token.");
  }
  if (methods.length > 1 || !AUTH_METHODS.includes(methods[0] as AuthMethod)) {
    throw unauthorized("Attempted to authenticate with an unsupported method. (one of: password, token)");
  }
  const subject =
    methods[0] === "password"
      ? await passwordSubject(auth.directory, identity)
      : tokenSubject(auth, identity);
  const project = scopedProject(auth.directory, body.auth.scope, subject);

  const vmScope = subject.original?.scope;
  if (vmScope && project.id !== subject.original?.project_id) {
    throw forbidden("A VM-scoped token cannot be rescoped to another project.");
  }
  const granted = auth.directory.rolesOn(subject.user, project.id);
  // A VM-scoped token never gains roles when renewed: it stays at member.
  const roles = vmScope ? granted.filter((r) => subject.original?.roles.includes(r)) : granted;
  if (roles.length === 0) {
    throw unauthorized(`User ${subject.user.id} has no access to project ${project.id}.`);
  }

  const now = auth.nowSeconds();
  const claims: TokenClaims = {
    v: 1,
    user_id: subject.user.id,
    project_id: project.id,
    roles,
    methods: subject.methods,
    issued_at: now,
    expires_at: subject.expiresAt ?? now + lifetimeSeconds,
    audit_id: newAuditId(),
    ...(subject.parentAuditId === undefined ? {} : { parent_audit_id: subject.parentAuditId }),
    ...(vmScope ? { scope: vmScope } : {}),
  };
  return { token: issueToken(auth.key, claims), identity: resolveClaims(auth.directory, claims).identity };
}
