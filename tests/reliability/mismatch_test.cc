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
