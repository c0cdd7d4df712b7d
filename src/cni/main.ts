#!/usr/bin/env node

// ovn-cni: the CNI 1.1 plugin (also 0.4.0 and 1.0.0). One process per runtime call: reads
// CNI_* and the network configuration, runs the verb over the VM agent core, prints the result
// or the spec's error object. Modules beyond the parser load only for the verbs that need
// them (the runtime waits for this process once per container).

import {
  type CniEnv,
  type NetConf,
  parseEnv,
  parseNetConf,
  SUPPORTED_VERSIONS,
  versionOf,
} from "./config.js";
import { CniError, CODE, errorObject } from "./errors.js";

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Any failure as the spec's error, with a code the runtime can act on (11 = try again later). */
export async function asCniError(e: unknown): Promise<CniError> {
  if (e instanceof CniError) return e;
  const err = e as Error;
  const { NeutronApiError, ClientRequestError, CredentialsError } = await import("../client/index.js");
  const { VSwitchError } = await import("../vswitch/vswitch.js");
  const { NotConnectedError } = await import("../ovsdb/client.js");
  const { ConnectionClosedError } = await import("../ovsdb/rpc.js");
  if (e instanceof CredentialsError)
    return new CniError(CODE.invalidConfig, `API credentials: ${err.message}`);
  if (e instanceof ClientRequestError) {
    return new CniError(
      CODE.tryAgainLater,
      `the network API did not answer: ${err.message}; try again later`,
    );
  }
  if (e instanceof NeutronApiError) {
    if (e.status >= 500) return new CniError(CODE.tryAgainLater, `${err.message}; try again later`);
    if (e.status === 401 || e.status === 403) {
      return new CniError(
        CODE.invalidConfig,
        `${err.message}; check the credentials file of the network configuration`,
      );
    }
    return new CniError(CODE.attachFailed, err.message);
  }
  if (e instanceof VSwitchError) {
    if (e.code === "bridge-missing") return new CniError(CODE.invalidConfig, err.message);
    if (e.code === "unreachable" || e.code === "tags-exhausted" || e.code === "conflict") {
      return new CniError(CODE.tryAgainLater, `${err.message}; try again later`);
    }
  }
  if (e instanceof NotConnectedError || e instanceof ConnectionClosedError) {
    return new CniError(
      CODE.tryAgainLater,
      `the VM's Open vSwitch database: ${err.message}; try again later`,
    );
  }
  return new CniError(CODE.attachFailed, err.message ?? String(e), err.stack?.split("\n")[1]?.trim());
}

async function run(env: CniEnv, conf: NetConf): Promise<unknown> {
  const [{ Agent }, { agentSettings }, verbs] = await Promise.all([
    import("../agent/agent.js"),
    import("./settings.js"),
    import("./verbs.js"),
  ]);
  const agent = new Agent(agentSettings(conf, process.env));
  try {
    switch (env.command) {
      case "ADD":
        return await verbs.add(agent, conf, env);
      case "DEL":
        await verbs.del(agent, conf, env);
        return undefined;
      case "CHECK":
        await verbs.check(agent, conf, env);
        return undefined;
      case "STATUS":
        await verbs.status(agent, conf);
        return undefined;
      case "GC":
        await verbs.garbageCollect(agent, conf);
        return undefined;
      default:
        throw new CniError(CODE.invalidEnv, `CNI_COMMAND ${env.command} is not handled`);
    }
  } finally {
    await agent.close();
  }
}

/** The detached pool filler (pool-fill.ts): the configuration comes in the environment. */
async function fillPoolMain(confJson: string): Promise<number> {
  const [{ Agent }, { agentSettings }, { fillPool }] = await Promise.all([
    import("../agent/agent.js"),
    import("./settings.js"),
    import("./pool-fill.js"),
  ]);
  const conf = parseNetConf(confJson, "ADD");
  const agent = new Agent(agentSettings(conf, process.env));
  try {
    const made = await fillPool(agent, conf);
    process.stdout.write(
      `${new Date().toISOString()} ovn-cni: ${made} port(s) made ready on ${conf.network}\n`,
    );
    return 0;
  } catch (e) {
    process.stdout.write(
      `${new Date().toISOString()} ovn-cni: pool fill on ${conf.network}: ${(e as Error).message}\n`,
    );
    return 1;
  } finally {
    await agent.close();
  }
}

async function main(): Promise<number> {
  const fill = process.env.OVN_CNI_POOL_FILL;
  if (fill) return fillPoolMain(fill);
  let stdin = "";
  let version = "1.1.0";
  try {
    const env = parseEnv(process.env);
    try {
      stdin = await readStdin();
    } catch (e) {
      throw new CniError(
        CODE.ioFailure,
        `reading the network configuration from stdin: ${(e as Error).message}`,
      );
    }
    version = versionOf(stdin);
    if (env.command === "VERSION") {
      process.stdout.write(
        `${JSON.stringify({ cniVersion: "1.1.0", supportedVersions: SUPPORTED_VERSIONS })}\n`,
      );
      return 0;
    }
    const conf = parseNetConf(stdin, env.command);
    const out = await run(env, conf);
    if (out !== undefined) process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (e) {
    const err = await asCniError(e);
    const shown = (SUPPORTED_VERSIONS as readonly string[]).includes(version) ? version : "1.1.0";
    process.stdout.write(`${JSON.stringify(errorObject(shown, err))}\n`);
    return 1;
  }
}

// Exit now: the runtime waits for this process, and idle keep-alive connections to the API
// would hold it open for seconds. (stdout is a pipe or file: written synchronously.)
process.exit(await main());
