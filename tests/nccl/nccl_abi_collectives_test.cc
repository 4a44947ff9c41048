// Every NCCL collective through mixccl's libnccl.so.2, on host buffers, over 4 processes. Compiled
// against the system's nccl.h (NVIDIA's), so a layout or value that differs in our library shows up
// here as a wrong result or a refused call.
#include <gtest/gtest.h>
#include <nccl.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/nccl/nccl_harness.h"

using nccl_test::runRanks;

namespace {

constexpr int kRanks = 4;

// A value every rank can predict for (rank, index): small integers, so float sums are exact.
float val(int rank, size_t i) { return static_cast<float>((rank + 1) * 3 + static_cast<int>(i % 11)); }

ncclComm_t initComm(int rank, int nranks, const ncclUniqueId& id) {
  ncclComm_t comm = nullptr;
  NT_OK(ncclCommInitRank(&comm, nranks, id, rank), nullptr);
  int n = 0, r = -1;
  NT_OK(ncclCommCount(comm, &n), comm);
  NT_OK(ncclCommUserRank(comm, &r), comm);
  NT_CHECK(n == nranks && r == rank, "count %d rank %d", n, r);
  return comm;
}

void expectNear(const std::vector<float>& got, size_t i, float want, const char* what) {
  NT_CHECK(std::fabs(got[i] - want) <= 1e-4f * std::fmax(1.f, std::fabs(want)), "%s: element %zu is %g, expected %g",
           what, i, got[i], want);
}

void allReduceCases(int rank, int n, ncclComm_t comm) {
  const size_t count = 10007;  // odd: uneven chunks
  std::vector<float> in(count), out(count, -1.f);
  for (size_t i = 0; i < count; ++i) in[i] = val(rank, i);
  struct Case {
    ncclRedOp_t op;
    const char* name;
  } cases[] = {{ncclSum, "sum"}, {ncclProd, "prod"}, {ncclMax, "max"}, {ncclMin, "min"}, {ncclAvg, "avg"}};
  for (const Case& c : cases) {
    NT_OK(ncclAllReduce(in.data(), out.data(), count, ncclFloat, c.op, comm, nullptr), comm);
    for (size_t i = 0; i < count; ++i) {
      float sum = 0, prod = 1, mx = -1e30f, mn = 1e30f;
      for (int r = 0; r < n; ++r) {
        float v = val(r, i);
        sum += v;
        prod *= v;
        mx = std::fmax(mx, v);
        mn = std::fmin(mn, v);
      }
      float want = c.op == ncclSum ? sum : c.op == ncclProd ? prod : c.op == ncclMax ? mx : c.op == ncclMin ? mn : sum / n;
      expectNear(out, i, want, c.name);
    }
  }
  // In place, int32 and double.
  std::vector<int32_t> ints(count);
  for (size_t i = 0; i < count; ++i) ints[i] = rank * 1000 + static_cast<int32_t>(i);
  NT_OK(ncclAllReduce(ints.data(), ints.data(), count, ncclInt32, ncclSum, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) {
    int32_t want = 1000 * (0 + 1 + 2 + 3) + 4 * static_cast<int32_t>(i);
    NT_CHECK(ints[i] == want, "int32 in-place sum element %zu is %d, expected %d", i, ints[i], want);
  }
  std::vector<double> d(64, rank + 0.5);
  NT_OK(ncclAllReduce(d.data(), d.data(), d.size(), ncclDouble, ncclMax, comm, nullptr), comm);
  NT_CHECK(d[63] == n - 0.5, "double max is %g", d[63]);

  // Pre-multiplied sum with a host scalar.
  ncclRedOp_t premul;
  float factor = 2.5f;
  NT_OK(ncclRedOpCreatePreMulSum(&premul, &factor, ncclFloat, ncclScalarHostImmediate, comm), comm);
  NT_OK(ncclAllReduce(in.data(), out.data(), count, ncclFloat, premul, comm, nullptr), comm);
  for (size_t i = 0; i < count; i += 97) {
    float sum = 0;
    for (int r = 0; r < n; ++r) sum += val(r, i);
    expectNear(out, i, 2.5f * sum, "premulsum");
  }
  NT_OK(ncclRedOpDestroy(premul, comm), comm);
}

void rootedCases(int rank, int n, ncclComm_t comm) {
  const size_t count = 4099;
  std::vector<float> in(count), out(count, -1.f);
  for (size_t i = 0; i < count; ++i) in[i] = val(rank, i);

  NT_OK(ncclBroadcast(in.data(), out.data(), count, ncclFloat, 2, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) expectNear(out, i, val(2, i), "broadcast");

  std::vector<float> buf = in;
  NT_OK(ncclBcast(buf.data(), count, ncclFloat, 1, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) expectNear(buf, i, val(1, i), "bcast");

  std::fill(out.begin(), out.end(), -1.f);
  NT_OK(ncclReduce(in.data(), out.data(), count, ncclFloat, ncclSum, 3, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) {
    float sum = 0;
    for (int r = 0; r < n; ++r) sum += val(r, i);
    expectNear(out, i, rank == 3 ? sum : -1.f, "reduce (root 3; others untouched)");
  }

  std::vector<float> gathered(count * n, -1.f);
  NT_OK(ncclGather(in.data(), gathered.data(), count, ncclFloat, 1, comm, nullptr), comm);
  if (rank == 1) {
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; ++i) expectNear(gathered, r * count + i, val(r, i), "gather");
  }

  std::vector<float> scatterIn(count * n);
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < count; ++i) scatterIn[r * count + i] = val(r, i) * 10;
  std::fill(out.begin(), out.end(), -1.f);
  NT_OK(ncclScatter(scatterIn.data(), out.data(), count, ncclFloat, 2, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) expectNear(out, i, val(rank, i) * 10, "scatter");
}

void gatherScatterFamily(int rank, int n, ncclComm_t comm) {
  const size_t count = 3001;
  std::vector<float> in(count);
  for (size_t i = 0; i < count; ++i) in[i] = val(rank, i);

  std::vector<float> all(count * n, -1.f);
  NT_OK(ncclAllGather(in.data(), all.data(), count, ncclFloat, comm, nullptr), comm);
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < count; ++i) expectNear(all, r * count + i, val(r, i), "allgather");

  // In place: this rank's block already sits in the output.
  std::vector<float> inplace(count * n, -1.f);
  std::copy(in.begin(), in.end(), inplace.begin() + rank * count);
  NT_OK(ncclAllGather(inplace.data() + rank * count, inplace.data(), count, ncclFloat, comm, nullptr), comm);
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < count; ++i) expectNear(inplace, r * count + i, val(r, i), "allgather in place");

  std::vector<float> rsIn(count * n), rsOut(count, -1.f);
  for (int b = 0; b < n; ++b)
    for (size_t i = 0; i < count; ++i) rsIn[b * count + i] = val(rank, i) + static_cast<float>(b);
  NT_OK(ncclReduceScatter(rsIn.data(), rsOut.data(), count, ncclFloat, ncclSum, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) {
    float sum = 0;
    for (int r = 0; r < n; ++r) sum += val(r, i) + static_cast<float>(rank);
    expectNear(rsOut, i, sum, "reducescatter");
  }
  NT_OK(ncclReduceScatter(rsIn.data(), rsIn.data() + rank * count, count, ncclFloat, ncclMax, comm, nullptr), comm);
  for (size_t i = 0; i < count; ++i) {
    float mx = -1e30f;
    for (int r = 0; r < n; ++r) mx = std::fmax(mx, val(r, i) + static_cast<float>(rank));
    expectNear(rsIn, rank * count + i, mx, "reducescatter in place");
  }

  std::vector<int64_t> a2aIn(count * n), a2aOut(count * n, -1);
  for (int dst = 0; dst < n; ++dst)
    for (size_t i = 0; i < count; ++i) a2aIn[dst * count + i] = rank * 1000000 + dst * 10000 + static_cast<int64_t>(i);
  NT_OK(ncclAlltoAll(a2aIn.data(), a2aOut.data(), count, ncclInt64, comm, nullptr), comm);
  for (int src = 0; src < n; ++src)
    for (size_t i = 0; i < count; ++i) {
      int64_t want = src * 1000000 + rank * 10000 + static_cast<int64_t>(i);
      NT_CHECK(a2aOut[src * count + i] == want, "alltoall from %d element %zu is %lld, expected %lld", src, i,
               static_cast<long long>(a2aOut[src * count + i]), static_cast<long long>(want));
    }
}

void pointToPointAndGroups(int rank, int n, ncclComm_t comm) {
  const size_t count = 2048;
  std::vector<uint8_t> sendRight(count), fromLeft(count, 0), sendLeft(count), fromRight(count, 0);
  for (size_t i = 0; i < count; ++i) {
    sendRight[i] = static_cast<uint8_t>(rank * 7 + i);
    sendLeft[i] = static_cast<uint8_t>(rank * 13 + i);
  }
  int right = (rank + 1) % n, left = (rank + n - 1) % n;
  // Both directions of a ring at once: only completes because the group runs them together.
  NT_OK(ncclGroupStart(), comm);
  NT_OK(ncclSend(sendRight.data(), count, ncclUint8, right, comm, nullptr), comm);
  NT_OK(ncclSend(sendLeft.data(), count, ncclUint8, left, comm, nullptr), comm);
  NT_OK(ncclRecv(fromLeft.data(), count, ncclUint8, left, comm, nullptr), comm);
  NT_OK(ncclRecv(fromRight.data(), count, ncclUint8, right, comm, nullptr), comm);
  NT_OK(ncclGroupEnd(), comm);
  for (size_t i = 0; i < count; ++i) {
    NT_CHECK(fromLeft[i] == static_cast<uint8_t>(left * 7 + i), "recv from left, byte %zu", i);
    NT_CHECK(fromRight[i] == static_cast<uint8_t>(right * 13 + i), "recv from right, byte %zu", i);
  }

  // Two collectives in one group, nested groups included.
  std::vector<float> a(100, static_cast<float>(rank)), b(100, -1.f);
  NT_OK(ncclGroupStart(), comm);
  NT_OK(ncclGroupStart(), comm);
  NT_OK(ncclAllReduce(a.data(), a.data(), a.size(), ncclFloat, ncclSum, comm, nullptr), comm);
  NT_OK(ncclGroupEnd(), comm);
  NT_OK(ncclBroadcast(a.data(), b.data(), b.size(), ncclFloat, 0, comm, nullptr), comm);
  NT_OK(ncclGroupEnd(), comm);
  NT_CHECK(b[99] == 6.f, "grouped allreduce then broadcast gave %g, expected 6", b[99]);

  // Simulation: costs the group and runs nothing.
  std::vector<float> big(1 << 18, 1.f), untouched(1 << 18, -7.f);
  ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  NT_OK(ncclGroupStart(), comm);
  NT_OK(ncclAllReduce(big.data(), untouched.data(), big.size(), ncclFloat, ncclSum, comm, nullptr), comm);
  NT_OK(ncclGroupSimulateEnd(&sim), comm);
  NT_CHECK(sim.estimatedTime > 0 && std::isfinite(sim.estimatedTime), "estimatedTime is %g", sim.estimatedTime);
  NT_CHECK(untouched[0] == -7.f && untouched.back() == -7.f, "a simulated group wrote its output");
  if (rank == 0) std::printf("ncclGroupSimulateEnd: 1 MiB float allreduce on %d ranks estimated at %.1f us\n", n,
                             sim.estimatedTime);
  // A bigger group costs more.
  ncclSimInfo_t sim2 = NCCL_SIM_INFO_INITIALIZER;
  NT_OK(ncclGroupStart(), comm);
  for (int k = 0; k < 4; ++k)
    NT_OK(ncclAllReduce(big.data(), untouched.data(), big.size(), ncclFloat, ncclSum, comm, nullptr), comm);
  NT_OK(ncclGroupSimulateEnd(&sim2), comm);
  NT_CHECK(sim2.estimatedTime > sim.estimatedTime, "4 allreduces estimated at %g us, 1 at %g us", sim2.estimatedTime,
           sim.estimatedTime);
  // The communicator still runs real work afterwards.
  NT_OK(ncclAllReduce(big.data(), untouched.data(), big.size(), ncclFloat, ncclSum, comm, nullptr), comm);
  NT_CHECK(untouched[12345] == static_cast<float>(n), "allreduce after simulation gave %g", untouched[12345]);
}

}  // namespace

TEST(NcclAbiCollectives, EveryCollectiveOnFourProcesses) {
  std::string problems = runRanks(kRanks, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = initComm(rank, n, id);
    allReduceCases(rank, n, comm);
    rootedCases(rank, n, comm);
    gatherScatterFamily(rank, n, comm);
    pointToPointAndGroups(rank, n, comm);
    NT_OK(ncclCommFinalize(comm), comm);
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

// NCCL's single-process pattern: one communicator per device, all driven from one thread in a group.
TEST(NcclAbiCollectives, InitAllDrivenFromOneThread) {
  constexpr int n = 3;
  ncclComm_t comms[n] = {};
  ASSERT_EQ(ncclCommInitAll(comms, n, nullptr), ncclSuccess) << ncclGetLastError(nullptr);
  std::vector<std::vector<double>> bufs(n, std::vector<double>(1000));
  for (int r = 0; r < n; ++r) std::fill(bufs[r].begin(), bufs[r].end(), r + 1.0);
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  for (int r = 0; r < n; ++r)
    ASSERT_EQ(ncclAllReduce(bufs[r].data(), bufs[r].data(), 1000, ncclDouble, ncclSum, comms[r], nullptr), ncclSuccess);
  ASSERT_EQ(ncclGroupEnd(), ncclSuccess) << ncclGetLastError(nullptr);
  for (int r = 0; r < n; ++r) EXPECT_EQ(bufs[r][999], 6.0);
  for (int r = 0; r < n; ++r) EXPECT_EQ(ncclCommDestroy(comms[r]), ncclSuccess);
}
