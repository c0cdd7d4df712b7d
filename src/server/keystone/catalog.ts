// Version discovery documents and the service catalog, built from the public URL. Their
// shapes are Keystone's: keystoneauth's discovery reads `versions.values` at the root and
// `version` at /v3; the catalog lists, per service, one endpoint per interface.

import { stableId } from "./directory.js";

export const REGION = "RegionOne";
export const IDENTITY_VERSION = "v3.14";
const IDENTITY_UPDATED = "2020-04-07T00:00:00Z";

export interface VersionLink {
  rel: string;
  href: string;
  type?: string;
}

export interface VersionEntry {
  id: string;
  status: string;
  updated?: string;
  links: VersionLink[];
  "media-types"?: { base: string; type: string }[];
}

/** The identity v3 entry of a discovery document. */
export function identityVersion(publicUrl: string): VersionEntry {
  return {
    id: IDENTITY_VERSION,
    status: "stable",
    updated: IDENTITY_UPDATED,
    links: [{ rel: "self", href: `${publicUrl}/v3/` }],
    "media-types": [{ base: "application/json", type: "application/vnd.openstack.identity-v3+json" }],
  };
}

/** GET / — answered with 300 Multiple Choices, as Keystone does. */
export function rootDiscovery(
  publicUrl: string,
  extra: VersionEntry[] = [],
): { versions: { values: VersionEntry[] } } {
  return { versions: { values: [identityVersion(publicUrl), ...extra] } };
}

/** GET /v3 */
export function v3Discovery(publicUrl: string): { version: VersionEntry } {
  return { version: identityVersion(publicUrl) };
}

export interface CatalogEndpoint {
  id: string;
  interface: "public" | "internal" | "admin";
  region: string;
  region_id: string;
  url: string;
}

export interface CatalogService {
  type: string;
  name: string;
  id: string;
  endpoints: CatalogEndpoint[];
}

const INTERFACES = ["public", "internal", "admin"] as const;

function service(type: string, name: string, url: string): CatalogService {
  return {
    type,
    name,
    id: stableId("service", type),
    endpoints: INTERFACES.map((iface) => ({
      id: stableId("endpoint", `${type} ${iface}`),
      interface: iface,
      region: REGION,
      region_id: REGION,
      url,
    })),
  };
}

/** The catalog every token carries: this service's identity and network endpoints. */
export function serviceCatalog(publicUrl: string): CatalogService[] {
  return [service("identity", "keystone", `${publicUrl}/v3`), service("network", "neutron", publicUrl)];
}
