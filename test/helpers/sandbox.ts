// Helpers for tests that run a real sandbox: temp directories, the CLI as a child process,
// and "nothing of this sandbox is left on the host" as one assertion.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { access, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { allDaemonsOf, livePid } from "../../src/sandbox/daemons.js";
import { knownVms, sandboxMounts, strayProcesses } from "../../src/sandbox/down.js";
import { layout } from "../../src/sandbox/layout.js";
import { listNetns } from "../../src/sandbox/ovs.js";

/** dist/src/cli/main.js, next to the compiled test. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

/** A fresh directory under /tmp (short: unix socket paths live under it). */
export function sandboxTempDir(tag: string): Promise<string> {
  return mkdtemp(`/tmp/ovd-${tag}-`);
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `ovn-docker ARGS` to completion. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Start `ovn-docker ARGS` and resolve once a line of its stdout matches `until` (with the
 * child still running), so that a test can kill it part way.
 */
export function spawnCliUntil(
  args: string[],
  until: RegExp,
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no line matching ${until} within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = (d: string) => {
      out += d;
      if (until.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before a line matching ${until}; output:\n${out}`));
    });
  });
}

/** What of the sandbox in `dir` is still on the host (empty when nothing). */
export async function leftovers(dir: string): Promise<string[]> {
  const l = layout(dir);
  const out: string[] = [];
  for (const ns of await listNetns(`ovd-${l.hash}-`)) out.push(`netns ${ns}`);
  for (const p of await strayProcesses(l)) out.push(`process ${p.pid} (${p.what})`);
  const vms = await knownVms(l);
  for (const engine of ["docker", "podman"] as const) {
    for (const d of await allDaemonsOf(l, vms, engine)) {
      const pid = await livePid(l, d);
      if (pid) out.push(`${d.name} pid ${pid}`);
    }
  }
  for (const m of await sandboxMounts(l)) out.push(`mount ${m}`);
  try {
    await access(l.hostRunRoot);
    out.push(`directory ${l.hostRunRoot}`);
  } catch {}
  return [...new Set(out)];
}

export async function assertNothingLeft(dir: string): Promise<void> {
  assert.deepEqual(await leftovers(dir), [], `leftovers of the sandbox in ${dir}`);
}
