// The cpu device: buffers are ordinary host memory, and copies and reductions run on the host. A large
// operation is split over up to `threads` threads of a oneTBB arena private to this device (when
// oneTBB was found at build time); anything smaller runs on the caller's thread, where waking other
// threads would cost more than it saves.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "backends/devices/cpu/cpu_kernels.h"
#include "backends/devices/device.h"
#include "core/host_copy.h"

#ifdef MIXCCL_HAVE_TBB
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

namespace mixccl {
namespace {

// Below this many bytes written, one thread does the whole operation. Reductions are memory bound;
// on current x86 servers one core streams several GB/s, so a 4 MiB reduction takes around a
// millisecond on one thread, long enough that handing halves to other cores pays for their wake-up.
constexpr size_t kParallelThresholdBytes = 4u << 20;
// The narrow floats (float16, bfloat16, fp8) convert each element to float and back, which makes
// their kernels several times slower than a memory copy: they are worth splitting sooner.
constexpr size_t kComputeBoundThresholdBytes = 512u << 10;
// Each thread gets at least this much, so that a split never produces slivers.
constexpr size_t kMinPartBytes = 256u << 10;
// Part boundaries fall on cache-line multiples so two threads never write the same line.
constexpr size_t kCacheLine = 64;

// True when [p, p+bytes) and [q, q+bytes) share some byte.
bool overlaps(const void* p, const void* q, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const auto b = reinterpret_cast<uintptr_t>(q);
  return a < b + bytes && b < a + bytes;
}

class CpuDevice final : public Device {
 public:
  CpuDevice(int ordinal, int threads) : ordinal_(ordinal), threads_(std::max(threads, 1)) {
#ifdef MIXCCL_HAVE_TBB
    // The arena caps this device's parallelism at `threads` (the caller counts as one of them), so
    // several ranks on one host each use their own share of the cores instead of all of them.
    if (threads_ > 1) arena_ = std::make_unique<tbb::task_arena>(threads_);
#endif
  }

  const char* kind() const override { return "cpu"; }
  int ordinal() const override { return ordinal_; }
  bool hostAccessible() const override { return true; }
  bool owns(const void*) const override { return true; }

  Status allocate(size_t bytes, void** ptr) override {
    *ptr = nullptr;
    // Round up so the whole buffer is whole cache lines; a zero-byte request still gets a unique
    // pointer, as malloc would give.
    if (bytes > SIZE_MAX - kCacheLine) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d cannot allocate %zu bytes: the size is larger than any "
                         "address space", ordinal_, bytes);
    }
    const size_t rounded = std::max(kCacheLine, (bytes + kCacheLine - 1) / kCacheLine * kCacheLine);
    const int rc = posix_memalign(ptr, kCacheLine, rounded);
    if (rc != 0) {
      *ptr = nullptr;
      errno = rc;
      return systemErrorStatus("cpu device %d could not allocate %zu bytes of host memory", ordinal_,
                               bytes);
    }
    return Status::ok();
  }

  void release(void* ptr) override { std::free(ptr); }

  Status copy(void* dst, const void* src, size_t bytes) override {
    if (dst == src || bytes == 0) return Status::ok();
    if (dst == nullptr || src == nullptr) {
      return errorStatus(mixcclInvalidArgument, "cpu device %d: copy of %zu bytes was given a null %s pointer",
                         ordinal_, bytes, dst == nullptr ? "destination" : "source");
    }
    if (overlaps(dst, src, bytes)) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: copy of %zu bytes from %p to %p: the two buffers overlap, "
                         "which a copy does not allow", ordinal_, bytes, src, dst);
    }
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    forEachPart(bytes, 1, kParallelThresholdBytes,
                [&](size_t begin, size_t end) { copyHostMemory(d + begin, s + begin, end - begin); });
    return Status::ok();
  }

  Status reduce(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type,
                ReduceOp op) override {
    const cpu::DataTypeKernels* kernels = nullptr;
    MIXCCL_CHECK(lookUp("reduce", type, count, &kernels));
    const int opIndex = static_cast<int>(op);
    if (opIndex < 0 || opIndex > static_cast<int>(ReduceOp::Min)) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: reduce was asked for operator %d, which is not sum, prod, "
                         "max or min", ordinal_, opIndex);
    }
    if (count == 0) return Status::ok();
    const size_t bytes = count * kernels->elementSize;
    if (dst == nullptr || a == nullptr || b == nullptr) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: %s reduce of %zu %s elements was given a null buffer",
                         ordinal_, reduceOpName(op), count, dataTypeName(type));
    }
    if ((dst != a && overlaps(dst, a, bytes)) || (dst != b && overlaps(dst, b, bytes))) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: %s reduce of %zu %s elements: the output partly overlaps "
                         "an input (it may only be exactly one of them)",
                         ordinal_, reduceOpName(op), count, dataTypeName(type));
    }
    const cpu::ReduceFn fn = kernels->reduce[opIndex];
    const size_t size = kernels->elementSize;
    auto* d = static_cast<char*>(dst);
    const auto* x = static_cast<const char*>(a);
    const auto* y = static_cast<const char*>(b);
    forEachPart(count, size, thresholdFor(*kernels), [&](size_t begin, size_t end) {
      fn(d + begin * size, x + begin * size, y + begin * size, end - begin);
    });
    return Status::ok();
  }

  Status scale(void* dst, const void* src, size_t count, mixcclDataType_t type,
               const void* scalar) override {
    const cpu::DataTypeKernels* kernels = nullptr;
    MIXCCL_CHECK(lookUp("scale", type, count, &kernels));
    if (count == 0) return Status::ok();
    const size_t bytes = count * kernels->elementSize;
    if (dst == nullptr || src == nullptr || scalar == nullptr) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: scale of %zu %s elements was given a null %s", ordinal_,
                         count, dataTypeName(type), scalar == nullptr ? "scalar" : "buffer");
    }
    if (dst != src && overlaps(dst, src, bytes)) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: scale of %zu %s elements: the output partly overlaps the input",
                         ordinal_, count, dataTypeName(type));
    }
    const cpu::ScaleFn fn = kernels->scale;
    const size_t size = kernels->elementSize;
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    forEachPart(count, size, thresholdFor(*kernels), [&](size_t begin, size_t end) {
      fn(d + begin * size, s + begin * size, end - begin, scalar);
    });
    return Status::ok();
  }

  Status divide(void* dst, const void* src, size_t count, mixcclDataType_t type,
                uint64_t divisor) override {
    const cpu::DataTypeKernels* kernels = nullptr;
    MIXCCL_CHECK(lookUp("divide", type, count, &kernels));
    if (divisor == 0) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: divide of %zu %s elements by zero (an average over zero ranks?)",
                         ordinal_, count, dataTypeName(type));
    }
    if (count == 0) return Status::ok();
    const size_t bytes = count * kernels->elementSize;
    if (dst == nullptr || src == nullptr) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: divide of %zu %s elements was given a null buffer", ordinal_,
                         count, dataTypeName(type));
    }
    if (dst != src && overlaps(dst, src, bytes)) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: divide of %zu %s elements: the output partly overlaps the input",
                         ordinal_, count, dataTypeName(type));
    }
    const cpu::DivideFn fn = kernels->divide;
    const size_t size = kernels->elementSize;
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    forEachPart(count, size, thresholdFor(*kernels), [&](size_t begin, size_t end) {
      fn(d + begin * size, s + begin * size, end - begin, divisor);
    });
    return Status::ok();
  }

 private:
  // The kernels for `type`, after checking that the type is real and count elements fit in memory.
  Status lookUp(const char* what, mixcclDataType_t type, size_t count,
                const cpu::DataTypeKernels** kernels) const {
    *kernels = cpu::kernelsFor(type);
    if (*kernels == nullptr) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: %s was given data type %d, which is not a mixccl data type "
                         "(valid values are 0 to %d)",
                         ordinal_, what, static_cast<int>(type), mixcclNumTypes - 1);
    }
    if (count > SIZE_MAX / (*kernels)->elementSize) {
      return errorStatus(mixcclInvalidArgument,
                         "cpu device %d: %s of %zu %s elements is more bytes than any address space",
                         ordinal_, what, count, dataTypeName(type));
    }
    return Status::ok();
  }

  static size_t thresholdFor(const cpu::DataTypeKernels& kernels) {
    return kernels.computeBound ? kComputeBoundThresholdBytes : kParallelThresholdBytes;
  }

  // Calls body(begin, end) over element ranges covering [0, count): once on this thread for work
  // below `thresholdBytes`, or over equal cache-line-aligned parts on the arena's threads above it.
  template <class Body>
  void forEachPart(size_t count, size_t elementSize, size_t thresholdBytes, const Body& body) {
    const size_t bytes = count * elementSize;
#ifdef MIXCCL_HAVE_TBB
    if (arena_ && bytes >= thresholdBytes) {
      const size_t parts =
          std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(threads_), bytes / kMinPartBytes));
      // Every element size divides the cache line, so a whole number of lines is whole elements.
      const size_t lines = (bytes + kCacheLine - 1) / kCacheLine;
      const size_t linesPerPart = (lines + parts - 1) / parts;
      const size_t elementsPerPart = linesPerPart * (kCacheLine / elementSize);
      arena_->execute([&] {
        tbb::parallel_for(size_t{0}, parts, [&](size_t part) {
          const size_t begin = std::min(count, part * elementsPerPart);
          const size_t end = std::min(count, begin + elementsPerPart);
          if (begin < end) body(begin, end);
        });
      });
      return;
    }
#else
    (void)bytes;
    (void)thresholdBytes;
#endif
    body(0, count);
  }

  int ordinal_;
  int threads_;
#ifdef MIXCCL_HAVE_TBB
  std::unique_ptr<tbb::task_arena> arena_;  // only when threads_ > 1
#endif
};

}  // namespace

std::unique_ptr<Device> createCpuDevice(int ordinal, int threads) {
  return std::make_unique<CpuDevice>(ordinal, threads);
}

}  // namespace mixccl
