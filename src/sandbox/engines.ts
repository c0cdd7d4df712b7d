// The container engine inside each sandbox VM: Debian's dockerd (one per VM, own socket, data
// root, exec root and containerd namespaces) or podman (no daemon: per-VM containers.conf and
// storage.conf). Both get the local image localhost/busybox:latest, built from busybox-static.
// Each dockerd has a mount namespace of its own where /run/docker/plugins is the VM's
// DIR/vmN/docker-plugins, so each VM can have its own network plugin "ovn".
//
// Facts (reference/container-runtimes.md): daemons go into a netns with `nsenter --net=` (`ip
// netns exec` remounts /sys and hides the cgroup tree); root lacks CAP_SYS_RESOURCE, so podman's
// container rlimits must stay <= nofile 20000 / nproc 32768; crun refuses this host's hybrid
// cgroups, runc works. /usr/local/bin/docker is an unrelated newer client: we use /usr/bin/docker.

import * as fsp from "node:fs/promises";
import path from "node:path";
import type { Layout, VmLayout } from "./layout.js";
import { inNetns } from "./ovs.js";
import { isAlive, logTail, readPidFile, run, runResult, SandboxError, spawnDaemon, waitFor } from "./proc.js";
import type { Engine } from "./state.js";

export const DOCKER = "/usr/bin/docker";
/** Debian's dockerd; OVN_DOCKER_SANDBOX_DOCKERD names another (a wrapper, a newer build). */
export const DOCKERD = process.env.OVN_DOCKER_SANDBOX_DOCKERD || "/usr/sbin/dockerd";
export const PODMAN = "/usr/bin/podman";
export const BUSYBOX = "/bin/busybox";
export const IMAGE = "localhost/busybox:latest";

/** The environment that points docker / podman at this VM's engine. */
export function engineEnv(vm: VmLayout, engine: Engine): Record<string, string> {
  return engine === "docker"
    ? { DOCKER_HOST: vm.dockerHost }
    : { CONTAINERS_CONF: vm.containersConf, CONTAINERS_STORAGE_CONF: vm.storageConf };
}

/** A minimal rootfs (busybox-static and its applet links) as a tar, built once per sandbox. */
export async function buildImageTar(l: Layout): Promise<string> {
  const root = path.join(l.images, "rootfs");
  await fsp.rm(root, { recursive: true, force: true });
  for (const d of [
    "bin",
    "sbin",
    "etc",
    "proc",
    "sys",
    "dev",
    "tmp",
    "root",
    "var",
    "run",
    "usr/bin",
    "usr/sbin",
  ])
    await fsp.mkdir(path.join(root, d), { recursive: true });
  await fsp.copyFile(BUSYBOX, path.join(root, "bin/busybox"));
  await fsp.chmod(path.join(root, "bin/busybox"), 0o755);
  const applets = (await run([BUSYBOX, "--list"])).split("\n").filter((a) => a && a !== "busybox");
  await Promise.all(applets.map((a) => fsp.symlink("/bin/busybox", path.join(root, "bin", a))));
  await fsp.writeFile(path.join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await fsp.writeFile(path.join(root, "etc/group"), "root:x:0:\n");
  await fsp.chmod(path.join(root, "tmp"), 0o1777);
  await run(["tar", "-C", root, "-cf", l.imageTar, "."]);
  await fsp.rm(root, { recursive: true, force: true });
  return l.imageTar;
}

// ---- docker -------------------------------------------------------------------------------

/** Where dockerd looks for legacy plugin sockets (NAME.sock); no flag moves it. */
export const DOCKER_PLUGINS_DIR = "/run/docker/plugins";

/**
 * argv that runs `argv` in a mount namespace of its own where the VM's plugin directory is
 * bind-mounted onto /run/docker/plugins. Every exec keeps the pid (nsenter and unshare without
 * --fork, `exec` in sh), so the pid spawned is the daemon's own. Propagation "slave": mounts of
 * the root namespace (a netns deleted by `down`) still reach it, while nothing mounted in it
 * (the plugin directory, dockerd's overlays and netns files) shows in the root namespace.
 */
export function withOwnPluginsDir(vm: VmLayout, argv: readonly string[]): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "slave",
    "--",
    "sh",
    "-c",
    `mount --bind "$0" ${DOCKER_PLUGINS_DIR} && exec "$@"`,
    vm.dockerPluginsDir,
    ...argv,
  ];
}

/**
 * dockerd inside the VM's netns and in a private mount namespace (withOwnPluginsDir); resolves
 * once `docker version` answers through its socket.
 */
export async function startDockerd(vm: VmLayout): Promise<number> {
  await fsp.mkdir(vm.dockerData, { recursive: true });
  await fsp.mkdir(vm.runRoot, { recursive: true });
  await fsp.mkdir(vm.dockerPluginsDir, { recursive: true });
  await fsp.mkdir(DOCKER_PLUGINS_DIR, { recursive: true, mode: 0o700 }); // the mount point
  await fsp.writeFile(vm.dockerConfig, "{}\n"); // not /etc/docker/daemon.json
  const pid = spawnDaemon(
    inNetns(
      vm.netns,
      withOwnPluginsDir(vm, [
        DOCKERD,
        "--host",
        vm.dockerHost,
        "--config-file",
        vm.dockerConfig,
        "--data-root",
        vm.dockerData,
        "--exec-root",
        vm.runRoot,
        "--pidfile",
        path.join(vm.runRoot, "dockerd.pid"),
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--userland-proxy=false",
        "--shutdown-timeout=3",
        "--containerd-namespace",
        vm.containerdNamespace,
        "--containerd-plugins-namespace",
        `${vm.containerdNamespace}-plugins`,
      ]),
    ),
    { logFile: vm.dockerdLog, pidFile: vm.dockerdPid },
  );
  await waitFor(
    `${vm.name} dockerd`,
    async () => {
      if (!(await isAlive(pid)))
        throw new SandboxError(
          `${vm.name} dockerd: exited`,
          `${vm.name} dockerd`,
          vm.dockerdLog,
          await logTail(vm.dockerdLog),
        );
      return (await dockerAnswers(vm)) !== undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 50,
      onTimeout: async () =>
        new SandboxError(
          `${vm.name} dockerd: no answer on ${vm.dockerSock} after 30 s`,
          `${vm.name} dockerd`,
          vm.dockerdLog,
          await logTail(vm.dockerdLog),
        ),
    },
  );
  return pid;
}

/** The server version when `docker version` answers, else undefined. */
export async function dockerAnswers(vm: VmLayout): Promise<string | undefined> {
  const r = await runResult([DOCKER, "-H", vm.dockerHost, "version", "--format", "{{.Server.Version}}"], {
    timeoutMs: 5_000,
  });
  return r.code === 0 ? r.stdout.trim() || "?" : undefined;
}

// ---- podman -------------------------------------------------------------------------------

/** containers.conf and storage.conf for this VM: runc, rlimits this host allows, state under DIR. */
export async function configurePodman(l: Layout, vm: VmLayout): Promise<void> {
  const graph = path.join(vm.dir, "podman");
  await fsp.mkdir(graph, { recursive: true });
  await fsp.mkdir(vm.cniConfDir, { recursive: true });
  await fsp.mkdir(vm.runRoot, { recursive: true });
  const q = (s: string) => JSON.stringify(s);
  await fsp.writeFile(
    vm.containersConf,
    [
      `# podman of sandbox VM ${vm.name}; written by ovn-docker sandbox up`,
      "[containers]",
      "# root here lacks CAP_SYS_RESOURCE: container rlimits must be <= these",
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      "",
      "[engine]",
      "# crun refuses this host's hybrid cgroups; runc works",
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${q(vm.podmanEventsLog)}`,
      `tmp_dir = ${q(path.join(vm.runRoot, "libpod"))}`,
      "# static_dir and volume_path stay at their defaults (under graphroot): a static_dir set",
      '# here makes every `podman run` wait 20 s for "conmon timeout" (podman 4.3, measured)',
      "",
      "[network]",
      'network_backend = "cni"',
      `cni_plugin_dirs = [${q(l.cniBin)}, "/usr/lib/cni", "/usr/libexec/cni"]`,
      `network_config_dir = ${q(vm.cniConfDir)}`,
      "",
    ].join("\n"),
  );
  await fsp.writeFile(
    vm.storageConf,
    [
      "[storage]",
      'driver = "overlay"',
      `graphroot = ${q(path.join(graph, "storage"))}`,
      `runroot = ${q(path.join(vm.runRoot, "storage"))}`,
      "",
    ].join("\n"),
  );
}

/** Run podman for this VM (inside its netns, with its configuration). */
export function podman(vm: VmLayout, args: readonly string[], timeoutMs = 60_000) {
  return runResult(inNetns(vm.netns, [PODMAN, ...args]), {
    timeoutMs,
    env: { ...process.env, ...engineEnv(vm, "podman") },
  });
}

// ---- both -----------------------------------------------------------------------------------

export async function importImage(vm: VmLayout, engine: Engine, tar: string): Promise<void> {
  const args = ["import", "--change", 'CMD ["sh"]', tar, IMAGE];
  if (engine === "docker") {
    await run([DOCKER, "-H", vm.dockerHost, ...args], { timeoutMs: 60_000 });
  } else {
    const r = await podman(vm, ["import", "--quiet", ...args.slice(1)]);
    if (r.code !== 0) throw new SandboxError(`${vm.name}: podman import failed: ${r.stderr.trim()}`);
  }
}

/**
 * Remove every container of this VM's engine (before its daemon stops: dockerd would otherwise
 * wait for each to stop, and their mounts would stay). Best effort; returns what it could not do.
 */
export async function removeContainers(vm: VmLayout, engine: Engine): Promise<string | undefined> {
  if (engine === "docker") {
    const pid = await readPidFile(vm.dockerdPid);
    if (!pid || !(await isAlive(pid))) return undefined;
    const ps = await runResult([DOCKER, "-H", vm.dockerHost, "ps", "-aq"], { timeoutMs: 10_000 });
    if (ps.code !== 0) return `docker ps: ${ps.stderr.trim()}`;
    const ids = ps.stdout.split("\n").filter(Boolean);
    if (ids.length === 0) return undefined;
    const rm = await runResult([DOCKER, "-H", vm.dockerHost, "rm", "-f", ...ids], { timeoutMs: 30_000 });
    return rm.code === 0 ? undefined : `docker rm -f: ${rm.stderr.trim()}`;
  }
  try {
    await fsp.access(vm.storageConf);
    await fsp.access(vm.netnsPath);
  } catch {
    return undefined; // never configured, or the VM is gone already (the sweep handles leftovers)
  }
  const r = await podman(vm, ["rm", "--all", "--force", "--time", "0"], 30_000);
  return r.code === 0 ? undefined : `podman rm --all --force: ${r.stderr.trim()}`;
}
