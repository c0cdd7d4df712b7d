// The container engine, through its own command line (docker or podman): users keep their
// engine and its habits; we only add the network.
//
// A container that gets networks from us is started behind a *network sandbox*: a tiny
// container (the pause image) that owns the network namespace. The sandbox is plumbed and its
// port is ACTIVE before the application container starts with `--net=container:<sandbox>`, so
// the application never runs without its network (Kubernetes does the same with its pause
// container). Sandboxes can be prepared ahead of time (the pool).

import { access, copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execCommand } from "./exec.js";

export type EngineKind = "docker" | "podman";

/** Labels on containers we create. */
export const LABEL_ROLE = "ovn-docker.role";
export const LABEL_VIF = "ovn-docker.vif-id";
/** On an application container: the sandbox whose network namespace it joined. */
export const LABEL_SANDBOX = "ovn-docker.sandbox";

export const PAUSE_IMAGE = "localhost/ovn-docker-pause:1";
/** What the pause process sleeps: its command line identifies it in /proc. */
export const PAUSE_SECONDS = "2147483647";

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    message: string,
    readonly exitCode?: number,
    readonly stderr?: string,
  ) {
    super(message);
  }
}

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  pid: number;
  /** e.g. "none", "container:<id>", "bridge". */
  networkMode: string;
  labels: Record<string, string>;
  exitCode?: number;
}

function firstLine(s: string): string {
  return (
    s
      .trim()
      .split("\n")
      .filter((l) => l.trim())
      .pop() ?? ""
  );
}

export interface EngineOptions {
  kind: EngineKind;
  /** The binary (default: "docker" or "podman" from PATH). */
  bin?: string;
  env?: NodeJS.ProcessEnv;
}

export class Engine {
  readonly kind: EngineKind;
  readonly bin: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: EngineOptions) {
    this.kind = opts.kind;
    this.bin = opts.bin ?? opts.kind;
    this.env = opts.env ?? process.env;
  }

  /** Picks the engine: explicit choice, else docker when DOCKER_HOST or its socket exists, else podman if installed. */
  static async detect(choice: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
    if (choice) {
      if (choice !== "docker" && choice !== "podman") {
        throw new EngineError(`unknown engine "${choice}": use --engine docker or --engine podman`);
      }
      return new Engine({ kind: choice, env });
    }
    if (env.DOCKER_HOST) return new Engine({ kind: "docker", env });
    const exists = (p: string) =>
      access(p).then(
        () => true,
        () => false,
      );
    if (await exists("/var/run/docker.sock")) return new Engine({ kind: "docker", env });
    for (const dir of (env.PATH ?? "").split(":")) {
      if (dir && (await exists(path.join(dir, "podman")))) return new Engine({ kind: "podman", env });
    }
    return new Engine({ kind: "docker", env });
  }

  /** Runs the engine's CLI; throws EngineError with its message on a non-zero exit. */
  async cli(args: readonly string[], what: string, input?: string | Buffer): Promise<string> {
    const r = await execCommand([this.bin, ...args], {
      env: this.env,
      ...(input !== undefined ? { input } : {}),
    });
    if (r.code !== 0) {
      const said = firstLine(r.stderr) || `exit code ${r.code}`;
      const down =
        /cannot connect to the docker daemon|\.sock.*(connection refused|no such file or directory)/i.test(
          said,
        );
      const where =
        this.kind === "docker"
          ? `DOCKER_HOST=${this.env.DOCKER_HOST ?? "unix:///var/run/docker.sock"}; `
          : "";
      const hint = down
        ? ` (is the ${this.kind} engine running? ${where}start it or choose another with --engine)`
        : "";
      throw new EngineError(`${what}: ${this.kind} said: ${said}${hint}`, r.code, r.stderr);
    }
    return r.stdout;
  }

  /** Checks that the engine answers; the error says how to fix it. */
  async ping(): Promise<string> {
    const r = await execCommand([this.bin, "version", "--format", "{{.Server.Version}}"], {
      env: this.env,
    }).catch((e: Error) => ({ code: 127, stdout: "", stderr: e.message }));
    if (r.code !== 0) {
      const where =
        this.kind === "docker" ? (this.env.DOCKER_HOST ?? "unix:///var/run/docker.sock") : "podman";
      throw new EngineError(
        `the ${this.kind} engine is not reachable (${where}): ${firstLine(r.stderr) || `exit ${r.code}`}; ` +
          `start it, set DOCKER_HOST, or choose another with --engine`,
        r.code,
      );
    }
    return r.stdout.trim();
  }

  /** Inspects containers; missing ones are simply absent from the result. */
  async inspect(refs: readonly string[]): Promise<ContainerInfo[]> {
    if (refs.length === 0) return [];
    const r = await execCommand([this.bin, "container", "inspect", ...refs], { env: this.env });
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout || "[]");
    } catch {
      throw new EngineError(
        `inspecting ${refs.join(", ")}: ${firstLine(r.stderr) || "unparsable answer"}`,
        r.code,
      );
    }
    if (!Array.isArray(parsed)) return [];
    if (parsed.length === 0 && r.code !== 0 && !/no such/i.test(r.stderr)) {
      throw new EngineError(
        `inspecting ${refs.join(", ")}: ${this.kind} said: ${firstLine(r.stderr)}`,
        r.code,
      );
    }
    return parsed.map((c: Record<string, unknown>) => {
      const state = (c.State ?? {}) as Record<string, unknown>;
      const config = (c.Config ?? {}) as Record<string, unknown>;
      const host = (c.HostConfig ?? {}) as Record<string, unknown>;
      return {
        id: String(c.Id ?? ""),
        name: String(c.Name ?? "").replace(/^\//, ""),
        running: state.Running === true,
        pid: Number(state.Pid ?? 0),
        networkMode: String(host.NetworkMode ?? ""),
        labels: (config.Labels ?? {}) as Record<string, string>,
        ...(typeof state.ExitCode === "number" ? { exitCode: state.ExitCode } : {}),
      };
    });
  }

  async inspectOne(ref: string): Promise<ContainerInfo | undefined> {
    return (await this.inspect([ref]))[0];
  }

  /** Ids of all containers (running or not) with `label` (k or k=v). */
  async listByLabel(label: string): Promise<string[]> {
    const out = await this.cli(
      ["ps", "-a", "-q", "--no-trunc", "--filter", `label=${label}`],
      `listing containers with ${label}`,
    );
    return out.split("\n").filter((l) => l.trim());
  }

  /** `rm -f` as the engine spells "kill at once" (podman would first wait 10 s after SIGTERM). */
  private rmArgs(): string[] {
    return this.kind === "podman" ? ["rm", "-f", "-t", "0"] : ["rm", "-f"];
  }

  /** `rm -f`; a container that is already gone is fine. */
  async remove(ref: string): Promise<void> {
    const r = await execCommand([this.bin, ...this.rmArgs(), ref], { env: this.env });
    if (r.code !== 0 && !/no such container|no container with name or id/i.test(r.stderr)) {
      throw new EngineError(`removing container ${ref}: ${this.kind} said: ${firstLine(r.stderr)}`, r.code);
    }
  }

  /** `rm -f` of several containers in one call; ones already gone are fine. */
  async removeAll(refs: readonly string[]): Promise<void> {
    if (refs.length === 0) return;
    if (this.kind === "podman") {
      // podman refuses to remove a container others depend on (the sandbox of an application
      // container) in the same call: one at a time, in the given order (dependents first).
      for (const ref of refs) await this.remove(ref);
      return;
    }
    const r = await execCommand([this.bin, ...this.rmArgs(), ...refs], { env: this.env });
    const problems = r.stderr
      .split("\n")
      .filter((l) => l.trim() && !/no such container|no container with name or id|level=warning/i.test(l));
    if (r.code !== 0 && problems.length > 0) {
      throw new EngineError(
        `removing containers ${refs.map((x) => x.slice(0, 12)).join(", ")}: ${this.kind} said: ${problems[0]}`,
        r.code,
      );
    }
  }

  /** Makes sure the pause image exists (built locally from a static busybox; no registry needed). */
  async ensurePauseImage(image = PAUSE_IMAGE): Promise<void> {
    const r = await execCommand([this.bin, "image", "inspect", image], { env: this.env });
    if (r.code === 0) return;
    const busybox = "/bin/busybox";
    const head = await readFile(busybox).catch(() => undefined);
    if (!head || head.includes(Buffer.from("/lib64/ld-linux"))) {
      throw new EngineError(
        `the network sandbox image ${image} is missing and cannot be built: it needs a static ${busybox} ` +
          "(Debian package busybox-static); install it or load an image with a blocking /sleep as that name",
      );
    }
    const dir = await mkdtemp(path.join(tmpdir(), "ovn-docker-pause-"));
    try {
      await copyFile(busybox, path.join(dir, "sleep"));
      const tarFile = path.join(dir, "pause.tar");
      const tar = await execCommand(["tar", "-C", dir, "-cf", tarFile, "sleep"]);
      if (tar.code !== 0)
        throw new EngineError(`building the pause image: tar failed: ${firstLine(tar.stderr)}`);
      const tarBytes = await readFile(tarFile);
      await this.cli(
        ["import", "--change", 'ENTRYPOINT ["/sleep"]', "--change", `CMD ["${PAUSE_SECONDS}"]`, "-", image],
        `building the network sandbox image ${image}`,
        tarBytes,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Starts a network sandbox: a pause container with no network of its own. Returns its info. */
  async startSandbox(
    name: string,
    labels: Record<string, string>,
    image = PAUSE_IMAGE,
  ): Promise<ContainerInfo> {
    // --pull=never: the pause image is built locally; a registry lookup would only fail slowly.
    const args = ["run", "-d", "--pull=never", "--net=none", "--name", name, "--init=false"];
    for (const [k, v] of Object.entries(labels)) args.push("--label", `${k}=${v}`);
    args.push(image);
    let out: string;
    try {
      out = await this.cli(args, `starting network sandbox ${name}`);
    } catch (e) {
      if (
        e instanceof EngineError &&
        /No such image|image not known|unable to find image/i.test(e.stderr ?? "")
      ) {
        await this.ensurePauseImage(image);
        out = await this.cli(args, `starting network sandbox ${name}`);
      } else throw e;
    }
    const id = firstLine(out);
    const info = await this.inspectOne(id);
    if (!info?.running || info.pid <= 0) {
      throw new EngineError(`network sandbox ${name} did not stay running`);
    }
    return info;
  }
}
