// Copies between host buffers, for the transports and the cpu device: memcpy, except where glibc's
// memcpy is known to crawl.
//
// On x86-64, glibc copies blocks from a few KiB up to about the last-level cache's share with
// `rep movsb`. On the AMD EPYC of docs/performance.md that instruction moves 3.5 GB/s instead of
// 40-70 when the destination lies 1 to 15 bytes after the source modulo 4096, and 35-40 GB/s instead
// of 55-58 when it lies 16 to 63 bytes after (measured from 4 KiB to 512 KiB; 4 MiB copies take
// another path and run at full speed). A collective meets that case whenever a count does not split
// evenly: a ring segment then starts a few elements into a page while the shm slot it is copied to
// starts on one, and a 2-rank all-reduce of 256 KiB + 4 bytes took 2.5x as long as one of 256 KiB,
// 1 MiB + 4 bytes 3.3x. For those pointer pairs (destination 1-63 bytes ahead, 2 KiB and more) the
// copy runs a vector loop instead that stores whole aligned cache lines (AVX2 where the CPU has it,
// else SSE2): 49-58 GB/s whatever the offsets (build/bin/mixccl-micro measures both).
#pragma once

#include <cstddef>

namespace mixccl {

// Copies `bytes` from src to dst; the two must not overlap.
void copyHostMemory(void* dst, const void* src, size_t bytes);

// Whether copyHostMemory copies these with its own loop rather than memcpy (tests, benchmarks).
bool hostCopyAvoidsMemcpy(const void* dst, const void* src, size_t bytes);

}  // namespace mixccl
