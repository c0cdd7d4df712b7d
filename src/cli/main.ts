#!/usr/bin/env node
// ovn-docker: the command line. Verbs are added per capability; each lives in its own module.

import { Command, CommanderError } from "commander";
import { RemoteError } from "../ovsdb/remote.js";
import { addAgentCommands } from "./agent-commands.js";
import { UsageError } from "./output.js";
import { addOvsdbCommands } from "./ovsdb-commands.js";
import { addSandboxCommands } from "./sandbox-commands.js";
import { addServerCommands } from "./server-commands.js";

const program = new Command("ovn-docker")
  .description("Containers inside tenant VMs as first-class endpoints of OVN logical networks")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

addAgentCommands(program);
addOvsdbCommands(program);
addServerCommands(program);
addSandboxCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version end here with code 0; usage mistakes with 2.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof UsageError || e instanceof RemoteError) {
    process.stderr.write(`ovn-docker: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`ovn-docker: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
