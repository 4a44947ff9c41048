// mixcclCommAbort from another thread unblocks a rank stuck in a collective (its peer never calls
// it) within 1 s, over both transports, and leaves no thread behind.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "mixccl.h"
#include "mp_harness.h"
#include "reliability_util.h"

using namespace mixccl_test;

namespace {

using Clock = std::chrono::steady_clock;

void abortUnblocks(const char* transport) {
  RunOptions options;
  options.deadlineSeconds = 60;
  RunSummary summary = runRanks(2, [&](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_TRANSPORT", transport, 1);
    setenv("MIXCCL_TIMEOUT", "30", 1);  // far longer than the test: only the abort can end the wait
    setenv("MIXCCL_CALIBRATE", "0", 1);
    const int threadsBefore = threadCount();
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    std::vector<float> data(4096, 1.0f);
    MP_CHECK_OK(mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr), comm);
    if (rank == 1) {
      // Never joins the next collective; leaves once rank 0 has had time to abort.
      std::this_thread::sleep_for(std::chrono::seconds(3));
      MP_CHECK_OK(mixcclCommAbort(comm), nullptr);
      return;
    }
    std::atomic<int64_t> abortCalledNs{0};
    std::thread aborter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the all-reduce block
      abortCalledNs = Clock::now().time_since_epoch().count();
      mixcclCommAbort(comm);
    });
    mixcclResult_t rc =
        mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr);
    int64_t returnedNs = Clock::now().time_since_epoch().count();
    std::string msg = mixcclGetLastError(nullptr);  // this thread's last error: comm may be gone
    aborter.join();
    MP_CHECK(rc != mixcclSuccess, "the blocked all-reduce succeeded although rank 1 never called it");
    MP_CHECK(msg.find("abort") != std::string::npos, "the error does not say the communicator was aborted: %s",
             msg.c_str());
    MP_CHECK(abortCalledNs > 0, "the all-reduce returned before mixcclCommAbort was called: %s", msg.c_str());
    double seconds = static_cast<double>(returnedNs - abortCalledNs) / 1e9;
    MP_CHECK(seconds < 1.0, "the all-reduce returned %.3f s after mixcclCommAbort (limit 1 s)", seconds);
    std::printf("[rank 0] %s: all-reduce returned %.1f ms after mixcclCommAbort\n", transport, seconds * 1e3);
    MP_CHECK(!kThreadCountsAreExact || settledThreadCount(threadsBefore) == threadsBefore, "%d thread(s) before init, %d after abort: %s", threadsBefore,
             threadCount(), threadNames().c_str());
  }, options);
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

TEST(Abort, FromAnotherThreadUnblocksSharedMemoryWait) { abortUnblocks("shm"); }
TEST(Abort, FromAnotherThreadUnblocksSocketWait) { abortUnblocks("socket"); }

}  // namespace
