// `ovn-docker sandbox ...`: the whole system on this machine with real daemons (see
// docs/sandbox.md): up, down, status, exec, shell, env.

import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { formatTable, parseFormat, UsageError } from "./output.js";

const DIR_HELP = "the sandbox's directory (default $OVN_DOCKER_SANDBOX, else /tmp/ovn-docker-sandbox)";

function defaultDir(): string {
  return process.env.OVN_DOCKER_SANDBOX || "/tmp/ovn-docker-sandbox";
}

function parseVms(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--vms: expected 1..64, got "${v}"`);
  return n;
}

function parseEngine(v: string): "docker" | "podman" {
  if (v === "docker" || v === "podman") return v;
  throw new UsageError(`--engine: expected docker or podman, got "${v}"`);
}

const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

export function addSandboxCommands(program: Command): void {
  const sandbox = program
    .command("sandbox")
    .description(
      "the whole system on this machine with real daemons: OVN, the network service, a hypervisor, VMs",
    );

  sandbox
    .command("up")
    .description(
      "start OVN central, the network service, a hypervisor and N VMs (each with OVS and a container engine)",
    )
    .option("--vms <n>", "number of VMs", parseVms, 2)
    .option("--dir <dir>", DIR_HELP)
    .option("--engine <engine>", "container engine in the VMs: docker or podman", parseEngine, "docker")
    .action(async (o: { vms: number; dir?: string; engine: "docker" | "podman" }) => {
      const { startSandbox } = await import("../sandbox/index.js");
      const dir = path.resolve(o.dir ?? defaultDir());
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const lines: string[] = [];
      const onSignal = (sig: NodeJS.Signals) => {
        log(`${sig}: undoing what was started ...`);
        Promise.all([import("../sandbox/down.js"), import("../sandbox/proc.js")])
          .then(([{ stopSandbox }, { refuseNewProcesses }]) => {
            refuseNewProcesses(`interrupted by ${sig}`);
            return stopSandbox(dir, { log });
          })
          .finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const sb = await startSandbox({
        dir,
        vms: o.vms,
        engine: o.engine,
        log: (line) => {
          lines.push(line);
          log(line);
        },
      });
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await writeFile(sb.layout.upLog, `${lines.join("\n")}\n`);
      const dirArg = o.dir ? ` --dir ${q(dir)}` : "";
      // The sandbox's wrapper runs this build, whether or not ovn-docker is on PATH.
      const cli = q(path.join(sb.layout.bin, "ovn-docker"));
      const vm1 = sb.vms[0];
      log("");
      log(`Act as the tenant inside a VM:  ${cli} sandbox shell ${vm1?.name ?? "vm1"}${dirArg}`);
      log(`  or one command:              ${cli} sandbox exec ${vm1?.name ?? "vm1"}${dirArg} -- docker ps`);
      log(`  environment there:           ${cli} sandbox env ${vm1?.name ?? "vm1"}${dirArg}`);
      if (vm1) {
        for (const k of [
          "OS_AUTH_URL",
          "OS_USERNAME",
          "OS_PROJECT_NAME",
          "OVN_DOCKER_VIF_ID",
          "DOCKER_HOST",
          "OVN_DOCKER_OVSDB",
        ]) {
          if (vm1.env[k]) log(`    ${k}=${vm1.env[k]}`);
        }
        log(`    OS_PASSWORD=... (in ${sb.layout.server.credentials})`);
      }
      log(`Status:  ${cli} sandbox status${dirArg}      Stop:  ${cli} sandbox down${dirArg}`);
      log(`NB:      ovn-nbctl --db=${sb.nbUnix} show`);
    });

  sandbox
    .command("demo")
    .description(
      "bring the sandbox up and play the seed's workflow step by step (create network, run in two VMs, ping, rm)",
    )
    .option("--dir <dir>", DIR_HELP)
    .action(async (o: { dir?: string }) => {
      const { runDemo } = await import("../sandbox/demo.js");
      await runDemo({
        dir: path.resolve(o.dir ?? defaultDir()),
        log: (line) => process.stdout.write(`${line}\n`),
        color: process.stdout.isTTY === true,
      });
    });

  sandbox
    .command("down")
    .description("stop everything the sandbox started and remove its namespaces and mounts (logs stay)")
    .option("--dir <dir>", DIR_HELP)
    .option("--purge", "also delete logs, databases and configuration under the directory")
    .action(async (o: { dir?: string; purge?: boolean }) => {
      const { stopSandbox } = await import("../sandbox/down.js");
      const r = await stopSandbox(o.dir ?? defaultDir(), {
        purge: o.purge === true,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      if (r.problems.length > 0) process.exitCode = 1;
    });

  sandbox
    .command("status")
    .description("every daemon with its pid and health, the chassis, each VM and its port")
    .option("--dir <dir>", DIR_HELP)
    .option("-f, --format <format>", "table or json", parseFormat, "table")
    .action(async (o: { dir?: string; format: "table" | "json" }) => {
      const { sandboxStatus } = await import("../sandbox/index.js");
      const s = await sandboxStatus(o.dir ?? defaultDir());
      if (s.phase === "none" && !s.daemons.some((d) => d.alive) && o.format !== "json") {
        process.stdout.write(`no sandbox in ${s.dir}\n`);
        process.exitCode = 3;
        return;
      }
      if (o.format === "json") {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      } else {
        const out: string[] = [
          `sandbox ${s.dir} (hash ${s.hash}, ${s.phase}, ${s.engine}): ${s.healthy ? "healthy" : "NOT healthy"}`,
        ];
        if (s.api) out.push(`api ${s.api}   NB ${s.nbRemote}   SB ${s.sbRemote}`);
        out.push(`chassis ${s.chassis.name}: ${s.chassis.registered ? "registered" : "not registered"}`, "");
        out.push(
          formatTable(
            s.daemons.map((d) => ({
              daemon: d.name,
              pid: d.pid ?? "",
              alive: d.alive ? "yes" : "no",
              health: d.detail,
              log: d.log,
            })),
            ["daemon", "pid", "alive", "health", "log"],
          ),
          "",
        );
        if (s.vms.length > 0) {
          out.push(
            formatTable(
              s.vms.map((v) => ({
                vm: v.name,
                netns: `${v.netns}${v.netnsExists ? "" : " (missing)"}`,
                vif_id: v.vifId ?? "",
                mac: v.mac ?? "",
                ip: v.ip ?? "",
                port: v.portStatus ?? "?",
              })),
              ["vm", "netns", "vif_id", "mac", "ip", "port"],
            ),
          );
          const atts = s.vms.flatMap((v) => v.attachments.map((a) => ({ vm: v.name, ...a })));
          out.push(
            "",
            atts.length === 0
              ? "no containers attached in any VM"
              : formatTable(atts, ["vm", "container", "network", "ifname", "ips", "vlan", "port", "state"]),
          );
        }
        process.stdout.write(`${out.join("\n")}\n`);
      }
      if (s.phase === "none" && !s.daemons.some((d) => d.alive)) process.exitCode = 3;
      else if (!s.healthy) process.exitCode = 1;
    });

  sandbox
    .command("exec")
    .description(
      "run a command inside a VM (its netns) as the tenant: ovn-docker sandbox exec vm1 -- docker ps",
    )
    .argument("<vm>", "vm1, vm2, ...")
    .argument("<command...>", "the command and its arguments (after --)")
    .option("--dir <dir>", DIR_HELP)
    .action(async (vm: string, command: string[], o: { dir?: string }) => {
      process.exitCode = await interactive(o.dir, vm, command);
    });

  sandbox
    .command("shell")
    .description("an interactive shell inside a VM, with the tenant's environment")
    .argument("<vm>", "vm1, vm2, ...")
    .option("--dir <dir>", DIR_HELP)
    .action(async (vm: string, o: { dir?: string }) => {
      const shell = process.env.SHELL || "/bin/bash";
      let argv = [shell];
      if (path.basename(shell) === "bash") {
        // The usual rc files, then a prompt that says where we are.
        const { layout } = await import("../sandbox/layout.js");
        const l = layout(o.dir ?? defaultDir());
        const rc = path.join(l.dir, vm, "bashrc");
        await writeFile(
          rc,
          `[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n[ -f ~/.bashrc ] && . ~/.bashrc\nPS1="(sandbox ${vm}) $PS1"\n`,
        ).catch(() => {});
        argv = [shell, "--rcfile", rc, "-i"];
      }
      process.exitCode = await interactive(o.dir, vm, argv);
    });

  sandbox
    .command("env")
    .description("print the environment of a VM's tenant as shell export lines")
    .argument("<vm>", "vm1, vm2, ...")
    .option("--dir <dir>", DIR_HELP)
    .action(async (vm: string, o: { dir?: string }) => {
      const { loadSandbox } = await import("../sandbox/index.js");
      const sb = await loadSandbox(o.dir ?? defaultDir());
      const env = sb.vm(vm).env;
      process.stdout.write(
        `${Object.entries(env)
          .map(([k, v]) => `export ${k}=${q(v)}`)
          .join("\n")}\n`,
      );
    });
}

/** Run argv inside the VM with the terminal attached; resolves to its exit code. */
async function interactive(dir: string | undefined, vm: string, argv: string[]): Promise<number> {
  const { loadSandbox, SandboxError } = await import("../sandbox/index.js");
  let sb: Awaited<ReturnType<typeof loadSandbox>>;
  try {
    sb = await loadSandbox(dir ?? defaultDir());
    sb.vm(vm);
  } catch (e) {
    if (e instanceof SandboxError) throw new UsageError(e.message);
    throw e;
  }
  const full = sb.execArgv(vm, argv);
  const env = sb.execEnv(vm);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] as string, full.slice(1), { env, stdio: "inherit" });
    // The terminal's SIGINT goes to the whole foreground group: let the child decide.
    const ignore = () => {};
    process.on("SIGINT", ignore);
    child.once("error", (e) => reject(new Error(`running ${argv.join(" ")} in ${vm}: ${e.message}`)));
    child.once("close", (code, signal) => {
      process.off("SIGINT", ignore);
      resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : signal === "SIGINT" ? 2 : 15));
    });
  });
}
