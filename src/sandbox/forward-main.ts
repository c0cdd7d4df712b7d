// `node forward-main.js FROM TO`: the sandbox's API forwarder as its own small process (no
// CLI, no server code loaded), e.g. FROM=tcp:127.0.0.1:PORT TO=unix:DIR/run/api.sock.

import { runForwarder } from "./forward.js";

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  process.stderr.write("usage: forward-main.js tcp:HOST:PORT|unix:PATH tcp:HOST:PORT|unix:PATH\n");
  process.exit(2);
}
runForwarder(from, to).catch((e: Error) => {
  process.stderr.write(`forwarder: ${e.message}\n`);
  process.exit(1);
});
