// The cost model against hand-computed figures, and the ranking of candidates: every registered
// algorithm is considered, the pick is the cheapest, and the model reacts to the topology the way
// the alpha-beta model says it must.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "algorithms/algorithm.h"
#include "topology/cost_model.h"
#include "topology/decision.h"
#include "topology/topology.h"

namespace mixccl {
namespace {

// n ranks on `hosts` hosts of `cores` cores, shm inside a host, socket across.
Topology cluster(int hosts, int ranksPerHost, int cores = 64) {
  Topology t;
  for (int h = 0; h < hosts; ++h) {
    HostInfo info;
    info.name = "h" + std::to_string(h);
    info.id = static_cast<uint64_t>(h + 1);
    info.cores = cores;
    t.hosts.push_back(info);
    for (int r = 0; r < ranksPerHost; ++r) t.ranks.push_back({h, "cpu", r});
  }
  t.addLinkClass({"shm", 1.0, 10.0, "test"});
  t.addLinkClass({"socket", 20.0, 1.0, "test"});
  t.deviceRates.push_back({"cpu", 20.0, 10.0, "test"});
  t.connectByHost("shm", "socket");
  return t;
}

Step send(int peer, size_t n) {
  Step s;
  s.kind = StepKind::Send;
  s.peer = peer;
  s.src = {Buf::Input, 0, n};
  return s;
}
Step recv(int peer, size_t n, StepKind kind = StepKind::Recv) {
  Step s;
  s.kind = kind;
  s.peer = peer;
  s.src = {Buf::Input, 0, n};
  s.dst = {Buf::Output, 0, n};
  return s;
}

TEST(CostModel, OneMessageCostsAlphaPlusBytesOverBeta) {
  Topology t = cluster(1, 2);
  CostModel model(&t);
  std::vector<Schedule> s(2);
  s[0].rounds.push_back({{send(1, 10000)}});
  s[1].rounds.push_back({{recv(0, 10000)}});
  // 40000 bytes at 10 GB/s = 4 us, plus alpha 1 us, plus one round of overhead.
  EXPECT_NEAR(model.predictUs(s, 4), 1.0 + 4.0 + kRoundOverheadUs, 1e-9);
}

TEST(CostModel, WaitsForTheSenderToPost) {
  Topology t = cluster(1, 2);
  CostModel model(&t);
  std::vector<Schedule> s(2);
  // Rank 0 copies 200000 bytes (10 us at 20 GB/s) before it sends; rank 1 has to wait for that.
  Step copy;
  copy.kind = StepKind::Copy;
  copy.src = {Buf::Input, 0, 50000};
  copy.dst = {Buf::Output, 0, 50000};
  s[0].rounds.push_back({{copy, send(1, 1)}});
  s[1].rounds.push_back({{recv(0, 1)}});
  EXPECT_NEAR(model.predictUs(s, 4), 10.0 + 1.0 + 4e-4 + kRoundOverheadUs, 1e-6);
}

TEST(CostModel, ExchangeInOneRoundDoesNotDeadlockButCrossedRendezvousDoes) {
  Topology t = cluster(1, 2);
  CostModel model(&t);
  std::vector<Schedule> ok(2);
  ok[0].rounds.push_back({{send(1, 8), recv(1, 8)}});
  ok[1].rounds.push_back({{send(0, 8), recv(0, 8)}});
  EXPECT_TRUE(std::isfinite(model.predictUs(ok, 1)));
  std::vector<Schedule> stuck(2);  // both receive first, in separate rounds: nobody ever sends
  stuck[0].rounds.push_back({{recv(1, 8)}});
  stuck[0].rounds.push_back({{send(1, 8)}});
  stuck[1].rounds.push_back({{recv(0, 8)}});
  stuck[1].rounds.push_back({{send(0, 8)}});
  EXPECT_TRUE(std::isinf(model.predictUs(stuck, 1)));
}

TEST(CostModel, SlowerLinksAndFewerCoresCostMore) {
  Topology oneHost = cluster(1, 4), twoHosts = cluster(2, 2), crowded = cluster(1, 4, 2);
  const Algorithm* ring = findAlgorithm(Collective::AllReduce, "ring");
  ASSERT_NE(ring, nullptr);
  CollectiveArgs args;
  args.nranks = 4;
  args.count = 1 << 20;
  double local = CostModel(&oneHost).predictUs(*ring, args, 4);
  double split = CostModel(&twoHosts).predictUs(*ring, args, 4);
  double oversubscribed = CostModel(&crowded).predictUs(*ring, args, 4);
  EXPECT_LT(local, split);
  EXPECT_LT(local, oversubscribed);
  // And bigger messages take longer.
  args.count = 1 << 22;
  EXPECT_LT(local, CostModel(&oneHost).predictUs(*ring, args, 4));
}

// A rank that copies `count` floats from its input to its output, in one round.
Schedule copyOnly(size_t count) {
  Step copy;
  copy.kind = StepKind::Copy;
  copy.src = {Buf::Input, 0, count};
  copy.dst = {Buf::Output, 0, count};
  Schedule s;
  s.rounds.push_back({{copy}});
  return s;
}

TEST(CostModel, LargeWorkingSetsRunAtTheBulkRates) {
  // Copies at 20 GB/s in the caches and 5 GB/s beyond them.
  auto predict = [](int hosts, int ranksPerHost, size_t count, double bulkCopy) {
    Topology t = cluster(hosts, ranksPerHost);
    t.deviceRates[0].bulkCopyGBps = bulkCopy;
    t.deviceRates[0].bulkReduceGBps = bulkCopy > 0 ? 2.5 : 0;
    CostModel model(&t);
    return model.predictUs(std::vector<Schedule>(static_cast<size_t>(hosts * ranksPerHost), copyOnly(count)), 4);
  };
  const size_t small = 50000;          // 200 KB copied, 400 KB touched: in the caches
  const size_t large = size_t{8} << 20;  // 32 MiB copied, 64 MiB touched: beyond them
  EXPECT_NEAR(predict(1, 1, small, 5.0), 200000 / 20e3 + kRoundOverheadUs, 1e-9);
  EXPECT_NEAR(predict(1, 1, large, 5.0), 32.0 * (1 << 20) / 5e3 + kRoundOverheadUs, 1e-6);
  // Without bulk rates every size runs at the cached rate, as before they were measured.
  EXPECT_NEAR(predict(1, 1, large, 0), 32.0 * (1 << 20) / 20e3 + kRoundOverheadUs, 1e-6);
  // In between (6 MiB touched by one rank) the per-byte cost lies strictly between the two...
  const size_t mid = size_t{3} << 18;  // 3 MiB copied
  const double alone = predict(2, 1, mid, 5.0) - kRoundOverheadUs, perByte = alone / (3.0 * (1 << 20));
  EXPECT_GT(perByte, 1e-3 / 20.0 * 1.01);
  EXPECT_LT(perByte, 1e-3 / 5.0 * 0.99);
  // ...and two ranks of one host share its caches: together they touch 12 MiB, which costs more per
  // byte than 6 MiB on hosts of their own.
  EXPECT_GT(predict(1, 2, mid, 5.0) - kRoundOverheadUs, alone * 1.05);
}

TEST(CostModel, DeviceRanksPayForStagingTheirMessages) {
  // Rank 1 is an accelerator whose copies to and from host memory run at `staging` GB/s (0: its
  // memory is host memory); one message of 40000 bytes each way, or a receive-reduce into it.
  auto predict = [](double staging, const char* linkName, int from, StepKind kind = StepKind::Recv) {
    Topology t = cluster(1, 2);
    t.ranks[1].deviceKind = "npu";
    DeviceRates npu{"npu", 20.0, 4.0, "test"};
    npu.stagingGBps = staging;
    t.deviceRates.push_back(npu);
    t.linkClasses[0].name = linkName;
    CostModel model(&t);
    std::vector<Schedule> s(2);
    const int to = 1 - from;
    s[static_cast<size_t>(from)].rounds.push_back({{send(to, 10000)}});
    s[static_cast<size_t>(to)].rounds.push_back({{recv(from, 10000, kind)}});
    return model.predictUs(s, 4);
  };
  const double plain = 1.0 + 4.0 + kRoundOverheadUs;  // alpha + 40000 B at the link's 10 GB/s
  // In host memory nothing is staged: the message costs what it costs between two cpus.
  EXPECT_NEAR(predict(0, "shm", 0), plain, 1e-9);
  EXPECT_NEAR(predict(0, "shm", 1), plain, 1e-9);
  // Staged at 2 GB/s: 20 us of copying on the accelerator's side, whichever way the message goes.
  for (int from : {0, 1}) {
    EXPECT_GE(predict(2.0, "shm", from), 1.0 + 20.0) << "from rank " << from;
    EXPECT_LE(predict(2.0, "shm", from), plain + 20.0 + 1.0) << "from rank " << from;
  }
  // A receive-reduce stages the piece and then reduces it (10 us at 4 GB/s) on top.
  EXPECT_GE(predict(2.0, "shm", 0, StepKind::RecvReduce), 1.0 + 20.0 + 10.0);
  // Over a device-to-device link the same copies run at the device's copy rate (2 us at 20 GB/s).
  EXPECT_LT(predict(2.0, "cuda_ipc", 0), predict(2.0, "shm", 0) - 15.0);
  EXPECT_GE(predict(2.0, "cuda_ipc", 0), plain);
}

TEST(CostModel, DeviceCallsCostTheirFixedPriceEach) {
  // Rank 1 is an accelerator whose calls cost `callUs` each: sends of `pieces` messages that add up
  // to 3 MiB (in one round), received by a cpu (no staging there), or a local copy on rank 1.
  auto predict = [](double callUs, int pieces, bool staged) {
    Topology t = cluster(1, 2);
    t.ranks[1].deviceKind = "npu";
    DeviceRates npu{"npu", 20.0, 4.0, "test"};
    npu.stagingGBps = staged ? 2.0 : 0.0;
    npu.callUs = callUs;
    t.deviceRates.push_back(npu);
    CostModel model(&t);
    std::vector<Schedule> s(2);
    const size_t count = (size_t{3} << 20) / 4 / static_cast<size_t>(pieces);
    s[1].rounds.emplace_back();
    s[0].rounds.emplace_back();
    for (int i = 0; i < pieces; ++i) {
      s[1].rounds[0].steps.push_back(send(0, count));
      s[0].rounds[0].steps.push_back(recv(1, count));
    }
    return model.predictUs(s, 4);
  };
  // Staged: one call per staging block (kStagingBlockBytes, 1 MiB): 3 for one 3 MiB message, 48
  // for 48 pieces of 64 KiB, each pieces' bytes costing the same in all.
  EXPECT_NEAR(predict(10.0, 1, true) - predict(0, 1, true), 3 * 10.0, 1e-6);
  EXPECT_NEAR(predict(10.0, 48, true) - predict(0, 48, true), 48 * 10.0, 1e-6);
  // In host memory no staging copy is made: the calls cost nothing there.
  EXPECT_NEAR(predict(10.0, 48, false), predict(0, 48, false), 1e-9);
  // A local copy and a reduce are a call each, wherever the memory is.
  Topology t = cluster(1, 1);
  t.deviceRates[0].callUs = 7.0;
  CostModel model(&t);
  std::vector<Schedule> s(1);
  s[0].rounds.emplace_back();
  Step copy;
  copy.kind = StepKind::Copy;
  copy.src = {Buf::Input, 0, 1000};
  copy.dst = {Buf::Output, 0, 1000};
  Step reduce = copy;
  reduce.kind = StepKind::Reduce;
  reduce.src2 = {Buf::Output, 0, 1000};
  s[0].rounds[0].steps = {copy, reduce};
  Topology free = cluster(1, 1);
  CostModel freeModel(&free);
  EXPECT_NEAR(model.predictUs(s, 4) - freeModel.predictUs(s, 4), 2 * 7.0, 1e-9);
}

TEST(Decision, ADeviceIslandsCallCostBuysFewerLargerPieces) {
  // cpu, cpu and a staged accelerator on one host: the hierarchical all-reduce of 16 MiB cuts the
  // buffer into stripes of the chunk size. With calls at 30 us (the emu's hand-off on a 2-core VM)
  // the fewest stripes win; with free calls the chunk barely matters.
  auto hierTimes = [](double callUs) {
    Topology t = cluster(1, 3);
    t.ranks[2].deviceKind = "npu";
    DeviceRates npu{"npu", 10.0, 5.0, "test"};
    npu.stagingGBps = 5.0;
    npu.callUs = callUs;
    t.deviceRates.push_back(npu);
    CostModel model(&t);
    std::vector<int> islands = t.islands();
    std::map<size_t, double> byChunk;
    for (size_t chunk : chunkCandidates()) {
      DecisionQuery q;
      q.collective = Collective::AllReduce;
      q.count = size_t{4} << 20;
      q.island = &islands;
      q.onlyAlgorithm = "hier";
      q.chunks = {chunk};
      std::vector<Candidate> ranked = rankCandidates(model, q);
      if (!ranked.empty()) byChunk[chunk] = ranked.front().predictedUs;
    }
    return byChunk;
  };
  const auto dear = hierTimes(30.0), free = hierTimes(0.0);
  ASSERT_EQ(dear.size(), chunkCandidates().size());
  const size_t largest = size_t{4} << 20, smallest = size_t{64} << 10;
  for (const auto& [chunk, us] : dear) EXPECT_LE(dear.at(largest), us) << chunk;
  // 16 stripes against 4: dozens of the accelerator's calls apart, at 30 us each, on top of what
  // the extra messages cost anyway (about 1 ms here).
  EXPECT_GT(dear.at(smallest) - dear.at(largest), free.at(smallest) - free.at(largest) + 1000.0);
}

TEST(Decision, ConsidersEveryRegisteredAlgorithmAndPicksTheCheapest) {
  Topology t = cluster(2, 3);
  CostModel model(&t);
  std::vector<int> islands = t.islands();
  for (Collective c : {Collective::AllReduce, Collective::Broadcast, Collective::Reduce, Collective::AllGather,
                       Collective::ReduceScatter, Collective::AlltoAll, Collective::Gather, Collective::Scatter}) {
    std::set<std::string> registered;
    for (const Algorithm& a : allAlgorithms())
      if (a.collective == c) registered.insert(a.name);
    for (size_t count : {size_t{1}, size_t{1000}, size_t{1} << 20}) {
      DecisionQuery q;
      q.collective = c;
      q.count = count;
      q.island = &islands;
      std::vector<Candidate> ranked = rankCandidates(model, q);
      std::set<std::string> seen;
      for (const Candidate& x : ranked) {
        seen.insert(x.algorithm->name);
        EXPECT_TRUE(std::isfinite(x.predictedUs)) << collectiveName(c) << " " << x.algorithm->name << " count " << count;
        EXPECT_LE(ranked.front().predictedUs, x.predictedUs * 1.005) << collectiveName(c) << " count " << count;
      }
      EXPECT_EQ(seen, registered) << collectiveName(c);
    }
  }
}

TEST(Decision, OnlyAlgorithmRestrictsTheCandidates) {
  Topology t = cluster(1, 4);
  CostModel model(&t);
  DecisionQuery q;
  q.count = 1 << 20;
  q.onlyAlgorithm = "RING";
  std::vector<Candidate> ranked = rankCandidates(model, q);
  ASSERT_FALSE(ranked.empty());
  for (const Candidate& x : ranked) EXPECT_STREQ(x.algorithm->name, "ring");
}

TEST(Decision, SmallMessagesPreferFewRoundsLargeOnesBandwidth) {
  // On 8 ranks, an 8-byte all-reduce must not pick ring's 14 latency-bound rounds when a
  // logarithmic algorithm is registered; at 64 MiB the pick moves each byte about twice at most.
  Topology t = cluster(1, 8);
  CostModel model(&t);
  const Algorithm* ring = findAlgorithm(Collective::AllReduce, "ring");
  CollectiveArgs args;
  args.nranks = 8;
  args.count = 2;
  DecisionQuery q;
  q.count = 2;
  std::vector<Candidate> small = rankCandidates(model, q);
  bool hasLogarithmic = findAlgorithm(Collective::AllReduce, "recdoubling") != nullptr ||
                        findAlgorithm(Collective::AllReduce, "oneshot") != nullptr;
  if (hasLogarithmic) {
    EXPECT_STRNE(small.front().algorithm->name, "ring");
  }
  EXPECT_LE(small.front().predictedUs, model.predictUs(*ring, args, 4));
  q.count = 16 << 20;
  args.count = 16 << 20;
  std::vector<Candidate> large = rankCandidates(model, q);
  EXPECT_LE(large.front().predictedUs, model.predictUs(*ring, args, 4) * 1.005);
}

// samePeers tells the tuner which candidates are twins to be timed once: at 2 ranks ring,
// Rabenseifner and hier all exchange with the one peer; at 4 ranks ring talks to its neighbours and
// Rabenseifner to the ranks 1 and 2 away by xor, so they differ (and sameSteps is stricter).
TEST(Decision, SamePeersTellsSameExchangesFromDifferentOnes) {
  auto build = [](int nranks, const char* name, size_t chunkBytes) {
    Topology t = cluster(1, nranks);
    std::vector<int> islands = t.islands();
    DecisionQuery q;
    q.count = size_t{1} << 20;
    q.island = &islands;
    const Algorithm* a = findAlgorithm(Collective::AllReduce, name);
    EXPECT_NE(a, nullptr) << name;
    Candidate c;
    c.algorithm = a;
    c.chunkBytes = chunkBytes;
    return a == nullptr ? std::vector<Schedule>{} : buildSchedules(q, nranks, c);
  };
  EXPECT_TRUE(samePeers(build(2, "ring", 1 << 20), build(2, "rabenseifner", 256 << 10)));
  EXPECT_TRUE(samePeers(build(2, "ring", 1 << 20), build(2, "hier", 256 << 10)));
  EXPECT_FALSE(sameSteps(build(2, "ring", 1 << 20), build(2, "rabenseifner", 256 << 10)));
  EXPECT_FALSE(samePeers(build(4, "ring", 1 << 20), build(4, "rabenseifner", 256 << 10)));
  EXPECT_TRUE(samePeers(build(4, "ring", 1 << 20), build(4, "ring", 256 << 10)));
  EXPECT_FALSE(samePeers(build(4, "ring", 1 << 20), build(8, "ring", 1 << 20)));
}

}  // namespace
}  // namespace mixccl
