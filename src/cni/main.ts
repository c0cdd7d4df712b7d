#!/usr/bin/env node
// ovn-cni: the CNI plugin entry point. This version answers VERSION (CNI spec 1.1.0,
// section "VERSION"); ADD/DEL/CHECK/STATUS/GC come with the VM agent and are refused
// here with a spec-shaped error rather than pretending to work.

const SUPPORTED = ["0.4.0", "1.0.0", "1.1.0"];

function reply(obj: unknown, code = 0): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exitCode = code;
}

const command = process.env.CNI_COMMAND ?? "";
if (command === "VERSION") {
  reply({ cniVersion: "1.1.0", supportedVersions: SUPPORTED });
} else {
  reply(
    {
      cniVersion: "1.1.0",
      code: command ? 100 : 4,
      msg: command
        ? `ovn-cni: CNI_COMMAND ${command} is not available in this build of ovn-docker`
        : "ovn-cni: CNI_COMMAND is not set; this program is run by a container runtime (CNI spec 1.1.0)",
    },
    1,
  );
}
