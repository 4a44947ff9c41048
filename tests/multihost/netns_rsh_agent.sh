#!/usr/bin/env bash
# Open MPI's remote-shell agent for hosts that are network namespaces on this machine (see
# docs/launchers.md): mpirun calls `AGENT [options] HOST COMMAND...` as it would call ssh; here HOST
# names a namespace made by netns_hosts.sh (e.g. mx1234h2), and COMMAND (Open MPI's orted daemon,
# as a shell command line) runs inside it with that host's identity, which the daemon's ranks inherit:
# MIXCCL_HOST_ID=netns-host-<i>, MIXCCL_SOCKET_IFNAME=veth0, UCX_NET_DEVICES=veth0.
set -euo pipefail
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done  # ssh-style options (-x, ...): none apply
host="${1:?netns_rsh_agent: no host given}"
shift
if ! ip netns list | awk '{print $1}' | grep -qx "$host"; then
  echo "netns_rsh_agent: no network namespace named '$host' (is the hostfile from netns_hosts.sh?)" >&2
  exit 255
fi
exec ip netns exec "$host" env MIXCCL_HOST_ID="netns-host-${host##*h}" MIXCCL_SOCKET_IFNAME=veth0 \
  UCX_NET_DEVICES=veth0 /bin/sh -c "$*"
