// The identity half of the network service: what the rest of the server uses.

export { identityVersion, REGION, rootDiscovery, serviceCatalog, type VersionEntry } from "./catalog.js";
export { Directory } from "./directory.js";
export { KeystoneError, keystoneErrorBody } from "./errors.js";
export {
  type Authenticator,
  type AuthenticatorOptions,
  createAuthenticator,
  type Identity,
  StaleTokenError,
} from "./identity.js";
export { hashPassword, verifyPassword } from "./passwords.js";
export { type KeystonePluginOptions, keystonePlugin } from "./routes.js";
export { issueToken, type RoleName, type TokenClaims, TokenError, verifyToken } from "./tokens.js";
export type { CheckParentPort } from "./vm-tokens.js";
