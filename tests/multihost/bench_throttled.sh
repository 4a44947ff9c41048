#!/usr/bin/env bash
# Benchmark (not a test; root only): 4 namespace hosts x 2 ranks, host 3's link throttled to a quarter
# of the others' rate (tc tbf), 32 MiB float all-reduce: the tuner's choice vs a plain ring
# (MIXCCL_ALGO=allreduce:ring). Prints both times and their ratio (target: tuner >= 1.3x the ring).
#
# Usage: bench_throttled.sh BUILD_DIR [FAST_RATE=800mbit] [SLOW_RATE=200mbit] [SIZE=32M]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/netns_hosts.sh"
PERF="$(cd "${1:?usage: bench_throttled.sh BUILD_DIR}" && pwd)/bin/mixccl-perf"
FAST="${2:-800mbit}"
SLOW="${3:-200mbit}"
SIZE="${4:-32M}"
if ! why=$(netns_can_run); then echo "bench_throttled: SKIPPED: ${why}"; exit 0; fi
netns_setup 4
for h in 0 1 2; do netns_throttle "$h" "$FAST"; done
netns_throttle 3 "$SLOW"
port=$((20000 + ($$ % 500) * 24 + 20))

run() {  # run LABEL ENV... ; prints the out-of-place time (us) of rank 0
  local label=$1 r pids=()
  shift
  port=$((port + 1))
  for r in 0 1 2 3 4 5 6 7; do
    run_rank $((r / 2)) "$@" MIXCCL_COMM_ID="$(netns_addr 0):${port}" MIXCCL_SECRET="bench-$$" RANK=$r WORLD_SIZE=8 \
      LOCAL_RANK=$((r % 2)) MIXCCL_DEBUG=INFO timeout 300 "$PERF" all_reduce -b "$SIZE" -e "$SIZE" -n 3 -w 1 -c 0 \
      > "/tmp/mixccl-throttled-$$-${label}-$r.log" 2>&1 &
    pids+=($!)
    NETNS_PIDS+=($!)
  done
  for r in 0 1 2 3 4 5 6 7; do wait "${pids[$r]}"; done
  NETNS_PIDS=()
  grep -m1 "AllReduce of .* uses" "/tmp/mixccl-throttled-$$-${label}-0.log" | sed 's/.*AllReduce/  AllReduce/' | cut -c1-160 >&2
  # What the calibration measured per host, and the island weights the tuner derived from it.
  grep -E "own network rate|island weights" "/tmp/mixccl-throttled-$$-${label}-0.log" | sed 's/^.*mixccl INFO/ /' | cut -c1-220 >&2 || true
  awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 8 { print $6; exit }' "/tmp/mixccl-throttled-$$-${label}-0.log"
}

echo "# $(date -u +%FT%TZ) 4 hosts x 2 ranks, hosts 0-2 at ${FAST}, host 3 at ${SLOW}, ${SIZE} all_reduce; load $(cut -d' ' -f1-3 /proc/loadavg)"
tuned=$(run tuned MIXCCL_TRANSPORT=auto)
ring=$(run ring MIXCCL_TRANSPORT=auto MIXCCL_ALGO=allreduce:ring)
echo "tuner: ${tuned} us; plain ring: ${ring} us; tuner speed-up: $(/usr/bin/python3 -c "print('%.2fx' % ($ring / $tuned))")"
rm -f /tmp/mixccl-throttled-$$-*.log
