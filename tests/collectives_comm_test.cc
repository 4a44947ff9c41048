// Communicators beyond one plain CommInitRank: split communicators, several collectives in one
// group, forced transports, and mixcclCommInitAll driven from threads or from one group.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <thread>
#include <vector>

#include "tests/collective_cases.h"
#include "tests/mp_harness.h"

namespace mixccl_test {
namespace {

constexpr size_t kBigCount = 1048579;

void expectSummaryOk(const RunSummary& summary) { EXPECT_TRUE(summary.ok()) << summary.describe(); }

int commCount(mixcclComm_t comm) {
  int n = -1;
  MP_CHECK_OK(mixcclCommCount(comm, &n), comm);
  return n;
}
int commRank(mixcclComm_t comm) {
  int r = -1;
  MP_CHECK_OK(mixcclCommUserRank(comm, &r), comm);
  return r;
}

// Each rank contributes its parent rank; an all-gather on the child shows who sits where.
std::vector<int32_t> gatherParentRanks(mixcclComm_t child, int childSize, int parentRank) {
  std::vector<int32_t> all(static_cast<size_t>(childSize), -1);
  const int32_t mine = parentRank;
  MP_CHECK_OK(mixcclAllGather(&mine, all.data(), 1, mixcclInt32, child, nullptr), child);
  return all;
}

void runSomeCollectives(RankContext& ctx) {
  for (mixcclDataType_t type : {mixcclFloat32, mixcclInt64, mixcclBfloat16}) {
    for (size_t count : {size_t{1}, size_t{1023}, size_t{100003}}) {
      runCase(ctx, CaseSpec{Collective::AllReduce, type, Reduction::Sum, count, false, 0});
      runCase(ctx, CaseSpec{Collective::AllGather, type, Reduction::None, count, true, 0});
      runCase(ctx, CaseSpec{Collective::ReduceScatter, type, Reduction::Max, count, false, 0});
      runCase(ctx, CaseSpec{Collective::Broadcast, type, Reduction::None, count, false, ctx.nranks - 1});
      runCase(ctx, CaseSpec{Collective::AlltoAll, type, Reduction::None, count, false, 0});
      runCase(ctx, CaseSpec{Collective::SendRecv, type, Reduction::None, count, false, 1});
    }
  }
}

// ---- split --------------------------------------------------------------------------------------

class Split : public ::testing::TestWithParam<int> {};

TEST_P(Split, ByParityWithKeysReversingTheOrder) {
  expectSummaryOk(runRanks(GetParam(), [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    mixcclComm_t child = nullptr;
    // key = nranks - rank: the highest parent rank of each color becomes child rank 0.
    MP_CHECK_OK(mixcclCommSplit(comm, rank % 2, nranks - rank, &child, nullptr), comm);
    MP_CHECK(child != nullptr, "rank %d got no communicator from a split with color %d", rank, rank % 2);
    // Same-parity ranks, from the highest down.
    std::vector<int> members;
    for (int r = nranks - 1; r >= 0; --r) {
      if (r % 2 == rank % 2) members.push_back(r);
    }
    const int size = static_cast<int>(members.size());
    int expectedRank = 0;
    while (members[static_cast<size_t>(expectedRank)] != rank) ++expectedRank;
    MP_EXPECT(commCount(child) == size, "child of color %d has %d ranks, expected %d", rank % 2, commCount(child), size);
    MP_CHECK(commRank(child) == expectedRank, "parent rank %d became child rank %d, expected %d (keys reverse order)",
             rank, commRank(child), expectedRank);
    const std::vector<int32_t> seen = gatherParentRanks(child, size, rank);
    for (int i = 0; i < size; ++i) {
      MP_EXPECT(seen[static_cast<size_t>(i)] == members[static_cast<size_t>(i)],
                "child rank %d is parent rank %d, expected %d", i, seen[static_cast<size_t>(i)],
                members[static_cast<size_t>(i)]);
    }
    RankContext childCtx{child, expectedRank, size, 1000};
    runSomeCollectives(childCtx);
    // The parent still works, and the two communicators do not mix their traffic.
    RankContext parentCtx{comm, rank, nranks, 2000};
    runSomeCollectives(parentCtx);
    MP_CHECK_OK(mixcclCommDestroy(child), nullptr);
    runCase(parentCtx, CaseSpec{Collective::AllReduce, mixcclFloat64, Reduction::Sum, 1023, true, 0});
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

TEST_P(Split, OneRankWithNoColor) {
  expectSummaryOk(runRanks(GetParam(), [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    // The middle rank opts out; equal keys keep the parent order.
    const int outsider = nranks / 2;
    mixcclComm_t child = reinterpret_cast<mixcclComm_t>(&child);  // must be overwritten
    const int color = rank == outsider ? MIXCCL_SPLIT_NOCOLOR : 7;
    MP_CHECK_OK(mixcclCommSplit(comm, color, 0, &child, nullptr), comm);
    if (rank == outsider) {
      MP_CHECK(child == nullptr, "the rank that passed MIXCCL_SPLIT_NOCOLOR got a communicator");
    } else {
      MP_CHECK(child != nullptr, "rank %d got no communicator", rank);
      const int expectedRank = rank < outsider ? rank : rank - 1;
      MP_CHECK(commCount(child) == nranks - 1, "child has %d ranks, expected %d", commCount(child), nranks - 1);
      MP_CHECK(commRank(child) == expectedRank, "parent rank %d became child rank %d, expected %d", rank,
               commRank(child), expectedRank);
      RankContext childCtx{child, expectedRank, nranks - 1, 3000};
      runSomeCollectives(childCtx);
      MP_CHECK_OK(mixcclCommDestroy(child), nullptr);
    }
    RankContext parentCtx{comm, rank, nranks, 4000};
    runCase(parentCtx, CaseSpec{Collective::AllReduce, mixcclInt32, Reduction::Sum, 7, false, 0});
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

TEST_P(Split, SplitOfASplit) {
  expectSummaryOk(runRanks(GetParam(), [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    mixcclComm_t all = nullptr;
    MP_CHECK_OK(mixcclCommSplit(comm, 0, rank, &all, nullptr), comm);  // a copy of the parent
    MP_CHECK(all != nullptr && commCount(all) == nranks && commRank(all) == rank, "a one-color split must copy the parent");
    mixcclComm_t half = nullptr;
    const int color = rank < (nranks + 1) / 2 ? 0 : 1;
    MP_CHECK_OK(mixcclCommSplit(all, color, rank, &half, nullptr), all);
    const int halfSize = color == 0 ? (nranks + 1) / 2 : nranks - (nranks + 1) / 2;
    const int halfRank = color == 0 ? rank : rank - (nranks + 1) / 2;
    MP_CHECK(commCount(half) == halfSize && commRank(half) == halfRank, "half %d: rank %d of %d, expected %d of %d",
             color, commRank(half), commCount(half), halfRank, halfSize);
    RankContext halfCtx{half, halfRank, halfSize, 5000};
    runSomeCollectives(halfCtx);
    MP_CHECK_OK(mixcclCommDestroy(half), nullptr);
    MP_CHECK_OK(mixcclCommDestroy(all), nullptr);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

INSTANTIATE_TEST_SUITE_P(Ranks, Split, ::testing::Values(2, 3, 4, 5, 8),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "ranks";
                         });

// ---- several collectives in one group ----------------------------------------------------------

class Grouped : public ::testing::TestWithParam<int> {};

TEST_P(Grouped, SeveralCollectivesAndSendRecvInOneGroup) {
  expectSummaryOk(runRanks(GetParam(), [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    RankContext ctx{comm, rank, nranks};
    const std::vector<CaseSpec> specs = {
        {Collective::AllReduce, mixcclFloat32, Reduction::Sum, 1023, false, 0},
        {Collective::Broadcast, mixcclInt8, Reduction::None, 77, false, nranks - 1},
        {Collective::AllReduce, mixcclInt64, Reduction::Max, 100003, true, 0},
        {Collective::AllGather, mixcclFloat16, Reduction::None, 513, false, 0},
        {Collective::Reduce, mixcclFloat64, Reduction::PreMulSum, 1025, false, 0},
        {Collective::ReduceScatter, mixcclUint32, Reduction::Prod, 257, true, 0},
        {Collective::AlltoAll, mixcclBfloat16, Reduction::None, 33, false, 0},
        {Collective::Gather, mixcclUint8, Reduction::None, 9, false, nranks / 2},
        {Collective::Scatter, mixcclFloat8e4m3, Reduction::None, 11, true, 0},
        {Collective::AllReduce, mixcclFloat8e5m2, Reduction::Avg, 0, false, 0},
    };
    for (int repeat = 0; repeat < 3; ++repeat) {
      std::vector<std::unique_ptr<CollectiveCase>> cases;
      for (const CaseSpec& s : specs) cases.push_back(makeCase(ctx, s));
      // A ring send/recv in the same group too (posted as single calls, the group is ours).
      GuardedBuffer sendBuf(4096 * 4, 0), recvBuf(4096 * 4, kSentinelByte);
      const uint64_t p2pSeed = ctx.nextSeed++;
      fillInput(mixcclInt32, Reduction::None, p2pSeed, rank, nranks, 0, 4096, sendBuf.data());
      MP_CHECK_OK(mixcclGroupStart(), comm);
      for (auto& c : cases) MP_CHECK_OK(c->issue(), comm);
      MP_CHECK_OK(mixcclSend(sendBuf.data(), 4096, mixcclInt32, (rank + 1) % nranks, comm, nullptr), comm);
      MP_CHECK_OK(mixcclRecv(recvBuf.data(), 4096, mixcclInt32, (rank + nranks - 1) % nranks, comm, nullptr), comm);
      MP_CHECK_OK(mixcclGroupEnd(), comm);
      for (auto& c : cases) {
        const size_t bad = c->verify();
        MP_EXPECT(bad == 0, "%s in a group: %zu problems (details above)", c->label().c_str(), bad);
      }
      const size_t bad = checkInputs(mixcclInt32, Reduction::None, p2pSeed, (rank + nranks - 1) % nranks, nranks, 0,
                                     4096, recvBuf.data(), "ring send/recv in a group with collectives");
      MP_EXPECT(bad == 0, "send/recv grouped with collectives: %zu problems", bad);
    }
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

TEST_P(Grouped, NestedGroupsRunAtTheOutermostEnd) {
  expectSummaryOk(runRanks(GetParam(), [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    RankContext ctx{comm, rank, nranks};
    auto a = makeCase(ctx, CaseSpec{Collective::AllReduce, mixcclFloat32, Reduction::Min, 4097, false, 0});
    auto b = makeCase(ctx, CaseSpec{Collective::AllGather, mixcclInt32, Reduction::None, 100, true, 0});
    auto c = makeCase(ctx, CaseSpec{Collective::ReduceScatter, mixcclFloat64, Reduction::Sum, 50, false, 0});
    MP_CHECK_OK(mixcclGroupStart(), comm);
    MP_CHECK_OK(a->issue(), comm);
    MP_CHECK_OK(mixcclGroupStart(), comm);
    MP_CHECK_OK(b->issue(), comm);
    MP_CHECK_OK(mixcclGroupEnd(), comm);  // inner end: nothing runs yet
    MP_CHECK_OK(c->issue(), comm);
    MP_CHECK_OK(mixcclGroupEnd(), comm);
    for (auto* k : {a.get(), b.get(), c.get()}) MP_EXPECT(k->verify() == 0, "%s in nested groups", k->label().c_str());
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

INSTANTIATE_TEST_SUITE_P(Ranks, Grouped, ::testing::Values(1, 2, 3, 4, 8),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "ranks";
                         });

// ---- forced transports ------------------------------------------------------------------------

struct TransportParam {
  const char* transport;
  int nranks;
};

void PrintTo(const TransportParam& p, std::ostream* os) { *os << p.transport << " on " << p.nranks << " ranks"; }

class ForcedTransport : public ::testing::TestWithParam<TransportParam> {};

TEST_P(ForcedTransport, AllReduceAllGatherAlltoAllAndSendRecv) {
  const TransportParam p = GetParam();
  expectSummaryOk(runRanks(p.nranks, [p](int rank, int nranks, const mixcclUniqueId& id) {
    setenv("MIXCCL_TRANSPORT", p.transport, 1);  // before init: the communicator picks it up then
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    RankContext ctx{comm, rank, nranks};
    for (mixcclDataType_t type : {mixcclFloat32, mixcclInt8, mixcclFloat16, mixcclUint64}) {
      for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1023}, kBigCount}) {
        for (bool inPlace : {false, true}) {
          runCase(ctx, CaseSpec{Collective::AllReduce, type, Reduction::Sum, count, inPlace, 0});
          runCase(ctx, CaseSpec{Collective::AllGather, type, Reduction::None, count, inPlace, 0});
          runCase(ctx, CaseSpec{Collective::AlltoAll, type, Reduction::None, count, inPlace, 0});
        }
        runCase(ctx, CaseSpec{Collective::AllReduce, type, Reduction::Max, count, false, 0});
        runCase(ctx, CaseSpec{Collective::SendRecv, type, Reduction::None, count, false, 1});
      }
    }
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }));
}

INSTANTIATE_TEST_SUITE_P(Transports, ForcedTransport,
                         ::testing::Values(TransportParam{"shm", 2}, TransportParam{"shm", 4},
                                           TransportParam{"socket", 2}, TransportParam{"socket", 4}),
                         [](const ::testing::TestParamInfo<TransportParam>& info) {
                           return std::string(info.param.transport) + "_" + std::to_string(info.param.nranks) + "ranks";
                         });

// ---- mixcclCommInitAll -------------------------------------------------------------------------

// Checks count, rank and device of each of the n communicators InitAll made.
void checkInitAllComms(const std::vector<mixcclComm_t>& comms) {
  const int n = static_cast<int>(comms.size());
  for (int i = 0; i < n; ++i) {
    MP_CHECK(comms[static_cast<size_t>(i)] != nullptr, "mixcclCommInitAll left communicator %d NULL", i);
    MP_CHECK(commCount(comms[static_cast<size_t>(i)]) == n, "communicator %d has %d ranks, expected %d", i,
             commCount(comms[static_cast<size_t>(i)]), n);
    MP_CHECK(commRank(comms[static_cast<size_t>(i)]) == i, "communicator %d has rank %d", i,
             commRank(comms[static_cast<size_t>(i)]));
    const char* kind = nullptr;
    int ordinal = -1;
    MP_CHECK_OK(mixcclCommDevice(comms[static_cast<size_t>(i)], &kind, &ordinal), comms[static_cast<size_t>(i)]);
    MP_EXPECT(kind != nullptr && std::strcmp(kind, "cpu") == 0, "communicator %d runs on '%s', expected cpu", i,
              kind ? kind : "(null)");
  }
}

class InitAll : public ::testing::TestWithParam<int> {};

TEST_P(InitAll, OneThreadPerCommunicator) {
  const int n = GetParam();
  RunOptions options;
  options.createUniqueId = false;  // InitAll makes its own clique
  expectSummaryOk(runRanks(
      1,
      [n](int, int, const mixcclUniqueId&) {
        std::vector<mixcclComm_t> comms(static_cast<size_t>(n), nullptr);
        MP_CHECK_OK(mixcclCommInitAll(comms.data(), n, nullptr), nullptr);
        checkInitAllComms(comms);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
          threads.emplace_back([&comms, i, n] {
            RankContext ctx{comms[static_cast<size_t>(i)], i, n, 100};
            for (size_t count : {size_t{1}, size_t{1023}, kBigCount}) {
              runCase(ctx, CaseSpec{Collective::AllReduce, mixcclFloat32, Reduction::Sum, count, false, 0});
              runCase(ctx, CaseSpec{Collective::AllGather, mixcclInt32, Reduction::None, count, true, 0});
              runCase(ctx, CaseSpec{Collective::Broadcast, mixcclFloat16, Reduction::None, count, false, n - 1});
              runCase(ctx, CaseSpec{Collective::ReduceScatter, mixcclInt64, Reduction::Prod, count, false, 0});
              runCase(ctx, CaseSpec{Collective::SendRecv, mixcclUint8, Reduction::None, count, false, 1});
            }
          });
        }
        for (auto& t : threads) t.join();
        for (mixcclComm_t c : comms) MP_CHECK_OK(mixcclCommDestroy(c), nullptr);
      },
      options));
}

TEST_P(InitAll, AllCommunicatorsFromOneThreadInOneGroup) {
  const int n = GetParam();
  RunOptions options;
  options.createUniqueId = false;
  expectSummaryOk(runRanks(
      1,
      [n](int, int, const mixcclUniqueId&) {
        std::vector<mixcclComm_t> comms(static_cast<size_t>(n), nullptr);
        MP_CHECK_OK(mixcclCommInitAll(comms.data(), n, nullptr), nullptr);
        checkInitAllComms(comms);
        const std::vector<CaseSpec> specs = {
            {Collective::AllReduce, mixcclFloat64, Reduction::Sum, 1023, false, 0},
            {Collective::AllGather, mixcclUint8, Reduction::None, 4099, false, 0},
            {Collective::Reduce, mixcclInt32, Reduction::Min, 300001, true, 0},
            {Collective::SendRecv, mixcclFloat32, Reduction::None, 65537, false, 1},
        };
        for (const CaseSpec& spec : specs) {
          // One context per communicator, all with the same seed: together they are one clique.
          std::vector<std::unique_ptr<CollectiveCase>> cases;
          for (int i = 0; i < n; ++i) {
            RankContext ctx{comms[static_cast<size_t>(i)], i, n, 7};
            cases.push_back(makeCase(ctx, spec));
          }
          // (The SendRecv case opens a group of its own: nested in ours, it only queues.)
          MP_CHECK_OK(mixcclGroupStart(), nullptr);
          for (auto& c : cases) MP_CHECK_OK(c->issue(), nullptr);
          MP_CHECK_OK(mixcclGroupEnd(), nullptr);
          for (auto& c : cases) MP_EXPECT(c->verify() == 0, "%s through one group", c->label().c_str());
        }
        for (mixcclComm_t c : comms) MP_CHECK_OK(mixcclCommDestroy(c), nullptr);
      },
      options));
}

INSTANTIATE_TEST_SUITE_P(Comms, InitAll, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "comms";
                         });

}  // namespace
}  // namespace mixccl_test
