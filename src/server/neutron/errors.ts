// Errors in Neutron's shape: {"NeutronError": {"type": "...", "message": "...", "detail": ""}}.
//
// Neutron serialises every failure the same way (neutron/api/api_common.py,
// get_exception_data): `type` is the Python class name of the exception, `message` its text,
// `detail` always "". The messages below are neutron-lib's own wording
// (neutron_lib/exceptions/__init__.py, neutron/services/trunk/exceptions.py,
// neutron/ipam/exceptions.py), so clients that match on them keep working.
//
// A NeutronError carries `statusCode`, so fastify's default error handler, or another plugin's,
// answers with the right status even outside the network routes.

/** The HTTP statuses Neutron answers with (its FAULT_MAP plus the webob errors it raises). */
export type NeutronStatus = 400 | 401 | 403 | 404 | 409 | 413 | 500 | 503;

export interface NeutronErrorBody {
  NeutronError: { type: string; message: string; detail: string };
}

export class NeutronError extends Error {
  override name = "NeutronError";
  constructor(
    readonly status: NeutronStatus,
    readonly type: string,
    message: string,
    readonly detail = "",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** What fastify reads to choose the response status. */
  get statusCode(): number {
    return this.status;
  }

  /** The response body, key for key as Neutron writes it. */
  toBody(): NeutronErrorBody {
    return { NeutronError: { type: this.type, message: this.message, detail: this.detail } };
  }
}

export function isNeutronError(e: unknown): e is NeutronError {
  return e instanceof NeutronError;
}

// --- 404 ------------------------------------------------------------------------------------

/** "network" → "Network", "security_group" → "SecurityGroup" (the class-name part). */
function className(resource: string): string {
  return resource
    .split(/[_\s-]+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join("");
}

/** "security_group" → "Security group" (the sentence part). */
function sentenceName(resource: string): string {
  const words = resource.split(/[_\s-]+/).filter((w) => w.length > 0);
  const s = words.join(" ");
  return s.length > 0 ? (s[0]?.toUpperCase() ?? "") + s.slice(1) : s;
}

/**
 * `<Resource>NotFound`, 404: "Network <id> could not be found." — the wording of
 * NetworkNotFound, SubnetNotFound, PortNotFound (neutron-lib) and TrunkNotFound (trunk plugin).
 */
export function notFound(resource: string, id: string): NeutronError {
  return new NeutronError(
    404,
    `${className(resource)}NotFound`,
    `${sentenceName(resource)} ${id} could not be found.`,
  );
}

/** PortNotFoundOnNetwork, 404. */
export const portNotFoundOnNetwork = (portId: string, netId: string) =>
  new NeutronError(404, "PortNotFoundOnNetwork", `Port ${portId} could not be found on network ${netId}.`);

// --- 400 ------------------------------------------------------------------------------------

/** neutron-lib BadRequest, 400: "Bad <resource> request: <msg>." */
export const badRequest = (resource: string, msg: string) =>
  new NeutronError(400, "BadRequest", `Bad ${resource} request: ${msg}.`);

/** neutron-lib InvalidInput, 400: "Invalid input for operation: <msg>." */
export const invalidInput = (msg: string) =>
  new NeutronError(400, "InvalidInput", `Invalid input for operation: ${msg}.`);

/**
 * A webob HTTPBadRequest raised by the API layer itself (unknown filter or sort key, malformed
 * body): type "HTTPBadRequest", the explanation as the message, unchanged.
 */
export const httpBadRequest = (msg: string) => new NeutronError(400, "HTTPBadRequest", msg);

// --- 403 ------------------------------------------------------------------------------------

/**
 * oslo.policy's PolicyNotAuthorized, 403, as Neutron raises it: the failed rule is printed as
 * oslo.policy prints checks, `rule:<action>` alone, and each attribute rule Neutron adds for an
 * explicitly set attribute wraps it in an and-check:
 * `forbidden("create_port", ["binding:profile"])` →
 * "(rule:create_port and rule:create_port:binding:profile) is disallowed by policy".
 */
export function forbidden(action: string, attributes: readonly string[] = []): NeutronError {
  let rule = `rule:${action}`;
  for (const a of attributes) rule = `(${rule} and rule:${action}:${a})`;
  return new NeutronError(403, "PolicyNotAuthorized", `${rule} is disallowed by policy`);
}

/** neutron-lib NotAuthorized, mapped to 403 by Neutron's FAULT_MAP. */
export const notAuthorized = (msg = "Not authorized.") => new NeutronError(403, "NotAuthorized", msg);

/** neutron-lib AdminRequired, 403. */
export const adminRequired = (reason: string) =>
  new NeutronError(403, "AdminRequired", `User does not have admin privileges: ${reason}.`);

// --- 409 ------------------------------------------------------------------------------------

/** A Conflict subclass of your own naming, 409. */
export const conflict = (type: string, msg: string) => new NeutronError(409, type, msg);

export const networkInUse = (netId: string) =>
  conflict(
    "NetworkInUse",
    `Unable to complete operation on network ${netId}. There are one or more ports still in use on the network.`,
  );

export const subnetInUse = (
  subnetId: string,
  reason = "One or more ports have an IP allocation from this subnet",
) => conflict("SubnetInUse", `Unable to complete operation on subnet ${subnetId}: ${reason}.`);

export const portInUse = (portId: string, netId: string, deviceId: string) =>
  conflict(
    "PortInUse",
    `Unable to complete operation on port ${portId} for network ${netId}. Port already has an attached device ${deviceId}.`,
  );

export const macAddressInUse = (netId: string, mac: string) =>
  conflict(
    "MacAddressInUse",
    `Unable to complete operation for network ${netId}. The mac address ${mac} is in use.`,
  );

export const ipAddressInUse = (netId: string, ip: string) =>
  conflict(
    "IpAddressInUse",
    `Unable to complete operation for network ${netId}. The IP address ${ip} is in use.`,
  );

/** neutron.ipam.exceptions.IpAddressAlreadyAllocated (no final period in Neutron either). */
export const ipAddressAlreadyAllocated = (ip: string, subnetId: string) =>
  conflict("IpAddressAlreadyAllocated", `IP address ${ip} already allocated in subnet ${subnetId}`);

export const ipAddressGenerationFailure = (netId: string) =>
  conflict("IpAddressGenerationFailure", `No more IP addresses available on network ${netId}.`);

export const trunkPortInUse = (portId: string) =>
  conflict("TrunkPortInUse", `Port ${portId} is in use by another trunk.`);

export const parentPortInUse = (portId: string) =>
  conflict(
    "ParentPortInUse",
    `Port ${portId} is currently in use and is not eligible for use as a parent port.`,
  );

export const duplicateSubPort = (segmentationType: string, segmentationId: number, trunkId: string) =>
  conflict(
    "DuplicateSubPort",
    `segmentation_type ${segmentationType} and segmentation_id ${segmentationId} already in use on trunk ${trunkId}.`,
  );

export const portInUseAsTrunkParent = (portId: string, trunkId: string) =>
  conflict("PortInUseAsTrunkParent", `Port ${portId} is currently a parent port for trunk ${trunkId}.`);

export const portInUseAsSubPort = (portId: string, trunkId: string) =>
  conflict("PortInUseAsSubPort", `Port ${portId} is currently a subport for trunk ${trunkId}.`);

export const trunkInUse = (trunkId: string) =>
  conflict("TrunkInUse", `Trunk ${trunkId} is currently in use.`);

export const trunkDisabled = (trunkId: string) =>
  conflict("TrunkDisabled", `Trunk ${trunkId} is currently disabled.`);

// --- 413, 500, 503 --------------------------------------------------------------------------

/**
 * A body over the limit. Neutron's oslo.middleware sizelimit raises webob's
 * HTTPRequestEntityTooLarge with this explanation; here it is in NeutronError's shape.
 */
export const tooLarge = (maxBytes: number) =>
  new NeutronError(
    413,
    "HTTPRequestEntityTooLarge",
    `Request is too large. Larger than max_request_body_size (${maxBytes}).`,
  );

/** neutron-lib ServiceUnavailable, 503 (or a subclass of your naming). */
export const unavailable = (msg = "The service is unavailable.", type = "ServiceUnavailable") =>
  new NeutronError(503, type, msg);

/** What Neutron answers for anything unexpected: no detail leaks to the client. */
export const internalError = (options?: ErrorOptions) =>
  new NeutronError(
    500,
    "HTTPInternalServerError",
    "Request Failed: internal server error while processing your request.",
    "",
    options,
  );
