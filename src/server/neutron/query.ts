// Neutron's list-request semantics, as pure functions over the resource objects the API
// returns: filters, `fields`, `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse`, and the
// `<collection>_links` that come back with a page.
//
// What each rule follows in Neutron:
// - query parsing and its 400s: neutron/api/api_common.py (get_filters_from_dict, get_sorts,
//   _get_limit_param, get_page_reverse) and the filter-validation and empty-string-filtering
//   extensions (Rocky and later, on by default);
// - value conversion: neutron_lib/api/converters.py (convert_to_boolean, convert_to_int,
//   convert_kvp_list_to_dict), applied to the filter values before they reach the database;
// - matching: SQL `column IN (values)` (a NULL never matches), ports' fixed_ips and
//   mac_address (neutron/db/db_base_plugin_v2.py and ml2/plugin.py _get_ports_query), tags
//   (neutron/db/tag_db.py apply_tag_filters);
// - paging: the native pagination of the ML2 plugin: `id` ascending is appended to the sort keys
//   whenever a limit is given, a page is the `limit` items strictly after (or, with
//   page_reverse, strictly before) the marker in that order, always returned in forward
//   order; links are get_pagination_links/get_next_link/get_previous_link;
// - projection: the pecan UserFilterHook keeps exactly the requested keys that the item has.

import { badRequest, httpBadRequest, invalidInput, notFound } from "./errors.js";

/** The converters Neutron applies to a filter's values (its attribute map's `convert_to`). */
export type FilterType = "boolean" | "integer";

export interface ListSpec {
  /** Attributes accepted as filters (Neutron's `is_filter`); anything else is a 400. */
  readonly attributes: ReadonlySet<string>;
  /** Attributes accepted as `sort_key` (Neutron's `is_sort_key`); default: `attributes`. */
  readonly sortable?: ReadonlySet<string>;
  /**
   * Filter values converted (and validated, 400 on failure) before matching. Attributes not
   * listed are matched against the item's own value type, as described on applyListQuery.
   */
  readonly types?: Readonly<Record<string, FilterType>>;
  /** Neutron's `pagination_max_limit`; unset or ≤ 0 means no maximum. */
  readonly maxLimit?: number;
}

export type QueryInput = URLSearchParams | Readonly<Record<string, string | readonly string[]>>;

export type FilterValue = string | number | boolean;

export type Filter =
  /** `attr=v1&attr=v2`: the item's value (or any element of a list value) is one of `values`. */
  | { readonly kind: "match"; readonly attribute: string; readonly values: readonly FilterValue[] }
  /** `fixed_ips=ip_address=…` etc.; each present key must hold for some fixed IP of the port. */
  | {
      readonly kind: "fixed_ips";
      readonly ipAddress: readonly string[] | null;
      readonly subnetId: readonly string[] | null;
      readonly ipAddressSubstr: readonly string[] | null;
    }
  /** `mac_address=…`: compared in Neutron's canonical lower-case form. */
  | { readonly kind: "mac_address"; readonly values: readonly string[] }
  /** `tags`, `tags-any`, `not-tags`, `not-tags-any` (comma-separated or repeated). */
  | { readonly kind: "tags"; readonly mode: TagMode; readonly tags: readonly string[] };

export type TagMode = "tags" | "tags-any" | "not-tags" | "not-tags-any";

export type SortDir = "asc" | "desc";

export interface SortKey {
  readonly key: string;
  readonly dir: SortDir;
}

export interface ListQuery {
  /** ANDed. */
  readonly filters: readonly Filter[];
  /** The `fields` values as given (null: no `fields` parameter, every attribute is returned). */
  readonly fields: readonly string[] | null;
  /** As requested; applyListQuery appends `id` asc when a limit is set (see there). */
  readonly sorts: readonly SortKey[];
  /** null: no pagination (no limit, or `limit=0`). */
  readonly limit: number | null;
  /** Only set together with a limit, as in Neutron. */
  readonly marker: string | null;
  readonly pageReverse: boolean;
  /** The query's parameters in their order, decoded, for building the links. */
  readonly params: ReadonlyArray<readonly [string, string]>;
}

export interface PageLink {
  rel: "next" | "previous";
  href: string;
}

export interface ListResult<T> {
  items: Array<Partial<T>>;
  /** Present whenever a limit was given (Neutron's `<collection>_links`). */
  links?: PageLink[];
}

const RESERVED = new Set(["fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"]);
const TAG_MODES: ReadonlySet<string> = new Set<TagMode>(["tags", "tags-any", "not-tags", "not-tags-any"]);

// --- Python's spelling of things, for messages that must read as Neutron's ------------------

/** repr() of a Python str. */
export function pyRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === q) out += `\\${q}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + q;
}

/** `"%s" % a_list_of_str` in Python: ['a', 'b']. */
export function pyList(xs: readonly string[]): string {
  return `[${xs.map(pyRepr).join(", ")}]`;
}

const PY_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

/** Python's int(str), or null where it would raise ValueError. */
export function pyInt(s: string): number | null {
  return PY_INT.test(s) ? Number(s.trim().replaceAll("_", "")) : null;
}

const TRUE_STRINGS = new Set(["1", "t", "true", "on", "y", "yes"]);
const FALSE_STRINGS = new Set(["0", "f", "false", "off", "n", "no"]);

/** oslo_utils.strutils.bool_from_string(s, strict=True), or null where it would raise. */
export function pyBool(s: string): boolean | null {
  const v = s.trim().toLowerCase();
  if (TRUE_STRINGS.has(v)) return true;
  if (FALSE_STRINGS.has(v)) return false;
  return null;
}

/** The parameter list, in order, of either input form. */
function toPairs(query: QueryInput): Array<[string, string]> {
  if (query instanceof URLSearchParams) return [...query];
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(query)) {
    if (typeof v === "string") out.push([k, v]);
    else for (const x of v) out.push([k, x]);
  }
  return out;
}

/**
 * netaddr.EUI(mac, dialect=mac_unix_expanded) for the forms it reads; anything else is left as
 * it is (Neutron's convert_to_sanitized_mac_address does the same).
 */
export function sanitizeMac(mac: string): string {
  const s = mac.trim();
  const hex = MAC_FORMS.map((re) => re.exec(s)).find((m) => m !== null);
  if (!hex) return mac;
  const groups = hex.length === 7 ? hex.slice(1) : splitHex(hex.slice(1).join(""));
  return groups.map((h) => h.padStart(2, "0").toLowerCase()).join(":");
}

const MAC_FORMS = [
  // xx:xx:xx:xx:xx:xx, xx-xx-xx-xx-xx-xx (one or two digits a group)
  /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i,
  // xxxx.xxxx.xxxx
  /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i,
  // xxxxxx-xxxxxx, xxxxxxxxxxxx
  /^([0-9a-f]{6})[:-]?([0-9a-f]{6})$/i,
];

function splitHex(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += 2) out.push(s.slice(i, i + 2));
  return out;
}

// --- parsing --------------------------------------------------------------------------------

/**
 * Reads a list request's query as Neutron does, and throws the NeutronError 400 Neutron answers
 * for a bad one, in Neutron's order: filters first (a value that does not convert fails at
 * once; unknown filter attributes are gathered and reported together), then `limit`, then the
 * sort parameters.
 */
export function parseListQuery(query: QueryInput, spec: ListSpec): ListQuery {
  const params = toPairs(query);
  const all = (name: string) => params.filter(([k]) => k === name).map(([, v]) => v);
  // webob's MultiDict.get returns the last value of a repeated parameter.
  const last = (name: string) => {
    for (let i = params.length - 1; i >= 0; i--) {
      const p = params[i];
      if (p && p[0] === name) return p[1];
    }
    return undefined;
  };

  // Filters: request.GET.dict_of_lists(), grouped by name in order of first appearance.
  const groups = new Map<string, string[]>();
  for (const [k, v] of params) {
    if (RESERVED.has(k)) continue;
    const g = groups.get(k);
    if (g) g.push(v);
    else groups.set(k, [v]);
  }
  const filters: Filter[] = [];
  const invalid: string[] = [];
  for (const [key, values] of groups) {
    const isFilter = spec.attributes.has(key) || (TAG_MODES.has(key) && spec.attributes.has("tags"));
    if (!isFilter) {
      invalid.push(key);
      continue;
    }
    const f = toFilter(key, values, spec.types?.[key]);
    if (f) filters.push(f);
  }
  if (invalid.length > 0) throw httpBadRequest(`${pyList(invalid)} is invalid attribute for filtering`);

  // limit / marker / page_reverse.
  const rawLimit = last("limit");
  let limit = 0;
  if (rawLimit !== undefined) {
    const n = pyInt(rawLimit);
    if (n === null || n < 0) {
      throw badRequest("limit", `Limit must be an integer 0 or greater and not '${rawLimit}'`);
    }
    limit = n;
  }
  const max = spec.maxLimit ?? -1;
  if (max > 0) limit = Math.min(max, limit) || max;
  const marker = limit > 0 ? last("marker") || null : null;
  const pageReverse = (last("page_reverse") ?? "False").toLowerCase() === "true";

  // sort_key / sort_dir: empty values are dropped, then they must pair up.
  const keys = all("sort_key").filter((v) => v !== "");
  const dirs = all("sort_dir").filter((v) => v !== "");
  if (keys.length !== dirs.length) throw httpBadRequest("The number of sort_keys and sort_dirs must be same");
  const sortable = spec.sortable ?? spec.attributes;
  const absent = keys.filter((k) => !sortable.has(k));
  if (absent.length > 0) throw httpBadRequest(`${pyList(absent)} is invalid attribute for sort_keys`);
  const badDirs = dirs.filter((d) => d !== "asc" && d !== "desc");
  if (badDirs.length > 0) {
    throw httpBadRequest(
      `${pyList(badDirs)} is invalid value for sort_dirs, valid value is 'asc' and 'desc'`,
    );
  }
  const sorts = keys.map((key, i) => ({ key, dir: dirs[i] as SortDir }));

  const fields = params.some(([k]) => k === "fields") ? all("fields") : null;

  return { filters, fields, sorts, limit: limit > 0 ? limit : null, marker, pageReverse, params };
}

function toFilter(key: string, values: string[], type: FilterType | undefined): Filter | null {
  if (key === "fixed_ips") return fixedIpsFilter(values);
  if (TAG_MODES.has(key)) {
    const tags = new Set<string>();
    for (const v of values) for (const t of v.split(",")) tags.add(t);
    return { kind: "tags", mode: key as TagMode, tags: [...tags] };
  }
  if (key === "mac_address") return { kind: "mac_address", values: values.map(sanitizeMac) };
  if (type === "boolean") {
    return {
      kind: "match",
      attribute: key,
      values: values.map((v) => {
        const b = pyBool(v);
        if (b === null) throw invalidInput(`'${v}' cannot be converted to boolean`);
        return b;
      }),
    };
  }
  if (type === "integer") {
    return {
      kind: "match",
      attribute: key,
      values: values.map((v) => {
        const n = pyInt(v);
        if (n === null) throw invalidInput(`'${v}' is not an integer`);
        return n;
      }),
    };
  }
  return { kind: "match", attribute: key, values };
}

/** convert_kvp_list_to_dict, then the three keys Neutron reads; other keys are ignored. */
function fixedIpsFilter(values: string[]): Filter | null {
  if (values.length === 1 && values[0] === "True") return null;
  const kv = new Map<string, Set<string>>();
  for (const v of values) {
    const eq = v.indexOf("=");
    const k = eq < 0 ? "" : v.slice(0, eq).trim();
    if (eq < 0 || k === "") throw invalidInput(`'${v}' is not of the form <key>=[value]`);
    const set = kv.get(k) ?? new Set<string>();
    set.add(v.slice(eq + 1).trim());
    kv.set(k, set);
  }
  if (kv.size === 0) return null;
  const get = (k: string) => {
    const s = kv.get(k);
    return s ? [...s] : null;
  };
  return {
    kind: "fixed_ips",
    ipAddress: get("ip_address"),
    subnetId: get("subnet_id"),
    ipAddressSubstr: get("ip_address_substr"),
  };
}

// --- matching -------------------------------------------------------------------------------

type Item = Readonly<Record<string, unknown>>;
type Predicate = (item: Item) => boolean;

function compile(f: Filter): Predicate {
  switch (f.kind) {
    case "match":
      return compileMatch(f.attribute, f.values);
    case "mac_address": {
      const wanted = new Set(f.values);
      return (item) => {
        const v = item.mac_address;
        return typeof v === "string" && wanted.has(v.toLowerCase());
      };
    }
    case "fixed_ips": {
      const ips = f.ipAddress ? new Set(f.ipAddress) : null;
      const subnets = f.subnetId ? new Set(f.subnetId) : null;
      const substrs = f.ipAddressSubstr;
      return (item) => {
        const fips = Array.isArray(item.fixed_ips) ? (item.fixed_ips as unknown[]) : [];
        const pairs = fips.map((x) => {
          const o = (x ?? {}) as Record<string, unknown>;
          return {
            ip: typeof o.ip_address === "string" ? o.ip_address : null,
            subnet: typeof o.subnet_id === "string" ? o.subnet_id : null,
          };
        });
        if (ips && !pairs.some((p) => p.ip !== null && ips.has(p.ip))) return false;
        if (subnets && !pairs.some((p) => p.subnet !== null && subnets.has(p.subnet))) return false;
        if (
          substrs &&
          !pairs.some((p) => p.ip !== null && substrs.some((s) => (p.ip as string).includes(s)))
        ) {
          return false;
        }
        return true;
      };
    }
    case "tags": {
      const wanted = f.tags;
      return (item) => {
        const have = new Set(Array.isArray(item.tags) ? (item.tags as unknown[]) : []);
        switch (f.mode) {
          case "tags":
            return wanted.every((t) => have.has(t));
          case "tags-any":
            return wanted.some((t) => have.has(t));
          case "not-tags":
            return !wanted.every((t) => have.has(t));
          case "not-tags-any":
            return !wanted.some((t) => have.has(t));
        }
        return false;
      };
    }
  }
}

function compileMatch(attribute: string, values: readonly FilterValue[]): Predicate {
  const strs = new Set<string>();
  const bools = new Set<boolean>();
  const nums = new Set<number>();
  for (const v of values) {
    if (typeof v === "boolean") bools.add(v);
    else if (typeof v === "number") nums.add(v);
    else {
      strs.add(v);
      const b = pyBool(v);
      if (b !== null) bools.add(b);
      const t = v.trim();
      if (t !== "" && Number.isFinite(Number(t))) nums.add(Number(t));
    }
  }
  const scalar = (v: unknown): boolean => {
    switch (typeof v) {
      case "string":
        return strs.has(v);
      case "boolean":
        return bools.has(v);
      case "number":
        return nums.has(v);
      default:
        return false;
    }
  };
  return (item) => {
    const v = item[attribute];
    if (Array.isArray(v)) return v.some(scalar);
    return scalar(v);
  };
}

// --- ordering -------------------------------------------------------------------------------

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0;
  switch (typeof v) {
    case "boolean":
      return 1;
    case "number":
      return 2;
    case "string":
      return 3;
    default:
      return 4;
  }
}

/** Python's comparison of attribute values, with None before everything (Neutron's emulated sort). */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
    case 3:
      return (a as number | string) < (b as number | string)
        ? -1
        : (a as number | string) > (b as number | string)
          ? 1
          : 0;
    default: {
      const sa = JSON.stringify(a);
      const sb = JSON.stringify(b);
      return sa < sb ? -1 : sa > sb ? 1 : 0;
    }
  }
}

/** The sort keys in effect: the requested ones, plus `id` asc whenever a page is asked for. */
export function effectiveSorts(q: ListQuery): SortKey[] {
  const sorts = [...q.sorts];
  if (q.limit !== null && !sorts.some((s) => s.key === "id")) sorts.push({ key: "id", dir: "asc" });
  return sorts;
}

interface Decorated<T> {
  item: T;
  key: unknown[];
}

function tupleCompare(sorts: readonly SortKey[]): (a: unknown[], b: unknown[]) => number {
  const sign = sorts.map((s) => (s.dir === "asc" ? 1 : -1));
  return (a, b) => {
    for (let i = 0; i < sign.length; i++) {
      const c = compareValues(a[i], b[i]);
      if (c !== 0) return c * (sign[i] ?? 1);
    }
    return 0;
  };
}

/** The first index whose element satisfies `pred`, `pred` being false then true along `arr`. */
function firstIndex<T>(arr: readonly T[], pred: (x: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(arr[mid] as T)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// --- links ----------------------------------------------------------------------------------

/** Python's urllib.parse.quote_plus. */
export function quotePlus(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.~-]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function urlencode(params: ReadonlyArray<readonly [string, string]>): string {
  return params.map(([k, v]) => `${quotePlus(k)}=${quotePlus(v)}`).join("&");
}

/** webob MultiDict.pop(key): removes the first occurrence only. */
function popFirst(params: Array<[string, string]>, key: string): void {
  const i = params.findIndex(([k]) => k === key);
  if (i >= 0) params.splice(i, 1);
}

/** webob MultiDict[key] = value: removes every occurrence, appends one at the end. */
function setLast(params: Array<[string, string]>, key: string, value: string): Array<[string, string]> {
  const out = params.filter(([k]) => k !== key);
  out.push([key, value]);
  return out;
}

function pageLinks(q: ListQuery, page: ReadonlyArray<{ id: string }>, baseUrl: string): PageLink[] {
  const limit = q.limit ?? 0;
  const links: PageLink[] = [];
  if (!(page.length < limit && !q.pageReverse)) {
    let p = q.params.map(([k, v]) => [k, v] as [string, string]);
    popFirst(p, "marker");
    const lastItem = page[page.length - 1];
    if (lastItem) p = setLast(p, "marker", lastItem.id);
    popFirst(p, "page_reverse");
    links.push({ rel: "next", href: `${baseUrl}?${urlencode(p)}` });
  }
  if (!(page.length < limit && q.pageReverse)) {
    let p = q.params.map(([k, v]) => [k, v] as [string, string]);
    popFirst(p, "marker");
    const first = page[0];
    if (first) p = setLast(p, "marker", first.id);
    p = setLast(p, "page_reverse", "True");
    links.push({ rel: "previous", href: `${baseUrl}?${urlencode(p)}` });
  }
  return links;
}

/** "networks" → "network", "policies" → "policy". */
function singular(collection: string): string {
  if (collection.endsWith("ies")) return `${collection.slice(0, -3)}y`;
  return collection.endsWith("s") ? collection.slice(0, -1) : collection;
}

// --- the whole request ----------------------------------------------------------------------

/**
 * Answers a list request over `items`, the resources the caller may see, in their stored order.
 *
 * Filtering: a filter matches the item's value (any element, for a list value such as
 * `subnets` or `security_groups`); strings compare exactly; a boolean item value matches the
 * strings Neutron converts to it ("true", "True", "1", "yes"…); a number matches its decimal
 * form; null and object values (e.g. `binding:profile`) never match, as in SQL. `fixed_ips`,
 * `mac_address` and the tag filters follow Neutron's special cases.
 *
 * Ordering: stable; by the sort keys, with `id` asc appended when a limit is given, nulls first
 * ascending. Without sort keys and without a limit the stored order is kept.
 *
 * Paging: with a limit, the `limit` items after the marker (before it with page_reverse, still
 * returned in forward order). The marker is looked up among `items` before filtering, as
 * Neutron does, and a marker that is not there is a 404 `<Resource>NotFound`, as Neutron
 * answers for ports. Links follow Neutron exactly: `next` unless a forward page came back
 * short, `previous` unless a reverse page came back short — so a full last page still has a
 * `next` link, which leads to an empty page.
 *
 * Projection (`fields`) comes last; items are returned as given (not copied) without it.
 * O(n log n) in the number of items.
 */
export function applyListQuery<T extends { id: string }>(
  items: readonly T[],
  q: ListQuery,
  links: { collection: string; baseUrl: string },
): ListResult<T> {
  let markerItem: T | undefined;
  if (q.limit !== null && q.marker !== null) {
    markerItem = items.find((i) => i.id === q.marker);
    if (!markerItem) throw notFound(singular(links.collection), q.marker);
  }

  const preds = q.filters.map(compile);
  const kept =
    preds.length > 0 ? items.filter((it) => preds.every((p) => p(it as unknown as Item))) : [...items];

  let page: T[] = kept;
  const sorts = effectiveSorts(q);
  if (sorts.length > 0) {
    const keyOf = (it: T) => sorts.map((s) => (it as unknown as Item)[s.key]);
    const cmp = tupleCompare(sorts);
    const decorated: Array<Decorated<T>> = kept.map((item) => ({ item, key: keyOf(item) }));
    decorated.sort((a, b) => cmp(a.key, b.key));
    let slice = decorated;
    if (q.limit !== null) {
      const limit = q.limit;
      let start: number;
      let end: number;
      if (markerItem) {
        const mk = keyOf(markerItem);
        if (q.pageReverse) {
          end = firstIndex(decorated, (d) => cmp(d.key, mk) >= 0);
          start = Math.max(0, end - limit);
        } else {
          start = firstIndex(decorated, (d) => cmp(d.key, mk) > 0);
          end = start + limit;
        }
      } else if (q.pageReverse) {
        end = decorated.length;
        start = Math.max(0, end - limit);
      } else {
        start = 0;
        end = limit;
      }
      slice = decorated.slice(start, end);
    }
    page = slice.map((d) => d.item);
  }

  const result: ListResult<T> = { items: project(page, q.fields) };
  if (q.limit !== null) result.links = pageLinks(q, page, links.baseUrl);
  return result;
}

function project<T>(page: T[], fields: readonly string[] | null): Array<Partial<T>> {
  if (fields === null) return page;
  const wanted = new Set(fields);
  return page.map((item) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(item as object)) if (wanted.has(k)) out[k] = v;
    return out as Partial<T>;
  });
}

/** The response body: `{"<collection>": [...], "<collection>_links": [...]}`. */
export function listBody<T>(collection: string, result: ListResult<T>): Record<string, unknown> {
  const body: Record<string, unknown> = { [collection]: result.items };
  if (result.links && result.links.length > 0) body[`${collection}_links`] = result.links;
  return body;
}
