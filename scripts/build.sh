#!/usr/bin/env bash
# Configures and builds mixccl in build/ (RelWithDebInfo, warnings are errors). Extra arguments go to
# the build step, e.g. `scripts/build.sh mixccl-perf` builds only the benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${MIXCCL_BUILD_DIR:-build}"
echo "build: configuring in ${BUILD_DIR}/"
cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXCCL_WERROR=ON
echo "build: compiling with $(nproc) jobs"
targets=()
if [ $# -gt 0 ]; then targets=(--target "$@"); fi
cmake --build "${BUILD_DIR}" -j"$(nproc)" "${targets[@]}"
echo "build: done; binaries in ${BUILD_DIR}/bin, the library in ${BUILD_DIR}/lib"
