// Password hashes as the server configuration stores them: scrypt, with every parameter
// in the string so that a hash made with other costs still verifies:
//
//   scrypt$N$r$p$<salt, base64>$<derived key, base64>
//
// Hashing and verifying run on libuv's thread pool (crypto.scrypt), never on the event loop.

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

export interface PasswordHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/** 2^15 × 8 × 128 bytes = 32 MiB and roughly 50–100 ms per hash on one core. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const LIMITS = { logNMin: 1, logNMax: 20, rMax: 32, pMax: 16, saltMin: 8, keyMin: 16, keyMax: 128 };

export class PasswordHashError extends Error {
  override name = "PasswordHashError";
}

function derive(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params;
  return new Promise((resolve, reject) => {
    // maxmem must exceed 128·N·r (plus a little) or node refuses the parameters.
    scrypt(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function checkParams({ N, r, p }: ScryptParams): void {
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < LIMITS.logNMin || logN > LIMITS.logNMax) {
    throw new PasswordHashError(`scrypt N must be a power of two from 2 to 2^${LIMITS.logNMax}, got ${N}`);
  }
  if (!Number.isInteger(r) || r < 1 || r > LIMITS.rMax) {
    throw new PasswordHashError(`scrypt r must be an integer from 1 to ${LIMITS.rMax}, got ${r}`);
  }
  if (!Number.isInteger(p) || p < 1 || p > LIMITS.pMax) {
    throw new PasswordHashError(`scrypt p must be an integer from 1 to ${LIMITS.pMax}, got ${p}`);
  }
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, params);
  return formatPasswordHash({ ...params, salt, hash });
}

export function formatPasswordHash(h: PasswordHash): string {
  return `scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString("base64")}$${h.hash.toString("base64")}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses and checks a stored hash string; the error says which part is wrong. */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    throw new PasswordHashError('expected "scrypt$N$r$p$<salt base64>$<hash base64>"');
  }
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const num = (s: string, what: string): number => {
    if (!/^[0-9]{1,10}$/.test(s)) throw new PasswordHashError(`scrypt ${what} must be a decimal integer`);
    return Number(s);
  };
  const params = { N: num(n, "N"), r: num(r, "r"), p: num(p, "p") };
  checkParams(params);
  if (!BASE64.test(salt) || !BASE64.test(hash)) {
    throw new PasswordHashError("salt and hash must be base64");
  }
  const h = { ...params, salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
  if (h.salt.length < LIMITS.saltMin) {
    throw new PasswordHashError(`salt must be at least ${LIMITS.saltMin} bytes, got ${h.salt.length}`);
  }
  if (h.hash.length < LIMITS.keyMin || h.hash.length > LIMITS.keyMax) {
    throw new PasswordHashError(
      `hash must be ${LIMITS.keyMin} to ${LIMITS.keyMax} bytes, got ${h.hash.length}`,
    );
  }
  return h;
}

/** True when `password` matches; the comparison takes the same time wherever they differ. */
export async function verifyPassword(password: string, stored: string | PasswordHash): Promise<boolean> {
  const h = typeof stored === "string" ? parsePasswordHash(stored) : stored;
  const candidate = await derive(password, h.salt, h.hash.length, h);
  return timingSafeEqual(candidate, h.hash);
}

const decoys = new Map<string, Promise<PasswordHash>>();

/**
 * Spends the time a real verification would, for a user that does not exist, so that
 * response times do not tell which user names are valid. `params` should be those of the
 * configured users. Always false.
 */
export async function verifyDecoy(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<false> {
  const key = `${params.N}$${params.r}$${params.p}`;
  let decoy = decoys.get(key);
  if (!decoy) {
    decoy = hashPassword("decoy", params).then(parsePasswordHash);
    decoys.set(key, decoy);
  }
  await verifyPassword(password, await decoy);
  return false;
}
