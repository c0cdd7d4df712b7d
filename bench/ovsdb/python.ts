// Runs the Python baseline (bench/ovsdb/python_baseline.py, from the source tree: it is not
// compiled into dist/) and reads the one JSON line it prints.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { LatencySummary } from "../common.js";
import { PREFIX, SWITCH } from "./workload.js";

/** The Debian interpreter: it has the `ovs` module (python3-openvswitch); the python3 on PATH may not. */
export const PYTHON = "/usr/bin/python3";

export interface PythonResult {
  client: "python-ovs" | "ovn-nbctl";
  ovs_version: string;
  ports: number;
  inflight: number;
  method: string;
  wall_s: number;
  tx_per_s: number;
  lat_ms: LatencySummary;
  errors: number;
}

export interface PythonRun {
  result: PythonResult;
  /** CPU used by the script and everything it waited for (ovn-nbctl processes), from our rusage of children. */
  cpuS: number;
}

/** user + system CPU of this process's waited-for children so far (cutime + cstime), in seconds. */
function childrenCpuS(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "(comm)": state is field 3, so cutime (16) and cstime (17) are at 13 and 14 here.
  return (Number(f[13]) + Number(f[14])) / 100;
}

export function baselineScript(repoRoot: string): string {
  return path.join(repoRoot, "bench", "ovsdb", "python_baseline.py");
}

/** `python_baseline.py --remote R --ports N --inflight K` or `--nbctl-sample S`. Rejects on any failure. */
export function runPythonBaseline(
  repoRoot: string,
  remote: string,
  mode: { ports: number; inflight: number } | { nbctlSample: number },
): Promise<PythonRun> {
  const args = [baselineScript(repoRoot), "--remote", remote, "--switch", SWITCH, "--prefix", PREFIX];
  if ("nbctlSample" in mode) args.push("--nbctl-sample", String(mode.nbctlSample));
  else args.push("--ports", String(mode.ports), "--inflight", String(mode.inflight));
  const cmd = `${PYTHON} ${args.join(" ")}`;

  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuS();
    const child = spawn(PYTHON, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 65_536) stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const cpuS = childrenCpuS() - cpu0;
      if (code !== 0) {
        reject(
          new Error(
            `${cmd} failed (${signal ? `killed by ${signal}` : `exit ${String(code)}`})` +
              `${stderr.trim() ? `:\n  ${stderr.trim().split("\n").join("\n  ")}` : ""}`,
          ),
        );
        return;
      }
      const line = stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("{"))
        .pop();
      try {
        if (!line) throw new Error("no JSON line on stdout");
        const result = JSON.parse(line) as PythonResult;
        if (result.errors !== 0 || typeof result.wall_s !== "number" || !result.lat_ms)
          throw new Error(`unexpected result ${line}`);
        resolve({ result, cpuS });
      } catch (e) {
        reject(new Error(`${cmd}: ${(e as Error).message}; stdout: ${stdout.slice(0, 500)}`));
      }
    });
  });
}
