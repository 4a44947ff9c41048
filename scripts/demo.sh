#!/usr/bin/env bash
# The main job: set up, build, then run an all-reduce over 4 local ranks of two device kinds from 8
# bytes to 64 MiB and check every element of every result. Prints the nccl-tests style table; exits
# non-zero on any wrong value or failed call.
#
# The kinds are cpu and emu, taken in turn (ranks 0 and 2 on the cpu, 1 and 3 on emu): emu is the
# in-tree accelerator plugin whose memory the host cannot touch (docs/devices.md), so this is a mixed
# communicator on every machine. MIXCCL_DEMO_DEVICES replaces the list, e.g. cpu,cuda on a GPU
# machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
scripts/build.sh

BUILD_DIR="${MIXCCL_BUILD_DIR:-build}"
PERF="${BUILD_DIR}/bin/mixccl-perf"
if [ ! -x "${PERF}" ]; then
  echo "demo: ${PERF} was not built (CMake said why above: CLI11 or nlohmann_json missing?)" >&2
  exit 1
fi

DEVICES="${MIXCCL_DEMO_DEVICES:-cpu,emu}"
echo "demo: ${PERF} all_reduce -np 4 -b 8 -e 64M -f 2 -c 1 --devices ${DEVICES}"
if "${PERF}" all_reduce -np 4 -b 8 -e 64M -f 2 -c 1 --devices "${DEVICES}"; then
  echo "demo: every value was right"
else
  rc=$?
  echo "demo: FAILED (mixccl-perf exit code ${rc}; 1 = wrong values, 2 = a call failed, see above)" >&2
  exit "${rc}"
fi
