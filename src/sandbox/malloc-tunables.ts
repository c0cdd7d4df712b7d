// glibc malloc settings for the ovsdb-servers the project starts (sandbox, tests, benchmarks).
//
// ovsdb-server copies a column's whole value when a transaction changes it: adding one port to a
// switch with 50,000 ports clones, diffs and frees arrays of 50,000 uuids (~800 KB each). glibc
// serves blocks that big with mmap and gives them back with munmap, or trims the heap's top once
// that much is free, so every transaction faults in fresh zeroed pages, and page faults are costly
// in a VM (measured here, OVS 3.1, one single-port transaction at a time on a 50,000-port switch:
// 3.9-5.8 ms per transaction, of which ~25 % in the hypervisor's fault path and ~27 % in memmove).
// Serving such blocks from the heap (mmap threshold at glibc's maximum, 32 MiB) and keeping up to
// 256 MiB of freed heap for reuse brings that to 0.83 ms; either setting alone does not help.
// docs/operations.md has the numbers and the advice for NB servers run elsewhere.

/** The GLIBC_TUNABLES value given to ovsdb-server. */
export const OVSDB_MALLOC_TUNABLES =
  "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";

/**
 * `env` for an ovsdb-server process: with OVSDB_MALLOC_TUNABLES, unless the environment already
 * sets GLIBC_TUNABLES (then the operator's choice stands, whole).
 */
export function ovsdbServerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.GLIBC_TUNABLES !== undefined) return env;
  return { ...env, GLIBC_TUNABLES: OVSDB_MALLOC_TUNABLES };
}
