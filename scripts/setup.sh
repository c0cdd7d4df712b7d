#!/usr/bin/env bash
# Installs what ovn-docker needs on a Debian 12 machine, idempotently:
# the Debian packages (only the missing ones), the npm dependencies (only when
# package-lock.json changed) and the build. Package installation starts no
# daemon here: the project starts every daemon it uses itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  openvswitch-switch  # ovsdb-server, ovs-vswitchd, ovs-vsctl, ovsdb-tool
  ovn-central         # ovn-northd, ovn-nbctl, the NB/SB schemas
  ovn-host            # ovn-controller
  iproute2 ethtool    # namespaces, veths, offload settings
  python3-openvswitch # the Python OVSDB library, baseline of bench/ovsdb
  python3-openstackclient # the standard OpenStack CLI, used to test API compatibility
  docker.io runc containerd tini # the Docker engine inside sandbox VMs (started by ovn-docker itself)
  podman containernetworking-plugins # podman (runc, CNI backend) and the reference CNI plugins
  busybox-static      # the local container image (no registry is reachable)
  tcpdump             # VLAN tags on the wire, in the e2e tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  # Debian's docker.io/containerd postinst scripts would start their services: a policy-rc.d
  # that refuses keeps package installation from starting any daemon (only when none exists).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

# npm dependencies: npm ci only when the lock file is newer than the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# build (incremental; tsc skips unchanged files)
npx tsc -p tsconfig.json
chmod +x dist/src/cli/main.js dist/src/cni/main.js
