// The JSON schemas of the identity routes. Requests follow Keystone's own schema for
// POST /v3/auth/tokens (extra keys are tolerated, as Keystone does); responses are
// serialized from these schemas, so a body never carries more than is declared here.

import { type Static, Type } from "@sinclair/typebox";

const IdOrName = Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()) });

const PasswordUser = Type.Object({
  id: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  domain: Type.Optional(IdOrName),
});

const ScopeObject = Type.Object({
  project: Type.Optional(
    Type.Object({
      id: Type.Optional(Type.String()),
      name: Type.Optional(Type.String()),
      domain: Type.Optional(IdOrName),
    }),
  ),
  domain: Type.Optional(IdOrName),
  system: Type.Optional(Type.Object({})),
  "OS-TRUST:trust": Type.Optional(Type.Object({})),
  unscoped: Type.Optional(Type.Unknown()),
});

export const AuthRequest = Type.Object({
  auth: Type.Object({
    identity: Type.Object({
      methods: Type.Array(Type.String()),
      password: Type.Optional(Type.Object({ user: PasswordUser })),
      token: Type.Optional(Type.Object({ id: Type.String() })),
    }),
    // Keystone accepts "unscoped" as a string too (and old keystoneauth's {"unscoped": {}}).
    scope: Type.Optional(Type.Union([Type.String(), ScopeObject])),
  }),
});
export type AuthRequest = Static<typeof AuthRequest>;
export type AuthScope = NonNullable<AuthRequest["auth"]["scope"]>;
export type IdOrName = Static<typeof IdOrName>;

export const NoCatalogQuery = Type.Object({ nocatalog: Type.Optional(Type.String()) });

export const VmTokenRequest = Type.Object(
  {
    parent_port_id: Type.String({ minLength: 1, maxLength: 64 }),
    ttl_seconds: Type.Optional(Type.Integer({ minimum: 60 })),
  },
  { additionalProperties: false },
);
export type VmTokenRequest = Static<typeof VmTokenRequest>;

const Ref = Type.Object({ id: Type.String(), name: Type.String() });
const Endpoint = Type.Object({
  id: Type.String(),
  interface: Type.String(),
  region: Type.String(),
  region_id: Type.String(),
  url: Type.String(),
});

export const TokenBody = Type.Object({
  methods: Type.Array(Type.String()),
  user: Type.Object({
    id: Type.String(),
    name: Type.String(),
    domain: Ref,
    password_expires_at: Type.Null(),
  }),
  project: Type.Object({ id: Type.String(), name: Type.String(), domain: Ref }),
  is_domain: Type.Boolean(),
  roles: Type.Array(Ref),
  expires_at: Type.String(),
  issued_at: Type.String(),
  audit_ids: Type.Array(Type.String()),
  catalog: Type.Optional(
    Type.Array(
      Type.Object({
        type: Type.String(),
        name: Type.String(),
        id: Type.String(),
        endpoints: Type.Array(Endpoint),
      }),
    ),
  ),
  "OS-OVN-DOCKER:vm_scope": Type.Optional(Type.Object({ parent_port_id: Type.String() })),
});
export type TokenBody = Static<typeof TokenBody>;

export const TokenResponse = Type.Object({ token: TokenBody });

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.Integer(), message: Type.String(), title: Type.String() }),
});

const VersionEntry = Type.Object({
  id: Type.String(),
  status: Type.String(),
  updated: Type.Optional(Type.String()),
  links: Type.Array(
    Type.Object({ rel: Type.String(), href: Type.String(), type: Type.Optional(Type.String()) }),
  ),
  "media-types": Type.Optional(Type.Array(Type.Object({ base: Type.String(), type: Type.String() }))),
});

export const RootDiscovery = Type.Object({ versions: Type.Object({ values: Type.Array(VersionEntry) }) });
export const V3Discovery = Type.Object({ version: VersionEntry });
