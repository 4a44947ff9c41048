// kill -9 of a rank in the middle of a collective: every survivor's call must return an error that
// names the dead rank within MIXCCL_TIMEOUT (5 s here), the communicator must report it as its
// async error, and mixcclCommAbort must leave no thread and no shared memory behind. Fifty times per
// transport, with the victim and the moment of death varied: no hang, ever.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/comm.h"
#include "mixccl.h"
#include "mp_harness.h"
#include "reliability_util.h"

using namespace mixccl_test;

namespace {

constexpr int kRepetitions = 50;
constexpr int kTimeoutSeconds = 5;

void oneDeath(const char* transport, int repetition) {
  const int nranks = 3;
  const int victim = repetition % nranks;
  const int killAfterUs = (repetition * 7919) % 20000;  // 0..20 ms into the collectives
  RunOptions options;
  options.deadlineSeconds = 40;
  options.graceAfterFailureSeconds = 20;  // survivors are expected to fail on their own, fast
  RunSummary summary = runRanks(
      nranks,
      [&](int rank, int n, const mixcclUniqueId& id) {
        setenv("MIXCCL_TRANSPORT", transport, 1);
        setenv("MIXCCL_TIMEOUT", "5", 1);
        setenv("MIXCCL_CALIBRATE", "0", 1);
        setenv("MIXCCL_CPU_THREADS", "1", 1);
        const int threadsBefore = threadCount();
        mixcclComm_t comm = nullptr;
        MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
        const std::string shmPrefix = mixccl::strFormat("mixccl-%016llx", static_cast<unsigned long long>(comm->commHash));
        std::vector<float> data(size_t{1} << 18, 1.0f);  // 1 MiB: several shm slots, many socket writes
        if (rank == victim) {
          std::thread([killAfterUs] {
            std::this_thread::sleep_for(std::chrono::microseconds(killAfterUs));
            raise(SIGKILL);
          }).detach();
        }
        mixcclResult_t rc = mixcclSuccess;
        double seconds = 0;
        for (int i = 0; i < 100000 && rc == mixcclSuccess; ++i) {
          auto start = std::chrono::steady_clock::now();
          rc = mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr);
          seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        MP_CHECK(rc != mixcclSuccess, "all-reduces with a dead rank kept succeeding");
        std::string msg = mixcclGetLastError(comm);
        std::string victimName = "rank " + std::to_string(victim);
        MP_CHECK(msg.find(victimName) != std::string::npos &&
                     (msg.find("died") != std::string::npos || msg.find("closed") != std::string::npos),
                 "the error does not name the dead %s: %s", victimName.c_str(), msg.c_str());
        MP_CHECK(seconds < kTimeoutSeconds, "the error came after %.2f s, not within MIXCCL_TIMEOUT (%d s): %s",
                 seconds, kTimeoutSeconds, msg.c_str());
        if (repetition % 10 == 0) {
          std::printf("[%s, kill %d, rank %d] failing call returned after %.3f s: %s\n", transport, repetition, rank,
                      seconds, msg.c_str());
          std::fflush(stdout);
        }
        mixcclResult_t async = mixcclSuccess;
        MP_CHECK(mixcclCommGetAsyncError(comm, &async) == mixcclSuccess && async == mixcclSystemError,
                 "the communicator's async error is %d, not mixcclSystemError", static_cast<int>(async));
        MP_CHECK_OK(mixcclCommAbort(comm), nullptr);
        MP_CHECK(mappedMixcclSegments() == 0, "%d mixccl shared memory mapping(s) left after abort",
                 mappedMixcclSegments());
        MP_CHECK(shmNamesWithPrefix(shmPrefix) == 0, "/dev/shm still holds %s* after abort", shmPrefix.c_str());
        // Detached helper threads of the library would show here (the victim's killer thread is
        // only in the victim, which is gone).
        MP_CHECK(!kThreadCountsAreExact || settledThreadCount(threadsBefore) == threadsBefore, "%d thread(s) before init, %d after abort: %s", threadsBefore,
                 threadCount(), threadNames().c_str());
      },
      options);
  ASSERT_EQ(summary.ranks.size(), static_cast<size_t>(nranks)) << summary.setupError;
  EXPECT_EQ(summary.ranks[static_cast<size_t>(victim)].signal, SIGKILL) << summary.describe();
  for (int r = 0; r < nranks; ++r) {
    if (r == victim) continue;
    const RankOutcome& o = summary.ranks[static_cast<size_t>(r)];
    ASSERT_TRUE(o.finished && o.signal == 0 && o.exitCode == 0 && !o.killedAfterOtherFailed)
        << transport << " repetition " << repetition << ", victim " << victim << ": rank " << r << ": "
        << summary.describe();
  }
}

void repeatedDeaths(const char* transport) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRepetitions; ++i) {
    oneDeath(transport, i);
    if (::testing::Test::HasFatalFailure()) return;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d kills over %s: %.1f s in all, %.2f s each\n", kRepetitions, transport, seconds,
              seconds / kRepetitions);
}

TEST(PeerDeath, KillDuringCollectiveOverSharedMemory50Times) { repeatedDeaths("shm"); }
TEST(PeerDeath, KillDuringCollectiveOverSockets50Times) { repeatedDeaths("socket"); }

}  // namespace
