// The rendezvous and the bootstrap ring: strangers are refused without disturbing the real ranks,
// and a rank that never arrives is named in the error the others get.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/bootstrap_wire.h"
#include "core/net.h"
#include "core/unique_id.h"
#include "mixccl.h"
#include "mp_harness.h"

using namespace mixccl;

namespace {

// Forks one child per rank in `ranks`; each inits and runs a 3-element all-reduce. Returns exit codes
// (0: result right; 1: init failed with a message containing `expectInitError`, when given).
std::vector<int> runRanks(const mixcclUniqueId& id, int nranks, const std::vector<int>& ranks,
                          const char* expectInitError = nullptr) {
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (int rank : ranks) {
    pid_t pid = fork();
    if (pid == 0) {
      mixcclComm_t comm = nullptr;
      if (mixcclCommInitRank(&comm, nranks, id, rank) != mixcclSuccess) {
        std::string msg = mixcclGetLastError(nullptr);
        std::fprintf(stderr, "rank %d init: %s\n", rank, msg.c_str());
        _exit(expectInitError != nullptr && msg.find(expectInitError) != std::string::npos ? 1 : 2);
      }
      float v[3] = {1.0f, 2.0f, static_cast<float>(rank)};
      if (mixcclAllReduce(v, v, 3, mixcclFloat, mixcclSum, comm, nullptr) != mixcclSuccess) _exit(3);
      float expectLast = static_cast<float>(nranks * (nranks - 1) / 2);
      bool right = v[0] == static_cast<float>(nranks) && v[1] == 2.0f * static_cast<float>(nranks) && v[2] == expectLast;
      mixcclCommDestroy(comm);
      _exit(right ? 0 : 4);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
  }
  return codes;
}

int connectToRoot(const mixcclUniqueId& id) {
  UniqueIdContents uid;
  EXPECT_TRUE(decodeUniqueId(id, &uid).isOk());
  int fd = -1;
  Status st = net::connectTo(fromWire(uid.root), Deadline::inSeconds(10), nullptr, &fd);
  EXPECT_TRUE(st.isOk()) << st.message();
  return fd;
}

TEST(Bootstrap, StrangersAreRefusedAndTheRealRanksStillMeet) {
  setenv("MIXCCL_SOCKET_IFNAME", "lo", 0);
  mixcclUniqueId id;
  mixccl_test::RendezvousHost host;  // the rendezvous runs outside this process, which forks ranks
  std::string error;
  ASSERT_TRUE(host.start(&id, &error)) << error;
  UniqueIdContents uid;
  ASSERT_TRUE(decodeUniqueId(id, &uid).isOk());

  std::vector<int> strangers;
  // Connects and leaves at once.
  ::close(connectToRoot(id));
  // Garbage.
  int garbage = connectToRoot(id);
  std::string junk(200, '\x5a');
  ASSERT_EQ(::send(garbage, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
  strangers.push_back(garbage);
  // A well-formed hello with the wrong secret, claiming to be rank 0.
  int wrongSecret = connectToRoot(id);
  wire::Hello hello{};
  hello.magic = wire::kHelloMagic;
  std::memcpy(hello.secret, uid.secret, 16);
  hello.secret[5] ^= 0x40;
  hello.nranks = 2;
  hello.rank = 0;
  ASSERT_EQ(::send(wrongSecret, &hello, sizeof(hello), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(hello)));
  strangers.push_back(wrongSecret);
  // Half a hello, then silence with the connection held open.
  int half = connectToRoot(id);
  ASSERT_EQ(::send(half, &hello, sizeof(hello) / 2, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(hello) / 2));
  strangers.push_back(half);

  std::vector<int> codes = runRanks(id, 2, {0, 1});
  for (size_t r = 0; r < codes.size(); ++r) EXPECT_EQ(codes[r], 0) << "rank " << r;
  for (int fd : strangers) ::close(fd);
}

TEST(Bootstrap, AMissingRankIsNamedInTheError) {
  setenv("MIXCCL_SOCKET_IFNAME", "lo", 0);
  setenv("MIXCCL_TIMEOUT", "3", 1);  // read by the rendezvous and by the ranks
  mixcclUniqueId id;
  mixccl_test::RendezvousHost host;
  std::string error;
  ASSERT_TRUE(host.start(&id, &error)) << error;
  // Rank 2 of 3 never starts: the others must fail, naming it, instead of waiting forever.
  std::vector<int> codes = runRanks(id, 3, {0, 1}, "rank(s) 2 of 3 did not arrive");
  for (size_t r = 0; r < codes.size(); ++r) EXPECT_EQ(codes[r], 1) << "rank " << r;
  setenv("MIXCCL_TIMEOUT", "60", 1);
}

TEST(Bootstrap, UniqueIdThatIsNotOneIsRejected) {
  mixcclUniqueId id;
  std::memset(&id, 0x11, sizeof(id));
  mixcclComm_t comm = nullptr;
  EXPECT_EQ(mixcclCommInitRank(&comm, 2, id, 0), mixcclInvalidArgument);
  EXPECT_NE(std::string(mixcclGetLastError(nullptr)).find("unique id"), std::string::npos);
  EXPECT_EQ(comm, nullptr);
}

}  // namespace
