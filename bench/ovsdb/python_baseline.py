#!/usr/bin/python3
"""Baseline for the OVSDB client benchmark: Open vSwitch's own Python IDL.

What it measures
----------------
The cost, seen by a client, of adding N logical switch ports to an OVN
Northbound database, one OVSDB transaction per port.  Each transaction

  * inserts a Logical_Switch_Port row
        name         = PREFIX + str(i)                      (i = 0 .. N-1)
        addresses    = ["0a:00:00:HH:HH:HH 10.A.B.C"]       (see port_address)
        external_ids = {"bench": "1"}
  * and adds the new row's UUID to the switch's "ports" column with a
    *mutate* ("insert" into the set), not an update of the whole set, so that
    concurrent transactions never conflict.  Logical_Switch_Port is not a root
    table: a port that no switch references would be garbage collected.

This is exactly the work our TypeScript client does in its benchmark, so the
two numbers are comparable.

Why this library
----------------
``ovs.db.idl`` / ``ovs.jsonrpc`` is the client that ships with Open vSwitch
and that most OVN tooling (ovsdbapp, Neutron's OVN driver, ...) is built on.
It is used here the way those tools use it: the schema is fetched from the
server with ``get_schema``, trimmed with ``SchemaHelper.register_columns`` to
what we need, an ``Idl`` keeps a monitored in-memory replica, and writes go
through ``Transaction`` / ``txn.insert`` / ``row.addvalue`` / ``txn.commit``.

Modes
-----
``--inflight 1``
    Sequential: build a transaction, ``commit_block()``, next port.
``--inflight K`` (K > 1)
    Pipelined on ONE Idl / ONE connection.  The Python IDL supports this:
    ``Transaction.commit()`` sends the "transact" request, parks the
    transaction in ``idl._outstanding_txns`` and detaches it from the Idl
    (``idl.txn`` becomes None), so the next Transaction can be built and
    committed while the earlier ones are still waiting for their replies.
    Replies are matched by JSON-RPC id in ``idl.run()``.  The driver keeps K
    transactions committed-but-unfinished, and polls each with ``commit()``
    (which just returns the stored status once the txn is detached).
``--nbctl-sample S``
    Instead of the IDL, runs S sequential ``ovn-nbctl`` subprocesses, each a
    single transaction doing the same work (lsp-add + lsp-set-addresses +
    external_ids:bench=1).  This is the "what an operator script costs"
    baseline; it is sampled because each call reconnects and re-downloads
    the database.

Latency of one transaction is measured from immediately before the first
``commit()`` (the call that serialises and sends the "transact" request) to
the moment the driver sees ``commit()`` return a final status, i.e. after the
reply (and the preceding "update3" notification) has been processed by
``idl.run()``.  Wall time covers all N transactions, from the first commit to
the last completion; connecting, the initial replica download and creating the
switch are excluded.

Output: exactly one JSON object on stdout, e.g.

  {"client": "python-ovs", "ovs_version": "3.1.0", "ports": 10000,
   "inflight": 16, "method": "...", "wall_s": 12.3, "tx_per_s": 813.0,
   "lat_ms": {"p50": .., "p90": .., "p99": .., "max": ..}, "errors": 0}

If any transaction fails, a message goes to stderr and the exit status is 1
(no JSON is printed: the measurement would be meaningless).

Run it with the Debian interpreter, which has the ``ovs`` module
(python3-openvswitch):  /usr/bin/python3 bench/ovsdb/python_baseline.py ...
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

try:
    import ovs.db.idl
    import ovs.jsonrpc
    import ovs.poller
    import ovs.stream
    import ovs.version
    import ovs.vlog
except ImportError:
    sys.exit(
        "python_baseline: cannot import the 'ovs' module; install "
        "python3-openvswitch and run with /usr/bin/python3"
    )

DB_NAME = "OVN_Northbound"

# Only the columns this benchmark touches are replicated, as ovsdbapp-style
# tools do when they register a subset of the schema.  The inserted columns
# must be registered, otherwise the IDL refuses to write them.
REGISTERED_COLUMNS = {
    "Logical_Switch": ["name", "ports"],
    "Logical_Switch_Port": ["name", "addresses", "external_ids"],
}

Transaction = ovs.db.idl.Transaction


# ---------------------------------------------------------------------------
# Helpers shared by both clients
# ---------------------------------------------------------------------------


def port_address(i):
    """The "MAC IP" string of port i (0-based); unique for i < 2**24 - 1.

    n = i + 1 so that neither the MAC nor the IP ends in .0:
      MAC 0a:00:00:<n as 3 bytes>,  IP 10.<n as 3 bytes>.
    """
    n = i + 1
    a, b, c = (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF
    return "0a:00:00:%02x:%02x:%02x 10.%d.%d.%d" % (a, b, c, a, b, c)


def percentile(sorted_values, p):
    """Nearest-rank percentile (p in 0..100) of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def report(client, ovs_version, ports, inflight, method, wall_s, lat_s):
    """Prints the single JSON result object on stdout."""
    lat_ms = sorted(x * 1000.0 for x in lat_s)
    result = {
        "client": client,
        "ovs_version": ovs_version,
        "ports": ports,
        "inflight": inflight,
        "method": method,
        "wall_s": round(wall_s, 4),
        "tx_per_s": round(ports / wall_s, 1) if wall_s > 0 else 0.0,
        "lat_ms": {
            "p50": round(percentile(lat_ms, 50), 3),
            "p90": round(percentile(lat_ms, 90), 3),
            "p99": round(percentile(lat_ms, 99), 3),
            "max": round(lat_ms[-1] if lat_ms else 0.0, 3),
        },
        "errors": 0,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def fail(msg):
    sys.stderr.write("python_baseline: error: %s\n" % msg)
    sys.exit(1)


# ---------------------------------------------------------------------------
# Python IDL client
# ---------------------------------------------------------------------------


def fetch_schema_helper(remote):
    """Gets the NB schema from the server (as ovsdbapp's get_schema_helper
    does) and returns a SchemaHelper with only the columns we need."""
    err, stream = ovs.stream.Stream.open_block(
        ovs.stream.Stream.open(remote), timeout=10000
    )
    if err:
        fail("cannot connect to %s: %s" % (remote, os.strerror(err)))
    rpc = ovs.jsonrpc.Connection(stream)
    err, reply = rpc.transact_block(
        ovs.jsonrpc.Message.create_request("get_schema", [DB_NAME])
    )
    rpc.close()
    if err or reply is None:
        fail("get_schema on %s failed (error %s)" % (remote, err))
    if reply.error:
        fail("get_schema on %s failed: %s" % (remote, reply.error))
    helper = ovs.db.idl.SchemaHelper(schema_json=reply.result)
    for table, columns in REGISTERED_COLUMNS.items():
        helper.register_columns(table, columns)
    return helper


def wait_once(idl, txns=(), timeout_ms=None):
    """Blocks until the Idl (or one of 'txns') has something to do."""
    poller = ovs.poller.Poller()
    idl.wait(poller)
    for txn in txns:
        txn.wait(poller)
    if timeout_ms is not None:
        poller.timer_wait(timeout_ms)
    poller.block()


def connect_idl(remote, timeout_s=30.0):
    """Opens an Idl and waits for the initial copy of the database."""
    idl = ovs.db.idl.Idl(remote, fetch_schema_helper(remote))
    deadline = time.monotonic() + timeout_s
    while True:
        idl.run()
        if idl.has_ever_connected():
            return idl
        if time.monotonic() > deadline:
            fail("timed out connecting the IDL to %s" % remote)
        wait_once(idl, timeout_ms=1000)


def find_switch(idl, name):
    for row in idl.tables["Logical_Switch"].rows.values():
        if row.name == name:
            return row
    return None


def ensure_switch(idl, name):
    """Returns the UUID of logical switch 'name', creating it if missing."""
    row = find_switch(idl, name)
    if row is not None:
        return row.uuid
    txn = Transaction(idl)
    ls = txn.insert(idl.tables["Logical_Switch"])
    ls.name = name
    status = txn.commit_block()
    if status != Transaction.SUCCESS:
        fail("creating logical switch %r failed: %s" % (name, txn.get_error()))
    row = find_switch(idl, name)
    if row is None:
        fail("logical switch %r not visible after creating it" % name)
    return row.uuid


def start_port_txn(idl, switch_uuid, name, address):
    """Builds (does not commit) the per-port transaction: insert the LSP row
    and add its UUID to the switch's ports set."""
    txn = Transaction(idl)
    lsp = txn.insert(idl.tables["Logical_Switch_Port"])
    lsp.name = name
    lsp.addresses = [address]
    lsp.external_ids = {"bench": "1"}
    # Re-read the switch row each time: it must be the IDL's current row.
    switch = idl.tables["Logical_Switch"].rows[switch_uuid]
    switch.addvalue("ports", lsp.uuid)  # -> "mutate ports insert [uuid]"
    return txn


def check_status(txn, name, status):
    if status != Transaction.SUCCESS:
        fail(
            "transaction for port %r failed: %s"
            % (name, txn.get_error() or Transaction.status_to_string(status))
        )


def run_sequential(idl, switch_uuid, names, addresses):
    """inflight = 1: one commit_block() per port."""
    lat = []
    clock = time.perf_counter
    t_start = clock()
    for name, address in zip(names, addresses):
        txn = start_port_txn(idl, switch_uuid, name, address)
        t0 = clock()
        status = txn.commit_block()
        lat.append(clock() - t0)
        check_status(txn, name, status)
    return clock() - t_start, lat


def run_pipelined(idl, switch_uuid, names, addresses, inflight):
    """inflight = K > 1: keep K transactions outstanding on one Idl."""
    lat = []
    clock = time.perf_counter
    pending = []  # [(txn, name, t0)] committed, reply not yet processed
    n = len(names)
    next_i = 0
    t_start = clock()
    while next_i < n or pending:
        # Top the window up.  commit() sends the request and detaches the
        # txn from the Idl, so the next Transaction can be created at once.
        while next_i < n and len(pending) < inflight:
            name = names[next_i]
            txn = start_port_txn(idl, switch_uuid, name, addresses[next_i])
            t0 = clock()
            status = txn.commit()
            if status == Transaction.INCOMPLETE:
                pending.append((txn, name, t0))
            else:  # finished (or failed) without a round trip
                lat.append(clock() - t0)
                check_status(txn, name, status)
            next_i += 1

        # Let the IDL process replies / updates, then collect finished txns.
        idl.run()
        still = []
        for txn, name, t0 in pending:
            status = txn.commit()  # detached txn: returns its stored status
            if status == Transaction.INCOMPLETE:
                still.append((txn, name, t0))
            else:
                lat.append(clock() - t0)
                check_status(txn, name, status)
        progressed = len(still) != len(pending)
        pending = still
        # Only sleep if nothing completed; otherwise refill the window first.
        if pending and not progressed:
            wait_once(idl, [t for t, _, _ in pending])
    return clock() - t_start, lat


def verify_replica(idl, switch_uuid, names):
    """Sanity check on the IDL's own replica: every port exists, carries the
    expected columns and is referenced by the switch."""
    wanted = {name: port_address(i) for i, name in enumerate(names)}
    by_name = {}
    for row in idl.tables["Logical_Switch_Port"].rows.values():
        if row.name in wanted:
            by_name[row.name] = row
    if len(by_name) != len(wanted):
        fail(
            "replica has %d of the %d ports just created"
            % (len(by_name), len(wanted))
        )
    for name, row in by_name.items():
        if (row.addresses != [wanted[name]]
                or row.external_ids != {"bench": "1"}):
            fail("port %r has unexpected columns in the replica" % name)
    switch = idl.tables["Logical_Switch"].rows[switch_uuid]
    port_uuids = {p.uuid for p in switch.ports}
    missing = [n for n, r in by_name.items() if r.uuid not in port_uuids]
    if missing:
        fail("%d ports are not in the switch's ports column" % len(missing))


def run_idl(args):
    # The library logs through vlog (reconnects, parse errors...).  Keep the
    # console quiet so stdout stays one JSON object; this script reports
    # every failure itself on stderr.
    ovs.vlog.Vlog.init()
    ovs.vlog.Vlog.set_levels_from_string("console:emer")

    idl = connect_idl(args.remote)
    switch_uuid = ensure_switch(idl, args.switch)

    names = [args.prefix + str(i) for i in range(args.ports)]
    addresses = [port_address(i) for i in range(args.ports)]

    if args.inflight == 1:
        method = "single Idl, Transaction.commit_block() per port (sequential)"
        wall, lat = run_sequential(idl, switch_uuid, names, addresses)
    else:
        method = (
            "single Idl, pipelined: %d Transaction objects committed and "
            "outstanding at once on one connection, driven by idl.run() + "
            "Poller" % args.inflight
        )
        wall, lat = run_pipelined(
            idl, switch_uuid, names, addresses, args.inflight
        )

    verify_replica(idl, switch_uuid, names)
    idl.close()
    report(
        "python-ovs", ovs.version.VERSION, args.ports, args.inflight, method,
        wall, lat,
    )


# ---------------------------------------------------------------------------
# ovn-nbctl sample
# ---------------------------------------------------------------------------


def nbctl(args, *cmd):
    return subprocess.run(
        ["ovn-nbctl", "--db=" + args.remote] + list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def nbctl_versions():
    """(OVS library version, OVN version) as reported by ovn-nbctl."""
    out = subprocess.run(
        ["ovn-nbctl", "--version"], stdout=subprocess.PIPE, text=True
    ).stdout
    ovn = re.search(r"ovn-nbctl\D*([\d.]+)", out)
    lib = re.search(r"Open vSwitch Library\D*([\d.]+)", out)
    return (lib.group(1) if lib else "unknown", ovn.group(1) if ovn else "?")


def run_nbctl(args):
    samples = args.nbctl_sample
    res = nbctl(args, "--may-exist", "ls-add", args.switch)
    if res.returncode != 0:
        fail("ovn-nbctl ls-add %s failed: %s"
             % (args.switch, res.stderr.strip()))
    lib_version, ovn_version = nbctl_versions()
    lat = []
    clock = time.perf_counter
    t_start = clock()
    for i in range(samples):
        name = args.prefix + str(i)
        t0 = clock()
        # One ovn-nbctl invocation == one OVSDB transaction, same row content
        # as the IDL client (the "set" adds external_ids:bench=1).
        res = nbctl(
            args,
            "lsp-add", args.switch, name,
            "--", "lsp-set-addresses", name, port_address(i),
            "--", "set", "Logical_Switch_Port", name, "external_ids:bench=1",
        )
        lat.append(clock() - t0)
        if res.returncode != 0:
            fail(
                "ovn-nbctl lsp-add %s failed (exit %d): %s"
                % (name, res.returncode, res.stderr.strip())
            )
    wall = clock() - t_start
    method = (
        "ovn-nbctl %s subprocess per port (lsp-add + lsp-set-addresses + "
        "set external_ids, one transaction), sequential" % ovn_version
    )
    report("ovn-nbctl", lib_version, samples, 1, method, wall, lat)


# ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="OVN NB port-creation benchmark using the Open vSwitch "
        "Python IDL (or sampled ovn-nbctl). Prints one JSON object."
    )
    p.add_argument("--remote", required=True,
                   help="NB remote, e.g. tcp:127.0.0.1:6641 or unix:/path")
    p.add_argument("--ports", type=int, default=10000,
                   help="number of ports / transactions (default 10000)")
    p.add_argument("--inflight", type=int, default=1,
                   help="transactions in flight at once (1 = sequential)")
    p.add_argument("--switch", default="bench-ls",
                   help="logical switch to add ports to (created if missing)")
    p.add_argument("--prefix", default="bench-lsp-",
                   help="port name prefix (names are PREFIX + index)")
    p.add_argument("--nbctl-sample", type=int, metavar="S", default=0,
                   help="instead of the IDL, time S sequential ovn-nbctl "
                   "calls")
    args = p.parse_args(argv)
    if args.ports < 1 or args.inflight < 1 or args.nbctl_sample < 0:
        p.error("--ports and --inflight must be >= 1, --nbctl-sample >= 0")
    if args.ports >= 2**24 - 1 or args.nbctl_sample >= 2**24 - 1:
        p.error("at most 2**24 - 2 ports (MAC/IP space)")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.nbctl_sample:
        run_nbctl(args)
    else:
        run_idl(args)


if __name__ == "__main__":
    main()
