// Property tests of the network service's edge, against a real NB and one in-process server:
// random and malformed bodies on every write endpoint, random query strings and ids on the
// read endpoints, wrong content types, non-JSON, huge strings, deep nesting, unicode and NUL
// bytes, numbers where strings go, every binding:profile shape. Whatever comes in:
//   - the answer is never a 5xx;
//   - a 4xx carries a well-formed error body: {"NeutronError": {type, message, detail}} under
//     /v2.0, Keystone's {"error": {code, message, title}} under /v3;
//   - a 4xx wrote nothing: the (table, _uuid, _version) of every NB row is the same after it.
// The bugs this file found (see KNOWN) are fixed; each keeps a test of its own at the end of
// the file, and the fuzz still counts any request that meets one again.
//
// FUZZ_RUNS=<n> multiplies the run counts; FUZZ_SEED=<seed> replays a run; FUZZ_DEBUG=1 prints
// every answer to stderr.

import assert from "node:assert/strict";
import { after, before, type TestContext, test } from "node:test";
import fc from "fast-check";
import { stopAllOvsdbServers } from "../../src/sandbox/ovsdb-process.js";
import { NbProbe, ownedRowProblems } from "../helpers/nb-probe.js";
import { type Fixture, startFixture } from "../helpers/network-service.js";

type Body = Record<string, unknown>;

const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

// ---------------------------------------------------------------- known bugs

/** Bugs this file found (fixed now): counted if the fuzz meets them again, each with a test below. */
const KNOWN = {
  "fastify-error-body":
    "errors raised by fastify before a Neutron handler runs (invalid JSON, empty JSON body, 415, bad URL " +
    "encoding, path parameter over 100 characters, no such route) answer fastify's " +
    "{statusCode, code, error, message}, not a NeutronError",
  "deep-nesting-500":
    "a deeply nested array where a string or number goes answers 500: the 400 message is built with " +
    "String(value)/JSON.stringify(value), which overflows the stack",
  "bulk-subnets-partial-write":
    "POST /v2.0/subnets with {subnets: [...]} writes the items before the first invalid one, then answers 4xx",
  "self-parent-503":
    "PUT /v2.0/ports/P with binding:profile parent_name P answers 503 after 8 retries instead of 400",
} as const;
type KnownBug = keyof typeof KNOWN;
const knownHits = new Map<KnownBug, number>();
/** What each known bug looked like when met: the fastify error code, or status and path. */
const knownDetail = new Map<KnownBug, Map<string, number>>();

// ---------------------------------------------------------------- fixture

let f: Fixture;
let probe: NbProbe;
let demo: string;
let admin: string;
let demoPassword: string;
let projectId: string;
/** demo's network with a v4 and a v6 subnet, a VM port and two children. */
let net: string;
let sub4: string;
let sub6: string;
let vm: string;
let vmMac: string;
let child: string;
/** The child port PUT requests may change (child never is, so vm stays a parent). */
let child2: string;
/** demo's network with no ports, where subnets may come and go. */
let net2: string;
/** admin's network of another project, not shared: invisible to demo. */
let hidden: string;
/** A VM port with neither parent nor children (PUT may make it a child, or its own parent). */
let lone = "";
/** When the service has trunks: a trunk, its parent port, and free ports that may become subports. */
let trunks = false;
let trunkId = "";
/** How the fixture's trunk create was answered. */
let trunkCreated = "";
let trunkParent = "";
let subportCandidates: string[] = [];
const uuidNone = "00000000-0000-4000-8000-000000000000";

async function ok(method: string, url: string, body: unknown, token = demo): Promise<Body> {
  const r = await f.call(method, url, { token, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
const idOf = (b: Body, key: string) => String((b[key] as Body).id);

before(async () => {
  f = await startFixture(1);
  probe = await NbProbe.open(f.nb.unixRemote);
  demo = await f.token("demo");
  admin = await f.token("admin");
  demoPassword = f.init.users.find((u) => u.name === "demo")?.password ?? "";
  projectId = f.init.project.id;
  net = idOf(await ok("POST", "/v2.0/networks", { network: { name: "fuzz" } }), "network");
  sub4 = idOf(
    await ok("POST", "/v2.0/subnets", { subnet: { network_id: net, cidr: "10.77.0.0/16", ip_version: 4 } }),
    "subnet",
  );
  sub6 = idOf(
    await ok("POST", "/v2.0/subnets", { subnet: { network_id: net, cidr: "fd00:77::/64", ip_version: 6 } }),
    "subnet",
  );
  const vmPort = (await ok("POST", "/v2.0/ports", { port: { network_id: net, name: "vm" } })).port as Body;
  vm = String(vmPort.id);
  vmMac = String(vmPort.mac_address);
  const profile = (tag: number) => ({ parent_name: vm, tag });
  child = idOf(
    await ok("POST", "/v2.0/ports", { port: { network_id: net, "binding:profile": profile(7) } }),
    "port",
  );
  child2 = idOf(
    await ok("POST", "/v2.0/ports", { port: { network_id: net, "binding:profile": profile(8) } }),
    "port",
  );
  net2 = idOf(await ok("POST", "/v2.0/networks", { network: { name: "fuzz-2" } }), "network");
  hidden = idOf(
    await ok("POST", "/v2.0/networks", { network: { name: "hidden", project_id: "other-project" } }, admin),
    "network",
  );
  const vmPorts = (
    await ok("POST", "/v2.0/ports", {
      ports: ["lone", "trunk-parent", "sp-1", "sp-2", "sp-3"].map((name) => ({ network_id: net, name })),
    })
  ).ports as Body[];
  [lone, trunkParent, ...subportCandidates] = vmPorts.map((p) => String(p.id)) as [
    string,
    string,
    ...string[],
  ];
  // Trunks are fuzzed only when the service has them (a valid create does not answer 404).
  const t = await f.call("POST", "/v2.0/trunks", {
    token: demo,
    body: {
      trunk: {
        port_id: trunkParent,
        name: "fuzz",
        sub_ports: [{ port_id: subportCandidates[0], segmentation_type: "vlan", segmentation_id: 100 }],
      },
    },
  });
  trunks = t.status !== 404;
  trunkCreated = `${t.status} ${JSON.stringify(t.body).slice(0, 300)}`;
  if (t.status === 201) trunkId = idOf(t.body, "trunk");
});

after(async () => {
  await probe?.close();
  await f?.close();
  await stopAllOvsdbServers();
});

// ---------------------------------------------------------------- requests and judging them

/** A value serialised as a deeply nested array or object (built as text: JSON.stringify would recurse). */
class Deep {
  constructor(
    readonly depth: number,
    readonly kind: "array" | "object",
  ) {}
  toJSON(): string {
    return `\u0001deep:${this.depth}:${this.kind}\u0001`;
  }
  [fc.toStringMethod](): string {
    return `Deep(${this.depth}, ${this.kind})`;
  }
}

const nest = (depth: number, kind: string) =>
  kind === "array"
    ? `${"[".repeat(depth)}${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** Nesting at least this deep counts as "deep" for the known stack-overflow bug. */
const DEEP = 1000;

/** Raw JSON text nested DEEP levels or more (arrays, or objects as `nest` writes them). */
const DEEP_TEXT = new RegExp(`(\\[|\\{"a":){${DEEP}}`);

/** JSON text of a value that may hold Deep markers, and whether one was DEEP or deeper. */
function serialize(v: unknown): { text: string; deep: boolean } {
  const marked = JSON.stringify(v) ?? "null";
  let deep = false;
  const text = marked.replace(/"\\u0001deep:(\d+):(array|object)\\u0001"/g, (_, d: string, k: string) => {
    if (Number(d) >= DEEP) deep = true;
    return nest(Number(d), k);
  });
  return { text, deep };
}

interface Req {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  token?: string | undefined;
  /** Undefined: no Content-Type header at all. */
  contentType?: string | undefined;
  /** Raw body text; undefined: no body. */
  body?: string | undefined;
  /** The body before serialisation, when it was a JS value. */
  value?: unknown;
  deep?: boolean;
  headers?: Record<string, string>;
}

/** A request whose body is a JS value, sent as JSON. */
function jsonReq(method: Req["method"], path: string, value: unknown, token: string | undefined): Req {
  const { text, deep } = serialize(value);
  return { method, path, token, contentType: "application/json", body: text, value, deep };
}

interface Res {
  status: number;
  text: string;
  json: unknown;
}

async function send(req: Req): Promise<Res> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.token !== undefined) headers["x-auth-token"] = req.token;
  if (req.contentType !== undefined) headers["content-type"] = req.contentType;
  const r = await fetch(`${f.servers[0]?.url}${req.path}`, {
    method: req.method,
    headers,
    body: req.body === undefined ? undefined : Buffer.from(req.body, "utf8"),
    signal: AbortSignal.timeout(20000),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json };
}

const isObj = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const sameKeys = (o: Record<string, unknown>, keys: string[]) =>
  JSON.stringify(Object.keys(o).sort()) === JSON.stringify([...keys].sort());

/** Why `body` is not Neutron's error body, or undefined when it is. */
function neutronErrorProblem(body: unknown): string | undefined {
  if (!isObj(body) || !sameKeys(body, ["NeutronError"]) || !isObj(body.NeutronError))
    return 'not {"NeutronError": {...}}';
  const e = body.NeutronError;
  if (!sameKeys(e, ["type", "message", "detail"]))
    return `NeutronError keys are ${Object.keys(e).join(", ")}`;
  if (typeof e.type !== "string" || !/^[A-Za-z]+$/.test(e.type)) return `type ${JSON.stringify(e.type)}`;
  if (typeof e.message !== "string" || e.message === "") return `message ${JSON.stringify(e.message)}`;
  if (typeof e.detail !== "string") return `detail ${JSON.stringify(e.detail)}`;
  return undefined;
}

/** Why `body` is not Keystone's error body for `status`, or undefined when it is. */
function keystoneErrorProblem(body: unknown, status: number): string | undefined {
  if (!isObj(body) || !sameKeys(body, ["error"]) || !isObj(body.error)) return 'not {"error": {...}}';
  const e = body.error;
  if (!sameKeys(e, ["code", "message", "title"])) return `error keys are ${Object.keys(e).join(", ")}`;
  if (e.code !== status) return `code ${JSON.stringify(e.code)} on a ${status}`;
  if (typeof e.message !== "string" || e.message === "") return `message ${JSON.stringify(e.message)}`;
  if (typeof e.title !== "string" || e.title === "") return `title ${JSON.stringify(e.title)}`;
  return undefined;
}

/** fastify's default error body. */
const isFastifyError = (b: unknown) =>
  isObj(b) &&
  typeof b.statusCode === "number" &&
  typeof b.error === "string" &&
  typeof b.message === "string";

const isBulkSubnets = (r: Req) =>
  r.method === "POST" &&
  r.path.startsWith("/v2.0/subnets") &&
  isObj(r.value) &&
  Array.isArray(r.value.subnets);

function isSelfParent(r: Req): boolean {
  const m = /^\/v2\.0\/ports\/([^/?]+)/.exec(r.path);
  const port = isObj(r.value) ? r.value.port : undefined;
  const profile = isObj(port) ? port["binding:profile"] : undefined;
  return (
    r.method === "PUT" && !!m && isObj(profile) && profile.parent_name === decodeURIComponent(m[1] ?? "")
  );
}

let lastDigest: { rows: number; hash: string } | undefined;
let requestsSent = 0;
/** Answers of the property running now, by status and error type. */
let outcomes = new Map<string, number>();

/** Sends one request and checks the three rules; throws (for fast-check) naming what broke. */
async function exercise(req: Req): Promise<void> {
  const before = lastDigest ?? (await probe.digest());
  const res = await send(req);
  requestsSent++;
  lastDigest = undefined;
  const err = isObj(res.json) ? (res.json.NeutronError ?? res.json.error) : undefined;
  const kind = `${res.status}${isObj(err) && typeof err.type === "string" ? ` ${err.type}` : ""}`;
  outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  if (process.env.FUZZ_DEBUG)
    console.error(
      kind,
      req.method,
      req.path.slice(0, 80),
      isObj(err) ? String(err.message).slice(0, 150) : "",
      req.body?.slice(0, 200),
    );
  const problems: string[] = [];
  const known = new Set<KnownBug>();
  if (res.status >= 500) {
    if (res.status === 500 && req.deep) known.add("deep-nesting-500");
    else if (res.status === 503 && isSelfParent(req)) known.add("self-parent-503");
    else problems.push(`answered ${res.status}`);
  } else if (res.status >= 400) {
    const identity = req.path === "/v3" || req.path.startsWith("/v3/");
    const p = identity ? keystoneErrorProblem(res.json, res.status) : neutronErrorProblem(res.json);
    if (p !== undefined) {
      if (!identity && isFastifyError(res.json)) known.add("fastify-error-body");
      else problems.push(`error body: ${p}`);
    }
  } else if (res.status !== 204 && res.json === undefined && req.method !== "DELETE") {
    problems.push("a success without a JSON body");
  }
  if (res.status >= 400) {
    const after = await probe.digest();
    lastDigest = after;
    if (after.hash !== before.hash) {
      if (isBulkSubnets(req) && res.status < 500) known.add("bulk-subnets-partial-write");
      else problems.push(`NB was written (${before.rows} rows before, ${after.rows} after)`);
    }
  }
  for (const k of known) {
    knownHits.set(k, (knownHits.get(k) ?? 0) + 1);
    const code = isObj(res.json) && typeof res.json.code === "string" ? res.json.code : "";
    const detail = `${res.status} ${code || `${req.method} ${req.path.split(/[/?]/)[2] ?? ""}`}`;
    const m = knownDetail.get(k) ?? new Map<string, number>();
    m.set(detail, (m.get(detail) ?? 0) + 1);
    knownDetail.set(k, m);
  }
  if (problems.length > 0) {
    const body =
      req.body === undefined ? "" : ` ${req.contentType ?? "(no content-type)"} ${req.body.slice(0, 300)}`;
    throw new Error(
      `${req.method} ${req.path.slice(0, 300)}${body}\n  → ${res.status} ${res.text.slice(0, 400)}\n  ${problems.join("; ")}`,
    );
  }
}

async function check(t: TestContext, arb: fc.Arbitrary<Req>, numRuns: number): Promise<void> {
  outcomes = new Map();
  await fc.assert(
    fc.asyncProperty(arb, (req) => exercise(req)),
    { numRuns: runs(numRuns), ...(SEED === undefined ? {} : { seed: SEED }) },
  );
  const sorted = [...outcomes].sort((a, b) => b[1] - a[1]);
  t.diagnostic(`answers: ${sorted.map(([k, n]) => `${k} ×${n}`).join(", ")}`);
}

// ---------------------------------------------------------------- arbitraries

const NASTY = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfffy",
  "😀",
  "\u202eevil",
  "ﬀİß",
  "'",
  '"',
  "\\",
  "%00",
  "%ZZ",
  "../..",
  "null",
  "true",
  "1e400",
  "-1",
  "0x10",
  "<script>",
  "$" + "{x}",
  "a\nb",
  "\t",
  "fa:16:3e:00:00:01",
  "10.77.0.9",
  "::",
  "10.0.0.0/8",
  "{}",
  "[]",
];

const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.constantFrom(255, 256, 5000, 70000).map((n) => "x".repeat(n)) },
);

const number: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.integer({ min: -5, max: 5000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    -1,
    0,
    1,
    4094,
    4095,
    4096,
    -4096,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    -(2 ** 53),
    1e300,
    -1e300,
    0.5,
  ),
);

const deep: fc.Arbitrary<Deep> = fc
  .tuple(fc.constantFrom(64, 4000, 20000, 100000), fc.constantFrom<"array" | "object">("array", "object"))
  .map(([d, k]) => new Deep(d, k));

/** Anything JSON can carry, and deep nesting. */
const junk: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    number,
    fc.boolean(),
    fc.constant(null),
    deep,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(
      fc.oneof(
        { weight: 30, arbitrary: fc.string({ maxLength: 8 }) },
        fc.constantFrom("__proto__", "constructor"),
      ),
      tie("value"),
      {
        maxKeys: 3,
      },
    ),
  ),
})).value;

/**
 * How the fields of a body are filled: `clean` with plausible values of the right type (which
 * may still be refused: a VLAN taken, a pool outside its cidr), `dirty` sometimes with junk and
 * an extra key of any name.
 */
type Mix = (plausible: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>;
const clean: Mix = (a) => a;
const dirty: Mix = (a) => fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: junk });

/**
 * A record of optional fields (`required` always present). Dirty ones sometimes get an extra key
 * of any name, or one of `rare` (e.g. read-only attributes on an update).
 */
function fields(
  m: Mix,
  model: Record<string, fc.Arbitrary<unknown>>,
  required: string[] = [],
  rare: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<Record<string, unknown>> {
  const mixed = Object.fromEntries(Object.entries(model).map(([k, a]) => [k, m(a)]));
  const rec = fc.record(mixed, { requiredKeys: required });
  if (m === clean) return rec.map((o) => ({ ...o }));
  const rareKeys = Object.keys(rare);
  const extra = fc.oneof(
    { weight: 16, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.tuple(text, junk) },
    ...(rareKeys.length > 0
      ? [
          {
            weight: 3,
            arbitrary: fc
              .constantFrom(...rareKeys)
              .chain((k) => fc.tuple(fc.constant(k), rare[k] as fc.Arbitrary<unknown>)),
          },
        ]
      : []),
  );
  return fc.tuple(rec, extra).map(([o, x]) => (x ? { ...o, [x[0]]: x[1] } : { ...o }));
}

/** {singular: item}, {plural: [items]}, or something else entirely; items clean or dirty alike. */
function resourceBody(
  singular: string,
  plural: string,
  item: (m: Mix) => fc.Arbitrary<unknown>,
): fc.Arbitrary<unknown> {
  const either = fc.oneof(item(clean), item(dirty));
  return fc.oneof(
    { weight: 6, arbitrary: either.map((x) => ({ [singular]: x })) },
    { weight: 2, arbitrary: fc.array(either, { maxLength: 3 }).map((xs) => ({ [plural]: xs })) },
    { weight: 1, arbitrary: fc.tuple(either, text, junk).map(([x, k, v]) => ({ [singular]: x, [k]: v })) },
    { weight: 1, arbitrary: junk },
  );
}

const token = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constant(demo) },
    { weight: 3, arbitrary: fc.constant(admin) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom("x", "a.b", `${demo.slice(0, -2)}xx`, "x".repeat(2000)) },
  );

/** encodeURIComponent, with lone surrogates (which it refuses) replaced as a URL parser would. */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/gu, "\ufffd"));

const uuid = fc.uuid();
/** A path segment: known ids, random uuids, junk (percent-encoded, or sometimes raw). */
const pathId = (known: () => string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(null).chain(() => fc.constantFrom(...known())) },
    { weight: 2, arbitrary: uuid },
    { weight: 2, arbitrary: text.filter((s) => s.length < 3000).map(enc) },
    { weight: 1, arbitrary: fc.constantFrom("%ZZ", "%", "a%2Fb", "..", "%00", "x?y=1", "x#y", "a;b") },
  );

const ipv4InNet = fc.integer({ min: 0, max: 65535 }).map((n) => `10.77.${n >> 8}.${n & 255}`);
const ip: fc.Arbitrary<string> = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  ipv4InNet,
  fc.constantFrom(
    "10.77.0.1",
    "10.77.0.0",
    "10.77.255.255",
    "fd00:77::",
    "fd00:77::5",
    "FD00:77::6",
    "010.77.0.5",
    "10.77.0.5/24",
    " 10.77.0.5",
    "::ffff:10.77.0.5",
    "fe80::1%eth0",
    "1.2.3",
  ),
);
// Mostly long prefixes all over the IPv4 space, so that the subnets created do not soon cover it all.
const cidr: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: 223 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.oneof(fc.integer({ min: 20, max: 30 }), fc.integer({ min: 0, max: 33 })),
      )
      .map(([a, b, c, p]) => `${a}.${b}.${c}.0/${p}`),
  },
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 129 })).map(([a, p]) => `${a}/${p}`),
  fc.constantFrom(
    "10.77.0.0/24",
    "192.168.5.0/24",
    "0.0.0.0/0",
    "::/0",
    "fd00:1::/64",
    "fd00::/127",
    "224.0.0.0/24",
    "127.0.0.0/24",
    "10.0.0.0/-1",
    "10.0.0.0",
    "10.0.0.0/24/24",
    "010.0.0.0/24",
    "10.0.0.0/ 24",
    "zz",
  ),
);
const bool = fc.oneof(fc.boolean(), fc.constantFrom("true", "False", "yes", "1", 1));
const mac = fc.oneof(
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
    .map((o) => o.map((x) => x.toString(16).padStart(2, "0")).join(":")),
  fc
    .constant(null)
    .chain(() =>
      fc.constantFrom(vmMac, vmMac.toUpperCase(), vmMac.replaceAll(":", "-"), vmMac.replaceAll(":", "")),
    ),
  fc.constantFrom("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "zz:zz", "fa16.3e00.0001"),
);
const projects = () =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(null).chain(() => fc.constant(projectId)) },
    { weight: 1, arbitrary: fc.constantFrom("other-project", "") },
  );
/** Ids of the fixture's resources, read when generating (they exist only after `before`). */
const one = <T = string>(ids: () => T[]) => fc.constant(null).chain(() => fc.constantFrom(...ids()));
const octet = fc.integer({ min: 0, max: 255 });
const hex16 = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));

// Networks.
const networkItem = (m: Mix) =>
  fields(m, {
    name: fc.string({ maxLength: 30 }),
    description: fc.string({ maxLength: 30 }),
    admin_state_up: bool,
    shared: fc.boolean(),
    mtu: fc.oneof(fc.integer({ min: 0, max: 10000 }), fc.constantFrom("1500", "abc", 67, 68, 9000, 9001)),
    project_id: projects(),
    tenant_id: projects(),
    port_security_enabled: bool,
  });
const networkUpdate = (m: Mix) =>
  fields(
    m,
    {
      name: fc.string({ maxLength: 30 }),
      description: fc.string({ maxLength: 30 }),
      admin_state_up: bool,
      shared: fc.boolean(),
      mtu: fc.integer({ min: -10, max: 10000 }),
    },
    [],
    { status: fc.constant("DOWN"), id: uuid, subnets: fc.constant([]) },
  );

// Subnets: clean ones are consistent in themselves (pools, gateway, routes inside their cidr).
const v6mode = fc.constantFrom("slaac", "dhcpv6-stateful", "dhcpv6-stateless", "bogus");
const subnetNetworks = () => one(() => [net2, net2, net2, net, hidden, "nope"]);
const cleanV4Subnet = fc
  .tuple(fc.integer({ min: 1, max: 223 }), octet, octet, fc.integer({ min: 16, max: 29 }))
  .chain(([a, b, c, prefix]) => {
    const base = `${a}.${b}.${c}`;
    const host = fc.integer({ min: 1, max: 254 >> Math.max(0, prefix - 24) }).map((n) => `${base}.${n}`);
    return fields(
      clean,
      {
        network_id: subnetNetworks(),
        cidr: fc.constant(`${base}.0/${prefix}`),
        ip_version: fc.constantFrom(4, 4, 4, 6),
        gateway_ip: fc.option(host),
        allocation_pools: fc.array(
          fc.tuple(host, host).map(([x, y]) => {
            const [lo, hi] = [x, y].sort((p, q) => Number(p.split(".")[3]) - Number(q.split(".")[3]));
            return { start: lo, end: hi };
          }),
          { maxLength: 2 },
        ),
        enable_dhcp: fc.boolean(),
        dns_nameservers: fc.array(fc.ipV4(), { maxLength: 2 }),
        host_routes: fc.array(
          fc.record({
            destination: fc.tuple(octet, octet).map(([x, y]) => `${x}.${y}.0.0/16`),
            nexthop: host,
          }),
          { maxLength: 2 },
        ),
        name: fc.string({ maxLength: 20 }),
        project_id: projects(),
      },
      ["network_id", "cidr"],
    );
  });
const cleanV6Subnet = hex16.chain((h) => {
  const host = fc.integer({ min: 1, max: 0xffff }).map((n) => `fd00:${h}::${n.toString(16)}`);
  return fields(
    clean,
    {
      network_id: subnetNetworks(),
      cidr: fc.constant(`fd00:${h}::/64`),
      ip_version: fc.constantFrom(6, 6, 6, 4),
      gateway_ip: fc.option(host),
      enable_dhcp: fc.boolean(),
      dns_nameservers: fc.array(fc.ipV6(), { maxLength: 2 }),
      ipv6_address_mode: v6mode,
      ipv6_ra_mode: v6mode,
      name: fc.string({ maxLength: 20 }),
    },
    ["network_id", "cidr"],
  );
});
const subnetItem = (m: Mix) =>
  m === clean
    ? fc.oneof({ weight: 3, arbitrary: cleanV4Subnet }, { weight: 1, arbitrary: cleanV6Subnet })
    : fields(dirty, {
        network_id: subnetNetworks(),
        cidr,
        ip_version: fc.constantFrom(4, 6, "4", "6", 5, 0),
        gateway_ip: fc.option(ip),
        allocation_pools: fc.array(fields(dirty, { start: ip, end: ip }), { maxLength: 3 }),
        enable_dhcp: bool,
        dns_nameservers: fc.array(dirty(ip), { maxLength: 3 }),
        host_routes: fc.array(fields(dirty, { destination: cidr, nexthop: ip }), { maxLength: 2 }),
        ipv6_address_mode: v6mode,
        ipv6_ra_mode: v6mode,
        name: fc.string({ maxLength: 20 }),
        project_id: projects(),
        subnetpool_id: uuid,
      });
const subnetUpdate = (m: Mix) =>
  fields(
    m,
    {
      name: fc.string({ maxLength: 20 }),
      description: fc.string({ maxLength: 20 }),
      enable_dhcp: fc.boolean(),
      dns_nameservers: fc.array(m === clean ? fc.ipV4() : dirty(ip), { maxLength: 3 }),
      host_routes: fc.array(
        fc.record({
          destination: fc.tuple(octet, octet).map(([x, y]) => `${x}.${y}.0.0/16`),
          nexthop: ipv4InNet,
        }),
        { maxLength: 2 },
      ),
    },
    [],
    { cidr, gateway_ip: ip, allocation_pools: fc.constant([]), network_id: uuid },
  );

// Ports.
const parentIds = () => one(() => [vm, vm, vm, lone, child, child2, "nope", ""]);
const profile = (m: Mix) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fields(
        m,
        {
          parent_name: parentIds(),
          tag: fc.oneof(
            { weight: 5, arbitrary: fc.integer({ min: 1, max: 4094 }) },
            fc.integer({ min: -10, max: 4200 }),
          ),
        },
        m === clean ? ["parent_name", "tag"] : [],
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom(null, {}) },
    { weight: 1, arbitrary: fc.constant(null).chain(() => fc.constant({ parent_name: vm, tag: 7 })) },
    ...(m === dirty ? [{ weight: 1, arbitrary: fc.constantFrom([], "parent", 7) }] : []),
  );
const fixedIps = (m: Mix) =>
  m === clean
    ? fc.oneof(
        one(() => [
          [{ subnet_id: sub4 }],
          [{ subnet_id: sub6 }],
          [{ subnet_id: sub4 }, { subnet_id: sub6 }],
          [],
        ]),
        ipv4InNet.map((a) => [{ ip_address: a }]),
        fc
          .tuple(
            one(() => [sub4]),
            ipv4InNet,
          )
          .map(([s, a]) => [{ subnet_id: s, ip_address: a }]),
        hex16.map((h) => [{ ip_address: `fd00:77::${h}` }]),
      )
    : fc.array(fields(dirty, { subnet_id: one(() => [sub4, sub6, "nope"]), ip_address: ip }), {
        maxLength: 3,
      });
const portItem = (m: Mix) =>
  fields(
    m,
    {
      network_id: one(() => [net, net, net, net, net, net, net, net2, hidden, "nope"]),
      name: fc.string({ maxLength: 20 }),
      description: fc.string({ maxLength: 20 }),
      mac_address: mac,
      fixed_ips: fixedIps(m),
      device_id: fc.string({ maxLength: 20 }),
      device_owner: fc.constantFrom("", "compute:nova", "network:router_interface", "network:dhcp"),
      admin_state_up: bool,
      port_security_enabled: bool,
      "binding:profile": profile(m),
      "binding:host_id": fc.string({ maxLength: 10 }),
      "binding:vnic_type": m === clean ? fc.constant("normal") : fc.constantFrom("normal", "direct"),
      project_id: projects(),
      security_groups: m === clean ? fc.constant([]) : fc.constantFrom([], [], [], ["default"]),
    },
    m === clean ? ["network_id"] : [],
  );
const portUpdate = (m: Mix) =>
  fields(
    m,
    {
      name: fc.string({ maxLength: 20 }),
      description: fc.string({ maxLength: 20 }),
      device_id: fc.string({ maxLength: 20 }),
      device_owner: fc.constantFrom("", "compute:nova"),
      admin_state_up: bool,
      port_security_enabled: bool,
      "binding:profile": profile(m),
      "binding:host_id": fc.string({ maxLength: 10 }),
    },
    [],
    { mac_address: mac, fixed_ips: fixedIps(dirty), network_id: uuid, status: fc.constant("ACTIVE") },
  );

// Trunks.
const subportIds = () => one(() => [...subportCandidates, vm, child, "nope"]);
const subPort = (m: Mix) =>
  fields(
    m,
    {
      port_id: subportIds(),
      segmentation_type: m === clean ? fc.constant("vlan") : fc.constantFrom("vlan", "inherit", "vxlan"),
      segmentation_id: fc.integer({ min: m === clean ? 1 : -5, max: m === clean ? 4094 : 5000 }),
    },
    m === clean ? ["port_id", "segmentation_type", "segmentation_id"] : [],
  );
const trunkItem = (m: Mix) =>
  fields(
    m,
    {
      port_id: one(() => [trunkParent, lone, vm, child, ...subportCandidates, uuidNone]),
      name: fc.string({ maxLength: 20 }),
      description: fc.string({ maxLength: 20 }),
      admin_state_up: fc.boolean(),
      project_id: projects(),
      sub_ports: fc.array(subPort(m), { maxLength: 3 }),
    },
    m === clean ? ["port_id"] : [],
  );
const trunkUpdate = (m: Mix) =>
  fields(
    m,
    {
      name: fc.string({ maxLength: 20 }),
      description: fc.string({ maxLength: 20 }),
      admin_state_up: fc.constant(true),
    },
    [],
    { port_id: subportIds(), sub_ports: fc.array(subPort(dirty), { maxLength: 2 }) },
  );

// ---------------------------------------------------------------- properties

test("networks: POST and PUT bodies of any shape", async (t) => {
  await check(
    t,
    fc.oneof(
      fc
        .tuple(token(), resourceBody("network", "networks", networkItem))
        .map(([tk, b]) => jsonReq("POST", "/v2.0/networks", b, tk)),
      fc
        .tuple(
          token(),
          pathId(() => [net, net2, hidden]),
          resourceBody("network", "networks", networkUpdate),
        )
        .map(([tk, id, b]) => jsonReq("PUT", `/v2.0/networks/${id}`, b, tk)),
    ),
    200,
  );
});

test("subnets: POST and PUT bodies of any shape", async (t) => {
  await check(
    t,
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(token(), resourceBody("subnet", "subnets", subnetItem))
          .map(([tk, b]) => jsonReq("POST", "/v2.0/subnets", b, tk)),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            token(),
            pathId(() => [sub4, sub6]),
            resourceBody("subnet", "subnets", subnetUpdate),
          )
          .map(([tk, id, b]) => jsonReq("PUT", `/v2.0/subnets/${id}`, b, tk)),
      },
    ),
    250,
  );
});

test("ports: POST and PUT bodies of any shape, every binding:profile shape", async (t) => {
  await check(
    t,
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(token(), resourceBody("port", "ports", portItem))
          .map(([tk, b]) => jsonReq("POST", "/v2.0/ports", b, tk)),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            token(),
            pathId(() => [vm, lone, child2]),
            resourceBody("port", "ports", portUpdate),
          )
          .map(([tk, id, b]) => jsonReq("PUT", `/v2.0/ports/${id}`, b, tk)),
      },
    ),
    400,
  );
});

test("trunks: POST and PUT bodies of any shape (when the service has trunks)", async (t) => {
  if (!trunks) {
    t.skip("POST /v2.0/trunks answers 404 to a valid request: no trunk API here");
    return;
  }
  assert.ok(trunkId !== "", `a valid POST /v2.0/trunks was answered ${trunkCreated}`);
  const subports = fc.oneof(
    fc.array(fc.oneof(subPort(clean), subPort(dirty)), { maxLength: 3 }).map((s) => ({ sub_ports: s })),
    junk,
  );
  await check(
    t,
    fc.oneof(
      fc
        .tuple(token(), resourceBody("trunk", "trunks", trunkItem))
        .map(([tk, b]) => jsonReq("POST", "/v2.0/trunks", b, tk)),
      fc
        .tuple(
          token(),
          pathId(() => [trunkId]),
          resourceBody("trunk", "trunks", trunkUpdate),
        )
        .map(([tk, id, b]) => jsonReq("PUT", `/v2.0/trunks/${id}`, b, tk)),
      fc
        .tuple(
          token(),
          pathId(() => [trunkId]),
          fc.constantFrom("add_subports", "remove_subports"),
          subports,
        )
        .map(([tk, id, action, b]) => jsonReq("PUT", `/v2.0/trunks/${id}/${action}`, b, tk)),
    ),
    250,
  );
});

test("keystone: POST /v3/auth/tokens, token validation and VM tokens with bodies of any shape", async (t) => {
  const named = (m: Mix, extra: Record<string, fc.Arbitrary<unknown>> = {}) =>
    fields(m, { id: fc.constantFrom("default", "nope"), name: fc.constantFrom("Default", "demo"), ...extra });
  const user = (m: Mix) =>
    fields(m, {
      name: fc.constantFrom("demo", "admin", "nobody"),
      id: fc.string({ maxLength: 10 }),
      password: one(() => [demoPassword, demoPassword, "wrong", ""]),
      domain: named(m),
    });
  const identity = (m: Mix) =>
    fields(m, {
      methods: fc.array(m(fc.constantFrom("password", "password", "token", "totp")), { maxLength: 3 }),
      password: fields(m, { user: user(m) }),
      token: fields(m, { id: one(() => [demo, "x"]) }),
    });
  const scope = (m: Mix) =>
    fc.oneof(
      fields(m, { project: named(m, { domain: named(m) }).map((p) => ({ ...p, id: p.id ?? projectId })) }),
      one<unknown>(() => ["unscoped", { system: { all: true } }, { project: { id: projectId } }]),
    );
  const auth = fc.oneof(
    {
      weight: 4,
      arbitrary: fields(clean, { auth: fields(clean, { identity: identity(clean), scope: scope(clean) }) }),
    },
    {
      weight: 4,
      arbitrary: fields(dirty, { auth: fields(dirty, { identity: identity(dirty), scope: scope(dirty) }) }),
    },
    { weight: 1, arbitrary: junk },
  );
  const subject = fc.oneof(
    one(() => [demo, admin]),
    fc.constantFrom("", "x", "a.b", "x".repeat(1500)),
  );
  const vmToken = fc.oneof(
    fields(clean, { parent_port_id: parentIds(), ttl_seconds: fc.integer({ min: 60, max: 10 ** 7 }) }),
    fields(dirty, {
      parent_port_id: parentIds(),
      ttl_seconds: fc.oneof(fc.integer({ min: -10, max: 10 ** 9 }), fc.constantFrom(2 ** 53, 1e300, 59.5)),
    }),
  );
  await check(
    t,
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .tuple(auth, fc.constantFrom("", "?nocatalog", "?nocatalog=1&x=%ZZ"))
          .map(([b, q]) => jsonReq("POST", `/v3/auth/tokens${q}`, b, undefined)),
      },
      {
        weight: 2,
        arbitrary: fc.tuple(token(), subject).map(
          ([tk, sub]): Req => ({
            method: "GET",
            path: "/v3/auth/tokens",
            token: tk,
            headers: { "x-subject-token": sub },
          }),
        ),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(token(), vmToken)
          .map(([tk, b]) => jsonReq("POST", "/v3/OS-OVN-DOCKER/vm-tokens", b, tk)),
      },
    ),
    200,
  );
});

test("GET lists and shows with random query strings and ids; DELETE of random and in-use ids", async (t) => {
  const collections = ["networks", "subnets", "ports", ...(trunks ? ["trunks"] : [])];
  const keys = fc.oneof(
    fc.constantFrom(
      "fields",
      "sort_key",
      "sort_dir",
      "limit",
      "marker",
      "page_reverse",
      "id",
      "name",
      "network_id",
      "fixed_ips",
      "mac_address",
      "tags",
      "tags-any",
      "not-tags",
      "not-tags-any",
      "admin_state_up",
      "mtu",
      "ip_version",
      "revision_number",
      "binding:profile",
      "shared",
      "cidr",
      "device_owner",
    ),
    fc.string({ maxLength: 10 }),
  );
  const values = fc.oneof(
    fc.constantFrom("asc", "desc", "1", "0", "-1", "1_0", "True", "false", "name", "id", "fixed_ips", "x=y"),
    fc.constantFrom("ip_address=10.77.0.2", "ip_address_substr=77", "subnet_id=", "mac_address", "a,b,,"),
    fc.constant(null).chain(() => fc.constantFrom(net, vm, sub4, `subnet_id=${sub4}`, vmMac)),
    fc.string({ maxLength: 30 }),
    fc.constantFrom(...NASTY),
  );
  const query = fc
    .tuple(fc.array(fc.tuple(keys, values), { maxLength: 6 }), fc.boolean())
    .map(([pairs, raw]) => {
      if (pairs.length === 0) return "";
      const e = raw ? (s: string) => s : enc;
      return `?${pairs.map(([k, v]) => `${e(k)}=${e(v)}`).join("&")}`;
    });
  const known = () => [net, net2, hidden, sub4, sub6, vm, child, child2, lone, ...(trunks ? [trunkId] : [])];
  await check(
    t,
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .tuple(token(), fc.constantFrom(...collections), query)
          .map(([t, c, q]): Req => ({ method: "GET", path: `/v2.0/${c}${q}`, token: t })),
      },
      {
        weight: 3,
        arbitrary: fc
          .tuple(token(), fc.constantFrom(...collections), pathId(known), query)
          .map(([t, c, id, q]): Req => ({ method: "GET", path: `/v2.0/${c}/${id}${q}`, token: t })),
      },
      {
        // In use (the network has ports, the subnets hold addresses, vm has children), or absent.
        weight: 2,
        arbitrary: fc
          .tuple(
            token(),
            fc.oneof(
              fc
                .constant(null)
                .chain(() =>
                  fc.constantFrom(`networks/${net}`, `subnets/${sub4}`, `subnets/${sub6}`, `ports/${vm}`),
                ),
              fc.tuple(fc.constantFrom(...collections), uuid).map(([c, u]) => `${c}/${u}`),
            ),
          )
          .map(([t, p]): Req => ({ method: "DELETE", path: `/v2.0/${p}`, token: t })),
      },
    ),
    300,
  );
});

test("raw bodies: wrong content types, non-JSON, empty, huge, deeply nested", async (t) => {
  const targets = () =>
    fc.constantFrom(
      ["POST", "/v2.0/networks"],
      ["POST", "/v2.0/subnets"],
      ["POST", "/v2.0/ports"],
      ["PUT", `/v2.0/networks/${net2}`],
      ["PUT", `/v2.0/subnets/${sub4}`],
      ["PUT", `/v2.0/ports/${child2}`],
      ["POST", "/v3/auth/tokens"],
      ...(trunks ? [["POST", "/v2.0/trunks"]] : []),
    ) as fc.Arbitrary<[Req["method"], string]>;
  const contentType = fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin1",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zz",
    "application/octet-stream",
    "application/xml",
    "application/json-patch+json",
    "*/*",
    "json",
    "",
    undefined,
  );
  const plausible = fc.oneof(
    resourceBody("network", "networks", networkItem),
    resourceBody("port", "ports", portItem),
    resourceBody("subnet", "subnets", subnetItem),
  );
  const body = fc.oneof(
    plausible.map((v) => serialize(v).text),
    junk.map((v) => serialize(v).text),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      "",
      "{",
      "}",
      "[1,]",
      "{'a':1}",
      "\u0000",
      "\ufeff{}",
      '{"network":{}}garbage',
      "NaN",
      "Infinity",
      "1e999999",
      '{"a":1,"a":2}',
      '{"network":{"mtu":1e999}}',
      '{"port":{"__proto__":{"isAdmin":true}}}',
      "[]",
      "null",
      '""',
      "true",
      "name=x&mtu=1",
    ),
    fc.tuple(plausible, fc.nat()).map(([v, n]) => {
      const s = serialize(v).text;
      return s.slice(0, n % (s.length + 1));
    }),
    fc
      .tuple(fc.constantFrom(5000, 100000), fc.constantFrom("array", "object"), fc.boolean())
      .map(([d, k, closed]) => {
        const s = nest(d, k);
        return closed ? s : s.slice(0, s.length - 1);
      }),
    fc.constantFrom(`${" ".repeat(500000)}{}`, `{"network":{"name":"${"x".repeat(1100000)}"}}`),
  );
  await check(
    t,
    fc.tuple(token(), targets(), contentType, body).map(
      ([t, [method, path], ct, b]): Req => ({
        method,
        path,
        token: t,
        contentType: ct,
        body: b,
        deep: DEEP_TEXT.test(b),
      }),
    ),
    250,
  );
});

test("after the fuzz: NB rows whole and consistent, the API lists what NB holds", async (t) => {
  const state = await probe.rows();
  assert.deepEqual(ownedRowProblems(state), []);
  const listed = await f.call("GET", "/v2.0/ports?fields=id", { token: admin });
  assert.equal(listed.status, 200);
  const owned = state.ports.filter((p) => p.external_ids["ovn-docker:owner"] === "ovn-docker");
  assert.equal((listed.body.ports as unknown[]).length, owned.length);
  t.diagnostic(
    `${requestsSent} fuzz requests; NB holds ${owned.length} ports, ${state.switches.length} switches`,
  );
  for (const [k, n] of knownHits) {
    const detail = [...(knownDetail.get(k) ?? [])].map(([d, c]) => `${d} ×${c}`).join(", ");
    t.diagnostic(`known bug met ${n} times: ${k} (${detail})`);
  }
});

// ---------------------------------------------------------------- the bugs it found, one test each

/** A network of its own for each of these tests, so that what the fuzz created cannot overlap. */
const freshNet = async () =>
  idOf(await ok("POST", "/v2.0/networks", { network: { name: "todo" } }), "network");

/** The status and body of a request, and whether NB changed because of it. */
async function attempt(req: Req): Promise<Res & { wrote: boolean }> {
  const before = await probe.digest();
  const res = await send(req);
  lastDigest = undefined;
  return { ...res, wrote: (await probe.digest()).hash !== before.hash };
}

test("errors raised before the Neutron handlers run are NeutronErrors too", async () => {
  const cases: Array<[string, Req]> = [
    [
      "invalid JSON",
      { method: "POST", path: "/v2.0/networks", token: demo, contentType: "application/json", body: "{" },
    ],
    [
      "empty JSON body",
      { method: "POST", path: "/v2.0/networks", token: demo, contentType: "application/json", body: "" },
    ],
    [
      "a __proto__ key",
      {
        method: "POST",
        path: "/v2.0/ports",
        token: demo,
        contentType: "application/json",
        body: '{"port":{"__proto__":{}}}',
      },
    ],
    [
      "unsupported media type",
      { method: "POST", path: "/v2.0/networks", token: demo, contentType: "application/xml", body: "<x/>" },
    ],
    [
      "body over 1 MiB",
      {
        method: "POST",
        path: "/v2.0/networks",
        token: demo,
        contentType: "application/json",
        body: `{"network":{"name":"${"x".repeat(1100000)}"}}`,
      },
    ],
    ["bad URL encoding", { method: "GET", path: "/v2.0/networks/%ZZ", token: demo }],
    ["no such route", { method: "GET", path: "/v2.0/routers", token: demo }],
    [
      "no id on PUT",
      { method: "PUT", path: "/v2.0/networks", token: demo, contentType: "application/json", body: "{}" },
    ],
    [
      "DELETE with Content-Type: application/json and no body",
      { method: "DELETE", path: `/v2.0/ports/${uuidNone}`, token: demo, contentType: "application/json" },
    ],
    ["path id over 100 characters", { method: "GET", path: `/v2.0/ports/${"x".repeat(101)}`, token: demo }],
  ];
  const wrong: string[] = [];
  for (const [what, req] of cases) {
    const r = await attempt(req);
    assert.equal(r.wrote, false, what);
    const p = r.status >= 400 && r.status < 500 ? neutronErrorProblem(r.json) : `status ${r.status}`;
    if (p) wrong.push(`${what}: ${r.status} ${r.text.slice(0, 160)}`);
  }
  assert.deepEqual(wrong, []);
});
test("a deeply nested array where a scalar goes is a 400, not a 500", async () => {
  const d = new Deep(20000, "array");
  const n = await freshNet();
  const cases: Array<[string, Req["method"], string, unknown]> = [
    ["network name (input.ts str)", "POST", "/v2.0/networks", { network: { name: d } }],
    ["network mtu (input.ts int)", "POST", "/v2.0/networks", { network: { mtu: d } }],
    ["network shared (input.ts bool)", "POST", "/v2.0/networks", { network: { shared: d } }],
    ["subnet name on update (input.ts str)", "PUT", `/v2.0/subnets/${sub4}`, { subnet: { name: d } }],
    [
      "port binding:profile tag (ports.ts profileOf)",
      "POST",
      "/v2.0/ports",
      { port: { network_id: net, "binding:profile": { parent_name: vm, tag: d } } },
    ],
    [
      "port binding:vnic_type (ports.ts decide)",
      "POST",
      "/v2.0/ports",
      { port: { network_id: net, "binding:vnic_type": d } },
    ],
    ["port mac_address (input.ts str)", "POST", "/v2.0/ports", { port: { network_id: net, mac_address: d } }],
    [
      "subnet allocation_pools start (ipam.ts parseAddr)",
      "POST",
      "/v2.0/subnets",
      { subnet: { network_id: n, cidr: "10.99.0.0/24", allocation_pools: [{ start: d, end: "10.99.0.9" }] } },
    ],
    [
      "subnet gateway_ip (input.ts str)",
      "POST",
      "/v2.0/subnets",
      { subnet: { network_id: n, cidr: "10.99.0.0/24", gateway_ip: d } },
    ],
    ...(trunks
      ? ([
          ["trunk port_id (trunks.ts pyValue/pyStr)", "POST", "/v2.0/trunks", { trunk: { port_id: d } }],
          [
            "trunk add_subports sub_ports (trunks.ts pyValue)",
            "PUT",
            `/v2.0/trunks/${trunkId}/add_subports`,
            { sub_ports: d },
          ],
          [
            "trunk add_subports port_id (trunks.ts pyValue)",
            "PUT",
            `/v2.0/trunks/${trunkId}/add_subports`,
            { sub_ports: [{ port_id: d, segmentation_type: "vlan", segmentation_id: 5 }] },
          ],
        ] as Array<[string, Req["method"], string, unknown]>)
      : []),
  ];
  const wrong: string[] = [];
  for (const [what, method, path, body] of cases) {
    const r = await attempt(jsonReq(method, path, body, demo));
    assert.equal(r.wrote, false, what);
    if (r.status !== 400) wrong.push(`${what}: ${r.status} ${r.text.slice(0, 120)}`);
  }
  assert.deepEqual(wrong, []);
});

test("a string with an unpaired surrogate (\\ud800) is a 400 for any field and NB's session survives", async () => {
  // JSON.stringify writes a lone surrogate as the escape \ud800; ovsdb-server drops the whole
  // session on such a string, which used to answer this request, and every other one in
  // flight, 503.
  const n = await freshNet();
  const bad = "x\ud800y";
  const cases: Array<[string, Req["method"], string, unknown]> = [
    ["network description", "POST", "/v2.0/networks", { network: { description: bad } }],
    [
      "bulk network description",
      "POST",
      "/v2.0/networks",
      { networks: [{ name: "a" }, { description: bad }] },
    ],
    ["network name on update", "PUT", `/v2.0/networks/${n}`, { network: { name: bad } }],
    ["port name", "POST", "/v2.0/ports", { port: { network_id: net, name: bad } }],
    ["subnet name", "POST", "/v2.0/subnets", { subnet: { network_id: n, cidr: "10.97.0.0/24", name: bad } }],
    ["a key", "POST", "/v2.0/networks", { network: { [bad]: 1 } }],
    // Walked without spreading: a 200,000-element array next to it is still a 400.
    [
      "a big array beside it",
      "POST",
      "/v2.0/networks",
      { network: { description: bad }, x: new Array(200_000).fill(0) },
    ],
  ];
  const wrong: string[] = [];
  for (const [what, method, path, body] of cases) {
    const req = jsonReq(method, path, body, demo);
    assert.match(req.body ?? "", /\\ud800/, "the body carries the escape");
    const r = await attempt(req);
    assert.equal(r.wrote, false, what);
    if (r.status !== 400 || !/not valid Unicode/.test(r.text))
      wrong.push(`${what}: ${r.status} ${r.text.slice(0, 160)}`);
  }
  assert.deepEqual(wrong, []);
  const after = await attempt(
    jsonReq("POST", "/v2.0/networks", { network: { name: "after-surrogates" } }, demo),
  );
  assert.equal(after.status, 201, after.text);
});

test("a bulk subnet create with one invalid item writes nothing", async () => {
  const n = await freshNet();
  const r = await attempt(
    jsonReq(
      "POST",
      "/v2.0/subnets",
      {
        subnets: [
          { network_id: n, cidr: "10.98.0.0/24" },
          { network_id: n, cidr: "zz" },
        ],
      },
      demo,
    ),
  );
  assert.equal(r.status, 400, r.text);
  assert.equal(r.wrote, false, "the first subnet of the refused bulk request was written to NB");
});

test("a port cannot be made its own parent: 400, not 503", async () => {
  const other = idOf(await ok("POST", "/v2.0/ports", { port: { network_id: net, name: "self" } }), "port");
  const t0 = Date.now();
  const r = await attempt(
    jsonReq(
      "PUT",
      `/v2.0/ports/${other}`,
      { port: { "binding:profile": { parent_name: other, tag: 5 } } },
      demo,
    ),
  );
  assert.equal(r.wrote, false);
  assert.equal(r.status, 400, `${r.status} after ${Date.now() - t0} ms: ${r.text}`);
});

test("PUT /v2.0/networks checks mtu as create does (68..9000)", async () => {
  const n = await freshNet();
  const wrong: string[] = [];
  for (const mtu of [-5, 0, 67, 9001, 99999]) {
    const r = await attempt(jsonReq("PUT", `/v2.0/networks/${n}`, { network: { mtu } }, demo));
    if (r.status !== 400 || r.wrote) wrong.push(`mtu ${mtu}: ${r.status}, NB written: ${r.wrote}`);
  }
  assert.deepEqual(wrong, []);
});

test("subnet ip_version must be 4 or 6 and match the cidr, whatever its JSON type", async () => {
  const n = await freshNet();
  const wrong: string[] = [];
  for (const [ipVersion, c] of [
    ["abc", "10.96.0.0/24"],
    ["6", "10.96.1.0/24"],
    [true, "10.96.2.0/24"],
  ] as const) {
    const r = await attempt(
      jsonReq("POST", "/v2.0/subnets", { subnet: { network_id: n, cidr: c, ip_version: ipVersion } }, demo),
    );
    if (r.status !== 400) wrong.push(`ip_version ${JSON.stringify(ipVersion)} with ${c}: ${r.status}`);
  }
  assert.deepEqual(wrong, []);
});

test("host_routes destinations must be CIDRs", async () => {
  const n = await freshNet();
  const r = await attempt(
    jsonReq(
      "POST",
      "/v2.0/subnets",
      {
        subnet: {
          network_id: n,
          cidr: "10.95.0.0/24",
          host_routes: [{ destination: "a=b,}{", nexthop: "10.95.0.1" }],
        },
      },
      demo,
    ),
  );
  assert.equal(r.status, 400, `${r.status}, NB written: ${r.wrote}: ${r.text.slice(0, 300)}`);
  assert.equal(r.wrote, false);
});

test("boolean attributes accept what Neutron's convert_to_boolean accepts", async () => {
  const wrong: string[] = [];
  for (const v of [1, 0, "1", "0", "TRUE", "fAlSe"]) {
    const r = await attempt(
      jsonReq("POST", "/v2.0/networks", { network: { name: "bool", admin_state_up: v } }, demo),
    );
    if (r.status !== 201)
      wrong.push(`admin_state_up ${JSON.stringify(v)}: ${r.status} ${r.text.slice(0, 120)}`);
  }
  assert.deepEqual(wrong, []);
});
