#!/usr/bin/env bash
# Builds mixccl on a machine with an NVIDIA GPU and runs what only a GPU can check:
#   1. the gpu-labelled tests (every collective with cuda ranks, several ranks on one GPU, mixed
#      with cpu and emu ranks: tests/devices/mixed_collectives_test.cc built as gpu_collectives_test);
#   2. a device-to-device copy to measure the GPU's memory bandwidth B;
#   3. mixccl-perf all_reduce on 2 and 4 ranks sharing GPU 0 at 256 MB, compared with the bound B
#      sets (see "the bound" below), as issue 4 asks: pass when busbw >= 70 % of the bound.
# Output goes to stdout and to ${OUT_DIR:-build-gpu/gpu-check}/ (logs, JSON). Exit status: 0 when
# everything passed, 1 when a test or the benchmark target failed, 2 when no GPU is usable.
#
# The bound: an all-reduce of S bytes over n ranks on one GPU must at least read its n inputs and
# reduce them (reduce-scatter: 2 reads + 1 write per element and step) and write the n outputs
# (all-gather: 1 read + 1 write), i.e. about 5·S·(n-1) bytes of memory traffic, so
#   time >= 5·S·(n-1)/B  and  busbw = S/time · 2(n-1)/n  <=  2·B / (5·n).
# B is measured by a cudaMemcpy device-to-device, counting bytes read plus written.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${MIXCCL_BUILD_DIR:-build-gpu}"
OUT_DIR="${OUT_DIR:-${BUILD_DIR}/gpu-check}"
mkdir -p "${OUT_DIR}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU is visible (nvidia-smi -L fails); nothing to check here" >&2
  exit 2
fi
nvidia-smi -L | tee "${OUT_DIR}/gpus.txt"

echo "gpu-check: building in ${BUILD_DIR}/"
cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXCCL_WERROR=ON \
  ${CMAKE_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES}} | grep "mixccl:" || true
cmake --build "${BUILD_DIR}" -j"$(nproc)" --target gpu_collectives_test mixccl-perf mixccl-emu

status=0
echo "gpu-check: 1. gpu tests"
if ! ctest --test-dir "${BUILD_DIR}" -L gpu --output-on-failure --timeout 600 2>&1 | tee "${OUT_DIR}/ctest-gpu.log"; then
  status=1
fi
if grep -q "Skipped" "${OUT_DIR}/ctest-gpu.log"; then
  echo "gpu-check: some gpu tests were SKIPPED (no usable GPU for them?) — that is a failure here" >&2
  status=1
fi

echo "gpu-check: 2. device-to-device copy bandwidth"
cat > "${OUT_DIR}/copy_bw.cu" <<'CU'
#include <cstdio>
#include <cuda_runtime.h>
int main() {
  const size_t bytes = size_t{256} << 20;
  void *a, *b;
  if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes)) { std::fprintf(stderr, "cudaMalloc failed\n"); return 1; }
  cudaMemset(a, 1, bytes);
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  for (int i = 0; i < 3; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  const int iters = 20;
  cudaEventRecord(t0);
  for (int i = 0; i < iters; ++i) cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(t1);
  cudaEventSynchronize(t1);
  float ms = 0;
  cudaEventElapsedTime(&ms, t0, t1);
  std::printf("%.1f\n", 2.0 * bytes * iters / (ms * 1e-3) / 1e9);  // GB/s, read + written
  return cudaGetLastError() == cudaSuccess ? 0 : 1;
}
CU
"${NVCC}" -O2 -o "${OUT_DIR}/copy_bw" "${OUT_DIR}/copy_bw.cu"
B=$("${OUT_DIR}/copy_bw")
echo "gpu-check: device-to-device copy: ${B} GB/s (read + written)" | tee "${OUT_DIR}/summary.txt"

echo "gpu-check: 3. all_reduce at 256 MB, ranks sharing GPU 0"
for n in 2 4; do
  json="${OUT_DIR}/allreduce-np${n}.json"
  "${BUILD_DIR}/bin/mixccl-perf" all_reduce -np "${n}" --devices cuda -b 256M -e 256M -w 2 -n 5 -c 1 \
    --json "${json}" 2>&1 | tee "${OUT_DIR}/allreduce-np${n}.log" || status=1
  busbw=$(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['rows'][-1]; print(max(r['out_of_place']['busbw_gbps'], r['in_place']['busbw_gbps']))" "${json}" 2>/dev/null || echo 0)
  bound=$(/usr/bin/python3 -c "print(2*${B}/(5*${n}))")
  pct=$(/usr/bin/python3 -c "print(round(100*${busbw}/${bound},1))")
  verdict=$(/usr/bin/python3 -c "print('PASS' if ${busbw} >= 0.7*${bound} else 'FAIL')")
  echo "gpu-check: n=${n}: busbw ${busbw} GB/s, bound ${bound} GB/s: ${pct} % -> ${verdict} (target >= 70 %)" | tee -a "${OUT_DIR}/summary.txt"
  [ "${verdict}" = PASS ] || status=1
done
echo "gpu-check: summary in ${OUT_DIR}/summary.txt; exit ${status}"
exit "${status}"
