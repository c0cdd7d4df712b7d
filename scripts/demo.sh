#!/usr/bin/env bash
# `make demo` (until the sandbox exists): a real OVN Northbound ovsdb-server in a temporary
# directory; ovn-docker's own OVSDB client creating, listing and watching logical switches
# in it; then the network service on that NB, driven by the standard OpenStack client as a
# tenant: a VM port, and a container port with the seed's binding:profile {parent_name, tag}.
# Every command is shown as it runs. Everything started is stopped by its pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

OVN_DOCKER="node dist/src/cli/main.js"
DIR=$(mktemp -d /tmp/ovn-docker-demo.XXXXXX)
PIDFILE=$DIR/ovnnb.pid
cleanup() {
  [ -n "${WATCH_PID:-}" ] && kill "$WATCH_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; fi
  [ -n "${KEEP_DEMO_DIR:-}" ] || rm -rf "$DIR"
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

step "The network service: ovn-docker server (Keystone v3 + Neutron v2.0 subset) on this NB"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
printf '\033[36m$ %s\033[0m\n' "ovn-docker server init --dir $DIR/etc --listen 127.0.0.1:$PORT --json"
$OVN_DOCKER server init --dir "$DIR/etc" --listen "127.0.0.1:$PORT" --json > "$DIR/init.json"
echo "wrote $DIR/etc/server.yaml (one project, an admin and a member user; passwords in $DIR/init.json)"
printf '\033[36m$ %s\033[0m\n' "ovn-docker server --config $DIR/etc/server.yaml --nb $OVN_NB_DB &"
$OVN_DOCKER server --config "$DIR/etc/server.yaml" --nb "$OVN_NB_DB" --log-level warn > "$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do node -e "fetch('http://127.0.0.1:$PORT/v3').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" && break; sleep 0.1; done
export OS_AUTH_URL="http://127.0.0.1:$PORT/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME=demo \
  OS_PROJECT_NAME=demo OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
  OS_PASSWORD=$(node -e 'const r=require(process.argv[1]);console.log(r.users.find(u=>u.name==="demo").password)' "$DIR/init.json")
echo "(acting as tenant user demo through the standard OpenStack client, OS_AUTH_URL=$OS_AUTH_URL)"

step "The tenant creates a management network with a VM port (what Nova would do) and network LS1"
show openstack network create mgmt -c id -c name -c mtu
show openstack subnet create --network mgmt --subnet-range 10.0.0.0/24 mgmt-v4 -c cidr -c gateway_ip
VIF_ID=$(openstack port create --network mgmt vm-a -f value -c id)
echo "VM-A's port (its vif-id): $VIF_ID"
show openstack network create LS1 -c id -c name
show openstack subnet create --network LS1 --subnet-range 192.168.1.0/24 ls1-v4 -c cidr

step "A container port on LS1 whose parent is VM-A's port, VLAN 10 (the seed's binding:profile)"
show openstack port create --network LS1 --binding-profile "{\"parent_name\": \"$VIF_ID\", \"tag\": 10}" c1 \
  -c id -c mac_address -c fixed_ips -c binding_profile -c status
C1=$(openstack port show c1 -f value -c id)
step "Its OVN Northbound row: parent_name and tag, written as Neutron ML2/OVN writes them"
show ovn-nbctl --db="$OVN_NB_DB" --columns=name,addresses,parent_name,tag,port_security list Logical_Switch_Port "$C1"

step "What Neutron ML2/OVN accepts and ovn-docker refuses: the same VLAN twice under one parent, deleting the parent"
show openstack port create --network LS1 --binding-profile "{\"parent_name\": \"$VIF_ID\", \"tag\": 10}" c1-again || true
show openstack port delete vm-a || true

step "Remove the container port, then the VM port"
show openstack port delete c1
show openstack port delete vm-a
show openstack port list

step "Done: the server and ovsdb-server are stopped by their pids and $DIR removed"
