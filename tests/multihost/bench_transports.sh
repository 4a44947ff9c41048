#!/usr/bin/env bash
# Benchmark (not a test): 2 ranks, 64 MiB float all-reduce over loopback, socket (1, 2 and 4
# connections per peer: MIXCCL_NSOCKS) vs ucx vs ofi, next to what raw TCP does on the same loopback
# in the same run (iperf3, both directions at once, as the ring sends and receives at once). For 2
# ranks the ring moves S bytes each way per rank, so its bus bandwidth (S / time) compares directly
# with one direction of the bidirectional TCP rate.
#
# The machine is shared and noisy, so every number is the best of ROUNDS rounds, and the rounds
# interleave TCP and the transports so a burst of load hits them alike. Verdicts (issue 8 targets):
#   socket (default MIXCCL_NSOCKS) >= 80 % of raw TCP;  ucx, ofi >= 80 % of socket ("within 20 %").
#
# Usage: bench_transports.sh BUILD_DIR [SIZE=64M] [ITERS=10] [ROUNDS=3]
set -euo pipefail
BUILD_DIR="${1:?usage: bench_transports.sh BUILD_DIR [SIZE] [ITERS] [ROUNDS]}"
SIZE="${2:-64M}"
ITERS="${3:-10}"
ROUNDS="${4:-3}"
PERF="${BUILD_DIR}/bin/mixccl-perf"
PY=/usr/bin/python3
export MIXCCL_SOCKET_IFNAME=lo
command -v iperf3 > /dev/null || { echo "bench_transports: needs iperf3 (apt-get install iperf3)"; exit 2; }

tcp_gbps() {
  local port=$((21000 + $$ % 1000)) out
  iperf3 -s -1 -p "$port" -B 127.0.0.1 > /dev/null 2>&1 &
  local server=$!
  sleep 0.5
  # --bidir: one stream each way at once; the per-direction rate is the ring's ceiling.
  out=$(iperf3 -c 127.0.0.1 -p "$port" -t 4 --bidir -J 2> /dev/null || true)
  wait "$server" 2> /dev/null || true
  $PY -c '
import json, sys
try:
    e = json.loads(sys.argv[1])["end"]
    send = e["sum_sent"]["bits_per_second"] / 8e9
    recv = e.get("sum_sent_bidir_reverse", e["sum_received"])["bits_per_second"] / 8e9
    print("%.3f" % min(send, recv))
except Exception:
    print("0")' "$out"
}

busbw() {  # prints the out-of-place bus bandwidth (GB/s) of one all-reduce size, 0 on failure
  local out
  out=$(env "$@" timeout 300 "$PERF" all_reduce -np 2 -b "$SIZE" -e "$SIZE" -n "$ITERS" -w 1 -c 0 2>&1 || true)
  awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 8 { print $8; found = 1; exit } END { if (!found) print 0 }' <<< "$out"
}

best() { $PY -c 'import sys; print("%.3f" % max(float(x) for x in sys.argv[1:]))' "$@"; }

declare -A runs=(
  [socket]="MIXCCL_TRANSPORT=socket"
  [socket_1]="MIXCCL_TRANSPORT=socket MIXCCL_NSOCKS=1"
  [socket_2]="MIXCCL_TRANSPORT=socket MIXCCL_NSOCKS=2"
  [socket_4]="MIXCCL_TRANSPORT=socket MIXCCL_NSOCKS=4"
  [ucx]="MIXCCL_TRANSPORT=ucx UCX_TLS=tcp"
  [ofi]="MIXCCL_TRANSPORT=ofi FI_PROVIDER=tcp"
)
order=(socket socket_1 socket_2 socket_4 ucx ofi)
declare -A bw
tcp=0
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE} all_reduce, 2 ranks, best of ${ROUNDS}"
for ((round = 1; round <= ROUNDS; round++)); do
  tcp=$(best "$tcp" "$(tcp_gbps)")
  for t in "${order[@]}"; do
    # shellcheck disable=SC2086
    bw[$t]=$(best "${bw[$t]:-0}" "$(busbw ${runs[$t]})")
  done
  echo "# round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "raw TCP (iperf3 --bidir, per direction, best of ${ROUNDS}): ${tcp} GB/s"
for t in "${order[@]}"; do
  $PY -c '
import sys
t, b, tcp, sock = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("%-9s busbw %.3f GB/s = %3.0f%% of raw TCP, %3.0f%% of socket" % (t, b, 100 * b / tcp, 100 * b / sock))' \
    "$t" "${bw[$t]}" "$tcp" "${bw[socket]}"
done
verdict() {  # name value reference ratio
  $PY -c '
import sys
name, v, ref, need = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
r = v / ref if ref > 0 else 0
print("%s: %s (%.0f%%, target %.0f%%)" % ("PASS" if r >= need else "MISS", name, 100 * r, 100 * need))' "$@"
}
verdict "socket (default MIXCCL_NSOCKS) vs raw TCP" "${bw[socket]}" "$tcp" 0.8
verdict "ucx (UCX_TLS=tcp) vs socket" "${bw[ucx]}" "${bw[socket]}" 0.8
verdict "ofi (FI_PROVIDER=tcp) vs socket" "${bw[ofi]}" "${bw[socket]}" 0.8
echo "# finished $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
