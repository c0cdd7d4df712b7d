// ovn-cni's input checks and result shapes, without daemons (the e2e suite runs the verbs).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseEnv, parseNetConf } from "../../src/cni/config.js";
import { CniError } from "../../src/cni/errors.js";
import { buildResult } from "../../src/cni/result.js";
import { parseOpenrc } from "../../src/cni/settings.js";
import type { Attachment } from "../../src/vswitch/vswitch.js";

const code = (f: () => unknown): number => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    return e.code;
  }
  return 0;
};

describe("parseNetConf", () => {
  const base = { cniVersion: "1.1.0", name: "LS1", type: "ovn-cni" };
  test("defaults the API network to the CNI network's name", () => {
    assert.equal(parseNetConf(JSON.stringify(base), "ADD").network, "LS1");
    assert.equal(parseNetConf(JSON.stringify({ ...base, network: "other" }), "ADD").network, "other");
  });
  test("refuses what it cannot honour, with the spec's codes", () => {
    assert.equal(
      code(() => parseNetConf("[", "ADD")),
      6,
    );
    assert.equal(
      code(() => parseNetConf("[]", "ADD")),
      6,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, cniVersion: "0.3.1" }), "ADD")),
      1,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, cniVersion: "1.0.0" }), "GC")),
      1,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, colour: 1 }), "ADD")),
      2,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, name: "" }), "ADD")),
      7,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, activeTimeoutMs: -1 }), "ADD")),
      7,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, prevResult: [] }), "ADD")),
      7,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify(base), "GC")),
      7,
    );
    assert.equal(
      code(() =>
        parseNetConf(JSON.stringify({ ...base, "cni.dev/valid-attachments": [{ containerID: 1 }] }), "GC"),
      ),
      7,
    );
  });
  test("accepts the spec's own keys", () => {
    const c = parseNetConf(
      JSON.stringify({
        ...base,
        runtimeConfig: {},
        args: {},
        capabilities: {},
        "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }],
      }),
      "GC",
    );
    assert.deepEqual(c.validAttachments, [{ containerID: "a", ifname: "eth0" }]);
  });
});

describe("parseEnv", () => {
  const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "abc", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0" };
  test("reads the CNI_* variables and CNI_ARGS", () => {
    const e = parseEnv({ ...env, CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=p" });
    assert.equal(e.command, "ADD");
    assert.deepEqual(e.args, { IgnoreUnknown: "1", K8S_POD_NAME: "p" });
  });
  test("code 4 for a missing or malformed variable; DEL needs no namespace", () => {
    assert.equal(
      code(() => parseEnv({})),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_COMMAND: "add" })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_NETNS: "" })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_NETNS: "x" })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_CONTAINERID: "a b" })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_IFNAME: "x".repeat(16) })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_ARGS: "novalue" })),
      4,
    );
    assert.equal(
      code(() => parseEnv({ ...env, CNI_COMMAND: "DEL", CNI_NETNS: "" })),
      0,
    );
    assert.equal(
      code(() => parseEnv({ CNI_COMMAND: "STATUS" })),
      0,
    );
  });
});

test("parseOpenrc: export, quotes, comments; anything else is an error naming the line", () => {
  assert.deepEqual(parseOpenrc("# c\nexport OS_USERNAME='demo'\nOS_PASSWORD=\"p w\"\n\nOS_TOKEN=t\n", "f"), {
    OS_USERNAME: "demo",
    OS_PASSWORD: "p w",
    OS_TOKEN: "t",
  });
  assert.throws(() => parseOpenrc("PATH=/bin\n", "/etc/x"), /\/etc\/x, line 1/);
});

describe("buildResult", () => {
  const att = {
    tag: 7,
    portName: "ovd7",
    state: "attached",
    ifname: "eth1",
    mac: "fa:16:3e:00:00:01",
    ips: ["10.0.0.5", "fd00::5"],
    externalIds: {},
  } as Attachment;
  const net = {
    network: { id: "n", name: "LS1", mtu: 1400 },
    subnets: [
      { cidr: "10.0.0.0/24", gateway_ip: "10.0.0.1", dns_nameservers: ["10.0.0.53"] },
      { cidr: "fd00::/64", gateway_ip: "fd00::1" },
    ],
  } as unknown as Parameters<typeof buildResult>[2];
  test("1.1.0: interfaces with mtu and sandbox, ips with prefix, gateway and index, routes, dns", () => {
    const r = buildResult("1.1.0", att, net, "/run/netns/x");
    assert.deepEqual(r.interfaces, [
      { name: "ovd7", mtu: 1400 },
      { name: "eth1", mac: "fa:16:3e:00:00:01", mtu: 1400, sandbox: "/run/netns/x" },
    ]);
    assert.deepEqual(r.ips, [
      { address: "10.0.0.5/24", gateway: "10.0.0.1", interface: 1 },
      { address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
    ]);
    assert.deepEqual(r.routes, [
      { dst: "0.0.0.0/0", gw: "10.0.0.1" },
      { dst: "::/0", gw: "fd00::1" },
    ]);
    assert.deepEqual(r.dns, { nameservers: ["10.0.0.53"] });
  });
  test("0.4.0 has ip versions and no mtu; a prevResult is extended, not replaced", () => {
    const prev = {
      cniVersion: "0.4.0",
      interfaces: [{ name: "lo" }],
      ips: [{ address: "127.0.0.1/8", interface: 0 }],
    };
    const r = buildResult("0.4.0", att, net, "/run/netns/x", prev);
    assert.equal(r.interfaces?.length, 3);
    assert.equal(r.interfaces?.[2]?.mtu, undefined);
    assert.equal(r.ips?.[0]?.address, "127.0.0.1/8");
    assert.deepEqual(r.ips?.[1], { address: "10.0.0.5/24", gateway: "10.0.0.1", interface: 2, version: "4" });
  });
});
