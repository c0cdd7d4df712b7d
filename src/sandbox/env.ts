// The environment of a tenant inside a sandbox VM: OpenStack credentials of user "demo", the
// VM's container engine, its Open vSwitch and vif-id, and a PATH where `ovn-docker` is this
// build and `docker` is Debian's /usr/bin/docker. One function, used by `sandbox exec`,
// `sandbox shell` and the programmatic API alike.

import * as fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DOCKER, engineEnv } from "./engines.js";
import type { Layout, VmLayout } from "./layout.js";
import type { Engine, VmState } from "./state.js";

/** dist/src/cli/main.js of this build. */
export const CLI_MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
/** dist/src/cni/main.js of this build. */
export const CNI_MAIN = fileURLToPath(new URL("../cni/main.js", import.meta.url));

export interface Creds {
  username: string;
  password: string;
  projectName: string;
  projectId: string;
  userDomainName: string;
  projectDomainName: string;
}

export interface VmEnvInput {
  layout: Layout;
  vm: VmLayout;
  state: VmState;
  engine: Engine;
  authUrl: string;
  creds: Creds;
  /** The PATH to extend; default process.env.PATH. */
  basePath?: string;
}

export function vmEnv(i: VmEnvInput): Record<string, string> {
  const base =
    i.basePath ?? process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  return {
    OS_AUTH_URL: i.authUrl,
    OS_USERNAME: i.creds.username,
    OS_PASSWORD: i.creds.password,
    OS_PROJECT_NAME: i.creds.projectName,
    OS_USER_DOMAIN_NAME: i.creds.userDomainName,
    OS_PROJECT_DOMAIN_NAME: i.creds.projectDomainName,
    OS_IDENTITY_API_VERSION: "3",
    ...engineEnv(i.vm, i.engine),
    OVN_DOCKER_OVSDB: i.vm.remote,
    OVN_DOCKER_BRIDGE: "br-vm",
    OVN_DOCKER_UPLINK: "eth0",
    OVN_DOCKER_STATE_DIR: i.vm.agentDir,
    OVN_DOCKER_ENGINE: i.engine,
    OVN_DOCKER_VIF_ID: i.state.vifId ?? "",
    OVN_DOCKER_SANDBOX: i.layout.dir,
    OVN_DOCKER_VM: i.vm.name,
    PATH: [i.layout.bin, ...base.split(":").filter((p) => p && p !== i.layout.bin)].join(":"),
  };
}

/**
 * DIR/bin/ovn-docker (runs this build with this node), DIR/bin/docker -> /usr/bin/docker
 * (an unrelated newer client sits in /usr/local/bin), DIR/cni-bin/ovn-cni for podman.
 */
export async function writeBinDir(l: Layout): Promise<void> {
  await fsp.mkdir(l.bin, { recursive: true });
  await fsp.mkdir(l.cniBin, { recursive: true });
  const sh = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const wrapper = (main: string) => `#!/bin/sh\nexec ${sh(process.execPath)} ${sh(main)} "$@"\n`;
  await fsp.writeFile(path.join(l.bin, "ovn-docker"), wrapper(CLI_MAIN), { mode: 0o755 });
  await fsp.writeFile(path.join(l.cniBin, "ovn-cni"), wrapper(CNI_MAIN), { mode: 0o755 });
  await fsp.rm(path.join(l.bin, "docker"), { force: true });
  await fsp.symlink(DOCKER, path.join(l.bin, "docker"));
}
