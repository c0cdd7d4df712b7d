#!/usr/bin/env bash
# `make demo` (foundation stage): a real OVN Northbound ovsdb-server in a temporary
# directory, and ovn-docker's own OVSDB client creating, listing and watching logical
# switches in it, with ovn-nbctl reading the same rows. Every command is shown as it runs.
# The server is stopped by its pid at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

OVN_DOCKER="node dist/src/cli/main.js"
DIR=$(mktemp -d /tmp/ovn-docker-demo.XXXXXX)
PIDFILE=$DIR/ovnnb.pid
cleanup() {
  [ -n "${WATCH_PID:-}" ] && kill "$WATCH_PID" 2>/dev/null || true
  if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() {
  printf '\033[36m$ %s\033[0m\n' "$*"
  local t0=$(date +%s%N)
  "$@"
  printf '\033[2m  (%d ms)\033[0m\n' $(( ($(date +%s%N) - t0) / 1000000 ))
}

step "Start a real OVN Northbound database server (files in $DIR)"
show ovsdb-tool create "$DIR/ovnnb.db" /usr/share/ovn/ovn-nb.ovsschema
show ovsdb-server "$DIR/ovnnb.db" --remote="punix:$DIR/ovnnb.sock" \
  --pidfile="$PIDFILE" --unixctl="$DIR/ovnnb.ctl" --log-file="$DIR/ovnnb.log" --detach --no-chdir -vconsole:off
export OVN_NB_DB="unix:$DIR/ovnnb.sock"
show ovn-nbctl --db="$OVN_NB_DB" init

step "Watch Logical_Switch through ovn-docker's monitor (runs in the background)"
$OVN_DOCKER ovsdb --db "$OVN_NB_DB" watch OVN_Northbound Logical_Switch --columns name,ports --count 3 \
  > "$DIR/watch.out" 2>&1 &
WATCH_PID=$!
for _ in $(seq 50); do grep -q watching "$DIR/watch.out" 2>/dev/null && break; sleep 0.1; done

step "Create logical switch LS1 with ovn-docker's own OVSDB client"
show $OVN_DOCKER nb ls-add LS1 --external-id purpose=demo
step "Creating it again is refused, atomically, by the server"
show $OVN_DOCKER nb ls-add LS1 || true

step "ovn-nbctl, another client, sees it; add a port to it with ovn-nbctl"
show ovn-nbctl --db="$OVN_NB_DB" lsp-add LS1 c1 vm-a 10
show ovn-nbctl --db="$OVN_NB_DB" show

step "List switches through ovn-docker (table, then JSON)"
show $OVN_DOCKER nb ls-list
show $OVN_DOCKER nb ls-list -f json

step "Delete LS1 through ovn-docker"
show $OVN_DOCKER nb ls-del LS1
wait "$WATCH_PID" || true
WATCH_PID=
step "What the monitor saw (insert by ovn-docker, modify by ovn-nbctl, delete by ovn-docker)"
cat "$DIR/watch.out"

step "Done: the server is stopped by its pid and $DIR removed"
