// Look-ups over the configured domains, projects, users and role assignments: the part of
// Keystone's SQL this service keeps in its configuration file. Built once per configuration.

import { createHash } from "node:crypto";
import type { DomainConfig, ProjectConfig, ServerConfig, UserConfig } from "../config.js";
import { DEFAULT_SCRYPT, type ScryptParams } from "./passwords.js";
import { ROLE_NAMES, type RoleName } from "./tokens.js";

/** Keystone's default implied roles: admin implies member, member implies reader. */
const IMPLIED: Record<RoleName, RoleName[]> = {
  admin: ["admin", "member", "reader"],
  member: ["member", "reader"],
  reader: ["reader"],
};

export interface RoleRef {
  id: string;
  name: RoleName;
}

/** A stable 32-hex id for a name, the same on every replica. */
export function stableId(kind: string, name: string): string {
  return createHash("sha256").update(`ovn-docker ${kind} ${name}`).digest("hex").slice(0, 32);
}

export function roleRef(name: RoleName): RoleRef {
  return { id: stableId("role", name), name };
}

/** Roles in canonical order (admin, member, reader), each once. */
export function canonicalRoles(roles: Iterable<RoleName>): RoleName[] {
  const set = new Set(roles);
  return ROLE_NAMES.filter((r) => set.has(r));
}

export class Directory {
  private readonly domainsById = new Map<string, DomainConfig>();
  private readonly domainsByName = new Map<string, DomainConfig>();
  private readonly usersById = new Map<string, UserConfig>();
  private readonly usersByName = new Map<string, UserConfig>();
  private readonly projectsById = new Map<string, ProjectConfig>();
  private readonly projectsByName = new Map<string, ProjectConfig>();

  constructor(config: Pick<ServerConfig, "domains" | "projects" | "users">) {
    for (const d of config.domains) {
      this.domainsById.set(d.id, d);
      this.domainsByName.set(d.name, d);
    }
    for (const u of config.users) {
      this.usersById.set(u.id, u);
      this.usersByName.set(`${u.domain_id}\n${u.name}`, u);
    }
    for (const p of config.projects) {
      this.projectsById.set(p.id, p);
      this.projectsByName.set(`${p.domain_id}\n${p.name}`, p);
    }
  }

  /** The scrypt cost of the configured users, for the decoy check of unknown users. */
  get passwordParams(): ScryptParams {
    const first = this.usersById.values().next().value;
    return first ? { N: first.password.N, r: first.password.r, p: first.password.p } : DEFAULT_SCRYPT;
  }

  domainById(id: string): DomainConfig | undefined {
    return this.domainsById.get(id);
  }

  domainByName(name: string): DomainConfig | undefined {
    return this.domainsByName.get(name);
  }

  /** The domain of a configured user or project (validated to exist when the config loaded). */
  domainOf(x: { domain_id: string }): DomainConfig {
    const d = this.domainsById.get(x.domain_id);
    if (!d) throw new Error(`domain ${x.domain_id} is not configured`);
    return d;
  }

  userById(id: string): UserConfig | undefined {
    return this.usersById.get(id);
  }

  userByName(name: string, domainId: string): UserConfig | undefined {
    return this.usersByName.get(`${domainId}\n${name}`);
  }

  projectById(id: string): ProjectConfig | undefined {
    return this.projectsById.get(id);
  }

  projectByName(name: string, domainId: string): ProjectConfig | undefined {
    return this.projectsByName.get(`${domainId}\n${name}`);
  }

  /** The user's roles on the project, with the implied ones; empty when it has none. */
  rolesOn(user: UserConfig, projectId: string): RoleName[] {
    return canonicalRoles(
      user.roles.filter((r) => r.project_id === projectId).flatMap((r) => IMPLIED[r.role]),
    );
  }

  /** The projects on which the user has any role, in configuration order. */
  projectsOf(user: UserConfig): ProjectConfig[] {
    const ids = new Set(user.roles.map((r) => r.project_id));
    return [...this.projectsById.values()].filter((p) => ids.has(p.id));
  }
}
