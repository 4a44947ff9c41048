#!/usr/bin/env bash
# Multi-host test on one machine: network namespaces as hosts (netns_hosts.sh), 2 ranks per host,
# ranks meeting through the plain environment rendezvous (MIXCCL_COMM_ID, RANK, WORLD_SIZE).
#
#   1. 4 hosts x 2 ranks, auto transports: every rank sees 4 hosts with 2 ranks on its own, only its
#      host-mate over shm and the rest over the socket; the tuner's 32 MiB all-reduce is hierarchical.
#   2. 2 hosts x 2 ranks, for each of socket (shm inside a host), ucx (UCX_TLS=tcp) and ofi
#      (FI_PROVIDER=tcp): every collective of mixccl-perf, checked element by element (-c 1).
#
# Usage: netns_test.sh BUILD_DIR. Exits 77 (ctest: skipped) without root or namespaces.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/netns_hosts.sh"
BUILD_DIR="$(cd "${1:?usage: netns_test.sh BUILD_DIR}" && pwd)"
PERF="${BUILD_DIR}/bin/mixccl-perf"
[ -x "$PERF" ] || { echo "netns_test: ${PERF} is not built"; exit 1; }
if ! why=$(netns_can_run); then
  echo "netns_test: SKIPPED: ${why}"
  exit 77
fi

LOGS="$(mktemp -d /tmp/mixccl-netns.XXXXXX)"
# Rendezvous ports below the kernel's ephemeral range (32768+), so no outgoing connection holds one.
NEXT_PORT=$((20000 + ($$ % 500) * 24))
failures=0
fail() {
  echo "netns_test: FAIL: $*"
  failures=$((failures + 1))
}

# run_job NAME HOSTS RANKS_PER_HOST "ENV..." PERF_ARGS... : starts every rank, waits (60 s at most
# each), returns non-zero if any rank failed; logs are in $LOGS/NAME.R.log.
run_job() {
  local name=$1 hosts=$2 per=$3 extra=$4
  shift 4
  local n=$((hosts * per)) port=$NEXT_PORT r pids=() rc=0
  NEXT_PORT=$((NEXT_PORT + 1))
  for ((r = 0; r < n; r++)); do
    # shellcheck disable=SC2086
    run_rank $((r / per)) ${extra} MIXCCL_COMM_ID="$(netns_addr 0):${port}" MIXCCL_SECRET="netns-$$-${port}" \
      RANK=$r WORLD_SIZE=$n LOCAL_RANK=$((r % per)) MIXCCL_TIMEOUT=30 \
      timeout 60 "$PERF" "$@" > "${LOGS}/${name}.${r}.log" 2>&1 &
    pids+=($!)
    NETNS_PIDS+=($!)
  done
  for ((r = 0; r < n; r++)); do
    if ! wait "${pids[$r]}"; then
      rc=1
      echo "netns_test: ${name}: rank ${r} failed; its log:"
      tail -n 15 "${LOGS}/${name}.${r}.log"
    fi
  done
  NETNS_PIDS=()
  return $rc
}

start=$(date +%s)
netns_setup 4

# 1. Topology and tuner over 4 hosts.
if run_job topo 4 2 "MIXCCL_DEBUG=INFO MIXCCL_CALIBRATE=0" all_reduce -b 32M -e 32M -n 1 -w 0 -c 1; then
  grep -q "4 host(s), 8 rank(s)" "${LOGS}/topo.0.log" || fail "rank 0's topology is not 4 hosts of 8 ranks"
  for r in 0 1 2 3 4 5 6 7; do
    log="${LOGS}/topo.${r}.log"
    grep -q "2 rank(s) on this host" "$log" || fail "rank $r does not see exactly 2 ranks on its host"
    mate=$((r ^ 1))
    grep -qE "rank ${r}/8: shm peers \[${mate}\], socket peers \[[0-9,]+\]" "$log" ||
      fail "rank $r does not use shm for its host-mate ${mate} and the socket for the others"
  done
  grep -qE "AllReduce of 32 MiB .* uses hier " "${LOGS}/topo.0.log" ||
    fail "the tuner's 32 MiB all-reduce over 4 hosts x 2 ranks is not hierarchical: $(grep -m1 'AllReduce of 32 MiB' "${LOGS}/topo.0.log")"
else
  fail "4 hosts x 2 ranks all_reduce"
fi

# 2. Every collective over each transport, 2 hosts x 2 ranks.
collectives="all_reduce all_gather reduce_scatter broadcast reduce alltoall gather scatter sendrecv"
for transport in socket ucx ofi; do
  case $transport in
    socket) env="MIXCCL_TRANSPORT=auto" ;;
    ucx) env="MIXCCL_TRANSPORT=ucx UCX_TLS=tcp" ;;
    ofi) env="MIXCCL_TRANSPORT=ofi FI_PROVIDER=tcp" ;;
  esac
  if [ "$transport" != socket ] && ! grep -q "MIXCCL_HAVE_$(echo "$transport" | tr a-z A-Z)" "${BUILD_DIR}/CMakeCache.txt" 2> /dev/null &&
     ! "$PERF" --help 2>&1 | grep -q .; then
    continue
  fi
  for c in $collectives; do
    if ! run_job "${transport}-${c}" 2 2 "$env MIXCCL_DEBUG=INFO" "$c" -b 4K -e 4M -f 32 -n 1 -w 0 -c 1 -d float; then
      fail "${c} over ${transport} across 2 namespace hosts"
      continue
    fi
    if [ "$c" = all_reduce ]; then
      grep -q "${transport} peers \[" "${LOGS}/${transport}-${c}.0.log" || fail "no ${transport} peers on rank 0"
      [ "$transport" = socket ] || grep -qE "rank 0/4: .*${transport} peers \[1,2,3\]" "${LOGS}/${transport}-${c}.0.log" ||
        fail "MIXCCL_TRANSPORT=${transport} did not put every peer of rank 0 on ${transport}"
    fi
  done
done

echo "netns_test: $(( $(date +%s) - start )) s, ${failures} failure(s); logs in ${LOGS}"
if [ "$failures" -eq 0 ]; then rm -rf "$LOGS"; fi
[ "$failures" -eq 0 ]
