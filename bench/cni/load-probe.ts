// Run by bench/cni as its own node process: how long loading ovn-cni's modules takes, split as
// src/cni/main.ts loads them (its static imports, which VERSION needs too, then the dynamic
// imports of an ADD). Prints one JSON line: {"bootMs", "staticMs", "dynamicMs"}.

const t0 = performance.now();
await Promise.all([import("../../src/cni/config.js"), import("../../src/cni/errors.js")]);
const t1 = performance.now();
await Promise.all([
  import("../../src/agent/agent.js"),
  import("../../src/cni/settings.js"),
  import("../../src/cni/verbs.js"),
]);
const t2 = performance.now();
process.stdout.write(`${JSON.stringify({ bootMs: t0, staticMs: t1 - t0, dynamicMs: t2 - t1 })}\n`);
