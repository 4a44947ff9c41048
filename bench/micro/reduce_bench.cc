// The cpu device's float sum (what a ring's receive-and-reduce runs), by size and by how the three
// buffers sit against each other: all page-aligned, or the destination and the local operand 4 bytes
// into a page while the received data (an shm slot) starts on one, as in a ring segment of a count
// that does not split evenly.
//
//   build/bin/mixccl-micro --benchmark_filter=reduce
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/devices/device.h"

namespace {

void reduceBench(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  const auto shift = static_cast<size_t>(state.range(1));  // bytes into a page: destination and local operand
  static const std::unique_ptr<mixccl::Device> device = mixccl::createCpuDevice(0, 1);
  const size_t bytes = count * sizeof(float);
  std::vector<unsigned char> store(3 * (bytes + 8192), 0);
  auto page = [](unsigned char* p) { return p + (4096 - reinterpret_cast<uintptr_t>(p) % 4096) % 4096; };
  unsigned char* dst = page(store.data()) + shift;
  unsigned char* local = page(dst + bytes + 64) + shift;
  unsigned char* received = page(local + bytes + 64);
  for (auto _ : state) {
    mixccl::Status st = device->reduce(dst, local, received, count, mixcclFloat32, mixccl::ReduceOp::Sum);
    if (!st.isOk()) state.SkipWithError(st.message().c_str());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

BENCHMARK(reduceBench)->Name("reduce_float_sum")->ArgNames({"count", "shift"})
    ->Args({16384, 0})->Args({16384, 4})->Args({65536, 0})->Args({65536, 4})->Args({1048576, 0})->Args({1048576, 4});

}  // namespace
