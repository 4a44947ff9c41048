#!/usr/bin/env bash
# Benchmark (not a test): 2 ranks, 64 MiB float all-reduce over loopback, socket vs ucx vs ofi, next
# to what raw TCP does on the same loopback in the same run (iperf3, both directions at once, as the
# ring sends and receives at once). For 2 ranks the ring moves S bytes each way per rank, so its
# bus bandwidth (S / time) compares directly with one direction of the bidirectional TCP rate.
#
# Usage: bench_transports.sh BUILD_DIR [SIZE=64M] [ITERS=10]
set -euo pipefail
BUILD_DIR="${1:?usage: bench_transports.sh BUILD_DIR [SIZE] [ITERS]}"
SIZE="${2:-64M}"
ITERS="${3:-10}"
PERF="${BUILD_DIR}/bin/mixccl-perf"
export MIXCCL_SOCKET_IFNAME=lo

tcp_gbps() {
  local port=$((21000 + $$ % 1000)) out
  iperf3 -s -1 -p "$port" -B 127.0.0.1 > /dev/null 2>&1 &
  local server=$!
  sleep 0.5
  # --bidir: one stream each way at once; the per-direction rate is the ring's ceiling.
  out=$(iperf3 -c 127.0.0.1 -p "$port" -t 4 --bidir -J 2> /dev/null || true)
  wait "$server" 2> /dev/null || true
  /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
e = d["end"]
send = e["sum_sent"]["bits_per_second"] / 8e9
recv = e.get("sum_sent_bidir_reverse", e["sum_received"])["bits_per_second"] / 8e9
print("%.3f" % min(send, recv))' "$out"
}

busbw() {  # prints the out-of-place bus bandwidth (GB/s) of one all-reduce size
  local out
  out=$(env "$@" timeout 300 "$PERF" all_reduce -np 2 -b "$SIZE" -e "$SIZE" -n "$ITERS" -w 1 -c 0 2>&1 || true)
  awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 8 { print $8; exit }' <<< "$out"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
tcp=$(tcp_gbps)
echo "raw TCP (iperf3 --bidir, per direction): ${tcp} GB/s"
declare -A bw
bw[socket]=$(busbw MIXCCL_TRANSPORT=socket)
bw[ucx]=$(busbw MIXCCL_TRANSPORT=ucx UCX_TLS=tcp)
bw[ofi]=$(busbw MIXCCL_TRANSPORT=ofi FI_PROVIDER=tcp)
tcp_after=$(tcp_gbps)
echo "raw TCP again after the runs: ${tcp_after} GB/s"
for t in socket ucx ofi; do
  /usr/bin/python3 -c '
import sys
t, b, tcp, sock = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("%-6s busbw %.3f GB/s = %3.0f%% of raw TCP, %3.0f%% of socket" % (t, b, 100 * b / tcp, 100 * b / sock))' \
    "$t" "${bw[$t]}" "$(/usr/bin/python3 -c "print(max($tcp, $tcp_after))")" "${bw[socket]}"
done
