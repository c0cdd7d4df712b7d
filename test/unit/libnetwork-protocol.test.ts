// The Docker plugin protocol layer without Docker: a handler table served on a unix socket in a
// temp dir; the error field per interface; a stale socket file taken over, a live one refused;
// the socket removed at close. And the address helpers the drivers match rows with.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  CONTENT_TYPE,
  errorKey,
  type Logger,
  PluginError,
  servePlugin,
} from "../../src/libnetwork/protocol.js";
import { bareIp, sameCidr } from "../../src/libnetwork/records.js";

const quiet: Logger = { info: () => {}, error: () => {} };
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ovd-plugin-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function post(socketPath: string, call: string, body = "{}") {
  return new Promise<{ status: number; type: string; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ socketPath, path: call, method: "POST" }, (res) => {
      let data = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        data += d;
      });
      res.once("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"]),
          body: JSON.parse(data) as Record<string, unknown>,
        }),
      );
    });
    req.once("error", reject);
    req.end(body);
  });
}

test("calls, errors in the field each interface reads, unknown calls, bad bodies", async () => {
  const sock = path.join(dir, "a.sock");
  const server = await servePlugin(
    sock,
    {
      "/Plugin.Activate": () => ({ Implements: ["NetworkDriver", "IpamDriver"] }),
      "/NetworkDriver.Join": (b) => {
        throw new PluginError(`no endpoint ${String(b.EndpointID)}`);
      },
      "/IpamDriver.RequestPool": async () => {
        throw new PluginError("no pool");
      },
      "/NetworkDriver.Echo": (b) => b,
    },
    quiet,
  );
  try {
    const a = await post(sock, "/Plugin.Activate", "");
    assert.equal(a.status, 200);
    assert.equal(a.type, CONTENT_TYPE);
    assert.deepEqual(a.body, { Implements: ["NetworkDriver", "IpamDriver"] });
    assert.deepEqual((await post(sock, "/NetworkDriver.Join", '{"EndpointID":"e1"}')).body, {
      Err: "no endpoint e1",
    });
    assert.deepEqual((await post(sock, "/IpamDriver.RequestPool")).body, { Error: "no pool" });
    const unknown = await post(sock, "/NetworkDriver.AllocateNetwork");
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.Err), /not implemented/);
    assert.match(String((await post(sock, "/NetworkDriver.Echo", "{nope")).body.Err), /not JSON/);
    assert.match(String((await post(sock, "/NetworkDriver.Echo", "[1]")).body.Err), /not a JSON object/);
    assert.deepEqual((await post(sock, "/NetworkDriver.Echo", "null")).body, {});
    // Prototype keys are not calls.
    assert.equal((await post(sock, "/constructor")).status, 404);
  } finally {
    await server.close();
  }
  assert.ok(!existsSync(sock), "socket removed at close");
});

test("a stale socket file is taken over; a live socket is refused", async () => {
  const sock = path.join(dir, "b.sock");
  await writeFile(sock, "");
  const first = await servePlugin(sock, {}, quiet);
  try {
    await assert.rejects(servePlugin(sock, {}, quiet), /another process is serving/);
  } finally {
    await first.close();
  }
});

test("errorKey, bareIp, sameCidr", () => {
  assert.equal(errorKey("/IpamDriver.RequestAddress"), "Error");
  assert.equal(errorKey("/NetworkDriver.Join"), "Err");
  assert.equal(errorKey("/Plugin.Activate"), "Err");
  assert.equal(bareIp("10.0.0.5/24"), "10.0.0.5");
  assert.equal(bareIp("10.0.0.5"), "10.0.0.5");
  assert.equal(bareIp(""), undefined);
  assert.equal(bareIp("nope/24"), undefined);
  assert.equal(bareIp(7), undefined);
  assert.ok(sameCidr("10.10.0.0/24", "10.10.0.7/24"));
  assert.ok(!sameCidr("10.10.0.0/24", "10.10.0.0/16"));
  assert.ok(!sameCidr("10.10.0.0/24", "10.11.0.0/24"));
  assert.ok(!sameCidr("10.10.0.0/24", "fd00::/24"));
  assert.ok(!sameCidr("garbage", "10.10.0.0/24"));
});
