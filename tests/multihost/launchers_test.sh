#!/usr/bin/env bash
# Launchers on one host (no root needed): mixccl-perf started by mpirun (Open MPI, as root with
# --allow-run-as-root --oversubscribe) and by a plain environment rendezvous (MIXCCL_COMM_ID, RANK,
# WORLD_SIZE, as torchrun and Slurm scripts set them). Each run checks every output element (-c 1);
# mixccl-perf exits non-zero on a wrong value or an error.
#
# Usage: launchers_test.sh BUILD_DIR. Without mpirun the mpirun part is skipped, saying so.
set -uo pipefail
PERF="$(cd "${1:?usage: launchers_test.sh BUILD_DIR}" && pwd)/bin/mixccl-perf"
export MIXCCL_SOCKET_IFNAME=lo MIXCCL_TIMEOUT=30
failures=0

if command -v mpirun > /dev/null; then
  root=()
  [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  out=$(timeout 120 mpirun "${root[@]}" --oversubscribe -np 3 -x MIXCCL_SOCKET_IFNAME -x MIXCCL_TIMEOUT \
        "$PERF" all_reduce -b 1K -e 1M -f 32 -n 1 -w 0 -c 1 2>&1)
  rc=$?
  if [ $rc -ne 0 ] || ! grep -q "Rank  2" <<< "$out"; then
    echo "launchers_test: FAIL: mpirun -np 3 mixccl-perf (exit $rc):"
    echo "$out" | tail -n 20
    failures=$((failures + 1))
  else
    echo "launchers_test: mpirun -np 3: ok"
  fi
else
  echo "launchers_test: mpirun part SKIPPED: no mpirun (apt-get install openmpi-bin)"
fi

port=$((20000 + ($$ % 500) * 24 + 23))
pids=()
for r in 0 1 2; do
  MIXCCL_COMM_ID="127.0.0.1:${port}" MIXCCL_SECRET="launchers-$$" RANK=$r WORLD_SIZE=3 \
    timeout 60 "$PERF" broadcast -b 1K -e 1M -f 32 -n 1 -w 0 -c 1 > "/tmp/mixccl-launch-$$-$r.log" 2>&1 &
  pids+=($!)
done
for r in 0 1 2; do
  if ! wait "${pids[$r]}"; then
    echo "launchers_test: FAIL: environment rendezvous, rank $r:"
    tail -n 20 "/tmp/mixccl-launch-$$-$r.log"
    failures=$((failures + 1))
  fi
done
grep -q "environment (RANK, WORLD_SIZE, MIXCCL_COMM_ID)" "/tmp/mixccl-launch-$$-0.log" ||
  { echo "launchers_test: FAIL: rank 0 did not run as an environment-rendezvous rank"; failures=$((failures + 1)); }
rm -f /tmp/mixccl-launch-$$-*.log
[ $failures -eq 0 ] && echo "launchers_test: environment rendezvous (3 ranks): ok"
[ $failures -eq 0 ]
