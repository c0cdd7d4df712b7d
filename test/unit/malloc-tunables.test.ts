// ovsdb-server gets the project's malloc tunables unless the environment has its own.

import assert from "node:assert/strict";
import { test } from "node:test";
import { OVSDB_MALLOC_TUNABLES, ovsdbServerEnv } from "../../src/sandbox/malloc-tunables.js";

test("ovsdbServerEnv adds both tunables, and leaves an operator's GLIBC_TUNABLES whole", () => {
  assert.equal(ovsdbServerEnv({ PATH: "/bin" }).GLIBC_TUNABLES, OVSDB_MALLOC_TUNABLES);
  assert.match(OVSDB_MALLOC_TUNABLES, /glibc\.malloc\.mmap_threshold=\d+/);
  assert.match(OVSDB_MALLOC_TUNABLES, /glibc\.malloc\.trim_threshold=\d+/);
  assert.equal(ovsdbServerEnv({ GLIBC_TUNABLES: "" }).GLIBC_TUNABLES, "");
  assert.equal(
    ovsdbServerEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }).GLIBC_TUNABLES,
    "glibc.malloc.arena_max=2",
  );
  assert.equal(ovsdbServerEnv({ PATH: "/bin" }).PATH, "/bin");
});
