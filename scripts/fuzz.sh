#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan, in ${MIXCCL_BUILD_DIR:-build}-fuzz) and runs
# each for the given number of seconds (default 60): the bootstrap message parsers, the topology-file
# parser and the device plugin loader's validation. Crashes are left in the build dir's
# fuzz/<target>-artifacts/; the corpus grows in fuzz/<target>-corpus/ (seeded from fuzz/seeds/).
# Exits non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${1:-60}"
FUZZ_DIR="${MIXCCL_BUILD_DIR:-build}-fuzz"
TARGETS=(bootstrap_wire_fuzz topology_file_fuzz plugin_validate_fuzz)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
CC=clang CXX=clang++ cmake -S . -B "${FUZZ_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMIXCCL_FUZZ=ON -DMIXCCL_BUILD_TESTS=OFF
cmake --build "${FUZZ_DIR}" -j"$(nproc)" --target "${TARGETS[@]}"

status=0
for t in "${TARGETS[@]}"; do
  bin="${FUZZ_DIR}/fuzz/${t}"
  if [ ! -x "${bin}" ]; then
    echo "fuzz: ${t} was not built (its parser is missing from this tree; see the cmake output)" >&2
    status=1
    continue
  fi
  corpus="${FUZZ_DIR}/fuzz/${t}-corpus"
  artifacts="${FUZZ_DIR}/fuzz/${t}-artifacts/"
  mkdir -p "${corpus}" "${artifacts}"
  seeds="fuzz/seeds/${t%_fuzz}"
  [ -d "${seeds}" ] && cp -n "${seeds}"/* "${corpus}/" 2>/dev/null || true
  echo "fuzz: ${t} for ${SECONDS_PER_TARGET} s"
  if ! "${bin}" -max_total_time="${SECONDS_PER_TARGET}" -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="${artifacts}" "${corpus}" 2>"${FUZZ_DIR}/fuzz/${t}.log"; then
    echo "fuzz: ${t} FAILED; see ${FUZZ_DIR}/fuzz/${t}.log and ${artifacts}" >&2
    tail -40 "${FUZZ_DIR}/fuzz/${t}.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "${FUZZ_DIR}/fuzz/${t}.log" | tail -2
  fi
done
exit "${status}"
