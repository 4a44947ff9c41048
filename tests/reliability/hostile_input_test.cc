// Untrusted input: the bootstrap rendezvous, the bootstrap ring listeners and the socket transport's
// listener refuse connections without the secret and survive garbage, truncated, oversized and
// wrong-secret messages, silence and floods of connections; the communicator forms and its results
// stay correct. (No listener stays open once a communicator is up: the last test checks that too.)
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "backends/transports/socket/socket_setup.h"
#include "core/bootstrap.h"
#include "core/bootstrap_wire.h"
#include "core/unique_id.h"
#include "hostile_peer.h"
#include "mixccl.h"
#include "mp_harness.h"

using namespace mixccl_test;
using namespace std::chrono_literals;

namespace {

void raiseFdLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

Endpoint endpointOf(const mixccl::net::Address& a) {
  Endpoint e;
  e.family = a.storage.ss_family;
  if (e.family == AF_INET) e.port = ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
  else e.port = ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port);
  return e;
}

// Three bootstrap ranks as threads of this process. Ranks 0 and 1 start first, so the rendezvous and
// their ring listeners wait (for rank 2) while everything is thrown at them; then rank 2 comes.
TEST(HostileInput, BootstrapListenersRefuseStrangersAndSurvive) {
  raiseFdLimit();
  setenv("MIXCCL_SOCKET_IFNAME", "lo", 1);
  mixcclUniqueId id;
  ASSERT_EQ(mixcclGetUniqueId(&id), mixcclSuccess);
  mixccl::UniqueIdContents uid;
  ASSERT_TRUE(mixccl::decodeUniqueId(id, &uid).isOk());
  const std::set<Endpoint> before = ownListeners();

  HostilePeer stranger;
  Endpoint root = endpointOf(mixccl::fromWire(uid.root));
  EXPECT_GT(stranger.attack(root), 300) << "the rendezvous did not take the connections";

  const int nranks = 3;
  auto runRank = [&](int rank) -> std::string {
    std::unique_ptr<mixccl::SocketBootstrap> b;
    mixccl::Status st = mixccl::SocketBootstrap::create(uid, nranks, rank, 30, nullptr, &b);
    if (!st.isOk()) return st.message();
    std::vector<int> table(nranks, -1);
    table[static_cast<size_t>(rank)] = rank * 10;
    st = b->allGather(table.data(), sizeof(int));
    if (!st.isOk()) return st.message();
    for (int r = 0; r < nranks; ++r) {
      if (table[static_cast<size_t>(r)] != r * 10) return "the all-gather after the attack gave wrong data";
    }
    return "";
  };
  auto r0 = std::async(std::launch::async, runRank, 0);
  auto r1 = std::async(std::launch::async, runRank, 1);
  // Their ring listeners are open now and stay open until rank 2 arrives.
  std::set<Endpoint> rings;
  for (auto until = std::chrono::steady_clock::now() + 20s; rings.size() < 2 && std::chrono::steady_clock::now() < until;) {
    rings.clear();
    for (const Endpoint& e : ownListeners())
      if (before.count(e) == 0) rings.insert(e);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(rings.size(), 2u) << "ranks 0 and 1 did not open their ring listeners";
  for (const Endpoint& e : rings) EXPECT_GT(stranger.attack(e), 300) << "port " << e.port;
  EXPECT_GT(stranger.attack(root), 300) << "the rendezvous died after the first attack";
  auto r2 = std::async(std::launch::async, runRank, 2);
  EXPECT_EQ(r0.get(), "");
  EXPECT_EQ(r1.get(), "");
  EXPECT_EQ(r2.get(), "");
  std::printf("%d hostile connections to the rendezvous and two ring listeners\n", stranger.connectionsMade());
}

// The socket transport's listener, driven directly: strangers first, then the real peer.
TEST(HostileInput, SocketTransportListenerRefusesStrangersAndSurvives) {
  raiseFdLimit();
  mixccl::TransportContext acceptor;
  acceptor.rank = 1;
  acceptor.nranks = 2;
  acceptor.commHash = 0x1234;
  std::memset(acceptor.secret, 0x5a, sizeof(acceptor.secret));
  acceptor.timeoutSeconds = 30;
  acceptor.bindAddress = "127.0.0.1";
  mixccl::TransportContext connector = acceptor;
  connector.rank = 0;

  mixccl::UniqueFd listenFd;
  sockaddr_storage bound{};
  ASSERT_TRUE(mixccl::listenOn(acceptor.bindAddress, &listenFd, &bound).isOk());
  Endpoint where{AF_INET, ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)};
  HostilePeer stranger;
  auto deadline = [] {
    mixccl::SetupDeadline d;
    d.at = mixccl::SetupClock::now() + 30s;
    d.timeoutSeconds = 30;
    return d;
  };
  auto accepting = std::async(std::launch::async, [&] {
    std::map<int, mixccl::UniqueFd> got;
    mixccl::Status st = mixccl::acceptPeers(acceptor, listenFd.get(), "test listener", {0}, deadline(), &got);
    return st.isOk() && got.count(0) == 1 ? std::string() : st.message() + " (or rank 0 missing)";
  });
  EXPECT_GT(stranger.attack(where), 300);
  mixccl::UniqueFd mine;
  mixccl::Status st = mixccl::connectToPeer(connector, 1, bound, deadline(), &mine);
  ASSERT_TRUE(st.isOk()) << st.message();
  st = mixccl::readHelloReply(connector, 1, mine.get(), deadline());
  EXPECT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(accepting.get(), "");
}

// A whole communicator over sockets, 3 processes: rank 0 throws everything at the rendezvous while
// it waits for the ranks (ranks 1 and 2 come after the attack), then collectives run and are
// checked. Once the communicator is up no listener of it is left open: the stranger's connections
// to where they were are refused.
TEST(HostileInput, CollectivesStayCorrectUnderAttack) {
  RunSummary summary = runRanks(3, [](int rank, int n, const mixcclUniqueId& id) {
    raiseFdLimit();
    setenv("MIXCCL_TRANSPORT", "socket", 1);
    setenv("MIXCCL_CALIBRATE", "0", 1);
    setenv("MIXCCL_DEBUG", "NONE", 1);  // hundreds of refusals would flood the test log
    HostilePeer stranger;
    mixccl::UniqueIdContents uid;
    MP_CHECK(mixccl::decodeUniqueId(id, &uid).isOk(), "cannot decode the unique id");
    Endpoint root = endpointOf(mixccl::fromWire(uid.root));
    // Ranks 1 and 2 come once the attack is over (a marker file says so), rank 0 while it runs.
    const std::string marker = formatString("/tmp/mixccl-hostile-%d-%d", static_cast<int>(getppid()), root.port);
    std::future<int> rootAttack;
    if (rank == 0) {
      rootAttack = std::async(std::launch::async, [&] {
        int accepted = stranger.attack(root);
        FILE* f = std::fopen(marker.c_str(), "w");
        if (f != nullptr) std::fclose(f);
        return accepted;
      });
    } else {
      for (auto until = std::chrono::steady_clock::now() + 60s;
           access(marker.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < until;) {
        std::this_thread::sleep_for(10ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * rank));
    }
    const std::set<Endpoint> before = ownListeners();
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), comm);
    if (rank == 0) {
      MP_CHECK(rootAttack.get() > 300, "the rendezvous refused the stranger before the ranks came");
      unlink(marker.c_str());
    }
    for (const Endpoint& e : ownListeners()) {
      MP_CHECK(before.count(e) == 1, "port %d still listens after init", e.port);
    }
    std::vector<double> data(100000);
    for (int iter = 0; iter < 20; ++iter) {
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<double>(rank + 1) * static_cast<double>(i % 97 + iter);
      MP_CHECK_OK(mixcclAllReduce(data.data(), data.data(), data.size(), mixcclFloat64, mixcclSum, comm, nullptr), comm);
      for (size_t i = 0; i < data.size(); i += 997) {
        double want = 6.0 * static_cast<double>(i % 97 + iter);  // ranks 1+2+3
        MP_CHECK(data[i] == want, "iteration %d element %zu: %f, want %f", iter, i, data[i], want);
      }
      if (rank == 0 && iter == 10) {
        MP_CHECK(stranger.attack(root) == 0, "the rendezvous still accepts connections after init");
      }
    }
    stranger.stop();
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

// The parsers on their own (the fuzz targets drive the same functions with random bytes).
TEST(HostileInput, ParsersRejectMalformedMessages) {
  using namespace mixccl;
  uint8_t secret[16];
  std::memset(secret, 7, sizeof(secret));
  wire::Hello h{};
  h.magic = wire::kHelloMagic;
  std::memcpy(h.secret, secret, 16);
  h.nranks = 4;
  h.rank = 3;
  h.listen.family = AF_INET;
  wire::Hello out{};
  EXPECT_EQ(wire::parseHello(&h, sizeof(h), secret, 0, &out), wire::HelloProblem::Ok);
  EXPECT_EQ(wire::parseHello(&h, sizeof(h) - 1, secret, 0, &out), wire::HelloProblem::NotAHello);
  EXPECT_EQ(wire::parseHello(&h, sizeof(h), secret, 8, &out), wire::HelloProblem::WrongSize);
  h.rank = 4;
  EXPECT_EQ(wire::parseHello(&h, sizeof(h), secret, 0, &out), wire::HelloProblem::BadRank);
  h.rank = 0;
  h.secret[5] ^= 1;
  EXPECT_EQ(wire::parseHello(&h, sizeof(h), secret, 0, &out), wire::HelloProblem::WrongSecret);

  wire::Reply r{};
  r.magic = wire::kReplyMagic;
  r.status = 99;  // not a result code
  std::memset(r.message, '\x01', sizeof(r.message));  // unterminated, unprintable
  Status st = wire::parseReply(&r, sizeof(r), 4, &r);
  EXPECT_EQ(st.code(), mixcclSystemError);
  EXPECT_EQ(st.message().find('\x01'), std::string::npos);

  std::vector<WireAddress> table(2), parsed;
  table[0].family = AF_INET;
  table[0].port = 1;
  table[1].family = 77;
  table[1].port = 1;
  EXPECT_FALSE(wire::parseAddressTable(table.data(), 2 * sizeof(WireAddress), 2, &parsed).isOk());
  EXPECT_FALSE(wire::parseAddressTable(table.data(), sizeof(WireAddress), 2, &parsed).isOk());
}

}  // namespace
