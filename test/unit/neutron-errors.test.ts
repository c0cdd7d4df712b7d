// Every error factory answers with Neutron's body, status and wording.

import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import * as E from "../../src/server/neutron/errors.js";
import { NeutronError } from "../../src/server/neutron/errors.js";

const NET = "3a1b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";
const PORT = "0f3b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";
const SUBNET = "9c1b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";
const TRUNK = "7d1b7c52-5a4b-4d8e-9a51-2c1e0c1d2e3f";

function body(e: NeutronError, status: number, type: string, message: string): void {
  assert.ok(e instanceof Error);
  assert.equal(e.status, status);
  assert.equal(e.statusCode, status);
  assert.equal(e.type, type);
  assert.equal(e.message, message);
  assert.equal(e.detail, "");
  // Byte for byte, keys in Neutron's order.
  assert.equal(JSON.stringify(e.toBody()), JSON.stringify({ NeutronError: { type, message, detail: "" } }));
}

test("the body is {NeutronError: {type, message, detail}}, key for key", () => {
  const e = new NeutronError(409, "Conflict", "boom");
  assert.equal(
    JSON.stringify(e.toBody()),
    '{"NeutronError":{"type":"Conflict","message":"boom","detail":""}}',
  );
  assert.equal(e.name, "NeutronError");
  assert.ok(E.isNeutronError(e));
  assert.ok(!E.isNeutronError(new Error("x")));
  const withDetail = new NeutronError(400, "X", "m", "d");
  assert.deepEqual(withDetail.toBody(), { NeutronError: { type: "X", message: "m", detail: "d" } });
});

test("404s: <Resource>NotFound, 'could not be found.'", () => {
  body(E.notFound("network", NET), 404, "NetworkNotFound", `Network ${NET} could not be found.`);
  body(E.notFound("port", PORT), 404, "PortNotFound", `Port ${PORT} could not be found.`);
  body(E.notFound("subnet", SUBNET), 404, "SubnetNotFound", `Subnet ${SUBNET} could not be found.`);
  body(E.notFound("trunk", TRUNK), 404, "TrunkNotFound", `Trunk ${TRUNK} could not be found.`);
  body(
    E.notFound("security_group", "x"),
    404,
    "SecurityGroupNotFound",
    "Security group x could not be found.",
  );
  body(
    E.portNotFoundOnNetwork(PORT, NET),
    404,
    "PortNotFoundOnNetwork",
    `Port ${PORT} could not be found on network ${NET}.`,
  );
});

test("400s: BadRequest, InvalidInput, HTTPBadRequest", () => {
  body(
    E.badRequest("limit", "Limit must be an integer 0 or greater and not 'x'"),
    400,
    "BadRequest",
    "Bad limit request: Limit must be an integer 0 or greater and not 'x'.",
  );
  body(
    E.invalidInput("'maybe' cannot be converted to boolean"),
    400,
    "InvalidInput",
    "Invalid input for operation: 'maybe' cannot be converted to boolean.",
  );
  body(
    E.httpBadRequest("['status'] is invalid attribute for filtering"),
    400,
    "HTTPBadRequest",
    "['status'] is invalid attribute for filtering",
  );
});

test("403s: PolicyNotAuthorized prints the rule as oslo.policy does", () => {
  body(
    E.forbidden("delete_network"),
    403,
    "PolicyNotAuthorized",
    "rule:delete_network is disallowed by policy",
  );
  body(
    E.forbidden("create_port", ["binding:vnic_type", "port_security_enabled"]),
    403,
    "PolicyNotAuthorized",
    "((rule:create_port and rule:create_port:binding:vnic_type) and rule:create_port:port_security_enabled) is disallowed by policy",
  );
  body(E.notAuthorized(), 403, "NotAuthorized", "Not authorized.");
  body(E.adminRequired("x"), 403, "AdminRequired", "User does not have admin privileges: x.");
});

test("409s: neutron-lib's in-use and conflict wording", () => {
  body(E.conflict("SomeConflict", "msg"), 409, "SomeConflict", "msg");
  body(
    E.networkInUse(NET),
    409,
    "NetworkInUse",
    `Unable to complete operation on network ${NET}. There are one or more ports still in use on the network.`,
  );
  body(
    E.subnetInUse(SUBNET),
    409,
    "SubnetInUse",
    `Unable to complete operation on subnet ${SUBNET}: One or more ports have an IP allocation from this subnet.`,
  );
  body(
    E.subnetInUse(SUBNET, "it is busy"),
    409,
    "SubnetInUse",
    `Unable to complete operation on subnet ${SUBNET}: it is busy.`,
  );
  body(
    E.portInUse(PORT, NET, "vm-1"),
    409,
    "PortInUse",
    `Unable to complete operation on port ${PORT} for network ${NET}. Port already has an attached device vm-1.`,
  );
  body(
    E.macAddressInUse(NET, "fa:16:3e:00:00:01"),
    409,
    "MacAddressInUse",
    `Unable to complete operation for network ${NET}. The mac address fa:16:3e:00:00:01 is in use.`,
  );
  body(
    E.ipAddressInUse(NET, "10.0.0.5"),
    409,
    "IpAddressInUse",
    `Unable to complete operation for network ${NET}. The IP address 10.0.0.5 is in use.`,
  );
  body(
    E.ipAddressAlreadyAllocated("10.0.0.5", SUBNET),
    409,
    "IpAddressAlreadyAllocated",
    `IP address 10.0.0.5 already allocated in subnet ${SUBNET}`,
  );
  body(
    E.ipAddressGenerationFailure(NET),
    409,
    "IpAddressGenerationFailure",
    `No more IP addresses available on network ${NET}.`,
  );
});

test("409s: the trunk plugin's wording", () => {
  body(E.trunkPortInUse(PORT), 409, "TrunkPortInUse", `Port ${PORT} is in use by another trunk.`);
  body(
    E.parentPortInUse(PORT),
    409,
    "ParentPortInUse",
    `Port ${PORT} is currently in use and is not eligible for use as a parent port.`,
  );
  body(
    E.duplicateSubPort("vlan", 101, TRUNK),
    409,
    "DuplicateSubPort",
    `segmentation_type vlan and segmentation_id 101 already in use on trunk ${TRUNK}.`,
  );
  body(
    E.portInUseAsTrunkParent(PORT, TRUNK),
    409,
    "PortInUseAsTrunkParent",
    `Port ${PORT} is currently a parent port for trunk ${TRUNK}.`,
  );
  body(
    E.portInUseAsSubPort(PORT, TRUNK),
    409,
    "PortInUseAsSubPort",
    `Port ${PORT} is currently a subport for trunk ${TRUNK}.`,
  );
  body(E.trunkInUse(TRUNK), 409, "TrunkInUse", `Trunk ${TRUNK} is currently in use.`);
  body(E.trunkDisabled(TRUNK), 409, "TrunkDisabled", `Trunk ${TRUNK} is currently disabled.`);
});

test("413, 500, 503", () => {
  body(
    E.tooLarge(114688),
    413,
    "HTTPRequestEntityTooLarge",
    "Request is too large. Larger than max_request_body_size (114688).",
  );
  body(E.unavailable(), 503, "ServiceUnavailable", "The service is unavailable.");
  body(
    E.unavailable("OVN Northbound is unreachable."),
    503,
    "ServiceUnavailable",
    "OVN Northbound is unreachable.",
  );
  body(E.unavailable("No leader.", "NoLeader"), 503, "NoLeader", "No leader.");
  const cause = new Error("secret detail");
  const internal = E.internalError({ cause });
  body(
    internal,
    500,
    "HTTPInternalServerError",
    "Request Failed: internal server error while processing your request.",
  );
  assert.equal(internal.cause, cause);
});

test("fastify answers a thrown NeutronError with its status", async () => {
  const app = Fastify();
  app.setErrorHandler((e, _req, reply) => {
    if (E.isNeutronError(e)) return reply.status(e.status).send(e.toBody());
    return reply.status(500).send(E.internalError().toBody());
  });
  app.get("/v2.0/networks/:id", async (req) => {
    throw E.notFound("network", (req.params as { id: string }).id);
  });
  const r = await app.inject({ method: "GET", url: `/v2.0/networks/${NET}` });
  assert.equal(r.statusCode, 404);
  assert.deepEqual(r.json(), {
    NeutronError: { type: "NetworkNotFound", message: `Network ${NET} could not be found.`, detail: "" },
  });
  // Without a handler of its own, fastify still picks the status from statusCode.
  const bare = Fastify();
  bare.get("/x", async () => {
    throw E.networkInUse(NET);
  });
  assert.equal((await bare.inject({ method: "GET", url: "/x" })).statusCode, 409);
  await app.close();
  await bare.close();
});
