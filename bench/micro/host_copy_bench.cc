// copyHostMemory (core/host_copy.h) against memcpy, by size and by how far the destination lies
// after the source modulo 4096: 0 (the common case), 4 (a ring segment of an unevenly split float
// count meeting a page-aligned shm slot: where glibc's rep movsb crawls on AMD EPYC), 16, and 4092
// (4 bytes behind: a copy out of a slot into such a segment).
//
//   build/bin/mixccl-micro                          # every case
//   build/bin/mixccl-micro --benchmark_filter=262144  # one size
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/host_copy.h"

namespace {

struct Buffers {
  std::vector<unsigned char> src, dst;
  unsigned char* s = nullptr;
  unsigned char* d = nullptr;
  Buffers(size_t bytes, size_t ahead) : src(bytes + 8192, 1), dst(bytes + 8192, 2) {
    auto page = [](unsigned char* p) { return p + (4096 - reinterpret_cast<uintptr_t>(p) % 4096) % 4096; };
    s = page(src.data());
    d = page(dst.data()) + ahead;
  }
};

template <bool kMixccl>
void copyBench(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  Buffers b(bytes, static_cast<size_t>(state.range(1)));
  for (auto _ : state) {
    if constexpr (kMixccl) {
      mixccl::copyHostMemory(b.d, b.s, bytes);
    } else {
      std::memcpy(b.d, b.s, bytes);
    }
    benchmark::DoNotOptimize(b.d);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

void sizesAndOffsets(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "ahead"});
  for (int64_t bytes : {4096, 65536, 262144, 4194304})
    for (int64_t ahead : {0, 4, 16, 4092}) b->Args({bytes, ahead});  // 4092: 4 bytes behind
}

BENCHMARK(copyBench<false>)->Name("memcpy")->Apply(sizesAndOffsets);
BENCHMARK(copyBench<true>)->Name("copyHostMemory")->Apply(sizesAndOffsets);

}  // namespace
