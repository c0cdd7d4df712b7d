// Where everything of one sandbox lives, derived from its directory alone, so that `down`,
// `status` and `exec` can find it all from another process, even after a crashed `up`.
//
//   DIR/sandbox.json          state: ports, VMs (port id, MAC, IP), engine, phase
//   DIR/bin/                  ovn-docker (wrapper running this build), docker -> /usr/bin/docker
//   DIR/cni-bin/              ovn-cni (wrapper), for podman's CNI plugin path
//   DIR/log/                  server.log, forward-*.log, up.log
//   DIR/run/                  api.sock (forwarder), server.pid, forward-*.pid
//   DIR/server/               server.yaml, token.key, credentials.json (0600)
//   DIR/central/{run,db,log}  NB + SB ovsdb-server, ovn-northd
//   DIR/hv/{run,db,log}       the hypervisor's ovsdb-server, ovs-vswitchd, ovn-controller
//   DIR/images/               busybox-rootfs.tar
//   DIR/vmN/{run,db,log}      the VM's ovsdb-server + ovs-vswitchd (run/db.sock), dockerd.pid
//   DIR/vmN/docker/           dockerd's data root (docker) / podman's graph root (podman)
//   DIR/vmN/agent/            OVN_DOCKER_STATE_DIR
//   DIR/vmN/docker-plugins/   the VM's Docker plugin sockets: /run/docker/plugins for its dockerd only
//   DIR/vmN/run/spawned/      pid files of processes started with Sandbox.spawnInVm (NAME.pid)
//
// Names that are global on the host carry a short hash of the absolute DIR, so two sandboxes
// in different directories never collide: netns ovd-<h>-hv and ovd-<h>-vmN, exec roots and
// run roots under /run/ovd-<h>/, containerd namespaces ovd-<h>-vmN, chassis ovd-<h>-hv.

import { createHash } from "node:crypto";
import path from "node:path";

export const DEFAULT_DIR = "/tmp/ovn-docker-sandbox";
export const STATE_FILE = "sandbox.json";
export const NETNS_PREFIX = "ovd-";
export const VM_NAME = /^vm([1-9][0-9]?)$/;
export const MAX_VMS = 64;

/** The first 6 hex digits of sha256(absolute dir). */
export function dirHash(dir: string): string {
  return createHash("sha256").update(path.resolve(dir)).digest("hex").slice(0, 6);
}

/** The files and names of one OVS instance (ovsdb-server + ovs-vswitchd) under `dir`. */
export interface OvsLayout {
  dir: string;
  run: string;
  db: string;
  log: string;
  dbFile: string;
  sock: string;
  remote: string;
  ovsdbPid: string;
  ovsdbCtl: string;
  ovsdbLog: string;
  vswitchdPid: string;
  vswitchdCtl: string;
  vswitchdLog: string;
}

export function ovsLayout(dir: string): OvsLayout {
  const run = path.join(dir, "run");
  const db = path.join(dir, "db");
  const log = path.join(dir, "log");
  return {
    dir,
    run,
    db,
    log,
    dbFile: path.join(db, "conf.db"),
    sock: path.join(run, "db.sock"),
    remote: `unix:${path.join(run, "db.sock")}`,
    ovsdbPid: path.join(run, "ovsdb-server.pid"),
    ovsdbCtl: path.join(run, "ovsdb-server.ctl"),
    ovsdbLog: path.join(log, "ovsdb-server.log"),
    vswitchdPid: path.join(run, "ovs-vswitchd.pid"),
    vswitchdCtl: path.join(run, "ovs-vswitchd.ctl"),
    vswitchdLog: path.join(log, "ovs-vswitchd.log"),
  };
}

export interface VmLayout extends OvsLayout {
  name: string;
  index: number;
  netns: string;
  netnsPath: string;
  /** Exec root / run root for the container engine: /run/ovd-<h>/vmN (short: socket paths). */
  runRoot: string;
  dockerSock: string;
  dockerHost: string;
  dockerData: string;
  dockerdPid: string;
  dockerdLog: string;
  dockerConfig: string;
  containerdNamespace: string;
  /** podman: containers.conf and storage.conf. */
  containersConf: string;
  storageConf: string;
  podmanEventsLog: string;
  cniConfDir: string;
  agentDir: string;
  /**
   * The VM's Docker plugin directory: its dockerd runs in a private mount namespace where this
   * is bind-mounted onto /run/docker/plugins, so a plugin serving DIR/vmN/docker-plugins/ovn.sock
   * is the driver "ovn" of this VM's dockerd only.
   */
  dockerPluginsDir: string;
  /** Pid files of the processes started with Sandbox.spawnInVm: NAME.pid (`down` stops them). */
  spawnedDir: string;
  forwardPid: string;
  forwardLog: string;
}

export interface Layout {
  dir: string;
  hash: string;
  stateFile: string;
  bin: string;
  cniBin: string;
  logDir: string;
  runDir: string;
  upLog: string;
  /** /run/ovd-<h>: exec roots of the VMs' engines. */
  hostRunRoot: string;
  /** Everything a process of ours has on its command line: DIR/ or /run/ovd-<h>/. */
  marks: string[];
  server: {
    dir: string;
    config: string;
    credentials: string;
    pid: string;
    log: string;
  };
  forward: { sock: string; pid: string; log: string };
  central: {
    dir: string;
    run: string;
    db: string;
    log: string;
    nbDb: string;
    sbDb: string;
    nbSock: string;
    sbSock: string;
    nbPid: string;
    sbPid: string;
    nbCtl: string;
    sbCtl: string;
    nbLog: string;
    sbLog: string;
    northdPid: string;
    northdCtl: string;
    northdLog: string;
  };
  hv: OvsLayout & {
    netns: string;
    netnsPath: string;
    chassis: string;
    controllerPid: string;
    controllerLog: string;
  };
  images: string;
  imageTar: string;
  vm(i: number): VmLayout;
}

export function layout(dirArg: string): Layout {
  const dir = path.resolve(dirArg);
  const hash = dirHash(dir);
  const prefix = `${NETNS_PREFIX}${hash}`;
  const hostRunRoot = `/run/${prefix}`;
  const j = (...p: string[]) => path.join(dir, ...p);
  const central = j("central");
  const hvOvs = ovsLayout(j("hv"));
  return {
    dir,
    hash,
    stateFile: j(STATE_FILE),
    bin: j("bin"),
    cniBin: j("cni-bin"),
    logDir: j("log"),
    runDir: j("run"),
    upLog: j("log", "up.log"),
    hostRunRoot,
    marks: [`${dir}/`, `${hostRunRoot}/`],
    server: {
      dir: j("server"),
      config: j("server", "server.yaml"),
      credentials: j("server", "credentials.json"),
      pid: j("run", "server.pid"),
      log: j("log", "server.log"),
    },
    forward: { sock: j("run", "api.sock"), pid: j("run", "forward.pid"), log: j("log", "forward.log") },
    central: {
      dir: central,
      run: path.join(central, "run"),
      db: path.join(central, "db"),
      log: path.join(central, "log"),
      nbDb: path.join(central, "db", "ovnnb_db.db"),
      sbDb: path.join(central, "db", "ovnsb_db.db"),
      nbSock: path.join(central, "run", "ovnnb_db.sock"),
      sbSock: path.join(central, "run", "ovnsb_db.sock"),
      nbPid: path.join(central, "run", "ovnnb_db.pid"),
      sbPid: path.join(central, "run", "ovnsb_db.pid"),
      nbCtl: path.join(central, "run", "ovnnb_db.ctl"),
      sbCtl: path.join(central, "run", "ovnsb_db.ctl"),
      nbLog: path.join(central, "log", "ovsdb-server-nb.log"),
      sbLog: path.join(central, "log", "ovsdb-server-sb.log"),
      northdPid: path.join(central, "run", "ovn-northd.pid"),
      northdCtl: path.join(central, "run", "ovn-northd.ctl"),
      northdLog: path.join(central, "log", "ovn-northd.log"),
    },
    hv: {
      ...hvOvs,
      netns: `${prefix}-hv`,
      netnsPath: `/run/netns/${prefix}-hv`,
      chassis: `${prefix}-hv`,
      controllerPid: path.join(hvOvs.run, "ovn-controller.pid"),
      controllerLog: path.join(hvOvs.log, "ovn-controller.log"),
    },
    images: j("images"),
    imageTar: j("images", "busybox-rootfs.tar"),
    vm(i: number): VmLayout {
      const name = `vm${i}`;
      const vdir = j(name);
      const ovs = ovsLayout(vdir);
      const runRoot = path.join(hostRunRoot, name);
      return {
        ...ovs,
        name,
        index: i,
        netns: `${prefix}-${name}`,
        netnsPath: `/run/netns/${prefix}-${name}`,
        runRoot,
        dockerSock: path.join(vdir, "docker.sock"),
        dockerHost: `unix://${path.join(vdir, "docker.sock")}`,
        dockerData: path.join(vdir, "docker"),
        dockerdPid: path.join(ovs.run, "dockerd.pid"),
        dockerdLog: path.join(ovs.log, "dockerd.log"),
        dockerConfig: path.join(vdir, "daemon.json"),
        containerdNamespace: `${prefix}-${name}`,
        containersConf: path.join(vdir, "containers.conf"),
        storageConf: path.join(vdir, "storage.conf"),
        podmanEventsLog: path.join(ovs.log, "podman-events.log"),
        cniConfDir: path.join(vdir, "cni", "net.d"),
        agentDir: path.join(vdir, "agent"),
        dockerPluginsDir: path.join(vdir, "docker-plugins"),
        spawnedDir: path.join(ovs.run, "spawned"),
        forwardPid: path.join(ovs.run, "forward.pid"),
        forwardLog: path.join(ovs.log, "forward.log"),
      };
    },
  };
}
