#!/usr/bin/env bash
# UCX setup, again and again, in freshly forked ranks (mixccl-perf --np 2): every run must finish.
# UCX 1.13's memory hooks could leave ucp_init blocked for ever in about 1 run of 10 (see
# backends/transports/ucx/ucx_defaults.h); this catches that, or any other intermittent setup hang,
# with high probability. A run that has not finished after 30 s is a hang: its whole process group
# is killed and the test fails, naming the run.
#
# Usage: ucx_init_repeat_test.sh BUILD_DIR [RUNS]. Extra UCX_* variables pass through (set
# UCX_MEM_EVENTS=yes to watch the old hang come back).
set -uo pipefail
PERF="$(cd "${1:?usage: ucx_init_repeat_test.sh BUILD_DIR [RUNS]}" && pwd)/bin/mixccl-perf"
runs=${2:-25}
export MIXCCL_TRANSPORT=ucx UCX_TLS=${UCX_TLS:-tcp} MIXCCL_SOCKET_IFNAME=lo MIXCCL_TIMEOUT=20
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for run in $(seq 1 "$runs"); do
  setsid "$PERF" all_reduce --np 2 -b 1M -e 1M -n 2 -w 1 -c 1 > "$log" 2>&1 &
  pid=$!
  waited=0
  while kill -0 "$pid" 2> /dev/null && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2> /dev/null; then
    kill -9 -- "-$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    echo "ucx_init_repeat_test: FAIL: run $run of $runs did not finish in 30 s (UCX_TLS=$UCX_TLS); its output:"
    cat "$log"
    exit 1
  fi
  if ! wait "$pid"; then
    echo "ucx_init_repeat_test: FAIL: run $run of $runs failed (UCX_TLS=$UCX_TLS):"
    cat "$log"
    exit 1
  fi
done
echo "ucx_init_repeat_test: $runs runs over UCX_TLS=$UCX_TLS, every one finished and checked"
