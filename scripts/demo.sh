#!/usr/bin/env bash
# The main job: set up, build, then run an all-reduce over 4 local ranks from 8 bytes to 64 MiB and
# check every element of every result. Prints the nccl-tests style table; exits non-zero on any
# wrong value or failed call.
#
# The device list is `cpu` for now. As device backends land (cuda, hip, plugins), a mixed run is the
# same command with, e.g., --devices cpu,cuda: ranks take the kinds in turn.
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

echo "demo: ${PERF} all_reduce -np 4 -b 8 -e 64M -f 2 -c 1 --devices cpu"
if "${PERF}" all_reduce -np 4 -b 8 -e 64M -f 2 -c 1 --devices cpu; then
  echo "demo: every value was right"
else
  rc=$?
  echo "demo: FAILED (mixccl-perf exit code ${rc}; 1 = wrong values, 2 = a call failed, see above)" >&2
  exit "${rc}"
fi
