// CNI error objects (spec 1.1.0, "Error"): well-known codes 1-99 from the spec, plugin codes
// from 100. Every error says what was wrong and what to do.

export const CODE = {
  /** Incompatible CNI version. */
  incompatibleVersion: 1,
  /** Unsupported field in the network configuration. */
  unsupportedField: 2,
  /** Container unknown or does not exist. */
  unknownContainer: 3,
  /** Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, ...). */
  invalidEnv: 4,
  /** I/O failure (e.g. reading stdin). */
  ioFailure: 5,
  /** Failed to decode content (stdin is not JSON). */
  decodeFailure: 6,
  /** Invalid network configuration. */
  invalidConfig: 7,
  /** Try again later: a transient condition (API or local OVS unreachable, VLANs exhausted). */
  tryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  notAvailable: 50,
  /** Plugin-specific: the attachment failed (API refused it, namespace problem, timeout). */
  attachFailed: 100,
  /** Plugin-specific: CHECK found the attachment not as it should be. */
  checkFailed: 101,
  /** Plugin-specific: ADD for an attachment that already exists. */
  alreadyAttached: 102,
} as const;

export class CniError extends Error {
  override name = "CniError";
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
}

/** The spec's error object. */
export function errorObject(cniVersion: string, e: CniError): Record<string, unknown> {
  return {
    cniVersion,
    code: e.code,
    msg: e.message,
    ...(e.details ? { details: e.details } : {}),
  };
}
