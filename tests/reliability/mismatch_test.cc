// MIXCCL_CHECK=1: ranks that call different collectives get mixcclInvalidUsage on every rank, with
// a message that shows both calls, and can go on (the check kept them in step).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "core/op_signature.h"
#include "mixccl.h"
#include "mp_harness.h"

using namespace mixccl_test;

namespace {

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// Each rank's view of the one call that differs; the message must show rank 0's call and the odd one.
struct Case {
  const char* name;
  const char* rank0Text;  // must appear in the message
  const char* oddText;    // ditto, for the odd rank's call
};

TEST(Mismatch, EveryRankGetsInvalidUsageShowingBothCalls) {
  RunSummary summary = runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_CHECK", "1", 1);
    setenv("MIXCCL_CALIBRATE", "0", 1);
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    std::vector<float> a(4096, 1.0f), b(4096, 0.0f);
    const int odd = 1;
    auto expectMismatch = [&](mixcclResult_t rc, const char* what, const char* mine, const char* theirs) {
      std::string msg = mixcclGetLastError(comm);
      MP_CHECK(rc == mixcclInvalidUsage, "%s: returned %d, not mixcclInvalidUsage: %s", what, static_cast<int>(rc),
               msg.c_str());
      MP_CHECK(contains(msg, mine) && contains(msg, theirs) && contains(msg, "rank 1 called"),
               "%s: the message does not show both calls (%s / %s): %s", what, mine, theirs, msg.c_str());
    };
    // 1. Different counts.
    mixcclResult_t rc = mixcclAllReduce(a.data(), b.data(), rank == odd ? 2048 : 1024, mixcclFloat, mixcclSum, comm, nullptr);
    expectMismatch(rc, "count", "count 1024", "count 2048");
    // 2. Different data types.
    rc = mixcclAllReduce(a.data(), b.data(), 1024, rank == odd ? mixcclInt32 : mixcclFloat, mixcclSum, comm, nullptr);
    expectMismatch(rc, "type", "float32", "int32");
    // 3. Different operators.
    rc = mixcclAllReduce(a.data(), b.data(), 1024, mixcclFloat, rank == odd ? mixcclMax : mixcclSum, comm, nullptr);
    expectMismatch(rc, "operator", "sum", "max");
    // 4. Different roots.
    rc = mixcclBroadcast(a.data(), b.data(), 1024, mixcclFloat, rank == odd ? 2 : 0, comm, nullptr);
    expectMismatch(rc, "root", "root 0", "root 2");
    // 5. Different collectives.
    if (rank == odd) rc = mixcclBroadcast(a.data(), b.data(), 1024, mixcclFloat, 0, comm, nullptr);
    else rc = mixcclAllReduce(a.data(), b.data(), 1024, mixcclFloat, mixcclSum, comm, nullptr);
    expectMismatch(rc, "collective", "AllReduce", "Broadcast");
    // The ranks are still in step: a matching call works and is right.
    MP_CHECK_OK(mixcclAllReduce(a.data(), b.data(), 4096, mixcclFloat, mixcclSum, comm, nullptr), comm);
    for (float v : b) MP_CHECK(v == static_cast<float>(n), "all-reduce after the mismatches gave %f", v);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

// Send/recv groups: the k-th send from a to b is compared with the k-th receive on b from a (peer,
// count, data type). Both ranks of a mismatched pair get mixcclInvalidUsage showing both calls; a
// rank of the group that is not part of the mismatch goes on, and so do all of them afterwards.
TEST(Mismatch, SendRecvPairsAreComparedOnBothSides) {
  RunSummary summary = runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_CHECK", "1", 1);
    setenv("MIXCCL_CALIBRATE", "0", 1);
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    std::vector<float> a(4096, static_cast<float>(rank + 1)), b(4096, 0.0f);
    // Ranks 0 and 1 exchange; rank 1's receive differs as given; rank 2 swaps with itself.
    auto pairGroup = [&](size_t recvCount, mixcclDataType_t recvType) {
      MP_CHECK_OK(mixcclGroupStart(), comm);
      if (rank == 2) {
        MP_CHECK_OK(mixcclSend(a.data(), 16, mixcclFloat, 2, comm, nullptr), comm);
        MP_CHECK_OK(mixcclRecv(b.data(), 16, mixcclFloat, 2, comm, nullptr), comm);
      } else {
        const int peer = 1 - rank;
        MP_CHECK_OK(mixcclSend(a.data(), 1024, mixcclFloat, peer, comm, nullptr), comm);
        MP_CHECK_OK(mixcclRecv(b.data(), rank == 1 ? recvCount : 1024, rank == 1 ? recvType : mixcclFloat, peer, comm,
                               nullptr),
                    comm);
      }
      return mixcclGroupEnd();
    };
    auto expectPairMismatch = [&](mixcclResult_t rc, const char* what, const char* sendText, const char* recvText) {
      std::string msg = mixcclGetLastError(comm);
      if (rank == 2) {
        MP_CHECK(rc == mixcclSuccess, "%s: rank 2 is not part of the mismatch but got %d: %s", what,
                 static_cast<int>(rc), msg.c_str());
        return;
      }
      MP_CHECK(rc == mixcclInvalidUsage, "%s: returned %d, not mixcclInvalidUsage: %s", what, static_cast<int>(rc),
               msg.c_str());
      MP_CHECK(contains(msg, "rank 0's send #1 to rank 1") && contains(msg, "rank 1's receive #1 from rank 0") &&
                   contains(msg, sendText) && contains(msg, recvText),
               "%s: the message does not show both calls (%s / %s): %s", what, sendText, recvText, msg.c_str());
    };
    // 1. Same bytes, different type: the transport alone would take it; the check must not.
    expectPairMismatch(pairGroup(1024, mixcclInt32), "type", "count 1024, float32", "count 1024, int32");
    // 2. Different counts.
    expectPairMismatch(pairGroup(512, mixcclFloat), "count", "count 1024, float32", "count 512, float32");
    // 3. A different number of calls: rank 1 posts only its send.
    mixcclResult_t rc = mixcclSuccess;
    if (rank == 2) {
      rc = pairGroup(1024, mixcclFloat);
    } else {
      MP_CHECK_OK(mixcclGroupStart(), comm);
      MP_CHECK_OK(mixcclSend(a.data(), 1024, mixcclFloat, 1 - rank, comm, nullptr), comm);
      if (rank == 0) MP_CHECK_OK(mixcclRecv(b.data(), 1024, mixcclFloat, 1, comm, nullptr), comm);
      rc = mixcclGroupEnd();
    }
    std::string msg = mixcclGetLastError(comm);
    if (rank != 2) {
      MP_CHECK(rc == mixcclInvalidUsage && contains(msg, "1 send(s) to and 1 receive(s) from rank 1") &&
                   contains(msg, "1 send(s) to and 0 receive(s) from rank 0"),
               "number of calls: returned %d: %s", static_cast<int>(rc), msg.c_str());
    } else {
      MP_CHECK(rc == mixcclSuccess, "number of calls: rank 2 got %d: %s", static_cast<int>(rc), msg.c_str());
    }
    // Still in step: a matching group moves the data, and a collective works.
    MP_CHECK_OK(pairGroup(1024, mixcclFloat), comm);
    const float expect = rank == 2 ? 3.0f : static_cast<float>(2 - rank);
    const size_t last = rank == 2 ? 15 : 1023;
    MP_CHECK(b[0] == expect && b[last] == expect, "matching send/recv after the mismatches gave %f, not %f", b[0],
             expect);
    MP_CHECK_OK(mixcclAllReduce(a.data(), b.data(), 4096, mixcclFloat, mixcclSum, comm, nullptr), comm);
    MP_CHECK(b[0] == 6.0f, "all-reduce after the mismatches gave %f", b[0]);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

// The comparison on its own: fields a collective does not use never count.
TEST(Mismatch, UnusedFieldsDoNotCount) {
  mixccl::Op a;
  a.collective = mixccl::Collective::AllReduce;
  a.count = 10;
  a.root = 0;
  mixccl::Op b = a;
  b.root = 3;  // an all-reduce has no root
  mixccl::OpSignature table[2] = {mixccl::signatureOf(a, 1), mixccl::signatureOf(b, 1)};
  EXPECT_TRUE(mixccl::compareSignatures(table, 2, 0).isOk());
  table[1] = mixccl::signatureOf(b, 2);  // a rank that skipped a call
  mixccl::Status st = mixccl::compareSignatures(table, 2, 0);
  EXPECT_EQ(st.code(), mixcclInvalidUsage);
  EXPECT_NE(st.message().find("#2"), std::string::npos) << st.message();
}

}  // namespace
