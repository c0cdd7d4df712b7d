// Neutron's list-request semantics: filters, fields, sorting, pagination and their links, and
// the 400s for bad queries, checked against what Neutron itself answers.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { NeutronError } from "../../src/server/neutron/errors.js";
import {
  applyListQuery,
  compareValues,
  type ListQuery,
  type ListResult,
  type ListSpec,
  listBody,
  type PageLink,
  parseListQuery,
  pyList,
  pyRepr,
  type QueryInput,
  quotePlus,
  sanitizeMac,
} from "../../src/server/neutron/query.js";

const BASE = "http://127.0.0.1:9696/v2.0";

interface Net {
  id: string;
  name: string;
  status: string;
  admin_state_up: boolean;
  shared: boolean;
  mtu: number;
  subnets: string[];
  tags: string[];
  description: string | null;
  project_id: string;
}

const NET_SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "status",
    "admin_state_up",
    "shared",
    "mtu",
    "subnets",
    "tags",
    "description",
    "project_id",
  ]),
  sortable: new Set(["id", "name", "status", "admin_state_up", "mtu", "project_id"]),
  types: { admin_state_up: "boolean", shared: "boolean", mtu: "integer" },
};

function net(id: string, name: string, extra: Partial<Net> = {}): Net {
  return {
    id,
    name,
    status: "ACTIVE",
    admin_state_up: true,
    shared: false,
    mtu: 1442,
    subnets: [],
    tags: [],
    description: "",
    project_id: "p1",
    ...extra,
  };
}

// The three networks of the api-ref's pagination example.
const NET3 = net("396f12f8-521e-4b91-8e21-2e003500433a", "net3");
const NET2 = net("71c1e68c-171a-4aa2-aca5-50ea153a3718", "net2");
const NET1 = net("b3680498-03da-4691-896f-ef9ee1d856a7", "net1");

const NETS: Net[] = [
  net("n-a", "alpha", { subnets: ["s1", "s2"], tags: ["red", "blue"], mtu: 1500 }),
  net("n-b", "beta", { admin_state_up: false, status: "DOWN", tags: ["red"], description: null }),
  net("n-c", "gamma", { shared: true, subnets: ["s3"], tags: ["blue", "green"], project_id: "p2" }),
  net("n-d", "alpha", { status: "DOWN", mtu: 9000 }),
];

interface Port {
  id: string;
  name: string;
  network_id: string;
  mac_address: string;
  device_id: string;
  device_owner: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  security_groups: string[];
  "binding:profile": Record<string, unknown>;
  "binding:host_id": string;
}

const PORT_SPEC: ListSpec = {
  attributes: new Set([
    "id",
    "name",
    "network_id",
    "mac_address",
    "device_id",
    "device_owner",
    "fixed_ips",
    "security_groups",
    "binding:profile",
    "binding:host_id",
  ]),
  sortable: new Set(["id", "name", "network_id", "mac_address", "device_id", "device_owner"]),
};

function port(id: string, fixed: Array<[string, string]>, extra: Partial<Port> = {}): Port {
  return {
    id,
    name: "",
    network_id: "net-1",
    mac_address: `fa:16:3e:00:00:${id.slice(-2)}`,
    device_id: "",
    device_owner: "",
    fixed_ips: fixed.map(([subnet_id, ip_address]) => ({ subnet_id, ip_address })),
    security_groups: [],
    "binding:profile": {},
    "binding:host_id": "",
    ...extra,
  };
}

const PORTS: Port[] = [
  port("p-01", [["sub-a", "10.0.0.5"]], { security_groups: ["sg1"], device_id: "vm1" }),
  port(
    "p-02",
    [
      ["sub-a", "10.0.0.15"],
      ["sub-b", "192.168.1.7"],
    ],
    { security_groups: ["sg1", "sg2"] },
  ),
  port("p-03", [["sub-b", "192.168.1.5"]], {
    "binding:profile": { parent_name: "p-01", tag: 101 },
    device_id: "vm1",
    name: "child",
  }),
  port("p-04", [], { mac_address: "FA:16:3E:AA:BB:CC" }),
];

function list<T extends { id: string }>(
  items: readonly T[],
  query: QueryInput,
  spec: ListSpec,
  collection = "networks",
) {
  return applyListQuery(items, parseListQuery(query, spec), { collection, baseUrl: `${BASE}/${collection}` });
}

const ids = (items: ReadonlyArray<Partial<{ id: string }>>) => items.map((i) => i.id);
const q = (s: string) => new URLSearchParams(s);

/** Asserts `fn` throws the NeutronError with this status, type and message. */
function throwsNeutron(fn: () => unknown, status: number, type: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NeutronError, `not a NeutronError: ${String(e)}`);
    assert.equal(e.status, status);
    assert.deepEqual(e.toBody(), { NeutronError: { type, message, detail: "" } });
    return true;
  });
}

describe("filters", () => {
  test("no query returns every item in stored order", () => {
    const r = list(NETS, q(""), NET_SPEC);
    assert.deepEqual(ids(r.items), ["n-a", "n-b", "n-c", "n-d"]);
    assert.equal(r.links, undefined);
  });

  test("one value, repeated values (OR), several attributes (AND)", () => {
    assert.deepEqual(ids(list(NETS, q("name=alpha"), NET_SPEC).items), ["n-a", "n-d"]);
    assert.deepEqual(ids(list(NETS, q("name=alpha&name=beta"), NET_SPEC).items), ["n-a", "n-b", "n-d"]);
    assert.deepEqual(ids(list(NETS, q("name=alpha&name=beta&status=DOWN"), NET_SPEC).items), ["n-b", "n-d"]);
    assert.deepEqual(ids(list(NETS, q("id=n-c&id=n-a"), NET_SPEC).items), ["n-a", "n-c"]);
    assert.deepEqual(ids(list(NETS, q("name=ALPHA"), NET_SPEC).items), []);
  });

  test("the record form of a query reads like the URL form", () => {
    const r = list(NETS, { name: ["alpha", "beta"], status: "DOWN" }, NET_SPEC);
    assert.deepEqual(ids(r.items), ["n-b", "n-d"]);
  });

  test("booleans: any spelling convert_to_boolean accepts", () => {
    for (const v of ["True", "true", "TRUE", "1", "yes", "on", " t "]) {
      assert.deepEqual(ids(list(NETS, q(`admin_state_up=${v}`), NET_SPEC).items), ["n-a", "n-c", "n-d"], v);
    }
    for (const v of ["False", "false", "0", "no", "off", "f"]) {
      assert.deepEqual(ids(list(NETS, q(`admin_state_up=${v}`), NET_SPEC).items), ["n-b"], v);
    }
    assert.deepEqual(ids(list(NETS, q("shared=True&admin_state_up=True"), NET_SPEC).items), ["n-c"]);
  });

  test("a boolean attribute with no declared type still matches by the item's type", () => {
    const spec: ListSpec = { attributes: new Set(["shared"]) };
    assert.deepEqual(ids(list(NETS, q("shared=True"), spec).items), ["n-c"]);
    assert.deepEqual(ids(list(NETS, q("shared=false"), spec).items), ["n-a", "n-b", "n-d"]);
    assert.deepEqual(ids(list(NETS, q("shared=maybe"), spec).items), []);
  });

  test("integers compare by value", () => {
    assert.deepEqual(ids(list(NETS, q("mtu=1500"), NET_SPEC).items), ["n-a"]);
    assert.deepEqual(ids(list(NETS, q("mtu=+09000"), NET_SPEC).items), ["n-d"]);
    const untyped: ListSpec = { attributes: new Set(["mtu"]) };
    assert.deepEqual(ids(list(NETS, q("mtu=1442"), untyped).items), ["n-b", "n-c"]);
  });

  test("an empty value matches the empty string, never null (empty-string-filtering)", () => {
    assert.deepEqual(ids(list(NETS, q("description="), NET_SPEC).items), ["n-a", "n-c", "n-d"]);
    assert.deepEqual(ids(list(NETS, q("description=None"), NET_SPEC).items), []);
    assert.deepEqual(ids(list(PORTS, q("device_id="), PORT_SPEC, "ports").items), ["p-02", "p-04"]);
  });

  test("list attributes match when any element matches", () => {
    assert.deepEqual(ids(list(NETS, q("subnets=s2"), NET_SPEC).items), ["n-a"]);
    assert.deepEqual(ids(list(NETS, q("subnets=s3&subnets=s1"), NET_SPEC).items), ["n-a", "n-c"]);
    assert.deepEqual(ids(list(PORTS, q("security_groups=sg2"), PORT_SPEC, "ports").items), ["p-02"]);
    assert.deepEqual(ids(list(PORTS, q("security_groups=sg1"), PORT_SPEC, "ports").items), ["p-01", "p-02"]);
  });

  test("tags: all of them; tags-any; not-tags; not-tags-any; comma or repeated", () => {
    const t = (s: string) => ids(list(NETS, q(s), NET_SPEC).items);
    assert.deepEqual(t("tags=red"), ["n-a", "n-b"]);
    assert.deepEqual(t("tags=red,blue"), ["n-a"]);
    assert.deepEqual(t("tags=red&tags=blue"), ["n-a"]);
    assert.deepEqual(t("tags-any=green,red"), ["n-a", "n-b", "n-c"]);
    assert.deepEqual(t("not-tags=red,blue"), ["n-b", "n-c", "n-d"]);
    assert.deepEqual(t("not-tags-any=red&not-tags-any=green"), ["n-d"]);
  });

  test("dict attributes such as binding:profile never match", () => {
    const r = list(PORTS, q("binding:profile=parent_name"), PORT_SPEC, "ports");
    assert.deepEqual(r.items, []);
  });

  test("mac_address is compared in canonical lower-case form", () => {
    const m = (s: string) => ids(list(PORTS, q(s), PORT_SPEC, "ports").items);
    assert.deepEqual(m("mac_address=fa:16:3e:aa:bb:cc"), ["p-04"]);
    assert.deepEqual(m("mac_address=FA-16-3E-AA-BB-CC"), ["p-04"]);
    assert.deepEqual(m("mac_address=fa16.3eaa.bbcc"), ["p-04"]);
    assert.deepEqual(m("mac_address=FA:16:3E:00:00:01"), ["p-01"]);
    assert.equal(sanitizeMac("not-a-mac"), "not-a-mac");
    assert.equal(sanitizeMac("a:b:c:d:e:f"), "0a:0b:0c:0d:0e:0f");
  });
});

describe("fixed_ips filters", () => {
  const f = (s: string) => ids(list(PORTS, q(s), PORT_SPEC, "ports").items);

  test("ip_address, subnet_id, ip_address_substr", () => {
    assert.deepEqual(f("fixed_ips=ip_address=10.0.0.5"), ["p-01"]);
    assert.deepEqual(f("fixed_ips=ip_address=10.0.0.5&fixed_ips=ip_address=192.168.1.5"), ["p-01", "p-03"]);
    assert.deepEqual(f("fixed_ips=subnet_id=sub-b"), ["p-02", "p-03"]);
    assert.deepEqual(f("fixed_ips=ip_address_substr=10.0"), ["p-01", "p-02"]);
    assert.deepEqual(f("fixed_ips=ip_address_substr=.5&fixed_ips=ip_address_substr=.7"), [
      "p-01",
      "p-02",
      "p-03",
    ]);
    assert.deepEqual(f("fixed_ips=ip_address%20%3D%2010.0.0.5%20"), ["p-01"]);
  });

  test("keys are ANDed, each on any of the port's fixed IPs (Neutron's separate any())", () => {
    assert.deepEqual(f("fixed_ips=subnet_id=sub-a&fixed_ips=ip_address=192.168.1.7"), ["p-02"]);
    assert.deepEqual(f("fixed_ips=subnet_id=sub-b&fixed_ips=ip_address=10.0.0.5"), []);
  });

  test("other keys are ignored; a lone True (a bare client flag) is no filter", () => {
    assert.deepEqual(f("fixed_ips=foo=bar"), ["p-01", "p-02", "p-03", "p-04"]);
    assert.deepEqual(f("fixed_ips=True"), ["p-01", "p-02", "p-03", "p-04"]);
    assert.deepEqual(f("fixed_ips=ip_address="), []);
  });

  test("a value without key=value is InvalidInput", () => {
    for (const v of ["10.0.0.5", "=10.0.0.5", ""]) {
      throwsNeutron(
        () => parseListQuery(q(`fixed_ips=${encodeURIComponent(v)}`), PORT_SPEC),
        400,
        "InvalidInput",
        `Invalid input for operation: '${v}' is not of the form <key>=[value].`,
      );
    }
  });
});

describe("400s", () => {
  test("unknown filter attributes, all of them, in order", () => {
    throwsNeutron(
      () => parseListQuery(q("foo=1&name=x&bar=2&foo=3"), NET_SPEC),
      400,
      "HTTPBadRequest",
      "['foo', 'bar'] is invalid attribute for filtering",
    );
    throwsNeutron(
      () => parseListQuery(q("tags-any=x"), { attributes: new Set(["name"]) }),
      400,
      "HTTPBadRequest",
      "['tags-any'] is invalid attribute for filtering",
    );
  });

  test("limit must be an integer 0 or greater", () => {
    for (const v of ["abc", "1.5", "-1", "", "0x10"]) {
      throwsNeutron(
        () => parseListQuery(q(`limit=${v}`), NET_SPEC),
        400,
        "BadRequest",
        `Bad limit request: Limit must be an integer 0 or greater and not '${v}'.`,
      );
    }
    assert.equal(parseListQuery(q("limit=%2007%20"), NET_SPEC).limit, 7);
    assert.equal(parseListQuery(q("limit=1_0"), NET_SPEC).limit, 10);
  });

  test("sort_key and sort_dir must pair up", () => {
    for (const s of ["sort_key=name", "sort_dir=asc", "sort_key=name&sort_key=id&sort_dir=asc"]) {
      throwsNeutron(
        () => parseListQuery(q(s), NET_SPEC),
        400,
        "HTTPBadRequest",
        "The number of sort_keys and sort_dirs must be same",
      );
    }
    // Empty values are dropped before counting.
    assert.deepEqual(parseListQuery(q("sort_key=&sort_dir="), NET_SPEC).sorts, []);
  });

  test("sort_key must be sortable", () => {
    throwsNeutron(
      () => parseListQuery(q("sort_key=tags&sort_dir=asc&sort_key=bogus&sort_dir=desc"), NET_SPEC),
      400,
      "HTTPBadRequest",
      "['tags', 'bogus'] is invalid attribute for sort_keys",
    );
  });

  test("sort_dir must be asc or desc", () => {
    throwsNeutron(
      () => parseListQuery(q("sort_key=name&sort_dir=ASC"), NET_SPEC),
      400,
      "HTTPBadRequest",
      "['ASC'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
    );
  });

  test("filter values that do not convert", () => {
    throwsNeutron(
      () => parseListQuery(q("admin_state_up=maybe"), NET_SPEC),
      400,
      "InvalidInput",
      "Invalid input for operation: 'maybe' cannot be converted to boolean.",
    );
    throwsNeutron(
      () => parseListQuery(q("mtu=big"), NET_SPEC),
      400,
      "InvalidInput",
      "Invalid input for operation: 'big' is not an integer.",
    );
  });

  test("Neutron's order: a value conversion, then unknown filters, then limit, then sorting", () => {
    throwsNeutron(
      () => parseListQuery(q("bogus=1&mtu=big&limit=x&sort_key=name"), NET_SPEC),
      400,
      "InvalidInput",
      "Invalid input for operation: 'big' is not an integer.",
    );
    throwsNeutron(
      () => parseListQuery(q("bogus=1&limit=x&sort_key=name"), NET_SPEC),
      400,
      "HTTPBadRequest",
      "['bogus'] is invalid attribute for filtering",
    );
    throwsNeutron(
      () => parseListQuery(q("sort_key=name&limit=x"), NET_SPEC),
      400,
      "BadRequest",
      "Bad limit request: Limit must be an integer 0 or greater and not 'x'.",
    );
  });

  test("Python's repr of the offending names", () => {
    assert.equal(pyList(["a", "it's", 'say "hi"', "a\\b\n"]), `['a', "it's", 'say "hi"', 'a\\\\b\\n']`);
    assert.equal(pyRepr(`both ' and "`), `'both \\' and "'`);
  });
});

describe("fields", () => {
  test("only the requested keys, without adding id", () => {
    const r = list(NETS, q("fields=name&fields=status&name=beta"), NET_SPEC);
    assert.deepEqual(r.items, [{ name: "beta", status: "DOWN" }]);
  });

  test("keys come in the item's order; unknown names are ignored", () => {
    const r = list(NETS, q("fields=status&fields=id&fields=nonexistent&id=n-a"), NET_SPEC);
    assert.deepEqual(Object.keys(r.items[0] ?? {}), ["id", "status"]);
  });

  test("an empty fields parameter selects nothing, as Neutron's UserFilterHook does", () => {
    assert.deepEqual(list(NETS, q("fields=&id=n-a"), NET_SPEC).items, [{}]);
  });

  test("pagination still uses the ids it did not return", () => {
    const r = list([NET3, NET2, NET1], q("fields=name&limit=2"), NET_SPEC);
    assert.deepEqual(r.items, [{ name: "net3" }, { name: "net2" }]);
    assert.equal(r.links?.[0]?.href, `${BASE}/networks?fields=name&limit=2&marker=${NET2.id}`);
  });
});

describe("sorting", () => {
  test("one key, both directions", () => {
    assert.deepEqual(ids(list(NETS, q("sort_key=name&sort_dir=asc"), NET_SPEC).items), [
      "n-a",
      "n-d",
      "n-b",
      "n-c",
    ]);
    assert.deepEqual(ids(list(NETS, q("sort_key=mtu&sort_dir=desc"), NET_SPEC).items), [
      "n-d",
      "n-a",
      "n-b",
      "n-c",
    ]);
  });

  test("several keys; ties keep the stored order when no limit is given", () => {
    const r = list(NETS, q("sort_key=status&sort_dir=asc&sort_key=name&sort_dir=desc"), NET_SPEC);
    assert.deepEqual(ids(r.items), ["n-c", "n-a", "n-b", "n-d"]);
    const ties = list(NETS, q("sort_key=project_id&sort_dir=asc"), NET_SPEC);
    assert.deepEqual(ids(ties.items), ["n-a", "n-b", "n-d", "n-c"]);
  });

  test("with a limit, id asc breaks ties", () => {
    const shuffled = [NETS[3], NETS[0], NETS[2], NETS[1]] as Net[];
    const r = list(shuffled, q("sort_key=name&sort_dir=desc&limit=10"), NET_SPEC);
    assert.deepEqual(ids(r.items), ["n-c", "n-b", "n-a", "n-d"]);
    assert.deepEqual(ids(list(shuffled, q("limit=10"), NET_SPEC).items), ["n-a", "n-b", "n-c", "n-d"]);
  });

  test("null sorts first ascending, last descending", () => {
    const spec: ListSpec = { attributes: new Set(["description"]) };
    assert.deepEqual(ids(list(NETS, q("sort_key=description&sort_dir=asc"), spec).items)[0], "n-b");
    assert.deepEqual(ids(list(NETS, q("sort_key=description&sort_dir=desc"), spec).items).at(-1), "n-b");
    assert.equal(compareValues(null, ""), -1);
    assert.equal(compareValues(false, true), -1);
    assert.equal(compareValues("B", "a"), -1);
    assert.equal(compareValues(10, 9), 1);
  });
});

describe("pagination", () => {
  const three = [NET1, NET3, NET2];

  test("the api-ref's example, link for link", () => {
    const first = list(three, q("limit=2"), NET_SPEC, "networks");
    assert.deepEqual(ids(first.items), [NET3.id, NET2.id]);
    assert.deepEqual(first.links, [
      { rel: "next", href: `${BASE}/networks?limit=2&marker=${NET2.id}` },
      { rel: "previous", href: `${BASE}/networks?limit=2&marker=${NET3.id}&page_reverse=True` },
    ]);
    const last = list(three, q(`limit=2&marker=${NET2.id}`), NET_SPEC);
    assert.deepEqual(ids(last.items), [NET1.id]);
    assert.deepEqual(last.links, [
      { rel: "previous", href: `${BASE}/networks?limit=2&marker=${NET1.id}&page_reverse=True` },
    ]);
    assert.deepEqual(Object.keys(listBody("networks", last)), ["networks", "networks_links"]);
  });

  test("a full last page still links to a next page, which is empty", () => {
    const page = list(three, q(`limit=1&marker=${NET2.id}`), NET_SPEC);
    assert.deepEqual(ids(page.items), [NET1.id]);
    const next = page.links?.find((l) => l.rel === "next");
    assert.equal(next?.href, `${BASE}/networks?limit=1&marker=${NET1.id}`);
    const empty = list(three, q(`limit=1&marker=${NET1.id}`), NET_SPEC);
    assert.deepEqual(empty.items, []);
    // No marker to carry: the previous link asks for the last page.
    assert.deepEqual(empty.links, [{ rel: "previous", href: `${BASE}/networks?limit=1&page_reverse=True` }]);
  });

  test("page_reverse: the items before the marker, in forward order", () => {
    const r = list(three, q(`limit=2&marker=${NET1.id}&page_reverse=True`), NET_SPEC);
    assert.deepEqual(ids(r.items), [NET3.id, NET2.id]);
    assert.deepEqual(r.links, [
      { rel: "next", href: `${BASE}/networks?limit=2&marker=${NET2.id}` },
      { rel: "previous", href: `${BASE}/networks?limit=2&marker=${NET3.id}&page_reverse=True` },
    ]);
    const start = list(three, q(`limit=2&marker=${NET2.id}&page_reverse=true`), NET_SPEC);
    assert.deepEqual(ids(start.items), [NET3.id]);
    assert.deepEqual(start.links, [{ rel: "next", href: `${BASE}/networks?limit=2&marker=${NET3.id}` }]);
    const tail = list(three, q("limit=2&page_reverse=True"), NET_SPEC);
    assert.deepEqual(ids(tail.items), [NET2.id, NET1.id]);
  });

  test("limit=0 means no pagination; page_reverse and marker alone do nothing", () => {
    const r = list(three, q(`limit=0&marker=${NET1.id}&page_reverse=True`), NET_SPEC);
    assert.deepEqual(ids(r.items), [NET1.id, NET3.id, NET2.id]);
    assert.equal(r.links, undefined);
  });

  test("pagination_max_limit caps the limit and applies when none is given", () => {
    const spec = { ...NET_SPEC, maxLimit: 2 };
    assert.equal(parseListQuery(q("limit=50"), spec).limit, 2);
    assert.equal(parseListQuery(q(""), spec).limit, 2);
    assert.equal(parseListQuery(q("limit=1"), spec).limit, 1);
  });

  test("a marker that is not there is a 404 for the resource", () => {
    throwsNeutron(
      () => list(PORTS, q("limit=2&marker=nope"), PORT_SPEC, "ports"),
      404,
      "PortNotFound",
      "Port nope could not be found.",
    );
    throwsNeutron(
      () => list(three, q("limit=2&marker=nope"), NET_SPEC, "networks"),
      404,
      "NetworkNotFound",
      "Network nope could not be found.",
    );
  });

  test("the marker positions the page even when filters exclude it", () => {
    const r = list(NETS, q("name=alpha&limit=5&marker=n-b"), NET_SPEC);
    assert.deepEqual(ids(r.items), ["n-d"]);
  });

  test("links keep every other parameter in order, encoded as Python's urlencode does", () => {
    const r = list(
      PORTS,
      q(
        "binding%3Ahost_id=&limit=1&page_reverse=False&marker=p-01&fields=id&sort_key=id&sort_dir=asc&device_owner=",
      ),
      PORT_SPEC,
      "ports",
    );
    assert.deepEqual(r.items, [{ id: "p-02" }]);
    const rest = "binding%3Ahost_id=&limit=1&fields=id&sort_key=id&sort_dir=asc&device_owner=&marker=p-02";
    assert.deepEqual(r.links, [
      { rel: "next", href: `${BASE}/ports?${rest}` },
      { rel: "previous", href: `${BASE}/ports?${rest}&page_reverse=True` },
    ]);
    assert.equal(quotePlus("binding:host_id"), "binding%3Ahost_id");
    assert.equal(quotePlus("~a_b.c-d *é&=+/"), "~a_b.c-d+%2A%C3%A9%26%3D%2B%2F");
  });

  test("walking next links yields every item once, in sort order", () => {
    const many = Array.from({ length: 23 }, (_, i) =>
      net(`id-${String((i * 7) % 23).padStart(2, "0")}`, `name-${i % 4}`),
    );
    const seen = walk(many, "sort_key=name&sort_dir=desc&limit=5", NET_SPEC, "next");
    const expected = [...many].sort((a, b) =>
      a.name < b.name ? 1 : a.name > b.name ? -1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    assert.deepEqual(seen, ids(expected));
    const back = walk(many, "sort_key=name&sort_dir=desc&limit=5&page_reverse=True", NET_SPEC, "previous");
    assert.deepEqual(back, ids(expected));
  });
});

/**
 * Follows `rel` links from the first request until a page comes back without one; returns the
 * ids in list order (pages walked backwards are put back in front).
 */
function walk<T extends { id: string }>(
  items: readonly T[],
  first: string,
  spec: ListSpec,
  rel: "next" | "previous",
): string[] {
  const pages: string[][] = [];
  let url: URL | null = new URL(`${BASE}/networks?${first}`);
  for (let guard = 0; url && guard < 10_000; guard++) {
    const r: ListResult<T> = applyListQuery(items, parseListQuery(url.searchParams, spec), {
      collection: "networks",
      baseUrl: `${url.origin}${url.pathname}`,
    });
    pages.push(ids(r.items) as string[]);
    const link: PageLink | undefined = r.links?.find((l) => l.rel === rel);
    url = link ? new URL(link.href) : null;
  }
  assert.equal(url, null, "the walk did not end");
  if (rel === "previous") pages.reverse();
  return pages.flat();
}

interface Row {
  id: string;
  name: string;
  status: string;
  mtu: number;
  description: string | null;
}

describe("properties", () => {
  const items = fc.uniqueArray(
    fc.record({
      id: fc.string({ minLength: 1, maxLength: 6 }),
      name: fc.constantFrom("a", "b", "c", "B", ""),
      status: fc.constantFrom("ACTIVE", "DOWN"),
      mtu: fc.constantFrom(1442, 1500, 9000),
      description: fc.option(fc.constantFrom("x", "y"), { nil: null }),
    }),
    { maxLength: 40, selector: (r) => r.id },
  );
  const sort = fc.constantFrom(
    "",
    "sort_key=name&sort_dir=asc",
    "sort_key=name&sort_dir=desc",
    "sort_key=mtu&sort_dir=desc&sort_key=name&sort_dir=asc",
    "sort_key=description&sort_dir=asc",
    "sort_key=id&sort_dir=desc",
  );
  const filter = fc.constantFrom("", "status=ACTIVE", "name=a&name=B", "mtu=1500", "description=");
  const spec: ListSpec = {
    attributes: new Set(["id", "name", "status", "mtu", "description"]),
    types: { mtu: "integer" },
  };
  const field = (x: Row, k: string) => (x as unknown as Record<string, unknown>)[k];
  const matches = (x: Row, query: ListQuery) =>
    query.filters.every((f) => f.kind === "match" && f.values.some((w) => w === field(x, f.attribute)));

  /** The reference answer, computed the obvious way. */
  function expected(xs: readonly Row[], query: ListQuery): string[] {
    const keys = [...query.sorts];
    if (!keys.some((k) => k.key === "id")) keys.push({ key: "id", dir: "asc" });
    return xs
      .filter((x) => matches(x, query))
      .sort((a, b) => {
        for (const k of keys) {
          const c = compareValues(field(a, k.key), field(b, k.key));
          if (c !== 0) return k.dir === "asc" ? c : -c;
        }
        return 0;
      })
      .map((x) => x.id);
  }

  test("walking the pages, forwards or backwards, yields exactly the sorted, filtered list", () => {
    fc.assert(
      fc.property(
        items,
        fc.integer({ min: 1, max: 12 }),
        sort,
        filter,
        fc.boolean(),
        (xs, limit, s, f, rev) => {
          const query = [s, f, `limit=${limit}`, rev ? "page_reverse=True" : ""]
            .filter((p) => p !== "")
            .join("&");
          const want = expected(xs, parseListQuery(new URLSearchParams(query), spec));
          assert.deepEqual(walk(xs, query, spec, rev ? "previous" : "next"), want);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("filtering and sorting without a limit keep every match, stably", () => {
    fc.assert(
      fc.property(items, sort, filter, (xs, s, f) => {
        const query = parseListQuery(new URLSearchParams([s, f].filter((p) => p !== "").join("&")), spec);
        const got = ids(applyListQuery(xs, query, { collection: "networks", baseUrl: BASE }).items);
        const want = xs
          .map((x, i) => ({ x, i }))
          .filter(({ x }) => matches(x, query))
          .sort((a, b) => {
            for (const k of query.sorts) {
              const c = compareValues(field(a.x, k.key), field(b.x, k.key));
              if (c !== 0) return k.dir === "asc" ? c : -c;
            }
            return a.i - b.i;
          })
          .map(({ x }) => x.id);
        assert.deepEqual(got, want);
      }),
      { numRuns: 200 },
    );
  });

  test("50,000 items are listed, sorted and paged quickly", () => {
    const big = Array.from({ length: 50_000 }, (_, i) =>
      net(`id-${((i * 7919) % 50_000).toString().padStart(5, "0")}`, `n${i % 97}`, { mtu: 1400 + (i % 13) }),
    );
    const t0 = performance.now();
    const r = list(
      big,
      q("sort_key=name&sort_dir=asc&sort_key=mtu&sort_dir=desc&limit=100&status=ACTIVE"),
      NET_SPEC,
    );
    const last = r.items.at(-1)?.id ?? "";
    const r2 = list(
      big,
      q(`sort_key=name&sort_dir=asc&sort_key=mtu&sort_dir=desc&limit=100&marker=${last}`),
      NET_SPEC,
    );
    const ms = performance.now() - t0;
    assert.equal(r.items.length, 100);
    assert.equal(r2.items.length, 100);
    assert.ok(ms < 2000, `took ${ms} ms`);
  });
});
