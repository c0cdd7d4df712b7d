// Containers with networks: `run` (a network sandbox attached and ACTIVE before the application
// starts in its namespace), `rm`, `attach` and `detach` of running containers.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm as rmFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Attachment } from "../vswitch/vswitch.js";
import { type Agent, AgentError, type NetworkInfo } from "./agent.js";
import { attach, detach, finish } from "./attach.js";
import { type ContainerInfo, type Engine, LABEL_ROLE, LABEL_SANDBOX, LABEL_VIF } from "./engine.js";
import { faultPoint } from "./faults.js";
import { gc } from "./gc.js";
import { selfOwner } from "./owner.js";
import { containerLinks } from "./plumbing.js";
import { claimFromPool, refillInBackground } from "./pool.js";
import { trace } from "./trace.js";

/** docker/podman run's short options that take a value (the rest are boolean). */
const SHORT_WITH_VALUE = new Set(["a", "c", "e", "h", "l", "m", "p", "u", "v", "w"]);
/** run's long options that take no value. */
const LONG_BOOLEAN = new Set([
  "detach",
  "rm",
  "init",
  "interactive",
  "tty",
  "privileged",
  "read-only",
  "publish-all",
  "no-healthcheck",
  "oom-kill-disable",
  "disable-content-trust",
  "quiet",
  "help",
  "sig-proxy",
  "replace",
  "rmi",
  "read-only-tmpfs",
  "no-hosts",
  "env-host",
  "http-proxy",
]);

export interface ParsedRunArgs {
  /** The engine's run arguments without any --net/--network option. */
  args: string[];
  detach: boolean;
  removeOnExit: boolean;
  name?: string;
}

/** Finds run's own flags we must know about, and removes `--net=none` (ours replaces it). */
export function parseRunArgs(argv: readonly string[]): ParsedRunArgs {
  const args: string[] = [];
  let detach = false;
  let removeOnExit = false;
  let name: string | undefined;
  let i = 0;
  const netValue = (v: string | undefined) => {
    if (v === undefined) throw new AgentError("run: --net needs a value");
    if (v !== "none") {
      throw new AgentError(
        `run: --net=${v} conflicts with the OVN network: give ovn-docker's --network=NAME before "run" ` +
          "and use --net=none (or no --net) after it",
      );
    }
  };
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break; // the image
    const long = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (long) {
      const key = long[1] as string;
      const inline = long[2];
      if (key === "net" || key === "network") {
        netValue(inline ?? argv[++i]);
        continue;
      }
      if (key === "cidfile")
        throw new AgentError("run: --cidfile is used by ovn-docker itself; leave it out");
      args.push(a);
      if (key === "detach" && inline !== "false") detach = true;
      if (key === "rm" && inline !== "false") removeOnExit = true;
      if (inline === undefined && !LONG_BOOLEAN.has(key)) {
        const v = argv[++i];
        if (v === undefined) throw new AgentError(`run: ${a} needs a value`);
        if (key === "name") name = v;
        args.push(v);
      } else if (key === "name") name = inline;
      continue;
    }
    // short options, possibly combined (-dit) and possibly with an attached value (-eFOO=1)
    args.push(a);
    for (let j = 1; j < a.length; j++) {
      const c = a[j] as string;
      if (c === "d") detach = true;
      if (SHORT_WITH_VALUE.has(c)) {
        if (j === a.length - 1) {
          const v = argv[++i];
          if (v === undefined) throw new AgentError(`run: -${c} needs a value`);
          args.push(v);
        }
        break;
      }
    }
  }
  if (i >= argv.length)
    throw new AgentError(
      "run: no image given (usage: ovn-docker [options] run [ENGINE OPTIONS] IMAGE [CMD...])",
    );
  args.push(...argv.slice(i));
  return { args, detach, removeOnExit, ...(name !== undefined ? { name } : {}) };
}

export interface RunResult {
  appId: string;
  sandboxId: string;
  attachments: Attachment[];
  fromPool: boolean;
  exitCode: number;
}

/** Runs the engine's CLI with our stdio (the user sees what the engine prints). */
function runInherited(engine: Engine, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(engine.bin, args, { stdio: "inherit" });
    child.on("error", (e) => reject(new AgentError(`cannot run ${engine.bin}: ${e.message}`)));
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function sandboxName(): string {
  return `ovn-docker-sandbox-${randomBytes(5).toString("hex")}`;
}

/** Starts a network sandbox owned by this VM, with `networks` attached as eth0, eth1, ... */
export async function createSandbox(
  agent: Agent,
  networks: readonly NetworkInfo[],
  state: "attached" | "pool",
): Promise<{ sandbox: ContainerInfo; attachments: Attachment[] }> {
  const engine = await agent.engine();
  const vifId = await agent.vifId();
  const sandbox = await engine.startSandbox(sandboxName(), {
    [LABEL_ROLE]: "sandbox",
    [LABEL_VIF]: vifId,
    "ovn-docker.owner": selfOwner(),
  });
  trace("sandbox started");
  faultPoint("sandbox-started");
  const attachments: Attachment[] = [];
  try {
    for (const [n, network] of networks.entries()) {
      attachments.push(
        await attach(agent, {
          network,
          container: { id: sandbox.id, pid: sandbox.pid },
          ifname: `eth${n}`,
          state,
          portName: state === "pool" ? "pool" : sandbox.name,
          // `run` stays the owner until the application container is recorded.
          keepOwner: state === "attached",
        }),
      );
    }
    return { sandbox, attachments };
  } catch (e) {
    const vs = await agent.vswitch();
    for (const a of attachments) await detach(agent, vs, a).catch(() => undefined);
    await engine.remove(sandbox.id);
    throw e;
  }
}

/** The seed's `run`: the container starts only once its network is ready. */
export async function runContainer(
  agent: Agent,
  networks: readonly string[],
  argv: readonly string[],
): Promise<RunResult> {
  if (networks.length === 0) throw new AgentError('run: no network given: use --network=NAME before "run"');
  trace("run");
  const parsed = parseRunArgs(argv);
  const engine = await agent.engine();
  const vs = await agent.vswitch();
  await vs.checkBridge();
  // Half-done work of processes that died (one OVSDB read when there is none).
  await gc(agent, { cheap: true });

  // A ready network sandbox from the pool (no API round trip), else a new one.
  let fromPool = false;
  let sandboxId: string;
  let attachments: Attachment[];
  const pooled = networks.length === 1 ? await claimFromPool(agent, networks[0] as string) : undefined;
  if (pooled) {
    fromPool = true;
    sandboxId = pooled.container as string;
    attachments = [pooled];
  } else {
    const infos: NetworkInfo[] = [];
    for (const n of networks) infos.push(await agent.network(n));
    const created = await createSandbox(agent, infos, "attached");
    sandboxId = created.sandbox.id;
    attachments = created.attachments;
  }

  const undoAll = async () => {
    for (const a of attachments) await detach(agent, vs, a).catch(() => undefined);
    await engine.remove(sandboxId).catch(() => undefined);
  };

  const dir = await mkdtemp(path.join(tmpdir(), "ovn-docker-run-"));
  const cidfile = path.join(dir, "cid");
  let code: number;
  try {
    code = await runInherited(engine, [
      "run",
      `--net=container:${sandboxId}`,
      "--label",
      `${LABEL_SANDBOX}=${sandboxId}`,
      "--label",
      `${LABEL_VIF}=${await agent.vifId()}`,
      "--cidfile",
      cidfile,
      ...parsed.args,
    ]);
    const appId = (await readFile(cidfile, "utf8").catch(() => "")).trim();
    if (!appId) {
      await undoAll();
      throw new AgentError(`${engine.kind} run failed (exit ${code}); nothing was left attached`);
    }
    if (code !== 0 && parsed.detach) {
      await engine.remove(appId);
      await undoAll();
      throw new AgentError(
        `${engine.kind} run failed (exit ${code}); the container and its network were removed`,
      );
    }
    trace("application started");
    faultPoint("app-started");
    for (const a of attachments) await finish(vs, a.tag, { app: appId, owner: null });
    if (parsed.detach) {
      const info = await engine.inspectOne(appId);
      if (info && !info.running && (info.exitCode ?? 0) !== 0) {
        const logs = await engine.cli(["logs", "--tail", "3", appId], "reading its logs").catch(() => "");
        await engine.remove(appId);
        await undoAll();
        throw new AgentError(
          `container ${appId.slice(0, 12)} exited at once with code ${info.exitCode}` +
            `${logs.trim() ? `: ${logs.trim().split("\n").join(" | ")}` : ""}; it was removed with its network`,
        );
      }
    } else if (parsed.removeOnExit) {
      await undoAll();
    }
    if (fromPool) refillInBackground(agent, attachments[0]?.networkId as string);
    return { appId, sandboxId, attachments, fromPool, exitCode: code };
  } finally {
    await rmFile(dir, { recursive: true, force: true });
  }
}

/** The container whose network namespace `info` uses (its sandbox, or itself). */
async function namespaceOwner(engine: Engine, info: ContainerInfo): Promise<ContainerInfo> {
  const sb = info.labels[LABEL_SANDBOX];
  const viaMode = info.networkMode.startsWith("container:")
    ? info.networkMode.slice("container:".length)
    : undefined;
  const ref = sb ?? viaMode;
  if (!ref) return info;
  const owner = await engine.inspectOne(ref);
  if (!owner)
    throw new AgentError(`container ${info.name} shares the network of ${ref}, which no longer exists`);
  return owner;
}

/**
 * The attachments recorded for a container (by id or name), whether or not it still exists, and
 * the container owning its network namespace (its sandbox: named by our label, no engine call).
 */
async function attachmentsOf(
  agent: Agent,
  ref: string,
): Promise<{ info?: ContainerInfo; ownerId?: string; sandboxId?: string; atts: Attachment[] }> {
  const engine = await agent.engine();
  const vs = await agent.vswitch();
  const [all, info] = await Promise.all([vs.list(), engine.inspectOne(ref)]);
  if (!info) {
    // Only the CLI's own: CNI containers and Docker endpoints belong to their runtimes.
    const atts = all.filter(
      (a) => (a.via ?? "cli") === "cli" && (a.app?.startsWith(ref) || a.container?.startsWith(ref)),
    );
    return { atts };
  }
  const sandboxId = info.labels[LABEL_SANDBOX];
  const ownerId =
    sandboxId ??
    (info.networkMode.startsWith("container:") ? (await namespaceOwner(engine, info)).id : info.id);
  return {
    info,
    ownerId,
    ...(sandboxId ? { sandboxId } : {}),
    atts: all.filter((a) => (a.via ?? "cli") === "cli" && (a.container === ownerId || a.app === info.id)),
  };
}

/** `rm CONTAINER`: the container, its network sandbox, its ports, veths and tags. Idempotent. */
export async function removeContainer(
  agent: Agent,
  ref: string,
): Promise<{ found: boolean; detached: number }> {
  const engine = await agent.engine();
  const vs = await agent.vswitch();
  const { info, sandboxId, atts } = await attachmentsOf(agent, ref);
  trace("rm: found");
  const containers = new Set<string>();
  if (info) containers.add(info.id);
  if (sandboxId) containers.add(sandboxId);
  // Sandboxes of attachments whose application container is gone: ours only (by their label).
  const others = [
    ...new Set(atts.map((a) => a.container).filter((c): c is string => !!c && !containers.has(c))),
  ];
  for (const c of await engine.inspect(others)) if (c.labels[LABEL_ROLE] === "sandbox") containers.add(c.id);
  // The containers go (one engine call) while the network is taken apart; the veth vanishes with
  // the sandbox's namespace, which unplumb tolerates.
  await Promise.all([
    engine.removeAll([...containers]),
    (async () => {
      for (const a of atts) await detach(agent, vs, a);
    })(),
  ]);
  trace("rm: done");
  return { found: info !== undefined || atts.length > 0, detached: atts.length };
}

/** `attach CONTAINER`: one more network for a running container (eth1, eth2, ...). */
export async function attachContainer(
  agent: Agent,
  ref: string,
  network: string,
  ifname?: string,
): Promise<Attachment> {
  const engine = await agent.engine();
  const info = await engine.inspectOne(ref);
  if (!info) throw new AgentError(`no such container: ${ref}`);
  const owner = await namespaceOwner(engine, info);
  if (!owner.running || owner.pid <= 0) {
    throw new AgentError(
      `container ${info.name} is not running: start it first (its network namespace exists only while it runs)`,
    );
  }
  const links = new Set((await containerLinks({ pid: owner.pid })).map((l) => l.ifname));
  let name = ifname;
  if (!name) {
    let n = 0;
    while (links.has(`eth${n}`)) n++;
    name = `eth${n}`;
  } else if (links.has(name)) {
    throw new AgentError(
      `container ${info.name} already has an interface ${name}; choose another with --ifname`,
    );
  }
  const net = await agent.network(network);
  const att = await attach(agent, {
    network: net,
    container: { id: owner.id, pid: owner.pid },
    ifname: name,
    state: "attached",
    portName: info.name,
  });
  if (owner.id !== info.id) await (await agent.vswitch()).update(att.tag, { app: info.id });
  return att;
}

/** `detach CONTAINER`: removes its interfaces on `network` (or `ifname`, or all). Idempotent. */
export async function detachContainer(
  agent: Agent,
  ref: string,
  opts: { network?: string; ifname?: string },
): Promise<number> {
  const vs = await agent.vswitch();
  const { atts } = await attachmentsOf(agent, ref);
  const chosen = atts.filter(
    (a) =>
      (opts.ifname === undefined || a.ifname === opts.ifname) &&
      (opts.network === undefined || a.networkId === opts.network || a.networkName === opts.network),
  );
  for (const a of chosen) await detach(agent, vs, a);
  return chosen.length;
}
