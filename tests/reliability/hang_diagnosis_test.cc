// Hang diagnosis: on a timeout, and on SIGUSR1 when MIXCCL_DEBUG is set, a rank prints its last K
// operations, the algorithm and round it is in and the peer it waits for.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mixccl.h"
#include "mp_harness.h"

using namespace mixccl_test;

namespace {

// Sends this process's stderr to a file; returns its path.
std::string captureStderr(int rank) {
  std::string path = formatString("/tmp/mixccl-hang-diag-%d-%d.txt", static_cast<int>(getpid()), rank);
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 || dup2(fd, 2) < 0) failRank(__FILE__, __LINE__, "cannot redirect stderr to " + path);
  close(fd);
  return path;
}

std::string readAndRemove(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  unlink(path.c_str());
  return s.str();
}

void expectIn(const std::string& text, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    // Print what was captured on the original stderr of the test (fd 2 is the file now).
    MP_CHECK(text.find(n) != std::string::npos, "the diagnosis lacks \"%s\"; it was:\n%s", n.c_str(), text.c_str());
  }
}

TEST(HangDiagnosis, TimeoutPrintsLastOperationsRoundAndPeer) {
  RunSummary summary = runRanks(2, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_TIMEOUT", "2", 1);
    setenv("MIXCCL_DIAG_OPS", "2", 1);
    setenv("MIXCCL_CALIBRATE", "0", 1);
    unsetenv("MIXCCL_DEBUG_FILE");
    int savedStderr = dup(2);
    std::string path = captureStderr(rank);
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    std::vector<float> data(1000, 1.0f);
    for (int i = 0; i < 3; ++i) {
      MP_CHECK_OK(mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr), comm);
    }
    if (rank == 1) {  // never joins the fourth collective
      std::this_thread::sleep_for(std::chrono::seconds(4));
      mixcclCommAbort(comm);
      readAndRemove(path);
      return;
    }
    mixcclResult_t rc = mixcclAllReduce(data.data(), data.data(), 777, mixcclFloat, mixcclSum, comm, nullptr);
    std::string msg = mixcclGetLastError(comm);
    mixcclCommAbort(comm);
    dup2(savedStderr, 2);
    std::string text = readAndRemove(path);
    MP_CHECK(rc == mixcclSystemError, "the unmatched all-reduce returned %d: %s", static_cast<int>(rc), msg.c_str());
    MP_CHECK(msg.find("MIXCCL_TIMEOUT") != std::string::npos, "the error does not mention the timeout: %s", msg.c_str());
    expectIn(text, {"hang diagnosis (MIXCCL_TIMEOUT expired)", "in progress", "#4 AllReduce count 777 float32 sum",
                    "algorithm", "round 1 of", "waiting for: ", "rank 1", "last 2 operation(s)",
                    "#3 AllReduce count 1000", "done after"});
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

TEST(HangDiagnosis, Sigusr1PrintsWhatEachRankIsDoing) {
  RunSummary summary = runRanks(2, [](int rank, int n, const mixcclUniqueId& id) {
    setenv("MIXCCL_TIMEOUT", "30", 1);
    setenv("MIXCCL_DEBUG", "WARN", 1);
    setenv("MIXCCL_CALIBRATE", "0", 1);
    unsetenv("MIXCCL_DEBUG_FILE");
    int savedStderr = dup(2);
    std::string path = captureStderr(rank);
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    std::vector<float> data(1000, 1.0f);
    MP_CHECK_OK(mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat, mixcclSum, comm, nullptr), comm);
    if (rank == 1) {  // idle: the diagnosis says so
      kill(getpid(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::seconds(3));
      mixcclCommAbort(comm);
      dup2(savedStderr, 2);
      expectIn(readAndRemove(path), {"hang diagnosis (SIGUSR1)", "no operation in progress", "last 1 operation(s)"});
      return;
    }
    std::thread poker([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      kill(getpid(), SIGUSR1);  // as `kill -USR1 <pid>` from a shell would
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      mixcclCommAbort(comm);
    });
    mixcclResult_t rc = mixcclBroadcast(data.data(), data.data(), 555, mixcclFloat, 1, comm, nullptr);
    poker.join();
    dup2(savedStderr, 2);
    MP_CHECK(rc != mixcclSuccess, "the broadcast from a rank that never called it succeeded");
    expectIn(readAndRemove(path), {"hang diagnosis (SIGUSR1)", "#2 Broadcast count 555 float32 root 1", "in progress",
                                   "waiting for: receive from rank 1"});
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

}  // namespace
