// Test-only fault injection: OVN_DOCKER_FAULT=<step> makes the process kill itself with SIGKILL
// when it reaches that step, to prove that a crash at any point loses nothing and leaves
// nothing that `ovn-docker gc` cannot find. Never set it in production.

export const FAULT_POINTS = [
  "reserved", // VLAN tag taken in the VM's OVSDB
  "sandbox-started", // network sandbox container running
  "port-created", // API port created, not yet recorded in OVSDB
  "recorded", // API port recorded on the OVSDB row
  "plumbed", // veth pair configured
  "active", // port ACTIVE, state not yet "attached"
  "app-started", // application container started, not yet recorded
  "detaching", // state set to detaching
  "port-deleted", // API port deleted, veth and OVSDB row still there
  "unplumbed", // veth removed, OVSDB row still there
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

export function faultPoint(step: FaultPoint): void {
  if (process.env.OVN_DOCKER_FAULT === step) {
    process.kill(process.pid, "SIGKILL");
  }
}
