// The NCCL binding's staging of CUDA device buffers (bindings/nccl/cuda_staging.*), tested without a
// GPU: this binary is linked to fake_cuda_driver.c, a test double of libcuda.so.1 whose "device
// memory" is mapped inaccessible, so a collective that touched it directly would crash, and one that
// forgot to stage its input or copy back its output would give wrong results.
#include <gtest/gtest.h>
#include <nccl.h>

#include <cstdint>
#include <vector>

#include "tests/nccl/nccl_harness.h"

using nccl_test::runRanks;

extern "C" {
void* fakeCudaMalloc(size_t bytes);
void fakeCudaFree(void* p);
void fakeCudaWrite(void* dst, const void* src, size_t n);
void fakeCudaRead(void* dst, const void* src, size_t n);
int fakeCudaCopies(void);
}

namespace {

// A float buffer in fake device memory.
struct DeviceFloats {
  explicit DeviceFloats(size_t n) : count(n), ptr(static_cast<float*>(fakeCudaMalloc(n * sizeof(float)))) {}
  ~DeviceFloats() { fakeCudaFree(ptr); }
  void set(const std::vector<float>& v) { fakeCudaWrite(ptr, v.data(), v.size() * sizeof(float)); }
  std::vector<float> get() const {
    std::vector<float> v(count);
    fakeCudaRead(v.data(), ptr, count * sizeof(float));
    return v;
  }
  size_t count;
  float* ptr;
};

std::vector<float> pattern(int rank, size_t n, float scale = 1.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((rank + 1) * 100 + static_cast<int>(i % 50));
  return v;
}

cudaStream_t fakeStream() { return reinterpret_cast<cudaStream_t>(0x5); }

}  // namespace

TEST(NcclCudaStaging, CollectivesOnDeviceBuffers) {
  std::string problems = runRanks(4, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRank(&comm, n, id, rank), nullptr);
    int dev = -1;
    NT_OK(ncclCommCuDevice(comm, &dev), comm);
    NT_CHECK(dev == 3, "ncclCommCuDevice gave %d; the (fake) driver's current device is 3", dev);
    const size_t count = 5000;
    cudaStream_t s = fakeStream();

    // All-reduce, out of place and in place.
    DeviceFloats in(count), out(count);
    in.set(pattern(rank, count));
    NT_OK(ncclAllReduce(in.ptr, out.ptr, count, ncclFloat, ncclSum, comm, s), comm);
    std::vector<float> got = out.get();
    for (size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int r = 0; r < n; ++r) want += pattern(r, count)[i];
      NT_CHECK(got[i] == want, "allreduce element %zu: %g, expected %g", i, got[i], want);
    }
    NT_OK(ncclAllReduce(in.ptr, in.ptr, count, ncclFloat, ncclMax, comm, s), comm);
    got = in.get();
    NT_CHECK(got[7] == pattern(n - 1, count)[7], "in-place max gave %g", got[7]);

    // All-gather in place: the rank's block already sits in the (device) output.
    DeviceFloats all(count * n);
    std::vector<float> init(count * n, -1.f);
    std::vector<float> mine = pattern(rank, count, 2.f);
    std::copy(mine.begin(), mine.end(), init.begin() + rank * count);
    all.set(init);
    NT_OK(ncclAllGather(all.ptr + rank * count, all.ptr, count, ncclFloat, comm, s), comm);
    got = all.get();
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; i += 37)
        NT_CHECK(got[r * count + i] == pattern(r, count, 2.f)[i], "allgather in place, block %d element %zu", r, i);

    // Reduce-scatter in place: the result lands inside the (device) input.
    DeviceFloats rs(count * n);
    std::vector<float> rsInit(count * n);
    for (int b = 0; b < n; ++b)
      for (size_t i = 0; i < count; ++i) rsInit[b * count + i] = static_cast<float>(rank + b);
    rs.set(rsInit);
    NT_OK(ncclReduceScatter(rs.ptr, rs.ptr + rank * count, count, ncclFloat, ncclSum, comm, s), comm);
    got = rs.get();
    NT_CHECK(got[rank * count + 11] == static_cast<float>(0 + 1 + 2 + 3 + n * rank),
             "reducescatter in place gave %g", got[rank * count + 11]);

    // Rooted: broadcast into device memory, reduce to a device root, host input to device output.
    DeviceFloats b(count);
    if (rank == 1) b.set(pattern(1, count, 3.f));
    NT_OK(ncclBcast(b.ptr, count, ncclFloat, 1, comm, s), comm);
    NT_CHECK(b.get()[42] == pattern(1, count, 3.f)[42], "bcast into device memory");
    std::vector<float> hostIn = pattern(rank, count);
    DeviceFloats red(count);
    red.set(std::vector<float>(count, -5.f));
    NT_OK(ncclReduce(hostIn.data(), red.ptr, count, ncclFloat, ncclMin, 2, comm, s), comm);
    float r0 = red.get()[3];
    NT_CHECK(rank == 2 ? r0 == pattern(0, count)[3] : r0 == -5.f, "reduce gave %g on rank %d", r0, rank);

    // Point to point in a group: results come back only at the outermost group end.
    DeviceFloats sendBuf(count), recvBuf(count);
    sendBuf.set(pattern(rank, count, 4.f));
    int right = (rank + 1) % n, left = (rank + n - 1) % n;
    NT_OK(ncclGroupStart(), comm);
    NT_OK(ncclSend(sendBuf.ptr, count, ncclFloat, right, comm, s), comm);
    NT_OK(ncclRecv(recvBuf.ptr, count, ncclFloat, left, comm, s), comm);
    NT_OK(ncclGroupEnd(), comm);
    NT_CHECK(recvBuf.get()[9] == pattern(left, count, 4.f)[9], "send/recv through device buffers");

    // A device-resident pre-multiplied-sum factor cannot be read by the cpu backend: refused.
    DeviceFloats factor(1);
    ncclRedOp_t op;
    NT_CHECK(ncclRedOpCreatePreMulSum(&op, factor.ptr, ncclFloat, ncclScalarDevice, comm) == ncclInvalidUsage,
             "device scalar accepted");
    NT_CHECK(fakeCudaCopies() > 10, "only %d driver copies: the buffers were not staged", fakeCudaCopies());
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}
