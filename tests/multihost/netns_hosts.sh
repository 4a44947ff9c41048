# Sourced by the multi-host tests and benchmarks: builds N "hosts" on one machine, each a network
# namespace with its own veth link into a switch namespace that holds a bridge, so no address or
# link of the machine's own namespace is touched. Every rank started with run_rank gets a distinct
# MIXCCL_HOST_ID per host, so mixccl sees separate hosts (no shm between them, topology islands).
#
#   netns_setup N            create hosts 0..N-1 (10.<net>.0.<i+1>/24 on their veth0); installs a trap
#                            that removes everything on exit, whatever the exit path
#   netns_throttle I RATE    limit host I's link to RATE (tc tbf, both directions), e.g. 250mbit
#   run_rank H ...           run a command in host H's namespace with the host's environment
#   netns_addr H             host H's address
#
# Needs root and iproute2; netns_can_run says whether both are there (and why not).

NETNS_TAG="mx$$"
NETNS_NET=$(( ($$ % 200) + 20 ))
NETNS_HOSTS=0
NETNS_PIDS=()

netns_can_run() {
  if [ "$(id -u)" != "0" ]; then echo "needs root (ip netns)"; return 1; fi
  if ! command -v ip > /dev/null; then echo "needs iproute2 (ip)"; return 1; fi
  if ! ip netns add "${NETNS_TAG}probe" 2> /dev/null; then echo "cannot create network namespaces here"; return 1; fi
  ip netns del "${NETNS_TAG}probe"
  return 0
}

netns_cleanup() {
  local pid i
  for pid in "${NETNS_PIDS[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
  for ((i = 0; i < NETNS_HOSTS; i++)); do ip netns del "${NETNS_TAG}h$i" 2> /dev/null || true; done
  ip netns del "${NETNS_TAG}sw" 2> /dev/null || true
  # veth ends die with their namespace; these only exist if setup stopped halfway.
  for ((i = 0; i < NETNS_HOSTS; i++)); do ip link del "${NETNS_TAG}a$i" 2> /dev/null || true; done
}

netns_addr() { echo "10.${NETNS_NET}.0.$(($1 + 1))"; }

netns_setup() {
  local n=$1 i sw="${NETNS_TAG}sw"
  NETNS_HOSTS=$n
  trap netns_cleanup EXIT
  trap 'exit 130' INT TERM
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  for ((i = 0; i < n; i++)); do
    local ns="${NETNS_TAG}h$i"
    ip netns add "$ns"
    ip link add "${NETNS_TAG}a$i" type veth peer name "${NETNS_TAG}b$i"
    ip link set "${NETNS_TAG}a$i" netns "$ns"
    ip link set "${NETNS_TAG}b$i" netns "$sw"
    ip -n "$ns" link set "${NETNS_TAG}a$i" name veth0
    ip -n "$ns" addr add "$(netns_addr "$i")/24" dev veth0
    ip -n "$ns" link set veth0 up
    ip -n "$ns" link set lo up
    ip -n "$sw" link set "${NETNS_TAG}b$i" master br0
    ip -n "$sw" link set "${NETNS_TAG}b$i" up
  done
  netns_wait_links
}

# `ip link set up` returns before a veth has its carrier. Until it has, Open MPI's daemons do not count
# veth0 as a usable interface and mpirun fails at once ("lack of common network interfaces and/or no
# route found", seen once in a fresh-clone run), and early packets are dropped. Wait (up to 10 s) until
# every host's veth0, its port on the bridge, and the bridge itself report state UP.
netns_wait_links() {
  local try i ready
  for ((try = 0; try < 100; try++)); do
    ready=1
    ip -n "${NETNS_TAG}sw" -o link show br0 | grep -q "state UP" || ready=0
    for ((i = 0; i < NETNS_HOSTS && ready; i++)); do
      ip -n "${NETNS_TAG}h$i" -o link show veth0 | grep -q "state UP" || ready=0
      ip -n "${NETNS_TAG}sw" -o link show "${NETNS_TAG}b$i" | grep -q "state UP" || ready=0
    done
    [ "$ready" = 1 ] && return 0
    sleep 0.1
  done
  echo "netns_hosts: the namespace hosts' links are not all up after 10 s:" >&2
  ip -n "${NETNS_TAG}sw" -br link show >&2
  return 1
}

# Host I sends at RATE (its veth0) and receives at RATE (its port on the bridge).
netns_throttle() {
  local i=$1 rate=$2
  ip netns exec "${NETNS_TAG}h$i" tc qdisc replace dev veth0 root tbf rate "$rate" burst 256kb latency 50ms
  ip netns exec "${NETNS_TAG}sw" tc qdisc replace dev "${NETNS_TAG}b$i" root tbf rate "$rate" burst 256kb latency 50ms
}

run_rank() {
  local h=$1
  shift
  ip netns exec "${NETNS_TAG}h$h" env MIXCCL_HOST_ID="netns-host-$h" MIXCCL_SOCKET_IFNAME=veth0 UCX_NET_DEVICES=veth0 "$@"
}
