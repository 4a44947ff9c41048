// The cpu backend's sum kernels (what a ring's receive-and-reduce runs):
//  - reduce_kernel: each data type's kernel from each compilation this CPU runs (baseline SSE2,
//    AVX2, AVX-512; backends/devices/cpu/cpu_kernels.h), 256 KiB of output, page-aligned buffers;
//  - reduce_float_sum: the device's float sum with all buffers page-aligned, or with the
//    destination and the local operand 4 bytes into a page while the received data (an shm slot)
//    starts on one, as in a ring segment of a count that does not split evenly.
//
//   build/bin/mixccl-micro --benchmark_filter=reduce
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/devices/cpu/cpu_kernels.h"
#include "backends/devices/device.h"

namespace {

struct ThreeBuffers {
  std::vector<unsigned char> store;
  unsigned char* dst;
  unsigned char* local;
  unsigned char* received;
  ThreeBuffers(size_t bytes, size_t shift) : store(3 * (bytes + 8192), 0) {
    auto page = [](unsigned char* p) { return p + (4096 - reinterpret_cast<uintptr_t>(p) % 4096) % 4096; };
    dst = page(store.data()) + shift;
    local = page(dst + bytes + 64) + shift;
    received = page(local + bytes + 64);
  }
};

void reduceKernelBench(benchmark::State& state) {
  const auto type = static_cast<mixcclDataType_t>(state.range(0));
  const auto isa = static_cast<mixccl::cpu::KernelIsa>(state.range(1));
  const mixccl::cpu::DataTypeKernels* k = mixccl::cpu::kernelsFor(type, isa);
  if (k == nullptr) {
    state.SkipWithError((std::string(mixccl::cpu::kernelIsaName(isa)) + " is not built or not run by this CPU").c_str());
    return;
  }
  const size_t bytes = 256 * 1024;
  ThreeBuffers b(bytes, 0);
  for (auto _ : state) {
    k->reduce[0](b.dst, b.local, b.received, bytes / k->elementSize);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  state.SetLabel(std::string(mixccl::dataTypeName(type)) + " " + mixccl::cpu::kernelIsaName(isa));
}

void reduceFloatSumBench(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  const auto shift = static_cast<size_t>(state.range(1));  // bytes into a page: destination and local operand
  static const std::unique_ptr<mixccl::Device> device = mixccl::createCpuDevice(0, 1);
  const size_t bytes = count * sizeof(float);
  ThreeBuffers b(bytes, shift);
  for (auto _ : state) {
    mixccl::Status st = device->reduce(b.dst, b.local, b.received, count, mixcclFloat32, mixccl::ReduceOp::Sum);
    if (!st.isOk()) state.SkipWithError(st.message().c_str());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

void typesAndIsas(benchmark::internal::Benchmark* b) {
  b->ArgNames({"type", "isa"});
  for (mixcclDataType_t t : {mixcclFloat32, mixcclBfloat16, mixcclFloat16, mixcclFloat8e4m3, mixcclInt32})
    for (int isa = 0; isa < 3; ++isa) b->Args({t, isa});
}

BENCHMARK(reduceKernelBench)->Name("reduce_kernel")->Apply(typesAndIsas);
BENCHMARK(reduceFloatSumBench)->Name("reduce_float_sum")->ArgNames({"count", "shift"})
    ->Args({16384, 0})->Args({16384, 4})->Args({65536, 0})->Args({65536, 4})->Args({1048576, 0})->Args({1048576, 4});

}  // namespace
