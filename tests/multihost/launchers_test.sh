#!/usr/bin/env bash
# Launchers: mixccl-perf started by mpirun (Open MPI; as root with --allow-run-as-root
# --oversubscribe) on one host, by mpirun across 2 network-namespace hosts (root only; skipped
# otherwise, saying why), and by a plain environment rendezvous (MIXCCL_COMM_ID, RANK, WORLD_SIZE, as
# torchrun and Slurm scripts set them). Each run checks every output element (-c 1); mixccl-perf
# exits non-zero on a wrong value or an error.
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

# mpirun across hosts: 2 network-namespace hosts x 2 ranks (root only). mpirun runs inside host 0's
# namespace (the hosts' bridge does not reach the machine's own namespace) and starts its daemon on
# each host through netns_rsh_agent.sh instead of ssh; the hostfile names the namespaces.
mpirun_across_netns_hosts() (
  source "$(dirname "$0")/netns_hosts.sh"
  why=$(netns_can_run) || { echo "launchers_test: mpirun across namespace hosts SKIPPED: ${why}"; return 0; }
  netns_setup 2
  local hostfile="/tmp/mixccl-hosts-$$"
  printf '%s slots=2\n' "${NETNS_TAG}h0" "${NETNS_TAG}h1" > "$hostfile"
  local out rc attempt
  # Open MPI's own daemons failed to start once in a fresh-clone run (mpirun exit 139, "ORTE was
  # unable to reliably start one or more daemons", before any mixccl rank ran): that is the
  # launcher's start-up, not mixccl, so it gets one more try, said aloud. Any other failure counts.
  for attempt in 1 2; do
    out=$(ip netns exec "${NETNS_TAG}h0" timeout 120 mpirun --allow-run-as-root --oversubscribe -np 4 \
          --hostfile "$hostfile" --mca plm_rsh_agent "$(cd "$(dirname "$0")" && pwd)/netns_rsh_agent.sh" \
          --mca oob_tcp_if_include veth0 --mca btl_tcp_if_include veth0 --mca btl tcp,self \
          -x MIXCCL_TIMEOUT -x MIXCCL_DEBUG=INFO \
          "$PERF" all_reduce -b 1K -e 4M -f 64 -n 1 -w 0 -c 1 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [ $attempt -eq 1 ] && grep -q "ORTE was unable to reliably start one or more daemons" <<< "$out" &&
       ! grep -q " mixccl INFO " <<< "$out"; then
      echo "launchers_test: Open MPI could not start its daemons in the namespace hosts (exit $rc); trying once more"
      continue
    fi
    break
  done
  rm -f "$hostfile"
  if [ $rc -ne 0 ] || ! grep -q "launched by mpirun" <<< "$out" || ! grep -q "2 host(s), 4 rank(s)" <<< "$out" ||
     ! grep -qE "rank 0/4: shm peers \[1\], socket peers \[2,3\]" <<< "$out" || ! grep -q "Out of bounds values : 0 OK" <<< "$out"; then
    echo "launchers_test: FAIL: mpirun -np 4 across 2 namespace hosts (exit $rc; want 2 hosts, rank 0 with shm to 1 and"
    echo "sockets to 2,3, every element right):"
    grep -v " INFO " <<< "$out" | tail -n 20
    grep -m3 -E "host\(s\)|peers \[" <<< "$out"
    return 1
  fi
  echo "launchers_test: mpirun -np 4 across 2 namespace hosts: ok"
)
if command -v mpirun > /dev/null; then
  mpirun_across_netns_hosts || failures=$((failures + 1))
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
