// DIR/sandbox.json: what `up` decided and learned (ports, the tenant's mgmt network, each VM's
// port), written as soon as it is known so that a later process can find everything, even
// after `up` died half way. Passwords are not in it: they stay in DIR/server/credentials.json
// (mode 0600), which `server init` produced.

import { readFile, rename, writeFile } from "node:fs/promises";
import type { Layout } from "./layout.js";

export type Engine = "docker" | "podman";
export const ENGINES: readonly Engine[] = ["docker", "podman"];

export interface VmState {
  name: string;
  netns: string;
  /** The VM's port on mgmt: its id is the VM's vif-id (iface-id on br-int). */
  vifId?: string;
  mac?: string;
  ip?: string;
  /** The prefix length of the mgmt subnet. */
  prefixLen?: number;
  /** The veth end on br-int, in the hypervisor's netns. */
  hvIface?: string;
}

export interface SandboxState {
  version: 1;
  dir: string;
  hash: string;
  /** "starting" while `up` runs, "up" when it finished. */
  phase: "starting" | "up";
  engine: Engine;
  startedAt: string;
  /** Who ran `up` (pid), for messages. */
  upPid: number;
  ports: { nb: number; sb: number; api: number };
  chassis: string;
  mgmt?: { networkId: string; subnetId: string; cidr: string; gateway?: string };
  vms: VmState[];
  timings?: Record<string, number>;
}

export async function readState(l: Layout): Promise<SandboxState | undefined> {
  let text: string;
  try {
    text = await readFile(l.stateFile, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const s = JSON.parse(text) as SandboxState;
  if (s.version !== 1) throw new Error(`${l.stateFile}: unknown version ${String(s.version)}`);
  return s;
}

/** Atomic replace (write a temp file, rename), so a reader never sees half a file. */
export async function writeState(l: Layout, s: SandboxState): Promise<void> {
  const tmp = `${l.stateFile}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`);
  await rename(tmp, l.stateFile);
}
