// Who is working on an attachment right now: "pid:starttime" of a live process. A crashed
// process's half-done work is recognised by its owner no longer existing (the start time
// guards against pid reuse), which is what lets gc tell in-progress work from leftovers.

import { readFileSync } from "node:fs";

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if no such process. */
function startTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after it.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  if (rest[0] === "Z") return undefined;
  return rest[19];
}

let self: string | undefined;

/** This process, as an owner string. */
export function selfOwner(): string {
  if (!self) self = `${process.pid}:${startTime(process.pid) ?? "0"}`;
  return self;
}

/** Whether the process named by `owner` ("pid:starttime") still runs. */
export function ownerAlive(owner: string | undefined): boolean {
  if (!owner) return false;
  const [pid, start] = owner.split(":");
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  const now = startTime(n);
  return now !== undefined && now === start;
}
