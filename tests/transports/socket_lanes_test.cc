// Several TCP connections per peer pair (MIXCCL_NSOCKS): how messages are cut across them, that
// every byte arrives where it belongs whatever the cut and the element size, that ranks asking for
// different counts agree on one, that a peer's death names it, and that a bad count is refused.
// Also the interface filter MIXCCL_SOCKET_IFNAME shares with NCCL_SOCKET_IFNAME.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backends/transports/socket/socket_stripes.h"
#include "core/net.h"
#include "tests/transport_test_harness.h"

namespace mixccl {
namespace {

using test::MeshBootstrap;
using test::runRanks;

unsigned char patternByte(int salt, size_t i) { return static_cast<unsigned char>((i * 131 + salt * 7 + i / 251) & 0xff); }

TransportContext contextFor(MeshBootstrap& boot, uint64_t hash) {
  TransportContext ctx;
  ctx.bootstrap = &boot;
  ctx.rank = boot.rank();
  ctx.nranks = boot.nranks();
  ctx.commHash = hash;
  std::memset(ctx.secret, 0x3c, sizeof(ctx.secret));
  ctx.timeoutSeconds = 20;
  ctx.bindAddress = "127.0.0.1";
  return ctx;
}

std::vector<int> othersOf(int rank, int n) {
  std::vector<int> v;
  for (int r = 0; r < n; ++r)
    if (r != rank) v.push_back(r);
  return v;
}

void expectAllZero(const std::vector<int>& codes) {
  for (size_t r = 0; r < codes.size(); ++r) EXPECT_EQ(codes[r], 0) << "rank " << r << " failed (see its stderr)";
}

TEST(SocketStripes, CutsCoverTheMessageOnAlignedBoundaries) {
  const std::vector<size_t> sizes = {1, 4095, 4096, 2 * kMinStripeBytes - 1, 2 * kMinStripeBytes,
                                     2 * kMinStripeBytes + 1, 3 * kMinStripeBytes + 4097, 1 << 20, (1 << 20) + 3,
                                     (64 << 20) + 12345};
  for (int lanes : {1, 2, 3, 4, 7, 64}) {
    for (size_t bytes : sizes) {
      int parts = stripeCount(bytes, lanes);
      ASSERT_GE(parts, 1);
      ASSERT_LE(parts, lanes);
      if (bytes < 2 * kMinStripeBytes) {
        EXPECT_EQ(parts, 1) << bytes;
      }
      size_t at = 0;
      for (int p = 0; p < parts; ++p) {
        Stripe s = stripeOf(bytes, parts, p);
        EXPECT_EQ(s.begin, at) << "lanes " << lanes << " bytes " << bytes << " part " << p;
        EXPECT_GT(s.end, s.begin) << "an empty part: lanes " << lanes << " bytes " << bytes << " part " << p;
        if (p > 0) {
          EXPECT_EQ(s.begin % kStripeAlign, 0u);
        }
        if (parts > 1) {
          EXPECT_GE(s.end - s.begin + kStripeAlign, kMinStripeBytes);
        }
        at = s.end;
      }
      EXPECT_EQ(at, bytes) << "lanes " << lanes;
    }
  }
}

TEST(SocketInterfaceFilter, FollowsNcclSocketIfnameSyntax) {
  EXPECT_TRUE(net::interfaceMatches("", "eth0"));           // no filter: anything
  EXPECT_TRUE(net::interfaceMatches("eth", "eth0"));        // prefix
  EXPECT_TRUE(net::interfaceMatches("eth", "eth10"));
  EXPECT_FALSE(net::interfaceMatches("eth", "ens1f0"));
  EXPECT_TRUE(net::interfaceMatches("ib,eth", "eth1"));     // a list
  EXPECT_TRUE(net::interfaceMatches("ib,eth", "ib0"));
  EXPECT_FALSE(net::interfaceMatches("ib,eth", "lo"));
  EXPECT_TRUE(net::interfaceMatches("=eth0", "eth0"));      // exact
  EXPECT_FALSE(net::interfaceMatches("=eth0", "eth01"));
  EXPECT_TRUE(net::interfaceMatches("=eth0,eth1", "eth1"));  // exact applies to the whole list
  EXPECT_FALSE(net::interfaceMatches("=eth0,eth1", "eth10"));
  EXPECT_FALSE(net::interfaceMatches("^docker", "docker0"));  // excluded prefixes
  EXPECT_TRUE(net::interfaceMatches("^docker", "eth0"));
  EXPECT_FALSE(net::interfaceMatches("^docker,lo", "lo"));
  EXPECT_FALSE(net::interfaceMatches("^=docker0", "docker0"));  // excluded exact names
  EXPECT_TRUE(net::interfaceMatches("^=docker0", "docker01"));
}

// One message per size each way between every pair, all posted at once; half the receives consume
// in pieces of `granule` bytes (checked for order, alignment and content), half land in place.
int exchange(int rank, MeshBootstrap& boot, uint64_t hash, const std::vector<size_t>& sizes, size_t granule) {
  const int n = boot.nranks();
  std::unique_ptr<Transport> t;
  Status s = createSocketTransport(contextFor(boot, hash), othersOf(rank, n), &t);
  RANK_CHECK(s.isOk(), 10, "rank %d: setup: %s", rank, s.message().c_str());
  struct Incoming {
    std::vector<unsigned char> data;
    size_t next = 0;
    std::string error;
  };
  std::vector<std::vector<unsigned char>> out;
  std::vector<std::unique_ptr<Incoming>> in;
  std::vector<std::unique_ptr<Transfer>> xs;
  out.reserve(sizes.size() * static_cast<size_t>(n));
  for (int peer : othersOf(rank, n)) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const size_t bytes = sizes[i] - sizes[i] % granule;
      if (bytes == 0) continue;  // the engine never posts empty messages
      std::vector<unsigned char> msg(bytes);
      for (size_t b = 0; b < bytes; ++b) msg[b] = patternByte(rank * 100 + peer * 10 + static_cast<int>(i), b);
      out.push_back(std::move(msg));
      MessageSource src;
      src.bytes = bytes;
      if (i % 2 == 0) {
        src.hostPtr = out.back().data();
      } else {
        const std::vector<unsigned char>* from = &out.back();
        src.read = [from](void* dst, size_t off, size_t len) {
          std::memcpy(dst, from->data() + off, len);
          return Status::ok();
        };
      }
      xs.push_back(t->link(peer)->send(std::move(src)));
      auto inc = std::make_unique<Incoming>();
      inc->data.assign(bytes, 0);
      MessageSink sink;
      sink.bytes = bytes;
      sink.granule = granule;
      if ((i + static_cast<size_t>(rank)) % 2 == 0) {
        sink.hostPtr = inc->data.data();
      } else {
        Incoming* to = inc.get();
        sink.consume = [to, granule](const void* src, size_t off, size_t len) {
          // Parts of a striped message arrive side by side: each connection's pieces are in order.
          if (off % granule != 0 || len % granule != 0 || reinterpret_cast<uintptr_t>(src) % granule != 0) {
            to->error = strFormat("a piece at %zu+%zu is not whole, aligned elements", off, len);
          }
          if (off + len > to->data.size()) {
            to->error = "a piece past the end";
          } else {
            std::memcpy(to->data.data() + off, src, len);
          }
          to->next += len;
          return Status::ok();
        };
      }
      xs.push_back(t->link(peer)->recv(std::move(sink)));
      in.push_back(std::move(inc));
    }
  }
  s = test::drive(t.get(), xs, 40);
  RANK_CHECK(s.isOk(), 11, "rank %d: transfers: %s", rank, s.message().c_str());
  size_t k = 0;
  for (int peer : othersOf(rank, n)) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < granule) continue;
      const Incoming& inc = *in[k++];
      RANK_CHECK(inc.error.empty(), 12, "rank %d from %d size %zu: %s", rank, peer, sizes[i], inc.error.c_str());
      for (size_t b = 0; b < inc.data.size(); ++b) {
        RANK_CHECK(inc.data[b] == patternByte(peer * 100 + rank * 10 + static_cast<int>(i), b), 13,
                   "rank %d: byte %zu of the %zu-byte message %zu from rank %d is wrong", rank, b, inc.data.size(), i,
                   peer);
      }
    }
  }
  s = boot.barrier();
  RANK_CHECK(s.isOk(), 14, "rank %d: barrier: %s", rank, s.message().c_str());
  return 0;
}

uint64_t freshHash() { return 0x5150000000000000ull ^ (static_cast<uint64_t>(getpid()) << 16) ^ static_cast<uint64_t>(rand()); }

// Sizes around every cut: below the striping threshold, at it, odd tails, several MiB.
const std::vector<size_t> kStripeSizes = {1,          7,          4096 + 3,   2 * kMinStripeBytes - 1, 2 * kMinStripeBytes,
                                          2 * kMinStripeBytes + 9, 3 * kMinStripeBytes + 4097, (1 << 20) + 5,
                                          (5 << 20) + 12347};

class SocketLanes : public ::testing::TestWithParam<int> {};

TEST_P(SocketLanes, EveryByteArrivesWhateverTheCut) {
  const int nsocks = GetParam();
  const uint64_t h = freshHash();
  expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
    setenv("MIXCCL_NSOCKS", std::to_string(nsocks).c_str(), 1);
    for (size_t granule : {size_t{1}, size_t{2}, size_t{8}}) {
      int rc = exchange(rank, boot, h + granule, kStripeSizes, granule);
      if (rc != 0) return rc;
    }
    return 0;
  }, 90));
}

INSTANTIATE_TEST_SUITE_P(Nsocks, SocketLanes, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "socks"; });

TEST(SocketLanesSetup, RanksAskingForDifferentCountsUseTheSmaller) {
  const uint64_t h = freshHash();
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    setenv("MIXCCL_NSOCKS", rank == 0 ? "4" : "3", 1);
    return exchange(rank, boot, h, kStripeSizes, 4);
  }));
}

TEST(SocketLanesSetup, NcclSpellingsMultiply) {
  const uint64_t h = freshHash();
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    unsetenv("MIXCCL_NSOCKS");
    setenv("NCCL_NSOCKSPERTHREAD", "2", 1);
    setenv("NCCL_SOCKET_NTHREADS", "2", 1);
    return exchange(rank, boot, h, {(3 << 20) + 1}, 1);
  }));
}

TEST(SocketLanesSetup, AnImpossibleCountIsRefusedOnEveryRank) {
  for (const std::string bad : {"65", "0"}) {
    const uint64_t h = freshHash();
    expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
      setenv("MIXCCL_NSOCKS", rank == 1 ? bad.c_str() : "2", 1);
      std::unique_ptr<Transport> t;
      Status s = createSocketTransport(contextFor(boot, h), othersOf(rank, 2), &t);
      RANK_CHECK(!s.isOk(), 10, "rank %d: MIXCCL_NSOCKS=%s was accepted", rank, bad.c_str());
      if (rank == 1) {
        const std::string want = "MIXCCL_NSOCKS asks for " + bad + " connections per peer; it must be 1 to 64";
        RANK_CHECK(s.message().find(want) != std::string::npos, 11, "unclear message: %s", s.message().c_str());
      } else {
        RANK_CHECK(s.message().find("rank 1") != std::string::npos, 12, "does not name rank 1: %s", s.message().c_str());
      }
      return 0;
    }));
  }
}

TEST(SocketLanesSetup, APeerDyingMidMessageIsNamed) {
  const uint64_t h = freshHash();
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    setenv("MIXCCL_NSOCKS", "4", 1);
    std::unique_ptr<Transport> t;
    Status s = createSocketTransport(contextFor(boot, h), othersOf(rank, 2), &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    const size_t bytes = size_t{64} << 20;  // far more than the sockets' buffers hold
    std::vector<unsigned char> data(bytes, 7);
    std::vector<std::unique_ptr<Transfer>> xs;
    pid_t pids[2] = {0, 0};
    pids[rank] = getpid();
    s = boot.allGather(pids, sizeof(pid_t));
    RANK_CHECK(s.isOk(), 14, "pid exchange: %s", s.message().c_str());
    if (rank == 0) {
      MessageSource src;
      src.bytes = bytes;
      src.hostPtr = data.data();
      xs.push_back(t->link(1)->send(std::move(src)));
      bool moved = false;
      for (int i = 0; i < 100 && !moved; ++i) {
        s = xs[0]->progress(&moved);
        if (!moved) t->waitForActivity(10'000'000);
      }
      _exit(moved ? 0 : 20);  // dies with the message half sent
    }
    RANK_CHECK(test::waitUntilGone(pids[0], 60), 15, "rank 0 did not exit within 60 s");
    MessageSink sink;
    sink.bytes = bytes;
    sink.hostPtr = data.data();
    xs.push_back(t->link(0)->recv(std::move(sink)));
    auto start = test::Clock::now();
    s = test::drive(t.get(), xs, 10);
    RANK_CHECK(!s.isOk(), 11, "a receive from a dead peer succeeded");
    RANK_CHECK(s.message().find("connection to rank 0 closed") != std::string::npos, 12, "unclear message: %s",
               s.message().c_str());
    RANK_CHECK(test::Clock::now() - start < std::chrono::seconds(5), 13, "noticed the death only after %s",
               "5 s or more");
    return 0;
  }));
}

}  // namespace
}  // namespace mixccl
