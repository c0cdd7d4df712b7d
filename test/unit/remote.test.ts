import assert from "node:assert/strict";
import { test } from "node:test";
import { formatRemote, parseRemote, parseRemotes, RemoteError } from "../../src/ovsdb/remote.js";

test("remotes as ovsdb-server spells them", () => {
  assert.deepEqual(parseRemote("unix:/run/ovn/ovnnb_db.sock"), {
    kind: "unix",
    path: "/run/ovn/ovnnb_db.sock",
  });
  assert.deepEqual(parseRemote("tcp:127.0.0.1:6641"), { kind: "tcp", host: "127.0.0.1", port: 6641 });
  assert.deepEqual(parseRemote("ssl:[::1]:6641"), { kind: "ssl", host: "::1", port: 6641 });
  assert.equal(formatRemote(parseRemote("tcp:[::1]:6641")), "tcp:[::1]:6641");
});

test("a clustered remote list, comma-separated or as an array", () => {
  assert.equal(parseRemotes("tcp:127.0.0.1:1,tcp:127.0.0.1:2, tcp:127.0.0.1:3").length, 3);
  assert.equal(parseRemotes(["tcp:127.0.0.1:1,tcp:127.0.0.1:2", "unix:/x"]).length, 3);
});

test("bad remotes say what form is expected", () => {
  assert.throws(
    () => parseRemote("tcp:127.0.0.1"),
    (e: Error) => e instanceof RemoteError && /tcp:HOST:PORT/.test(e.message),
  );
  assert.throws(() => parseRemote("tcp:h:70000"), RemoteError);
  assert.throws(() => parseRemote("http://x"), /unknown kind/);
  assert.throws(() => parseRemote("unix:"), /socket path/);
  assert.throws(() => parseRemotes(" , "), /no OVSDB remote/);
});
