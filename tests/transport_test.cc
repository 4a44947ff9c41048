// Tests for the shm and socket transports: real processes (fork), a real bootstrap over
// socketpairs, and a small driver loop standing in for the engine.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/transports/sink_feeder.h"
#include "backends/transports/socket/socket_wire.h"
#include "backends/transports/transport.h"
#include "tests/transport_test_harness.h"

namespace mixccl::test {
namespace {

constexpr size_t kTestSlotBytes = 64 * 1024;
constexpr int kTestSlots = 4;

uint64_t freshCommHash() {
  static std::atomic<uint64_t> counter{0};
  uint64_t t = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  return (static_cast<uint64_t>(getpid()) << 40) ^ (t * 0x9e3779b97f4a7c15ull) ^ (++counter << 20);
}

TransportContext makeContext(MeshBootstrap& boot, uint64_t commHash, const char* bind = "127.0.0.1",
                             int timeoutSeconds = 30) {
  TransportContext ctx;
  ctx.bootstrap = &boot;
  ctx.rank = boot.rank();
  ctx.nranks = boot.nranks();
  ctx.commHash = commHash;
  for (int i = 0; i < 16; ++i) ctx.secret[i] = static_cast<unsigned char>((commHash >> (i % 8)) + i * 37);
  ctx.timeoutSeconds = timeoutSeconds;
  ctx.bindAddress = bind;
  return ctx;
}

std::vector<int> allPeers(int rank, int nranks) {
  std::vector<int> peers;
  for (int p = 0; p < nranks; ++p) {
    if (p != rank) peers.push_back(p);
  }
  return peers;
}

Status createTransport(const std::string& kind, const TransportContext& ctx, const std::vector<int>& peers,
                       std::unique_ptr<Transport>* out) {
#ifdef MIXCCL_HAVE_UCX
  if (kind == "ucx") return createUcxTransport(ctx, peers, out);
#endif
#ifdef MIXCCL_HAVE_OFI
  if (kind == "ofi") return createOfiTransport(ctx, peers, out);
#endif
  return kind == "shm" ? createShmTransport(ctx, peers, out) : createSocketTransport(ctx, peers, out);
}

// Every transport of this build (ucx and ofi only where their libraries were found).
std::vector<std::string> builtKinds() {
  std::vector<std::string> kinds = {"shm", "socket"};
#ifdef MIXCCL_HAVE_UCX
  kinds.push_back("ucx");
#endif
#ifdef MIXCCL_HAVE_OFI
  kinds.push_back("ofi");
#endif
  return kinds;
}

// The byte at `offset` of message `salt`: position-dependent, so a shifted, repeated or reordered
// piece shows up.
inline unsigned char patternByte(uint64_t salt, size_t offset) {
  uint64_t x = (offset + 1) * 0x9e3779b97f4a7c15ull ^ salt * 0xc2b2ae3d27d4eb4full;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  return static_cast<unsigned char>(x >> 56);
}
inline uint64_t messageSalt(int src, int dst, int index) {
  return static_cast<uint64_t>(src) * 1000003 + static_cast<uint64_t>(dst) * 1009 + static_cast<uint64_t>(index);
}
std::vector<unsigned char> patternBuffer(uint64_t salt, size_t bytes) {
  std::vector<unsigned char> b(bytes);
  for (size_t i = 0; i < bytes; ++i) b[i] = patternByte(salt, i);
  return b;
}

// Names left in /dev/shm by a communicator with this hash.
std::vector<std::string> shmLeftovers(uint64_t commHash) {
  char prefix[64];
  std::snprintf(prefix, sizeof(prefix), "mixccl-%016llx", static_cast<unsigned long long>(commHash));
  std::vector<std::string> found;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, prefix, std::strlen(prefix)) == 0) found.push_back(e->d_name);
    }
    closedir(d);
  }
  return found;
}

void expectAllZero(const std::vector<int>& codes) {
  for (size_t r = 0; r < codes.size(); ++r) EXPECT_EQ(codes[r], 0) << "rank " << r << " failed (see stderr)";
}

// What one rank receives: the buffer (hostPtr path) or the consumed pieces, checked as they come.
struct Expected {
  uint64_t salt;
  size_t bytes;
  size_t granule;
  bool useHostPtr;
  std::vector<unsigned char> buffer;
  size_t nextOffset = 0;
  std::string error;
};

MessageSink makeSink(Expected* e) {
  MessageSink sink;
  sink.bytes = e->bytes;
  sink.granule = e->granule;
  if (e->useHostPtr) {
    e->buffer.assign(e->bytes, 0);
    sink.hostPtr = e->buffer.data();
    return sink;
  }
  sink.consume = [e](const void* src, size_t offset, size_t len) {
    if (!e->error.empty()) return Status::ok();
    if (offset != e->nextOffset || offset % e->granule != 0 || len % e->granule != 0 || len == 0 ||
        offset + len > e->bytes) {
      e->error = strFormat("consume(offset %zu, len %zu) where offset %zu was next (granule %zu, %zu bytes)",
                           offset, len, e->nextOffset, e->granule, e->bytes);
      return Status::ok();
    }
    auto* p = static_cast<const unsigned char*>(src);
    for (size_t i = 0; i < len; ++i) {
      if (p[i] != patternByte(e->salt, offset + i)) {
        e->error = strFormat("byte %zu of %zu is wrong", offset + i, e->bytes);
        break;
      }
    }
    e->nextOffset += len;
    return Status::ok();
  };
  return sink;
}

std::string verify(const Expected& e) {
  if (!e.error.empty()) return e.error;
  if (e.useHostPtr) {
    for (size_t i = 0; i < e.bytes; ++i) {
      if (e.buffer[i] != patternByte(e.salt, i)) return strFormat("byte %zu of %zu is wrong", i, e.bytes);
    }
    return {};
  }
  if (e.nextOffset != e.bytes) return strFormat("consume() covered %zu of %zu bytes", e.nextOffset, e.bytes);
  return {};
}

MessageSource makeSource(const std::vector<unsigned char>& data, bool useHostPtr) {
  MessageSource src;
  src.bytes = data.size();
  if (useHostPtr) {
    src.hostPtr = data.data();
  } else {
    src.read = [&data](void* dst, size_t offset, size_t len) {
      std::memcpy(dst, data.data() + offset, len);
      return Status::ok();
    };
  }
  return src;
}

// Every rank sends each size in `sizes` to every other rank, all posted at once (so large messages
// flow both ways at the same time), and checks what it receives byte by byte.
int exchangeAll(const std::string& kind, uint64_t hash, int rank, MeshBootstrap& boot,
                const std::vector<size_t>& sizes, size_t granule) {
  const int nranks = boot.nranks();
  std::unique_ptr<Transport> t;
  Status s = createTransport(kind, makeContext(boot, hash), allPeers(rank, nranks), &t);
  RANK_CHECK(s.isOk(), 10, "rank %d: setup failed: %s", rank, s.message().c_str());
  if (kind == "shm") {
    // Each rank unlinks its own names once setup agreed; after a barrier all of them are gone.
    s = boot.barrier();
    RANK_CHECK(s.isOk(), 11, "rank %d: barrier: %s", rank, s.message().c_str());
    RANK_CHECK(shmLeftovers(hash).empty(), 11, "rank %d: names still in /dev/shm after setup", rank);
  }
  std::vector<std::vector<unsigned char>> outgoing;
  std::vector<std::unique_ptr<Expected>> incoming;
  std::vector<std::unique_ptr<Transfer>> xs;
  outgoing.reserve(sizes.size() * static_cast<size_t>(nranks));
  for (int peer : allPeers(rank, nranks)) {
    Link* link = t->link(peer);
    RANK_CHECK(link != nullptr && link->peer() == peer, 12, "rank %d: no link to %d", rank, peer);
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int index = static_cast<int>(i);
      outgoing.push_back(patternBuffer(messageSalt(rank, peer, index), sizes[i]));
      xs.push_back(link->send(makeSource(outgoing.back(), (i + static_cast<size_t>(rank)) % 2 == 0)));
      auto e = std::make_unique<Expected>();
      e->salt = messageSalt(peer, rank, index);
      e->bytes = sizes[i];
      e->granule = granule;
      e->useHostPtr = granule == 1 && (i + static_cast<size_t>(peer)) % 3 == 0;
      xs.push_back(link->recv(makeSink(e.get())));
      incoming.push_back(std::move(e));
    }
  }
  s = drive(t.get(), xs, 60);
  RANK_CHECK(s.isOk(), 13, "rank %d: transfers failed: %s", rank, s.message().c_str());
  for (size_t i = 0; i < incoming.size(); ++i) {
    std::string why = verify(*incoming[i]);
    RANK_CHECK(why.empty(), 14, "rank %d: message %zu of %zu bytes: %s", rank, i, incoming[i]->bytes, why.c_str());
  }
  s = boot.barrier();  // nobody tears down while a peer still reads from it
  RANK_CHECK(s.isOk(), 15, "rank %d: final barrier: %s", rank, s.message().c_str());
  return 0;
}

class TransportTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {
 protected:
  void SetUp() override {
    setenv("MIXCCL_SHM_SLOTS", std::to_string(kTestSlots).c_str(), 1);
    setenv("MIXCCL_SHM_SLOT_BYTES", std::to_string(kTestSlotBytes).c_str(), 1);
    hash_ = freshCommHash();
  }
  void TearDown() override {
    EXPECT_TRUE(shmLeftovers(hash_).empty()) << "names left in /dev/shm";
  }
  std::string kind() const { return std::get<0>(GetParam()); }
  int nranks() const { return std::get<1>(GetParam()); }
  uint64_t hash_ = 0;
};

TEST_P(TransportTest, MessagesOfEdgeSizesArriveIntact) {
  std::vector<size_t> sizes = {1, 7, kTestSlotBytes, kTestSlotBytes + 1, 1 << 20, (1 << 20) + 1, 10 << 20};
  std::string k = kind();
  uint64_t h = hash_;
  expectAllZero(runRanks(nranks(), [&](int rank, MeshBootstrap& boot) {
    return exchangeAll(k, h, rank, boot, sizes, 1);
  }));
}

TEST_P(TransportTest, ManyMessagesKeepTheirOrder) {
  std::mt19937 rng(42);
  std::vector<size_t> sizes;
  for (int i = 0; i < 300; ++i) sizes.push_back(1 + rng() % 5000);
  sizes.push_back(3 * kTestSlotBytes + 5);
  for (int i = 0; i < 50; ++i) sizes.push_back(1 + rng() % 100);
  std::string k = kind();
  uint64_t h = hash_;
  expectAllZero(runRanks(nranks(), [&](int rank, MeshBootstrap& boot) {
    return exchangeAll(k, h, rank, boot, sizes, 1);
  }));
}

TEST_P(TransportTest, ConsumeSeesAlignedPiecesInOrder) {
  std::vector<size_t> sizes = {8, 8 * 1001, kTestSlotBytes, 3 * (1 << 20) + 8 * 13, 8 * 100003};
  std::string k = kind();
  uint64_t h = hash_;
  expectAllZero(runRanks(nranks(), [&](int rank, MeshBootstrap& boot) {
    return exchangeAll(k, h, rank, boot, sizes, 8);
  }));
}

INSTANTIATE_TEST_SUITE_P(Transports, TransportTest,
                         ::testing::Combine(::testing::ValuesIn(builtKinds()), ::testing::Values(2, 3, 4)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param)) + "ranks";
                         });

class TransportKindTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    setenv("MIXCCL_SHM_SLOTS", std::to_string(kTestSlots).c_str(), 1);
    setenv("MIXCCL_SHM_SLOT_BYTES", std::to_string(kTestSlotBytes).c_str(), 1);
    hash_ = freshCommHash();
  }
  void TearDown() override { EXPECT_TRUE(shmLeftovers(hash_).empty()) << "names left in /dev/shm"; }
  uint64_t hash_ = 0;
};

TEST_P(TransportKindTest, SizeMismatchIsAClearError) {
  std::string k = GetParam();
  uint64_t h = hash_;
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    std::unique_ptr<Transport> t;
    Status s = createTransport(k, makeContext(boot, h), allPeers(rank, 2), &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    std::vector<unsigned char> data = patternBuffer(1, 100);
    std::vector<unsigned char> into(200);
    std::vector<std::unique_ptr<Transfer>> xs;
    if (rank == 0) {
      xs.push_back(t->link(1)->send(makeSource(data, true)));
      s = drive(t.get(), xs, 20);
      RANK_CHECK(s.isOk(), 11, "send: %s", s.message().c_str());
    } else {
      MessageSink sink;
      sink.bytes = into.size();
      sink.hostPtr = into.data();
      xs.push_back(t->link(0)->recv(sink));
      s = drive(t.get(), xs, 20);
      RANK_CHECK(s.code() == mixcclInvalidUsage, 12, "expected invalid usage, got %d: %s", s.code(),
                 s.message().c_str());
      RANK_CHECK(s.message().find("rank 0 sent a message of 100 bytes where 200 were expected") != std::string::npos,
                 13, "unclear message: %s", s.message().c_str());
      // The link stays failed: a later receive on it reports the earlier failure.
      xs.push_back(t->link(0)->recv(sink));
      bool moved = false;
      s = xs.back()->progress(&moved);
      RANK_CHECK(!s.isOk(), 14, "a receive after a failed one succeeded");
      for (unsigned char c : std::vector<unsigned char>(into.begin() + 100, into.end())) {
        RANK_CHECK(c == 0, 15, "the receive buffer was written past what the sender sent");
      }
    }
    s = boot.barrier();
    RANK_CHECK(s.isOk(), 16, "barrier: %s", s.message().c_str());
    return 0;
  }));
}

TEST_P(TransportKindTest, PeerExitingMidTransferEndsInErrorNotHang) {
  std::string k = GetParam();
  uint64_t h = hash_;
  std::vector<int> codes = runRanks(2, [&](int rank, MeshBootstrap& boot) {
    std::unique_ptr<Transport> t;
    Status s = createTransport(k, makeContext(boot, h), allPeers(rank, 2), &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    // Far more than the kernel's socket buffers hold, so the sender cannot finish before it dies.
    const size_t bytes = size_t{64} << 20;
    std::vector<unsigned char> data = patternBuffer(2, bytes);
    std::vector<std::unique_ptr<Transfer>> xs;
    pid_t pids[2] = {0, 0};
    pids[rank] = getpid();
    s = boot.allGather(pids, sizeof(pid_t));
    RANK_CHECK(s.isOk(), 13, "pid exchange: %s", s.message().c_str());
    if (rank == 0) {
      xs.push_back(t->link(1)->send(makeSource(data, true)));
      bool moved = false;
      for (int i = 0; i < 100 && !moved; ++i) {
        s = xs[0]->progress(&moved);
        if (!moved) t->waitForActivity(10'000'000);
      }
      _exit(moved ? 0 : 20);  // dies with the message half sent
    }
    RANK_CHECK(waitUntilGone(pids[0], 60), 14, "rank 0 did not exit within 60 s");
    std::vector<unsigned char> into(bytes);
    MessageSink sink;
    sink.bytes = bytes;
    sink.hostPtr = into.data();
    xs.push_back(t->link(0)->recv(sink));
    s = drive(t.get(), xs, 5);
    RANK_CHECK(!s.isOk(), 11, "a receive from a dead peer succeeded");
    if (k == "socket") {
      RANK_CHECK(s.message().find("connection to rank 0 closed") != std::string::npos, 12, "unclear message: %s",
                 s.message().c_str());
    }
    return 0;
  });
  expectAllZero(codes);
}

// Round trips with long wait bounds: a lost wake-up shows up as a wait that slept its whole bound
// (the peer always answers within milliseconds). Covers the sender side too: the large message
// does not fit the ring, so the sender sleeps until the receiver frees slots.
TEST_P(TransportKindTest, WaitForActivityWakesOnPeerActivity) {
  std::string k = GetParam();
  uint64_t h = hash_;
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    std::unique_ptr<Transport> t;
    Status s = createTransport(k, makeContext(boot, h), allPeers(rank, 2), &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    const int peer = 1 - rank;
    DriveStats stats;
    for (int i = 0; i < 60; ++i) {
      size_t bytes = i % 10 == 9 ? 20 * kTestSlotBytes + 3 : 64;
      std::vector<unsigned char> data = patternBuffer(static_cast<uint64_t>(i), bytes);
      Expected e{static_cast<uint64_t>(i), bytes, 1, false, {}, 0, {}};
      std::vector<std::unique_ptr<Transfer>> xs;
      if ((i % 2) == rank) {
        xs.push_back(t->link(peer)->send(makeSource(data, false)));
      } else {
        xs.push_back(t->link(peer)->recv(makeSink(&e)));
      }
      s = drive(t.get(), xs, 60, 10'000'000'000ull, &stats);
      RANK_CHECK(s.isOk(), 11, "round %d: %s", i, s.message().c_str());
      if ((i % 2) != rank) {
        std::string why = verify(e);
        RANK_CHECK(why.empty(), 12, "round %d: %s", i, why.c_str());
      }
    }
    RANK_CHECK(stats.fullTimeoutWaits == 0, 13, "%d of %d waits slept their whole bound (lost wake-up)",
               stats.fullTimeoutWaits, stats.waits);
    s = boot.barrier();
    RANK_CHECK(s.isOk(), 14, "barrier: %s", s.message().c_str());
    return 0;
  }));
}

TEST_P(TransportKindTest, RanksWithoutPeersStillTakePartInSetup) {
  // Rank 2 serves nobody; ranks 0 and 1 talk. Setup is collective, so rank 2 must still take part.
  std::string k = GetParam();
  uint64_t h = hash_;
  expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
    std::vector<int> peers;
    if (rank < 2) peers.push_back(1 - rank);
    std::unique_ptr<Transport> t;
    Status s = createTransport(k, makeContext(boot, h), peers, &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    RANK_CHECK(t->link(2) == nullptr, 11, "a link to rank 2 exists");
    if (rank == 2) return boot.barrier().isOk() ? 0 : 12;
    std::vector<unsigned char> data = patternBuffer(7, 1000);
    Expected e{7, 1000, 1, true, {}, 0, {}};
    std::vector<std::unique_ptr<Transfer>> xs;
    xs.push_back(t->link(1 - rank)->send(makeSource(data, true)));
    xs.push_back(t->link(1 - rank)->recv(makeSink(&e)));
    s = drive(t.get(), xs, 30);
    RANK_CHECK(s.isOk(), 13, "transfer: %s", s.message().c_str());
    std::string why = verify(e);
    RANK_CHECK(why.empty(), 14, "%s", why.c_str());
    return boot.barrier().isOk() ? 0 : 15;
  }));
}

INSTANTIATE_TEST_SUITE_P(Transports, TransportKindTest, ::testing::ValuesIn(builtKinds()),
                         [](const auto& info) { return info.param; });

// A one-rank bootstrap, for tests that need no peers.
class SoloBootstrap : public BootstrapNet {
 public:
  int rank() const override { return 0; }
  int nranks() const override { return 1; }
  Status allGather(void*, size_t) override { return Status::ok(); }
  Status barrier() override { return Status::ok(); }
};

TEST(TransportInterrupt, WakesASleepingWaitAndOneThatIsAboutToSleep) {
  for (std::string kind : builtKinds()) {
    SoloBootstrap boot;
    TransportContext ctx;
    ctx.bootstrap = &boot;
    ctx.commHash = freshCommHash();
    ctx.bindAddress = "127.0.0.1";
    std::unique_ptr<Transport> t;
    Status s = createTransport(kind, ctx, {}, &t);
    ASSERT_TRUE(s.isOk()) << s.message();
    // An interrupt that comes before the wait is not lost.
    t->interrupt();
    auto before = Clock::now();
    t->waitForActivity(60'000'000'000ull);
    EXPECT_LT(Clock::now() - before, std::chrono::seconds(30)) << kind;
    // Nor is one that comes while it sleeps.
    std::thread waker([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      t->interrupt();
    });
    before = Clock::now();
    t->waitForActivity(60'000'000'000ull);
    EXPECT_LT(Clock::now() - before, std::chrono::seconds(30)) << kind;
    waker.join();
  }
}

TEST(ShmTransport, ReplacesAStaleSegmentFromACrashedRun) {
  setenv("MIXCCL_SHM_SLOTS", "2", 1);
  setenv("MIXCCL_SHM_SLOT_BYTES", "4096", 1);
  uint64_t h = freshCommHash();
  char name[64];
  std::snprintf(name, sizeof(name), "/mixccl-%016llx-0-1", static_cast<unsigned long long>(h));
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 123), 0);
  close(fd);
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    return exchangeAll("shm", h, rank, boot, {1, 4096, 100000}, 1);
  }));
  EXPECT_TRUE(shmLeftovers(h).empty());
}

TEST(ShmTransport, BadSlotSizeFailsOnEveryRankWithoutHanging) {
  setenv("MIXCCL_SHM_SLOTS", "4", 1);
  setenv("MIXCCL_SHM_SLOT_BYTES", "1000", 1);  // not a multiple of 64
  uint64_t h = freshCommHash();
  expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
    std::unique_ptr<Transport> t;
    Status s = createShmTransport(makeContext(boot, h), allPeers(rank, 3), &t);
    RANK_CHECK(!s.isOk() && s.message().find("MIXCCL_SHM_SLOT_BYTES") != std::string::npos, 10,
               "expected a slot size error, got: %s", s.message().c_str());
    return 0;
  }));
  EXPECT_TRUE(shmLeftovers(h).empty());
}

// Large messages from host memory are read straight from the sender's memory (cross-memory
// attach) where the kernel allows it: every size, alignment and sink kind must arrive intact when
// every message goes that way (MIXCCL_SHM_CMA_BYTES=1), and when ranks disagree on the setting
// (a rank with 0 never reads directly, so its peers send to it through the rings).
TEST(ShmTransport, DirectReadsOfEverySizeAndMixedSettingsArriveIntact) {
  setenv("MIXCCL_SHM_SLOTS", std::to_string(kTestSlots).c_str(), 1);
  setenv("MIXCCL_SHM_SLOT_BYTES", std::to_string(kTestSlotBytes).c_str(), 1);
  const std::vector<size_t> sizes = {1, 7, 64, kTestSlotBytes - 1, kTestSlotBytes + 1, (1 << 20) + 3, 5 << 20};
  for (const char* rank0Setting : {"1", "0"}) {
    uint64_t h = freshCommHash();
    expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
      setenv("MIXCCL_SHM_CMA_BYTES", rank == 0 ? rank0Setting : "1", 1);
      int rc = exchangeAll("shm", h, rank, boot, sizes, 1);
      if (rc == 0) rc = exchangeAll("shm", h + 1, rank, boot, {8, 8 * 1001, 8 * 100003}, 8);
      return rc;
    }));
    EXPECT_TRUE(shmLeftovers(h).empty() && shmLeftovers(h + 1).empty());
  }
  unsetenv("MIXCCL_SHM_CMA_BYTES");
}

// The observable difference between the two paths: a message small enough for the ring is done
// on the sender as soon as it is copied in, but one posted by address stays open until the receiver
// has read it (the sender must not reuse the buffer before). So with direct reads on, a 100 KB send
// must still be open after 300 ms during which its receiver has posted nothing; with them off
// (MIXCCL_SHM_CMA_BYTES=0) the same send must be done.
TEST(ShmTransport, MessagesPostedByAddressStayOpenUntilTheReceiverReadsThem) {
  setenv("MIXCCL_SHM_SLOTS", "4", 1);
  setenv("MIXCCL_SHM_SLOT_BYTES", std::to_string(64 * 1024).c_str(), 1);
  for (const char* setting : {"65536", "0"}) {
    const bool direct = std::string(setting) != "0";
    uint64_t h = freshCommHash();
    expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
      setenv("MIXCCL_SHM_CMA_BYTES", setting, 1);
      std::unique_ptr<Transport> t;
      Status s = createShmTransport(makeContext(boot, h), allPeers(rank, 2), &t);
      RANK_CHECK(s.isOk(), 10, "rank %d: setup failed: %s", rank, s.message().c_str());
      const size_t bytes = 100 * 1000;
      std::vector<std::unique_ptr<Transfer>> xs;
      std::vector<unsigned char> data = patternBuffer(messageSalt(0, 1, 0), bytes);
      Expected e{messageSalt(0, 1, 0), bytes, 1, true, {}, 0, {}};
      if (rank == 0) {
        xs.push_back(t->link(1)->send(makeSource(data, true)));
        auto until = Clock::now() + std::chrono::milliseconds(300);
        bool moved = false;
        while (Clock::now() < until) {
          s = xs[0]->progress(&moved);
          RANK_CHECK(s.isOk(), 11, "rank 0: send failed: %s", s.message().c_str());
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        RANK_CHECK(xs[0]->done() == !direct, 12, "rank 0: a %zu-byte send with MIXCCL_SHM_CMA_BYTES=%s is %s "
                   "before its receiver posted anything", bytes, setting, xs[0]->done() ? "done" : "still open");
      }
      s = boot.barrier();
      RANK_CHECK(s.isOk(), 13, "rank %d: barrier: %s", rank, s.message().c_str());
      if (rank == 1) xs.push_back(t->link(0)->recv(makeSink(&e)));
      s = drive(t.get(), xs, 60);
      RANK_CHECK(s.isOk(), 14, "rank %d: transfer failed: %s", rank, s.message().c_str());
      if (rank == 1) {
        std::string why = verify(e);
        RANK_CHECK(why.empty(), 15, "rank 1: %s", why.c_str());
      }
      s = boot.barrier();  // rank 0 keeps its buffer until rank 1 has read it
      RANK_CHECK(s.isOk(), 16, "rank %d: final barrier: %s", rank, s.message().c_str());
      return 0;
    }));
    EXPECT_TRUE(shmLeftovers(h).empty());
  }
  unsetenv("MIXCCL_SHM_CMA_BYTES");
}

// Strangers knock on the listeners while the ranks connect: silence then close, garbage, the wrong
// secret, the wrong communicator, and one that stays connected and silent. Setup must still work.
void knockAsStrangers(const SocketAddressCard& card, uint64_t commHash, const unsigned char* secret,
                      std::vector<int>* keepOpen) {
  const sockaddr_storage& addr = card.address;
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  auto dial = [&]() {
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  if (int fd = dial(); fd >= 0) close(fd);  // nothing at all
  if (int fd = dial(); fd >= 0) {            // garbage
    std::vector<unsigned char> junk(100);
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<unsigned char>(i * 7 + 3);
    writeAll(fd, junk.data(), junk.size());
    close(fd);
  }
  SocketHello hello{};
  hello.magic = kSocketHelloMagic;
  hello.commHash = commHash;
  hello.rank = 0;
  std::memset(hello.secret, 0xab, sizeof(hello.secret));
  if (int fd = dial(); fd >= 0) {  // wrong secret, claiming to be rank 0
    writeAll(fd, &hello, sizeof(hello));
    keepOpen->push_back(fd);
  }
  if (int fd = dial(); fd >= 0) {  // half a hello, then gone
    writeAll(fd, &hello, sizeof(hello) / 2);
    close(fd);
  }
  std::memcpy(hello.secret, secret, sizeof(hello.secret));
  hello.commHash = commHash + 1;
  if (int fd = dial(); fd >= 0) {  // the right secret but another communicator
    writeAll(fd, &hello, sizeof(hello));
    keepOpen->push_back(fd);
  }
  if (int fd = dial(); fd >= 0) keepOpen->push_back(fd);  // connected and silent
}

TEST(SocketTransport, SetupIgnoresStrangersAtTheListener) {
  uint64_t h = freshCommHash();
  expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
    std::vector<int> keepOpen;
    TransportContext ctx = makeContext(boot, h);
    boot.afterAllGather = [&](void* data, size_t bytes) {
      if (bytes != sizeof(SocketAddressCard)) return;
      auto* cards = static_cast<SocketAddressCard*>(data);
      knockAsStrangers(cards[rank], h, ctx.secret, &keepOpen);  // our own listener, before any peer got there
    };
    std::unique_ptr<Transport> t;
    Status s = createSocketTransport(ctx, allPeers(rank, 3), &t);
    boot.afterAllGather = nullptr;
    RANK_CHECK(s.isOk(), 10, "setup with strangers around failed: %s", s.message().c_str());
    RANK_CHECK(keepOpen.size() == 3, 11, "the strangers could not connect (%zu)", keepOpen.size());
    for (int fd : keepOpen) close(fd);
    // The real connections work.
    std::vector<std::vector<unsigned char>> out;
    std::vector<std::unique_ptr<Expected>> in;
    std::vector<std::unique_ptr<Transfer>> xs;
    out.reserve(2);
    for (int peer : allPeers(rank, 3)) {
      out.push_back(patternBuffer(messageSalt(rank, peer, 0), 5000));
      xs.push_back(t->link(peer)->send(makeSource(out.back(), true)));
      in.push_back(std::make_unique<Expected>(Expected{messageSalt(peer, rank, 0), 5000, 1, true, {}, 0, {}}));
      xs.push_back(t->link(peer)->recv(makeSink(in.back().get())));
    }
    s = drive(t.get(), xs, 30);
    RANK_CHECK(s.isOk(), 12, "transfers: %s", s.message().c_str());
    for (auto& e : in) RANK_CHECK(verify(*e).empty(), 13, "%s", verify(*e).c_str());
    return boot.barrier().isOk() ? 0 : 14;
  }));
}

TEST(SocketTransport, WorksOverIPv6Loopback) {
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  if (probe >= 0) close(probe);
  if (!ok) GTEST_SKIP() << "no IPv6 loopback here";
  uint64_t h = freshCommHash();
  expectAllZero(runRanks(2, [&](int rank, MeshBootstrap& boot) {
    std::unique_ptr<Transport> t;
    Status s = createSocketTransport(makeContext(boot, h, "::1"), allPeers(rank, 2), &t);
    RANK_CHECK(s.isOk(), 10, "setup: %s", s.message().c_str());
    std::vector<unsigned char> data = patternBuffer(3, 300000);
    Expected e{3, 300000, 4, false, {}, 0, {}};
    std::vector<std::unique_ptr<Transfer>> xs;
    xs.push_back(t->link(1 - rank)->send(makeSource(data, false)));
    xs.push_back(t->link(1 - rank)->recv(makeSink(&e)));
    s = drive(t.get(), xs, 30);
    RANK_CHECK(s.isOk(), 11, "transfer: %s", s.message().c_str());
    RANK_CHECK(verify(e).empty(), 12, "%s", verify(e).c_str());
    return boot.barrier().isOk() ? 0 : 13;
  }));
}

TEST(SocketTransport, SetupTimesOutNamingTheMissingRank) {
  // Rank 1 publishes a listening address but never connects nor accepts: rank 2 must give up at
  // the deadline and say that rank 1 never came; rank 0 that rank 1 never answered.
  uint64_t h = freshCommHash();
  expectAllZero(runRanks(3, [&](int rank, MeshBootstrap& boot) {
    if (rank == 1) {
      std::vector<SocketAddressCard> cards(3);
      cards[1].ok = 1;
      cards[1].listening = 1;
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof(a);
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 16) != 0) return 20;
      getsockname(fd, reinterpret_cast<sockaddr*>(&cards[1].address), &len);
      if (!boot.allGather(cards.data(), sizeof(SocketAddressCard)).isOk()) return 21;
      std::vector<unsigned char> ok(3, 0);  // the agreement that ends setup: rank 1 failed
      return boot.allGather(ok.data(), 1).isOk() ? 0 : 22;
    }
    std::unique_ptr<Transport> t;
    Status s = createSocketTransport(makeContext(boot, h, "127.0.0.1", 2), allPeers(rank, 3), &t);
    RANK_CHECK(!s.isOk(), 10, "setup without rank 1 succeeded");
    const char* expected = rank == 2 ? "rank(s) 1, which never connected" : "waiting for rank 1 to accept";
    RANK_CHECK(s.message().find(expected) != std::string::npos, 11, "unclear message: %s", s.message().c_str());
    return 0;
  }));
}

TEST(SinkFeeder, HandsAlignedPiecesWhateverTheArrivalSplits) {
  std::mt19937 rng(7);
  for (size_t granule : {1, 2, 4, 8}) {
    const size_t bytes = granule * 10007;
    std::vector<unsigned char> data = patternBuffer(granule, bytes);
    Expected e{granule, bytes, granule, false, {}, 0, {}};
    MessageSink sink = makeSink(&e);
    SinkFeeder feeder(&sink);
    size_t pos = 0;
    while (pos < bytes) {
      size_t n = std::min<size_t>(bytes - pos, rng() % 37);
      ASSERT_TRUE(feeder.feed(data.data() + pos, n).isOk());
      pos += n;
    }
    EXPECT_TRUE(feeder.complete());
    EXPECT_EQ(verify(e), "") << "granule " << granule;
  }
}

}  // namespace
}  // namespace mixccl::test
