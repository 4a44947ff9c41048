// Bad arguments through the public API: each call returns mixcclInvalidArgument with a sentence
// that names the bad argument, nothing hangs or crashes, and the communicator keeps working.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/collective_cases.h"
#include "tests/mp_harness.h"

namespace mixccl_test {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// True if `text` mentions any of `keywords` (case-insensitive). A keyword of two letters or less
// ("op") must stand as a word, so that e.g. "operation" does not count as naming the operator.
bool mentionsAny(const std::string& text, const std::vector<std::string>& keywords) {
  const std::string t = lower(text);
  for (const std::string& k : keywords) {
    const std::string key = lower(k);
    for (size_t pos = t.find(key); pos != std::string::npos; pos = t.find(key, pos + 1)) {
      if (key.size() > 2) return true;
      const bool startOk = pos == 0 || !std::isalnum(static_cast<unsigned char>(t[pos - 1]));
      const bool endOk = pos + key.size() >= t.size() || !std::isalnum(static_cast<unsigned char>(t[pos + key.size()]));
      if (startOk && endOk) return true;
    }
  }
  return false;
}

struct BadCall {
  const char* what;
  std::vector<std::string> keywords;       // the error sentence must mention one of these
  std::function<mixcclResult_t()> call;
  bool errorIsPerThread = false;  // no communicator to ask: read mixcclGetLastError(NULL)
};

// Runs each bad call and checks result and message; non-fatal so every bad call is reported.
void expectInvalid(mixcclComm_t comm, const std::vector<BadCall>& calls) {
  for (const BadCall& b : calls) {
    const mixcclResult_t r = b.call();
    const char* last = mixcclGetLastError(b.errorIsPerThread ? nullptr : comm);
    const std::string message = last ? last : "";
    MP_EXPECT(r == mixcclInvalidArgument, "%s returned %d (%s), expected mixcclInvalidArgument; last error: '%s'",
              b.what, static_cast<int>(r), mixcclGetErrorString(r), message.c_str());
    if (r == mixcclSuccess) continue;
    std::string keys;
    for (const auto& k : b.keywords) keys += (keys.empty() ? "" : ", ") + k;
    MP_EXPECT(!message.empty(), "%s: mixcclGetLastError(%s) is empty", b.what, b.errorIsPerThread ? "NULL" : "comm");
    MP_EXPECT(message.empty() || mentionsAny(message, b.keywords),
              "%s: the error sentence '%s' does not name the bad argument (expected one of: %s)", b.what,
              message.c_str(), keys.c_str());
  }
}

// After the bad calls, real collectives must still give right answers.
void expectCommStillWorks(RankContext& ctx) {
  mixcclResult_t async = mixcclInternalError;
  MP_CHECK_OK(mixcclCommGetAsyncError(ctx.comm, &async), ctx.comm);
  MP_EXPECT(async == mixcclSuccess, "bad arguments left an asynchronous error %d (%s) on the communicator",
            static_cast<int>(async), mixcclGetErrorString(async));
  runCase(ctx, CaseSpec{Collective::AllReduce, mixcclFloat32, Reduction::Sum, 1023, false, 0});
  runCase(ctx, CaseSpec{Collective::AllReduce, mixcclInt64, Reduction::Prod, 7, true, 0});
  runCase(ctx, CaseSpec{Collective::Broadcast, mixcclUint8, Reduction::None, 100, false, ctx.nranks - 1});
  runCase(ctx, CaseSpec{Collective::SendRecv, mixcclFloat16, Reduction::None, 99, false, 1});
}

const auto kBadType = static_cast<mixcclDataType_t>(99);
const auto kNegativeType = static_cast<mixcclDataType_t>(-1);
const auto kBadOp = static_cast<mixcclRedOp_t>(99);
const std::vector<std::string> kSendBuffWords = {"sendbuff", "send buffer", "null", "buffer"};
const std::vector<std::string> kRecvBuffWords = {"recvbuff", "receive buffer", "recv", "null", "buffer"};
const std::vector<std::string> kTypeWords = {"type"};
const std::vector<std::string> kOpWords = {"op", "operator", "redop", "reduction"};
const std::vector<std::string> kCountWords = {"count", "overflow", "size", "bytes"};
const std::vector<std::string> kRootWords = {"root"};
const std::vector<std::string> kPeerWords = {"peer"};
const std::vector<std::string> kCommWords = {"comm"};

TEST(InvalidArguments, OnATwoRankCommunicator) {
  const RunSummary summary = runRanks(2, [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    RankContext ctx{comm, rank, nranks};
    std::vector<float> a(64, 1.0f), b(64, 0.0f);
    float* s = a.data();
    float* d = b.data();
    const size_t overflowing4 = SIZE_MAX / 4 + 2;   // count * 4 bytes wraps around size_t
    const size_t overflowing2x1 = SIZE_MAX / 2 + 2; // count * 2 ranks wraps (all-gather, 1-byte type)

    // A destroyed pre-multiplied sum is no longer an operator of this communicator.
    mixcclRedOp_t destroyed = mixcclSum;
    float scalar = 2.0f;
    MP_CHECK_OK(mixcclRedOpCreatePreMulSum(&destroyed, &scalar, mixcclFloat32, mixcclScalarHostImmediate, comm), comm);
    MP_CHECK_OK(mixcclRedOpDestroy(destroyed, comm), comm);

    const std::vector<BadCall> calls = {
        {"AllReduce with NULL sendbuff", kSendBuffWords, [&] { return mixcclAllReduce(nullptr, d, 4, mixcclFloat32, mixcclSum, comm, nullptr); }},
        {"AllReduce with NULL recvbuff", kRecvBuffWords, [&] { return mixcclAllReduce(s, nullptr, 4, mixcclFloat32, mixcclSum, comm, nullptr); }},
        {"AllReduce with data type 99", kTypeWords, [&] { return mixcclAllReduce(s, d, 4, kBadType, mixcclSum, comm, nullptr); }},
        {"AllReduce with data type -1", kTypeWords, [&] { return mixcclAllReduce(s, d, 4, kNegativeType, mixcclSum, comm, nullptr); }},
        {"AllReduce with op 99", kOpWords, [&] { return mixcclAllReduce(s, d, 4, mixcclFloat32, kBadOp, comm, nullptr); }},
        {"AllReduce with op mixcclNumOps (never created)", kOpWords, [&] { return mixcclAllReduce(s, d, 4, mixcclFloat32, mixcclNumOps, comm, nullptr); }},
        {"AllReduce with a destroyed premulsum op", kOpWords, [&] { return mixcclAllReduce(s, d, 4, mixcclFloat32, destroyed, comm, nullptr); }},
        {"AllReduce with count*size overflowing size_t", kCountWords, [&] { return mixcclAllReduce(s, d, overflowing4, mixcclFloat32, mixcclSum, comm, nullptr); }},
        {"AllReduce with count SIZE_MAX", kCountWords, [&] { return mixcclAllReduce(s, d, SIZE_MAX, mixcclInt8, mixcclSum, comm, nullptr); }},
        {"Broadcast with root -1", kRootWords, [&] { return mixcclBroadcast(s, d, 4, mixcclFloat32, -1, comm, nullptr); }},
        {"Broadcast with root nranks", kRootWords, [&] { return mixcclBroadcast(s, d, 4, mixcclFloat32, nranks, comm, nullptr); }},
        {"Broadcast with NULL recvbuff", kRecvBuffWords, [&] { return mixcclBroadcast(s, nullptr, 4, mixcclFloat32, 0, comm, nullptr); }},
        {"Reduce with root nranks", kRootWords, [&] { return mixcclReduce(s, d, 4, mixcclFloat32, mixcclSum, nranks, comm, nullptr); }},
        {"Reduce with root -1", kRootWords, [&] { return mixcclReduce(s, d, 4, mixcclFloat32, mixcclSum, -1, comm, nullptr); }},
        {"Reduce with data type 99", kTypeWords, [&] { return mixcclReduce(s, d, 4, kBadType, mixcclSum, 0, comm, nullptr); }},
        {"Reduce with op 99", kOpWords, [&] { return mixcclReduce(s, d, 4, mixcclFloat32, kBadOp, 0, comm, nullptr); }},
        {"Reduce with NULL sendbuff", kSendBuffWords, [&] { return mixcclReduce(nullptr, d, 4, mixcclFloat32, mixcclSum, 0, comm, nullptr); }},
        {"AllGather with NULL sendbuff", kSendBuffWords, [&] { return mixcclAllGather(nullptr, d, 4, mixcclFloat32, comm, nullptr); }},
        {"AllGather with sendcount*nranks overflowing size_t", kCountWords, [&] { return mixcclAllGather(s, d, overflowing2x1, mixcclInt8, comm, nullptr); }},
        {"AllGather with data type 99", kTypeWords, [&] { return mixcclAllGather(s, d, 4, kBadType, comm, nullptr); }},
        {"ReduceScatter with op 99", kOpWords, [&] { return mixcclReduceScatter(s, d, 4, mixcclFloat32, kBadOp, comm, nullptr); }},
        {"ReduceScatter with NULL recvbuff", kRecvBuffWords, [&] { return mixcclReduceScatter(s, nullptr, 4, mixcclFloat32, mixcclSum, comm, nullptr); }},
        {"ReduceScatter with recvcount*nranks overflowing size_t", kCountWords, [&] { return mixcclReduceScatter(s, d, overflowing2x1, mixcclUint8, mixcclSum, comm, nullptr); }},
        {"AlltoAll with data type 99", kTypeWords, [&] { return mixcclAlltoAll(s, d, 4, kBadType, comm, nullptr); }},
        {"AlltoAll with NULL sendbuff", kSendBuffWords, [&] { return mixcclAlltoAll(nullptr, d, 4, mixcclFloat32, comm, nullptr); }},
        {"Gather with root nranks", kRootWords, [&] { return mixcclGather(s, d, 4, mixcclFloat32, nranks, comm, nullptr); }},
        {"Gather with root -1", kRootWords, [&] { return mixcclGather(s, d, 4, mixcclFloat32, -1, comm, nullptr); }},
        {"Scatter with root -1", kRootWords, [&] { return mixcclScatter(s, d, 4, mixcclFloat32, -1, comm, nullptr); }},
        {"Scatter with root nranks", kRootWords, [&] { return mixcclScatter(s, d, 4, mixcclFloat32, nranks, comm, nullptr); }},
        {"Send to peer -1", kPeerWords, [&] { return mixcclSend(s, 4, mixcclFloat32, -1, comm, nullptr); }},
        {"Send to peer nranks", kPeerWords, [&] { return mixcclSend(s, 4, mixcclFloat32, nranks, comm, nullptr); }},
        {"Recv from peer nranks", kPeerWords, [&] { return mixcclRecv(d, 4, mixcclFloat32, nranks, comm, nullptr); }},
        {"Recv from peer -1", kPeerWords, [&] { return mixcclRecv(d, 4, mixcclFloat32, -1, comm, nullptr); }},
        {"Send with NULL sendbuff", kSendBuffWords, [&] { return mixcclSend(nullptr, 4, mixcclFloat32, 0, comm, nullptr); }},
        {"Recv with NULL recvbuff", kRecvBuffWords, [&] { return mixcclRecv(nullptr, 4, mixcclFloat32, 0, comm, nullptr); }},
        {"Send with data type 99", kTypeWords, [&] { return mixcclSend(s, 4, kBadType, 0, comm, nullptr); }},
        {"Send with count*size overflowing size_t", kCountWords, [&] { return mixcclSend(s, overflowing4, mixcclFloat32, 0, comm, nullptr); }},
        {"RedOpCreatePreMulSum with data type 99", kTypeWords, [&] { mixcclRedOp_t op; return mixcclRedOpCreatePreMulSum(&op, &scalar, kBadType, mixcclScalarHostImmediate, comm); }},
        {"RedOpCreatePreMulSum with NULL scalar", {"scalar", "null"}, [&] { mixcclRedOp_t op; return mixcclRedOpCreatePreMulSum(&op, nullptr, mixcclFloat32, mixcclScalarHostImmediate, comm); }},
        {"RedOpCreatePreMulSum with NULL op pointer", kOpWords, [&] { return mixcclRedOpCreatePreMulSum(nullptr, &scalar, mixcclFloat32, mixcclScalarHostImmediate, comm); }},
        {"RedOpDestroy of builtin mixcclSum", kOpWords, [&] { return mixcclRedOpDestroy(mixcclSum, comm); }},
        {"RedOpDestroy of an op destroyed already", kOpWords, [&] { return mixcclRedOpDestroy(destroyed, comm); }},
        {"CommCount with NULL count pointer", {"count", "null"}, [&] { return mixcclCommCount(comm, nullptr); }},
        {"CommUserRank with NULL rank pointer", {"rank", "null"}, [&] { return mixcclCommUserRank(comm, nullptr); }},
    };
    expectInvalid(comm, calls);

    // A bad argument inside a group is refused at the call. Whether GroupEnd then runs the rest
    // or reports the error for the whole group (as NCCL does) is left open; either way every rank
    // does the same and the communicator must work afterwards.
    MP_CHECK_OK(mixcclGroupStart(), comm);
    auto good = makeCase(ctx, CaseSpec{Collective::AllReduce, mixcclInt32, Reduction::Sum, 33, false, 0});
    const mixcclResult_t bad = mixcclAllReduce(s, d, 4, kBadType, mixcclSum, comm, nullptr);
    const mixcclResult_t goodIssued = good->issue();
    const mixcclResult_t groupEnd = mixcclGroupEnd();
    MP_EXPECT(bad == mixcclInvalidArgument, "a bad data type inside a group returned %d, expected mixcclInvalidArgument",
              static_cast<int>(bad));
    if (goodIssued == mixcclSuccess && groupEnd == mixcclSuccess) {
      MP_EXPECT(good->verify() == 0, "%s: the group with a refused call gave wrong data", good->label().c_str());
    } else {
      std::fprintf(stderr, "[rank %d] note: group with a refused call: issue %d, GroupEnd %d (%s)\n", rank,
                   static_cast<int>(goodIssued), static_cast<int>(groupEnd), mixcclGetLastError(comm));
    }

    expectCommStillWorks(ctx);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

TEST(InvalidArguments, NullCommunicator) {
  // Nothing here talks to another rank: one child keeps a crash away from the test binary.
  RunOptions options;
  options.createUniqueId = false;
  const RunSummary summary = runRanks(
      1,
      [](int, int, const mixcclUniqueId&) {
        float a[4] = {1, 2, 3, 4}, b[4] = {};
        int n = 0;
        const char* kind = nullptr;
        mixcclRedOp_t op;
        float scalar = 1;
        const std::vector<BadCall> calls = {
            {"AllReduce on a NULL comm", kCommWords, [&] { return mixcclAllReduce(a, b, 4, mixcclFloat32, mixcclSum, nullptr, nullptr); }, true},
            {"Broadcast on a NULL comm", kCommWords, [&] { return mixcclBroadcast(a, b, 4, mixcclFloat32, 0, nullptr, nullptr); }, true},
            {"Reduce on a NULL comm", kCommWords, [&] { return mixcclReduce(a, b, 4, mixcclFloat32, mixcclSum, 0, nullptr, nullptr); }, true},
            {"AllGather on a NULL comm", kCommWords, [&] { return mixcclAllGather(a, b, 1, mixcclFloat32, nullptr, nullptr); }, true},
            {"ReduceScatter on a NULL comm", kCommWords, [&] { return mixcclReduceScatter(a, b, 1, mixcclFloat32, mixcclSum, nullptr, nullptr); }, true},
            {"AlltoAll on a NULL comm", kCommWords, [&] { return mixcclAlltoAll(a, b, 1, mixcclFloat32, nullptr, nullptr); }, true},
            {"Gather on a NULL comm", kCommWords, [&] { return mixcclGather(a, b, 1, mixcclFloat32, 0, nullptr, nullptr); }, true},
            {"Scatter on a NULL comm", kCommWords, [&] { return mixcclScatter(a, b, 1, mixcclFloat32, 0, nullptr, nullptr); }, true},
            {"Send on a NULL comm", kCommWords, [&] { return mixcclSend(a, 4, mixcclFloat32, 0, nullptr, nullptr); }, true},
            {"Recv on a NULL comm", kCommWords, [&] { return mixcclRecv(b, 4, mixcclFloat32, 0, nullptr, nullptr); }, true},
            {"CommCount of a NULL comm", kCommWords, [&] { return mixcclCommCount(nullptr, &n); }, true},
            {"CommUserRank of a NULL comm", kCommWords, [&] { return mixcclCommUserRank(nullptr, &n); }, true},
            {"CommDevice of a NULL comm", kCommWords, [&] { return mixcclCommDevice(nullptr, &kind, &n); }, true},
            {"CommSplit of a NULL comm", kCommWords, [&] { mixcclComm_t c; return mixcclCommSplit(nullptr, 0, 0, &c, nullptr); }, true},
            {"RedOpCreatePreMulSum on a NULL comm", kCommWords, [&] { return mixcclRedOpCreatePreMulSum(&op, &scalar, mixcclFloat32, mixcclScalarHostImmediate, nullptr); }, true},
            {"CommGetAsyncError of a NULL comm", kCommWords, [&] { mixcclResult_t e; return mixcclCommGetAsyncError(nullptr, &e); }, true},
        };
        expectInvalid(nullptr, calls);
      },
      options);
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

TEST(InvalidArguments, AtInitThenARealInitStillWorks) {
  const RunSummary summary = runRanks(2, [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    mixcclConfig_t badMagic = MIXCCL_CONFIG_INITIALIZER;
    badMagic.magic = 0;
    const std::vector<BadCall> calls = {
        {"CommInitRank with nranks 0", {"nranks", "ranks", "size"}, [&] { return mixcclCommInitRank(&comm, 0, id, 0); }, true},
        {"CommInitRank with nranks -1", {"nranks", "ranks", "size"}, [&] { return mixcclCommInitRank(&comm, -1, id, 0); }, true},
        {"CommInitRank with rank nranks", {"rank"}, [&] { return mixcclCommInitRank(&comm, nranks, id, nranks); }, true},
        {"CommInitRank with rank -1", {"rank"}, [&] { return mixcclCommInitRank(&comm, nranks, id, -1); }, true},
        {"CommInitRank with a NULL comm pointer", kCommWords, [&] { return mixcclCommInitRank(nullptr, nranks, id, rank); }, true},
        {"CommInitRankConfig with a bad config magic", {"config", "magic", "initializer"}, [&] { return mixcclCommInitRankConfig(&comm, nranks, id, rank, &badMagic); }, true},
        {"CommInitAll with ndev 0", {"ndev", "count", "number", "ranks", "devices"}, [&] { return mixcclCommInitAll(&comm, 0, nullptr); }, true},
        {"CommInitAll with a NULL comms array", kCommWords, [&] { return mixcclCommInitAll(nullptr, 2, nullptr); }, true},
    };
    expectInvalid(nullptr, calls);
    // The bad calls must not have used up or disturbed the rendezvous.
    comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    RankContext ctx{comm, rank, nranks};
    expectCommStillWorks(ctx);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

TEST(InvalidArguments, ZeroCountWithNullBuffersIsAllowed) {
  // NCCL accepts count 0 with NULL buffers (nothing is read or written).
  const RunSummary summary = runRanks(2, [](int rank, int nranks, const mixcclUniqueId& id) {
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
    MP_CHECK_OK(mixcclAllReduce(nullptr, nullptr, 0, mixcclFloat32, mixcclSum, comm, nullptr), comm);
    MP_CHECK_OK(mixcclBroadcast(nullptr, nullptr, 0, mixcclInt8, 1, comm, nullptr), comm);
    MP_CHECK_OK(mixcclAllGather(nullptr, nullptr, 0, mixcclFloat64, comm, nullptr), comm);
    RankContext ctx{comm, rank, nranks};
    expectCommStillWorks(ctx);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

}  // namespace
}  // namespace mixccl_test
