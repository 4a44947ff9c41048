// Point-to-point patterns through the public API: inside a group any pattern must complete, and
// messages between two ranks match in the order they were posted.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "tests/collective_cases.h"
#include "tests/mp_harness.h"

namespace mixccl_test {
namespace {

constexpr size_t kBigCount = 1048579;

// One send or receive of a pattern. Every message's data is the sender's inputs at a logical
// offset chosen by the pattern, so the receiver can tell which message it got.
struct Message {
  bool isSend = true;
  int peer = 0;
  mixcclDataType_t type = mixcclFloat32;
  size_t count = 0;
  size_t firstIndex = 0;  // logical offset of the data in the sender's input stream
  GuardedBuffer buffer;
};

class Pattern {
 public:
  Pattern(RankContext& ctx, const char* name) : ctx_(ctx), seed_(ctx.nextSeed++), name_(name) {}

  void send(int to, mixcclDataType_t type, size_t count, size_t firstIndex) {
    auto m = std::make_unique<Message>();
    m->isSend = true;
    m->peer = to;
    m->type = type;
    m->count = count;
    m->firstIndex = firstIndex;
    m->buffer = GuardedBuffer(count * typeSize(type), 0);
    fillInput(type, Reduction::None, seed_, ctx_.rank, ctx_.nranks, firstIndex, count, m->buffer.data());
    messages_.push_back(std::move(m));
  }
  // firstIndex: where in the sender's stream the expected message starts.
  void recv(int from, mixcclDataType_t type, size_t count, size_t firstIndex) {
    auto m = std::make_unique<Message>();
    m->isSend = false;
    m->peer = from;
    m->type = type;
    m->count = count;
    m->firstIndex = firstIndex;
    m->buffer = GuardedBuffer(count * typeSize(type), kSentinelByte);
    messages_.push_back(std::move(m));
  }

  // Posts every message in the order added, inside one group (or, grouped == false, one call at a
  // time, blocking), then checks every buffer.
  void run(bool grouped = true) {
    if (grouped) MP_CHECK_OK(mixcclGroupStart(), ctx_.comm);
    for (auto& m : messages_) {
      const mixcclResult_t r =
          m->isSend ? mixcclSend(m->buffer.data(), m->count, m->type, m->peer, ctx_.comm, nullptr)
                    : mixcclRecv(m->buffer.data(), m->count, m->type, m->peer, ctx_.comm, nullptr);
      if (r != mixcclSuccess) {
        failRank(__FILE__, __LINE__,
                 describeResult(formatString("%s: mixccl%s(peer %d, %zu x %s)", name_, m->isSend ? "Send" : "Recv",
                                             m->peer, m->count, typeName(m->type))
                                    .c_str(),
                                r, ctx_.comm));
      }
    }
    if (grouped) MP_CHECK_OK(mixcclGroupEnd(), ctx_.comm);
    size_t bad = 0;
    for (size_t i = 0; i < messages_.size(); ++i) {
      Message& m = *messages_[i];
      const std::string label = formatString("[rank %d] %s (%d ranks): message %zu, %s peer %d, %zu x %s", ctx_.rank,
                                             name_, ctx_.nranks, i, m.isSend ? "send to" : "receive from", m.peer,
                                             m.count, typeName(m.type));
      const int source = m.isSend ? ctx_.rank : m.peer;
      bad += checkInputs(m.type, Reduction::None, seed_, source, ctx_.nranks, m.firstIndex, m.count, m.buffer.data(),
                         label + (m.isSend ? ": send buffer changed" : ": wrong data"));
      bad += m.buffer.checkGuards(label);
    }
    MP_EXPECT(bad == 0, "%s on %d ranks: %zu problems (details above)", name_, ctx_.nranks, bad);
  }

 private:
  RankContext& ctx_;
  uint64_t seed_;
  const char* name_;
  std::vector<std::unique_ptr<Message>> messages_;
};

// Runs body on a fresh communicator of nranks ranks and asserts that every rank succeeded.
void runOnRanks(int nranks, void (*body)(RankContext&)) {
  const RunSummary summary = runRanks(nranks, [body](int rank, int n, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), nullptr);
    RankContext ctx{comm, rank, n};
    body(ctx);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

int next(const RankContext& c, int d = 1) { return (c.rank + d) % c.nranks; }
int prev(const RankContext& c, int d = 1) { return (c.rank - d % c.nranks + c.nranks) % c.nranks; }

class P2P : public ::testing::TestWithParam<int> {};

TEST_P(P2P, RingShiftBothDirections) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{1023}, kBigCount}) {
      // Data sent "forward" starts at logical index 0, data sent "backward" at `count`.
      Pattern p(ctx, "ring shift in both directions");
      p.send(next(ctx), mixcclFloat32, count, 0);
      p.send(prev(ctx), mixcclFloat32, count, count);
      p.recv(prev(ctx), mixcclFloat32, count, 0);
      p.recv(next(ctx), mixcclFloat32, count, count);
      p.run();
    }
  });
}

TEST_P(P2P, AllPairsExchangeEveryoneSendsFirst) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    for (size_t count : {size_t{7}, size_t{65536 + 5}}) {
      // Rank r's message to q starts at logical index q * count: each receiver can tell it got the
      // message meant for it. Self included.
      Pattern p(ctx, "all pairs, all sends posted before any receive");
      for (int q = 0; q < ctx.nranks; ++q) p.send(q, mixcclInt32, count, static_cast<size_t>(q) * count);
      for (int q = 0; q < ctx.nranks; ++q) p.recv(q, mixcclInt32, count, static_cast<size_t>(ctx.rank) * count);
      p.run();
    }
  });
}

TEST_P(P2P, AllPairsExchangeReceivesFirstInRankDependentOrder) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    Pattern p(ctx, "all pairs, receives first, peers in a rank-dependent order");
    const size_t count = 4099;
    for (int i = 0; i < ctx.nranks; ++i) {
      const int q = next(ctx, ctx.nranks - 1 - i);
      p.recv(q, mixcclUint8, count, static_cast<size_t>(ctx.rank) * count);
    }
    for (int i = 0; i < ctx.nranks; ++i) {
      const int q = next(ctx, i);
      p.send(q, mixcclUint8, count, static_cast<size_t>(q) * count);
    }
    p.run();
  });
}

TEST_P(P2P, SeveralMessagesToOnePeerMatchInPostingOrder) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    // Different types and sizes in a row: each receive must get the send posted in the same place.
    struct Shape {
      mixcclDataType_t type;
      size_t count;
    };
    const Shape shapes[] = {{mixcclFloat32, 5}, {mixcclInt8, 1023}, {mixcclUint64, 77},
                            {mixcclFloat16, 0}, {mixcclFloat64, 300000}, {mixcclInt32, 1}};
    Pattern p(ctx, "several messages to the same peer");
    size_t offset = 0;
    for (const Shape& s : shapes) {
      p.send(next(ctx), s.type, s.count, offset);
      p.recv(prev(ctx), s.type, s.count, offset);
      offset += s.count;
    }
    p.run();
  });
}

TEST_P(P2P, SendToSelf) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{1023}, kBigCount}) {
      Pattern p(ctx, "send to self");
      p.send(ctx.rank, mixcclFloat64, count, 0);
      p.recv(ctx.rank, mixcclFloat64, count, 0);
      p.run();
    }
  });
}

TEST_P(P2P, BlockingPairsOutsideGroups) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    // Ranks 2k and 2k+1 exchange without a group: the lower rank sends first, the upper receives
    // first, so blocking calls cannot deadlock. A last odd rank sits out.
    const bool lower = ctx.rank % 2 == 0;
    const int partner = lower ? ctx.rank + 1 : ctx.rank - 1;
    if (partner >= ctx.nranks) return;
    for (size_t count : {size_t{1}, size_t{1023}, kBigCount}) {
      Pattern p(ctx, "blocking send/recv pair outside a group");
      if (lower) {
        p.send(partner, mixcclBfloat16, count, 0);
        p.recv(partner, mixcclBfloat16, count, 0);
      } else {
        p.recv(partner, mixcclBfloat16, count, 0);
        p.send(partner, mixcclBfloat16, count, 0);
      }
      p.run(/*grouped=*/false);
    }
  });
}

TEST_P(P2P, RingShiftEveryTypeAndCount) {
  runOnRanks(GetParam(), [](RankContext& ctx) {
    for (mixcclDataType_t type : allTypes()) {
      for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1023}}) {
        for (int shift : {1, 2, 0}) runCase(ctx, CaseSpec{Collective::SendRecv, type, Reduction::None, count, false, shift});
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, P2P, ::testing::Values(1, 2, 3, 4, 5, 8),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "ranks";
                         });

}  // namespace
}  // namespace mixccl_test
