import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULT_SCRYPT,
  hashPassword,
  PasswordHashError,
  parsePasswordHash,
  verifyDecoy,
  verifyPassword,
} from "../../src/server/keystone/passwords.js";

const FAST = { N: 1024, r: 8, p: 1 };

test("a hash verifies its password and no other", async () => {
  const h = await hashPassword("correct horse", FAST);
  assert.equal(await verifyPassword("correct horse", h), true);
  assert.equal(await verifyPassword("correct horsE", h), false);
  assert.equal(await verifyPassword("", h), false);
});

test("the parameters travel in the string, so hashes of any cost verify", async () => {
  const h = await hashPassword("pw", { N: 2048, r: 4, p: 2 });
  assert.match(h, /^scrypt\$2048\$4\$2\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  const parsed = parsePasswordHash(h);
  assert.deepEqual(
    [parsed.N, parsed.r, parsed.p, parsed.salt.length, parsed.hash.length],
    [2048, 4, 2, 16, 32],
  );
  assert.equal(await verifyPassword("pw", parsed), true);
});

test("the default cost is the documented one", async () => {
  const h = await hashPassword("pw");
  assert.ok(h.startsWith(`scrypt$${DEFAULT_SCRYPT.N}$${DEFAULT_SCRYPT.r}$${DEFAULT_SCRYPT.p}$`));
  assert.equal(await verifyPassword("pw", h), true);
});

test("two hashes of one password differ (fresh salt)", async () => {
  assert.notEqual(await hashPassword("same", FAST), await hashPassword("same", FAST));
});

test("malformed hashes say what is wrong", () => {
  assert.throws(() => parsePasswordHash("bcrypt$2b$12$abc"), PasswordHashError);
  assert.throws(
    () => parsePasswordHash("scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=="),
    /power of two/,
  );
  assert.throws(
    () => parsePasswordHash("scrypt$1024$0$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=="),
    /r must be/,
  );
  assert.throws(() => parsePasswordHash("scrypt$1024$8$1$!!$aGFzaGhhc2hoYXNoaGFzaA=="), /base64/);
  assert.throws(() => parsePasswordHash("scrypt$1024$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA=="), /salt must be/);
  assert.throws(() => parsePasswordHash("scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaA=="), /hash must be/);
});

test("the decoy for unknown users always refuses", async () => {
  assert.equal(await verifyDecoy("decoy"), false);
});
