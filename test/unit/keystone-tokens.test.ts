import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import {
  deriveTokenKey,
  issueToken,
  newAuditId,
  type TokenClaims,
  TokenError,
  type TokenErrorReason,
  verifyToken,
} from "../../src/server/keystone/tokens.js";

const key = deriveTokenKey(randomBytes(48));
const NOW = 1_700_000_000;
const hex32 = () => randomBytes(16).toString("hex");

function claims(extra: Partial<TokenClaims> = {}): TokenClaims {
  return {
    v: 1,
    user_id: hex32(),
    project_id: hex32(),
    roles: ["admin", "member", "reader"],
    methods: ["password"],
    issued_at: NOW,
    expires_at: NOW + 3600,
    audit_id: newAuditId(),
    ...extra,
  };
}

function rejects(token: string, reason: TokenErrorReason, now = NOW) {
  assert.throws(
    () => verifyToken(key, token, now),
    (e: unknown) => e instanceof TokenError && e.reason === reason,
  );
}

/** Replaces the character at `i` with another character of the base64url alphabet. */
function flip(token: string, i: number): string {
  const c = token[i] === "A" ? "B" : "A";
  return token.slice(0, i) + c + token.slice(i + 1);
}

test("a token verifies to exactly the claims it was issued with", () => {
  const c = claims({ methods: ["password", "token"], parent_audit_id: newAuditId() });
  assert.deepEqual(verifyToken(key, issueToken(key, c), NOW + 10), c);
  const vm = claims({
    roles: ["member", "reader"],
    scope: { parent_port_id: "0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f" },
  });
  assert.deepEqual(verifyToken(key, issueToken(key, vm), NOW), vm);
});

test("tokens are short enough for a header", () => {
  const t = issueToken(key, claims());
  assert.ok(t.length <= 230, `project token is ${t.length} characters`);
  const vm = issueToken(
    key,
    claims({
      parent_audit_id: newAuditId(),
      scope: { parent_port_id: "0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f" },
    }),
  );
  assert.ok(vm.length <= 320, `VM token is ${vm.length} characters`);
  assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
});

test("expired from expires_at on", () => {
  const t = issueToken(key, claims());
  verifyToken(key, t, NOW + 3599);
  rejects(t, "expired", NOW + 3600);
  rejects(t, "expired", NOW + 86_400);
});

test("any one character changed in the payload or the signature is refused", () => {
  const t = issueToken(key, claims());
  const dot = t.indexOf(".");
  for (const i of [0, 5, dot - 2, dot + 1, dot + 20, t.length - 2]) rejects(flip(t, i), "bad_signature");
});

test("another key's tokens are refused", () => {
  const other = deriveTokenKey(randomBytes(32));
  rejects(issueToken(other, claims()), "bad_signature");
});

test("what is not a token is malformed", () => {
  rejects("", "malformed");
  rejects("gAAAAABk-fernet-token", "malformed");
  rejects("a.b.c", "malformed");
  rejects("a b.c", "malformed");
  rejects(`${"A".repeat(2000)}.${"B".repeat(43)}`, "malformed");
});

test("a payload signed with the key but of the wrong shape is malformed", () => {
  const signed = (payload: string) => {
    const body = Buffer.from(payload).toString("base64url");
    return `${body}.${createHmac("sha256", key.hmac).update(body).digest("base64url")}`;
  };
  rejects(signed("not json"), "malformed");
  rejects(signed(JSON.stringify([2, "u"])), "malformed");
  rejects(signed(JSON.stringify({ v: 1, user_id: "u" })), "malformed");
  const wire = JSON.parse(
    Buffer.from(issueToken(key, claims()).split(".")[0] as string, "base64url").toString(),
  );
  wire[3] = 0; // no role at all
  rejects(signed(JSON.stringify(wire)), "malformed");
});

test("claims that cannot be encoded are refused at issue time", () => {
  assert.throws(() => issueToken(key, claims({ user_id: "" })), /cannot issue/);
  assert.throws(() => issueToken(key, claims({ roles: [] })), /cannot issue/);
  assert.throws(() => issueToken(key, claims({ audit_id: "short" })), /cannot issue/);
});

test("secrets shorter than 32 bytes are refused", () => {
  assert.throws(() => deriveTokenKey(randomBytes(31)), /at least 32 bytes/);
});
