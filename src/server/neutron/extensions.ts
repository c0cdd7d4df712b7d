// GET /v2.0 and /v2.0/extensions: what clients read to learn what this Neutron supports.

import type { FastifyInstance } from "fastify";
import type { VersionEntry } from "../keystone/catalog.js";
import { identityOf, type NeutronContext } from "./context.js";
import { notFound } from "./errors.js";

const UPDATED = "2026-11-29T00:00:00-00:00";

export const EXTENSIONS = [
  ["binding", "Port Binding", "Expose port bindings of a virtual port to external application"],
  ["port-security", "Port Security", "Provides port security"],
  ["trunk", "Trunk Extension", "Provides support for trunk ports"],
  ["trunk-details", "Trunk port details", "Expose trunk port details"],
  ["project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."],
  [
    "standard-attr-revisions",
    "Resource revision numbers",
    "This extension will display the revision number of neutron resources.",
  ],
  [
    "standard-attr-timestamp",
    "Resource timestamps",
    "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
  ],
  ["filter-validation", "Filter parameters validation", "Provides validation on filter parameters."],
  [
    "empty-string-filtering",
    "Empty String Filtering Extension",
    "Allow filtering by attributes with empty string value",
  ],
  ["pagination", "Pagination support", "Extension that indicates that pagination is enabled."],
  ["sorting", "Sorting support", "Extension that indicates that sorting is enabled."],
  ["net-mtu", "Network MTU", "Provides MTU attribute for a network resource."],
].map(([alias, name, description]) => ({ alias, name, description, updated: UPDATED, links: [] }));

export function neutronVersion(publicUrl: string): VersionEntry {
  return { id: "v2.0", status: "CURRENT", links: [{ href: `${publicUrl}/v2.0/`, rel: "self" }] };
}

export function extensionRoutes(app: FastifyInstance, ctx: NeutronContext): void {
  app.get("/v2.0", async (req) => {
    const base = `${req.protocol}://${req.headers.host ?? "localhost"}`;
    return {
      resources: ["networks", "subnets", "ports", "trunks"].map((r) => ({
        name: r.slice(0, -1),
        collection: r,
        links: [{ href: `${base}/v2.0/${r}`, rel: "self" }],
      })),
    };
  });
  app.get("/v2.0/extensions", async (req, reply) => {
    identityOf(ctx, req);
    return { extensions: EXTENSIONS };
  });
  app.get("/v2.0/extensions/:alias", async (req, reply) => {
    identityOf(ctx, req);
    const alias = (req.params as { alias: string }).alias;
    const ext = EXTENSIONS.find((x) => x.alias === alias);
    if (!ext) throw notFound("extension", alias);
    return { extension: ext };
  });
}
