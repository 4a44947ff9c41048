// Copies between host buffers, for the transports and the cpu device: memcpy, except where glibc's
// memcpy is known to crawl.
//
// On x86-64, glibc copies blocks from a few KiB up to about the last-level cache's share with
// `rep movsb`. On the AMD EPYC of docs/performance.md that instruction moves 3.5 GB/s instead of
// 48-58 when the destination lies 1 to 15 bytes after the source modulo 4096, and 34-48 GB/s instead
// of 55-58 at most other offsets that are not a multiple of 64 (measured from 4 KiB to 512 KiB;
// 4 MiB copies take another path). A collective meets those cases whenever a count does not split
// evenly: a ring segment then starts a few elements into a page while the shm slot it is copied to
// or from starts on one, and a 2-rank all-reduce of 256 KiB + 4 bytes took 2.5x as long as one of
// 256 KiB, 1 MiB + 4 bytes 3.3x. So from 2 KiB up, wherever the destination's place in its cache line
// differs from the source's, the copy runs its own loop: unaligned loads and aligned stores of whole
// cache lines (AVX2 where the CPU has it, else SSE2), 45-86 GB/s at every offset and size measured,
// as fast as memcpy or faster but for 4 KiB at 36 bytes apart (58 against 68). Copies with the same
// offset in their lines keep memcpy. build/bin/mixccl-micro measures both.
#pragma once

#include <cstddef>

namespace mixccl {

// Copies `bytes` from src to dst; the two must not overlap.
void copyHostMemory(void* dst, const void* src, size_t bytes);

// Whether copyHostMemory copies these with its own loop rather than memcpy (tests, benchmarks).
bool hostCopyAvoidsMemcpy(const void* dst, const void* src, size_t bytes);

}  // namespace mixccl
