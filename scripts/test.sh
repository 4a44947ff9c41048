#!/usr/bin/env bash
# Sets up, builds, then runs every test: the C++ tests through ctest, then the Python tests with
# Debian's interpreter (its pytest and numpy come from apt). Exits non-zero if either part fails,
# after running both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
scripts/build.sh

BUILD_DIR="${MIXCCL_BUILD_DIR:-build}"
export MIXCCL_BUILD_DIR="${BUILD_DIR}"

status=0
echo "test: ctest"
# Every test has its own timeout in CMake; --timeout bounds any that has none.
if ! ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 --timeout 600; then
  echo "test: ctest FAILED" >&2
  status=1
fi

# The C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer, in a build of their own.
# The 4-, 5- and 8-rank matrix runs and the 4-rank forced-transport runs are left out here (same code
# paths as 1 to 3 ranks, 3x slower under the sanitizers, and CI must stay within 40 minutes), and so
# are the matrix reruns over ucx/ofi (Transports.*) and the namespace and launcher scripts (Multihost.*): the ucx/ofi link code still runs here in transport_test, and the
# scripts only start mixccl-perf processes. Both sanitizer stages skip the device measurement beyond
# the caches (MIXCCL_CALIBRATE_BULK=0: 24 MiB copied and reduced at every init, 8-10 % of these
# stages' time; it shares its code with the in-cache measurement they still run). The short soaks are left out too (their collectives run in
# the matrix; 300 random ops at up to 4 MiB outlast their timeout under ASan). MIXCCL_TEST_SANITIZE=0 skips this stage, saying so.
# The sanitizer trees carry line tables only (-g1): reports still name file and line, and they
# compile in 25-40 % less time than with full debug information (-g; an ASan compile of
# topology_file.cc took 39 s against 28 s, transport_test.cc 30 s against 18 s). They are optimised
# at -O1, the level both sanitizers' manuals suggest: from a clean tree, the ASan build took 308 s
# against 396 at -O2 and the TSan build 171 against 237, while their tests ran as fast (ASan 376 s
# against 379, TSan 419 against 442).
SAN_DEBUG_FLAGS=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
if [ "${MIXCCL_TEST_SANITIZE:-1}" = "0" ]; then
  echo "test: sanitizer stage SKIPPED (MIXCCL_TEST_SANITIZE=0)"
else
  SAN_DIR="${BUILD_DIR}-asan"
  echo "test: ctest under ASan+UBSan in ${SAN_DIR}/"
  # The Python module, the torch backend and the benchmarks are left out of the sanitizer trees: no
  # ctest test that runs here uses them (pytest runs against build/; the tests that start
  # mixccl-perf or mixccl-soak are left out below), and they are among the slowest files to compile.
  cmake -S . -B "${SAN_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXCCL_WERROR=ON -DMIXCCL_SANITIZE=address \
    "${SAN_DEBUG_FLAGS[@]}" -DCMAKE_DISABLE_FIND_PACKAGE_pybind11=ON -DMIXCCL_BUILD_BENCH=OFF
  cmake --build "${SAN_DIR}" -j"$(nproc)"
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 MIXCCL_CALIBRATE_BULK=0 \
      ctest --test-dir "${SAN_DIR}" --output-on-failure -j2 --timeout 600 \
        -E 'CollectivesMatrix.*/(4|5|8)ranks|ForcedTransport.*_4ranks|soak_short|^Transports\.|^Multihost\.'; then
    echo "test: ctest under ASan+UBSan FAILED" >&2
    status=1
  fi
fi

# And under ThreadSanitizer, in a build of its own: every data race is a failure (halt_on_error), and
# no suppressions are used (our code has none to hide). UCX_MEM_MMAP_HOOK_MODE=none is for UCX, not
# for us: its libucm patches madvise(), which glibc calls while a thread exits, and takes a lock there
# after TSan has torn the thread down: a crash in third-party code, not a race. UCX then does without
# its memory-event hooks, which mixccl does not use. Left out here, for time (TSan is 5-15x
# slower): the matrix runs above 2 ranks (each takes 5-10 minutes here under TSan; the threads
# TSan watches are the same at 2 ranks), the 50-kill peer-death loop (its single-kill
# path runs in PeerFailure.*) and the soaks (their collectives run in the matrix).
# The matrix that stays (1 and 2 ranks) runs int8 and float32 only (MIXCCL_TEST_ONLY, read by the
# matrix alone; every collective, reduction, count, placement and root still runs): TSan sees only
# races between threads of one process, and the element type changes no thread's work, only the
# reduction loop that the normal and ASan stages check for every type. All 12 types took 540+ s at
# 2 ranks under load, past the matrix's own deadline; the two types leave room for the rest.
# The 5- and 8-rank splits are left out too (70 s of TSan time; a split's threads are those of 2-4
# ranks), and so are the transport tests at 3 and 4 ranks (184 s of TSan time, 90 s of the stage:
# each rank is a process, and a process's transport threads are those of the 2-rank runs, which
# stay; the normal and ASan stages run all three), the 1-rank matrix (32 s: one rank's threads,
# caller and proxy, are in the 2-rank matrix as well) and the forced-shm transport run at 2 ranks
# (28 s: shm is what the 2-rank matrix runs over anyway). The point-to-point tests at 5 and 8 ranks
# go too (62 s; the same reasoning as the splits). And so do the tests that start no thread here, for
# TSan has nothing to look at in them: the symbolic schedule verifier (algorithms_test, label
# single_thread: 110 s) and the cpu backend's per-type reductions (CpuDeviceTypeTest, 78 s), whose
# only threads would be oneTBB's, and oneTBB is out of this build. The normal and ASan stages run
# them all. MIXCCL_TEST_SANITIZE=0 skips this stage too.
if [ "${MIXCCL_TEST_SANITIZE:-1}" != "0" ]; then
  TSAN_DIR="${BUILD_DIR}-tsan"
  echo "test: ctest under TSan in ${TSAN_DIR}/"
  # oneTBB is left out of this build: Debian's libtbb is not built with TSan, so its internal
  # synchronisation is invisible to TSan and every parallel_for is reported as a race in TBB's own
  # partitioner (false reports, seen in CpuDevice.*). Without it the cpu backend reduces on the calling
  # thread; our own threads (proxy, watcher, async init, transports) are what this stage checks.
  cmake -S . -B "${TSAN_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXCCL_WERROR=ON -DMIXCCL_SANITIZE=thread \
    "${SAN_DEBUG_FLAGS[@]}" -DCMAKE_DISABLE_FIND_PACKAGE_TBB=ON -DCMAKE_DISABLE_FIND_PACKAGE_pybind11=ON -DMIXCCL_BUILD_BENCH=OFF
  cmake --build "${TSAN_DIR}" -j"$(nproc)"
  if ! TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" UCX_MEM_MMAP_HOOK_MODE=none MIXCCL_CALIBRATE_BULK=0 \
      MIXCCL_TEST_ONLY=int8,float32 ctest --test-dir "${TSAN_DIR}" --output-on-failure -j2 --timeout 600 \
        -LE single_thread \
        -E 'CollectivesMatrix.*/(1|3|4|5|8)ranks|(Split|P2P)\..*/(5|8)ranks|^AllTypes/CpuDeviceTypeTest\.|TransportTest\..*_(3|4)ranks|ForcedTransport.*_4ranks|ForcedTransport.*/shm_2ranks|PeerDeath\.|soak_short|^Transports\.|^Multihost\.'; then
    echo "test: ctest under TSan FAILED" >&2
    status=1
  fi
fi

echo "test: pytest tests/python"
# /usr/bin/python3, not the python3 first on PATH: the packages come from apt (python3-pytest).
if ! /usr/bin/python3 -m pytest -p no:cacheprovider tests/python -q; then
  echo "test: pytest FAILED" >&2
  status=1
fi

if [ "${status}" -eq 0 ]; then
  echo "test: all passed"
fi
exit "${status}"
