// A rank that dies in the middle of a job must not leave the others hanging until the timeout:
// ranks on the same host notice that its process is gone (shm), and sockets notice the closed
// connection. The survivors' calls return an error that says a peer exited, well within
// MIXCCL_TIMEOUT (60 s under ctest), and the communicator reports the failure afterwards.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <string>
#include <vector>

#include "mixccl.h"
#include "mp_harness.h"

using namespace mixccl_test;

namespace {

void killedPeerTest(const char* transport) {
  const int nranks = 3;
  const int victim = 2;
  RunOptions options;
  options.graceAfterFailureSeconds = 40;  // the survivors are expected to fail on their own first
  RunSummary summary = runRanks(
      nranks,
      [&](int rank, int n, const mixcclUniqueId& id) {
        setenv("MIXCCL_TRANSPORT", transport, 1);
        setenv("MIXCCL_TIMEOUT", "60", 1);
        mixcclComm_t comm = nullptr;
        MP_CHECK(mixcclCommInitRank(&comm, n, id, rank) == mixcclSuccess, "init: %s", mixcclGetLastError(nullptr));
        std::vector<float> data(size_t{16} << 20, 1.0f);  // 64 MiB: far more than any buffer in between
        if (rank == victim) raise(SIGKILL);
        auto start = std::chrono::steady_clock::now();
        mixcclResult_t rc = mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        MP_CHECK(rc != mixcclSuccess, "an all-reduce with a dead rank succeeded");
        std::string msg = mixcclGetLastError(comm);
        MP_CHECK(msg.find("exited") != std::string::npos || msg.find("closed") != std::string::npos,
                 "the error does not say a peer went away: %s", msg.c_str());
        MP_CHECK(seconds < 20, "the error came after %.1f s; MIXCCL_TIMEOUT is 60 s, so the death went unnoticed: %s",
                 seconds, msg.c_str());
        mixcclResult_t async = mixcclSuccess;
        MP_CHECK(mixcclCommGetAsyncError(comm, &async) == mixcclSuccess && async != mixcclSuccess,
                 "the communicator does not report the failure");
        MP_CHECK(mixcclCommAbort(comm) == mixcclSuccess, "abort failed");
      },
      options);
  ASSERT_EQ(summary.ranks.size(), static_cast<size_t>(nranks));
  EXPECT_EQ(summary.ranks[victim].signal, SIGKILL);
  for (int r = 0; r < nranks; ++r) {
    if (r == victim) continue;
    const RankOutcome& o = summary.ranks[static_cast<size_t>(r)];
    EXPECT_TRUE(o.finished && o.signal == 0 && o.exitCode == 0 && !o.killedAfterOtherFailed)
        << "rank " << r << ": " << summary.describe();
  }
}

TEST(PeerFailure, KilledRankIsNoticedOverSharedMemory) { killedPeerTest("shm"); }
TEST(PeerFailure, KilledRankIsNoticedOverSockets) { killedPeerTest("socket"); }

}  // namespace
