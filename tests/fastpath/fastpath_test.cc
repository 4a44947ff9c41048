// The shared-memory fast path of small all-reduce (core/shm_fastpath.h), on forked ranks of this host:
// every data type and operator at the edges of the slot (1, odd, the limit, the limit + 1 which must
// take the engine), in place and out of place; bit-identical float results on every rank; thousands
// of back-to-back operations with sizes alternating between the fast and the engine's path; groups;
// MIXCCL_CHECK=1; and the failures: a peer that exits mid-operation, a timeout, an abort that wakes a
// sleeping waiter. The internal library is linked to read how many operations took the fast path.
#include <gtest/gtest.h>

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/comm.h"
#include "core/host_cpus.h"
#include "core/shm_fastpath.h"
#include "tests/mp_harness.h"
#include "tests/reference.h"

namespace mixccl_test {
namespace {

constexpr size_t kSlotBytes = mixccl::ShmFastPath::kDefaultSlotBytes;

// scripts/test.sh runs every test again under ASan and TSan: there the back-to-back runs are shorter
// (the races they look for are between processes, which the sanitizers do not see anyway).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kOpsDivisor = 8;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr int kOpsDivisor = 8;
#else
constexpr int kOpsDivisor = 1;
#endif
#else
constexpr int kOpsDivisor = 1;
#endif

mixcclComm_t initComm(int rank, int nranks, const mixcclUniqueId& id) {
  mixcclComm_t comm = nullptr;
  MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), comm);
  return comm;
}

uint64_t fastOps(mixcclComm_t comm) {
  MP_CHECK(comm->fastPath != nullptr, "rank %d: the communicator has no shm fast path", currentRank());
  return comm->fastPath->completedOps();
}

void expectOk(const RunSummary& s) { EXPECT_TRUE(s.ok()) << s.describe(); }

// Every type and operator, counts at the edges of a slot, in place and out of place. MIXCCL_ALGO
// forces oneshot, so the limit is the slot's and not the tuner's.
void runMatrix(int nranks) {
  expectOk(runRanks(nranks, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_ALGO", "allreduce:oneshot", 1);
    mixcclComm_t comm = initComm(rank, n, id);
    MP_CHECK(comm->fastPath->slotBytes() == kSlotBytes, "slot of %zu bytes", comm->fastPath->slotBytes());
    uint64_t seed = 11;
    for (mixcclDataType_t type : allTypes()) {
      const size_t es = typeSize(type);
      const size_t limit = kSlotBytes / es;
      for (Reduction red : allReductions()) {
        mixcclRedOp_t op = mixcclSum;
        if (red != Reduction::PreMulSum) op = builtinOp(red);
        else {
          std::vector<unsigned char> scalar(es);
          preMulScalar(type, rank, scalar.data());
          MP_CHECK_OK(mixcclRedOpCreatePreMulSum(&op, scalar.data(), type, mixcclScalarHostImmediate, comm), comm);
        }
        for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{48} / es, size_t{48} / es + 1, limit, limit + 1}) {
          for (bool inPlace : {false, true}) {
            ++seed;
            std::vector<unsigned char> send(count * es + 1), recv(count * es + 1, 0xA5);
            fillInput(type, red, seed, rank, n, 0, count, send.data());
            void* out = inPlace ? send.data() : recv.data();
            uint64_t before = fastOps(comm);
            MP_CHECK_OK(mixcclAllReduce(send.data(), out, count, type, op, comm, nullptr), comm);
            std::string label = formatString("%s %s count %zu %s", typeName(type), reductionName(red), count,
                                             inPlace ? "in place" : "out of place");
            MP_EXPECT(checkReduction(type, red, seed, n, 0, count, out, label) == 0, "%s: wrong result", label.c_str());
            if (!inPlace) {
              MP_EXPECT(checkInputs(type, red, seed, rank, n, 0, count, send.data(), label + " (input)") == 0,
                        "%s: the input changed", label.c_str());
            }
            MP_EXPECT(checkSentinel(recv.data() + count * es, 1, 0xA5, label) == 0, "%s: wrote past the end",
                      label.c_str());
            uint64_t expected = count > 0 && count <= limit ? 1 : 0;
            MP_EXPECT(fastOps(comm) - before == expected, "%s: %llu fast-path operations, expected %llu",
                      label.c_str(), static_cast<unsigned long long>(fastOps(comm) - before),
                      static_cast<unsigned long long>(expected));
          }
        }
        if (red == Reduction::PreMulSum) MP_CHECK_OK(mixcclRedOpDestroy(op, comm), comm);
      }
    }
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  }));
}

TEST(FastPath, EveryTypeAndOperatorTwoRanks) { runMatrix(2); }
TEST(FastPath, EveryTypeAndOperatorThreeRanks) { runMatrix(3); }

// Floats that do not add exactly: every rank must get the same bits, those of the sum in rank
// order ((x0 + x1) + x2) + x3.
TEST(FastPath, FloatSumIsBitIdenticalOnEveryRank) {
  expectOk(runRanks(4, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_ALGO", "allreduce:oneshot", 1);
    mixcclComm_t comm = initComm(rank, n, id);
    for (size_t count : {size_t{3}, size_t{12}, size_t{1000}, kSlotBytes / 4}) {
      auto value = [](int r, size_t i) {
        return static_cast<float>(std::sin(static_cast<double>(i * 7 + static_cast<size_t>(r) * 13 + 1)) *
                                  std::pow(10.0, static_cast<double>((i + static_cast<size_t>(r)) % 9) - 4));
      };
      std::vector<float> in(count), out(count);
      for (size_t i = 0; i < count; ++i) in[i] = value(rank, i);
      uint64_t before = fastOps(comm);
      MP_CHECK_OK(mixcclAllReduce(in.data(), out.data(), count, mixcclFloat32, mixcclSum, comm, nullptr), comm);
      MP_EXPECT(fastOps(comm) == before + 1, "count %zu did not take the fast path", count);
      size_t wrong = 0;
      for (size_t i = 0; i < count; ++i) {
        float expect = value(0, i);
        for (int r = 1; r < n; ++r) expect += value(r, i);
        if (std::memcmp(&expect, &out[i], 4) != 0) ++wrong;
      }
      MP_EXPECT(wrong == 0, "count %zu: %zu elements differ from the rank-order sum", count, wrong);
    }
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  }));
}

// Left to itself, the tuner picks the fast path for tiny all-reduces on 2 and 4 ranks; forcing
// another algorithm turns it off. The built-in costs are used (MIXCCL_CALIBRATE=0): this checks the
// model's decision, and a calibration taken while other tests load the cores measures that load
// (CI once saw the pick move away at 64 floats on 4 ranks under -j2).
TEST(FastPath, TunerPicksItForSmallSizesAndAlgoForcesItOff) {
  for (int nranks : {2, 4}) {
    for (bool forceRing : {false, true}) {
      expectOk(runRanks(nranks, [forceRing](int rank, int n, const mixcclUniqueId& id) {
        setenv("MIXCCL_CALIBRATE", "0", 1);
        if (forceRing) setenv("MIXCCL_ALGO", "allreduce:ring", 1);
        mixcclComm_t comm = initComm(rank, n, id);
        for (size_t count : {size_t{2}, size_t{64}}) {
          std::vector<float> in(count, 1.0f), out(count);
          uint64_t before = fastOps(comm);
          MP_CHECK_OK(mixcclAllReduce(in.data(), out.data(), count, mixcclFloat32, mixcclSum, comm, nullptr), comm);
          MP_EXPECT(out[0] == static_cast<float>(n), "wrong sum %f", out[0]);
          MP_EXPECT(fastOps(comm) - before == (forceRing ? 0u : 1u), "%zu floats on %d ranks: %s", count, n,
                    forceRing ? "took the fast path although ring is forced" : "the tuner did not pick the fast path");
        }
        MP_CHECK_OK(mixcclCommDestroy(comm), comm);
      }));
    }
  }
}

// Whether waiters spin is decided over the whole host: two ranks pinned to a core each (mpirun's and
// mixccl-perf's default on 2 cores) still have a core each and spin; two ranks pinned to the same
// core do not. (Each process's own mask has one CPU in both cases.)
TEST(FastPath, RanksPinnedToACoreEachStillSpin) {
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof(mine), &mine), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &mine)) cpus.push_back(c);
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  for (bool sameCore : {false, true}) {
    expectOk(runRanks(2, [&cpus, sameCore](int rank, int n, const mixcclUniqueId& id) {
      setenv("MIXCCL_CALIBRATE", "0", 1);
      unsetenv("MIXCCL_SHM_SPIN_US");
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[sameCore ? 0 : static_cast<size_t>(rank)], &one);
      MP_CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "rank %d: cannot pin itself", rank);
      mixcclComm_t comm = initComm(rank, n, id);
      MP_CHECK(comm->fastPath != nullptr, "rank %d: no shm fast path", rank);
      MP_EXPECT(comm->hostCpus == (sameCore ? 1 : 2), "rank %d: the host's ranks share %d CPUs", rank, comm->hostCpus);
      MP_EXPECT((comm->fastPath->spinNs() > 0) == !sameCore, "rank %d pinned %s: spin %llu ns", rank,
                sameCore ? "with its peer on one core" : "to a core of its own",
                static_cast<unsigned long long>(comm->fastPath->spinNs()));
      MP_CHECK_OK(mixcclCommDestroy(comm), comm);
    }));
  }
}

// Ranks that disagree on the call (count, type or reduction) must all fail with a sentence showing
// both sides, not read each other's slots past what was written; the communicator then still works.
TEST(FastPath, RanksThatDisagreeAllFailAndSayHow) {
  expectOk(runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_CALIBRATE", "0", 1);
    mixcclComm_t comm = initComm(rank, n, id);
    struct Case {
      size_t count;
      mixcclDataType_t type;
      mixcclRedOp_t op;
      const char* theirs;  // what rank 0 sees of rank 2's call
    };
    const Case cases[] = {{16, mixcclFloat32, mixcclSum, "16 x float32"},
                          {8, mixcclInt32, mixcclSum, "8 x int32"},
                          {8, mixcclFloat32, mixcclMax, "max"}};
    for (const Case& c : cases) {
      // Rank 2 makes the odd call; the others call 8 floats, summed.
      const bool odd = rank == 2;
      const size_t count = odd ? c.count : 8;
      std::vector<double> in(count, 1.0), out(count);  // room for any 8-byte-or-smaller type
      uint64_t before = fastOps(comm);
      mixcclResult_t r = mixcclAllReduce(in.data(), out.data(), count, odd ? c.type : mixcclFloat32,
                                         odd ? c.op : mixcclSum, comm, nullptr);
      MP_EXPECT(r == mixcclInvalidUsage, "disagreeing call (%s) returned %d, not mixcclInvalidUsage", c.theirs, r);
      const std::string message = mixcclGetLastError(comm);
      MP_EXPECT(message.find("ranks disagree") != std::string::npos, "unclear message: %s", message.c_str());
      if (rank == 0) {
        MP_EXPECT(message.find(c.theirs) != std::string::npos, "message does not show rank 2's call (%s): %s",
                  c.theirs, message.c_str());
      }
      MP_EXPECT(fastOps(comm) == before, "a refused call counted as a fast-path operation");
    }
    std::vector<float> in(8, 1.0f), out(8);
    MP_CHECK_OK(mixcclAllReduce(in.data(), out.data(), 8, mixcclFloat32, mixcclSum, comm, nullptr), comm);
    MP_EXPECT(out[7] == static_cast<float>(n), "after the refusals: sum %f, not %d", out[7], n);
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  }));
}

// Thousands of operations back to back, sizes alternating so that the fast path and the engine
// interleave; every value depends on the operation's index, so a slot read too early or too late
// (a reuse race) shows as a wrong sum.
void runBackToBack(int nranks, int ops) {
  ops = ops / kOpsDivisor / 8 * 8;
  expectOk(runRanks(nranks, [ops](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_ALGO", "allreduce:oneshot", 1);
    mixcclComm_t comm = initComm(rank, n, id);
    const size_t sizes[] = {1, 2, 12, 13, 100, kSlotBytes / 8, kSlotBytes / 8 + 1, 5};
    std::vector<int64_t> buf(kSlotBytes / 8 + 1), out(kSlotBytes / 8 + 1);
    uint64_t before = fastOps(comm);
    int wrongOps = 0;
    for (int k = 0; k < ops; ++k) {
      const size_t count = sizes[static_cast<size_t>(k) % 8];
      for (size_t i = 0; i < count; ++i) buf[i] = int64_t{k} * 1000003 + static_cast<int64_t>(i) * 31 + rank;
      bool inPlace = k % 3 == 0;
      int64_t* dst = inPlace ? buf.data() : out.data();
      MP_CHECK_OK(mixcclAllReduce(buf.data(), dst, count, mixcclInt64, mixcclSum, comm, nullptr), comm);
      for (size_t i = 0; i < count; ++i) {
        int64_t expect = n * (int64_t{k} * 1000003 + static_cast<int64_t>(i) * 31) + int64_t{n} * (n - 1) / 2;
        if (dst[i] != expect) {
          ++wrongOps;
          break;
        }
      }
    }
    MP_EXPECT(wrongOps == 0, "%d of %d operations gave a wrong sum", wrongOps, ops);
    uint64_t fast = fastOps(comm) - before;
    MP_EXPECT(fast == static_cast<uint64_t>(ops) / 8 * 7, "%llu fast-path operations of %d",
              static_cast<unsigned long long>(fast), ops);
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  }));
}

TEST(FastPath, BackToBackTwoRanks) { runBackToBack(2, 4000); }
TEST(FastPath, BackToBackThreeRanks) { runBackToBack(3, 2400); }
TEST(FastPath, BackToBackFourRanks) { runBackToBack(4, 2400); }
TEST(FastPath, BackToBackFiveRanks) { runBackToBack(5, 2000); }

// Grouped all-reduces keep the engine's path; MIXCCL_CHECK=1 compares signatures first and then
// still takes the fast path; MIXCCL_FASTPATH=0 turns it off on every rank.
TEST(FastPath, GroupsCheckModeAndOff) {
  for (const char* mode : {"group", "check", "off"}) {
    std::string m = mode;
    expectOk(runRanks(3, [m](int rank, int n, const mixcclUniqueId& id) {
      if (m == "check") setenv("MIXCCL_CHECK", "1", 1);
      if (m == "off") setenv("MIXCCL_FASTPATH", "0", 1);
      setenv("MIXCCL_ALGO", "allreduce:oneshot", 1);
      mixcclComm_t comm = initComm(rank, n, id);
      if (m == "off") {
        MP_EXPECT(comm->fastPath == nullptr, "MIXCCL_FASTPATH=0 left the fast path on");
      }
      uint64_t before = m == "off" ? 0 : fastOps(comm);
      for (int k = 0; k < 20; ++k) {
        int32_t a[3] = {rank, k, 1}, b[3] = {rank, k, 1}, ra[3], rb[3];
        if (m == "group") MP_CHECK_OK(mixcclGroupStart(), comm);
        MP_CHECK_OK(mixcclAllReduce(a, ra, 3, mixcclInt32, mixcclSum, comm, nullptr), comm);
        MP_CHECK_OK(mixcclAllReduce(b, rb, 3, mixcclInt32, mixcclMax, comm, nullptr), comm);
        if (m == "group") MP_CHECK_OK(mixcclGroupEnd(), comm);
        MP_EXPECT(ra[0] == n * (n - 1) / 2 && ra[1] == n * k && ra[2] == n, "%s: wrong sum", m.c_str());
        MP_EXPECT(rb[0] == n - 1 && rb[1] == k && rb[2] == 1, "%s: wrong max", m.c_str());
      }
      if (m == "group") MP_EXPECT(fastOps(comm) == before, "grouped all-reduce took the fast path");
      if (m == "check") MP_EXPECT(fastOps(comm) == before + 40, "MIXCCL_CHECK=1 skipped the fast path");
      MP_CHECK_OK(mixcclCommDestroy(comm), comm);
    }));
  }
}

// The segment's name is gone from /dev/shm once init returns (a killed job leaks nothing).
TEST(FastPath, SegmentNameRemovedAfterInit) {
  expectOk(runRanks(2, [](int rank, int n, const mixcclUniqueId& id) {
    mixcclComm_t comm = initComm(rank, n, id);
    std::string path = formatString("/dev/shm/mixccl-%016llx-fast", static_cast<unsigned long long>(comm->commHash));
    MP_EXPECT(access(path.c_str(), F_OK) != 0, "%s still exists after init", path.c_str());
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  }));
}

// A rank that exits between operations: the survivors' next all-reduce fails within seconds (not
// the 60 s timeout) with an error that names it.
TEST(FastPath, PeerExitMidOperationIsNamed) {
  RunOptions options;
  options.deadlineSeconds = 60;
  expectOk(runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    mixcclComm_t comm = initComm(rank, n, id);
    float x = 1, y = 0;
    for (int k = 0; k < 50; ++k) MP_CHECK_OK(mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm, nullptr), comm);
    if (rank == 2) _exit(0);  // gone without a word
    auto start = std::chrono::steady_clock::now();
    mixcclResult_t r = mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm, nullptr);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string error = mixcclGetLastError(comm);
    MP_EXPECT(r == mixcclSystemError, "result %d: %s", static_cast<int>(r), error.c_str());
    MP_EXPECT(error.find("rank 2 (pid") != std::string::npos && error.find("died or exited") != std::string::npos,
              "the error does not name the dead rank: %s", error.c_str());
    MP_EXPECT(seconds < 10, "noticed after %.1f s", seconds);
    mixcclCommAbort(comm);
  }, options));
}

// Nobody else calls: the wait gives up after MIXCCL_TIMEOUT and names the ranks it waited for.
TEST(FastPath, TimeoutNamesMissingRanks) {
  expectOk(runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_TIMEOUT", "1", 1);
    mixcclComm_t comm = initComm(rank, n, id);
    if (rank == 0) {
      float x = 1, y = 0;
      mixcclResult_t r = mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm, nullptr);
      std::string error = mixcclGetLastError(comm);
      MP_EXPECT(r == mixcclSystemError, "result %d", static_cast<int>(r));
      MP_EXPECT(error.find("waiting for rank 1, rank 2") != std::string::npos &&
                error.find("MIXCCL_TIMEOUT") != std::string::npos, "unexpected error: %s", error.c_str());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    }
    mixcclCommAbort(comm);
  }));
}

// mixcclCommAbort from another thread wakes a rank asleep in the fast path at once.
TEST(FastPath, AbortWakesSleepingWaiter) {
  expectOk(runRanks(2, [](int rank, int n, const mixcclUniqueId& id) {
    mixcclComm_t comm = initComm(rank, n, id);
    if (rank == 0) {
      float x = 1, y = 0;
      mixcclResult_t r = mixcclSuccess;
      auto start = std::chrono::steady_clock::now();
      std::thread waiter([&] { r = mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm, nullptr); });
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past spinning and yielding: asleep
      mixcclCommAbort(comm);
      waiter.join();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      MP_EXPECT(r != mixcclSuccess, "the all-reduce succeeded alone");
      MP_EXPECT(seconds < 2, "abort took %.2f s to wake the waiter", seconds);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      mixcclCommAbort(comm);
    }
  }));
}

}  // namespace
}  // namespace mixccl_test

namespace mixccl {
namespace {

TEST(HostCpus, TheUnionCountsEachCpuOnce) {
  CpuMask a{}, b{}, c{};
  a.words[0] = 0b0011;
  b.words[0] = 0b0110;
  c.words[3] = uint64_t{1} << 63;
  EXPECT_EQ(cpusInUnion({a}), 2);
  EXPECT_EQ(cpusInUnion({a, b}), 3);
  EXPECT_EQ(cpusInUnion({a, a}), 2);
  EXPECT_EQ(cpusInUnion({a, b, c}), 4);
  EXPECT_EQ(cpusInUnion({}), 0);
  EXPECT_GE(cpusInUnion({currentCpuMask()}), 1);
}

// The fast path's price (what the tuner weighs against the engine's algorithms): on dedicated
// cores the link's latency and the host's fixed wait add only the wait; oversubscribed, the wait for
// peers that must first get a core is priced as the engine's rounds are (the shm latency stretched),
// plus the fixed wait once; more bytes never cost less.
TEST(FastPathPrice, FollowsTheHostsMeasuredWaits) {
  const double copy = 20, reduce = 10, beta = 8;
  const double roomy = ShmFastPath::predictUs(8, 2, copy, reduce, 0.5, beta, 1.0, 0);
  EXPECT_NEAR(ShmFastPath::predictUs(8, 2, copy, reduce, 0.5, beta, 1.0, 2.0) - roomy, 2.0, 1e-9);
  EXPECT_NEAR(ShmFastPath::predictUs(8, 2, copy, reduce, 3.0, beta, 1.0, 0), roomy, 1e-9)
      << "on dedicated cores the flag round trip is part of the fixed cost, not the engine's latency";
  const double crowded = ShmFastPath::predictUs(8, 4, copy, reduce, 1.5, beta, 2.0, 0);
  const double crowdedBase = ShmFastPath::predictUs(8, 4, copy, reduce, 0, beta, 2.0, 0);
  EXPECT_NEAR(crowded - crowdedBase, 3.0, 1e-9) << "latency 1.5 us stretched by 4 ranks on 2 cores";
  EXPECT_NEAR(ShmFastPath::predictUs(8, 4, copy, reduce, 1.5, beta, 2.0, 4.0) - crowded, 4.0, 1e-9);
  double previous = 0;
  for (size_t bytes = 8; bytes <= 16384; bytes *= 4) {
    double us = ShmFastPath::predictUs(bytes, 4, copy, reduce, 1.5, beta, 2.0, 4.0);
    EXPECT_GT(us, previous) << bytes;
    previous = us;
  }
}

}  // namespace
}  // namespace mixccl
