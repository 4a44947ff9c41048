// The cost model's per-host terms (HostInfo::stepUs, HostInfo::netGBps) and what they must change in
// the decisions: a host with more ranks than cores makes many small rounds dear (ring's pipelined
// 2(n-1) steps lose to fewer, larger ones), and a slow host read from a topology file makes the
// hierarchical all-reduce give that host a smaller share, enough to beat a plain ring. The tests
// assert decisions and predicted orderings, never wall-clock timings.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "algorithms/algorithm.h"
#include "algorithms/builder_util.h"
#include "core/tuner.h"
#include "topology/cost_model.h"
#include "topology/decision.h"
#include "topology/topology.h"
#include "topology/topology_file.h"

namespace mixccl {
namespace {

// One host of `cores` cores with n cpu ranks over shm, whose waiting rounds cost stepUs each.
Topology oneHost(int n, int cores, double stepUs) {
  Topology t;
  HostInfo h;
  h.name = "h";
  h.id = 1;
  h.cores = cores;
  h.stepUs = stepUs;
  t.hosts.push_back(h);
  for (int r = 0; r < n; ++r) t.ranks.push_back({0, "cpu", r});
  t.addLinkClass({"shm", 2.0, 8.0, "test"});
  t.addLinkClass({"socket", 20.0, 1.0, "test"});
  t.deviceRates.push_back({"cpu", 20.0, 10.0, "test"});
  t.connectByHost("shm", "socket");
  return t;
}

double predict(const Topology& t, const char* algo, size_t bytes, size_t chunkBytes = 256 * 1024) {
  const Algorithm* a = findAlgorithm(Collective::AllReduce, algo);
  EXPECT_NE(a, nullptr) << algo;
  CollectiveArgs args;
  args.nranks = t.nranks();
  args.count = bytes / 4;
  args.chunkCount = chunkBytes / 4;
  std::vector<int> islands = t.islands();
  args.island = &islands;
  return CostModel(&t).predictUs(*a, args, 4);
}

TEST(HostCosts, PredictionsAreMonotoneInSizeAndInTheStepCost) {
  for (const char* algo : {"ring", "rabenseifner", "hier", "recdoubling"}) {
    double previous = 0;
    for (size_t bytes = 8; bytes <= (64u << 20); bytes *= 8) {
      double us = predict(oneHost(4, 2, 30), algo, bytes);
      EXPECT_GE(us, previous) << algo << " at " << bytes << " B";
      previous = us;
    }
    double cheap = predict(oneHost(4, 2, 0), algo, 4 << 20), dear = predict(oneHost(4, 2, 30), algo, 4 << 20);
    EXPECT_GT(dear, cheap) << algo;
  }
}

TEST(HostCosts, OversubscriptionPenalisesRingsManyStepsAtFourRanksOnTwoCores) {
  // With a core per rank and no scheduling cost, the pipelined ring is as good as any at 4 MiB;
  // on 2 cores, with the step cost this machine measures (tens of us), every extra round costs a
  // context switch: ring's many pipelined rounds must lose to an algorithm with fewer rounds, and
  // ring must lose more than rabenseifner does.
  const size_t bytes = 4 << 20;
  Topology roomy = oneHost(4, 4, 0), crowded = oneHost(4, 2, 40);
  double ringGain = predict(crowded, "ring", bytes) - predict(roomy, "ring", bytes);
  double rabGain = predict(crowded, "rabenseifner", bytes) - predict(roomy, "rabenseifner", bytes);
  EXPECT_GT(ringGain, rabGain);
  for (size_t size : {size_t{512} << 10, size_t{4} << 20, size_t{32} << 20}) {
    CostModel model(&crowded);
    std::vector<int> islands = crowded.islands();
    DecisionQuery q;
    q.count = size / 4;
    q.island = &islands;
    std::vector<Candidate> ranked = rankCandidates(model, q);
    ASSERT_FALSE(ranked.empty());
    const Candidate& pick = ranked.front();
    // ring with pipelining chunks smaller than the operation is the one thing it must not pick.
    EXPECT_FALSE(std::string(pick.algorithm->name) == "ring" && pick.chunkBytes < size / 4)
        << "picked " << pick.algorithm->name << "/" << sizeText(pick.chunkBytes) << " at " << sizeText(size);
  }
}

// The fixed wait (HostInfo::waitUs) is paid per round that waits, whatever the message size, once
// for every wave of the peers it waits for: where ranks outnumber cores those peers get the cores
// `cores` at a time. A round of three tiny receives on 2 cores costs it twice, on 4 cores (a core
// per rank) once; one receive once; a round of sends only never; the 256 KiB step cost still scales
// with size on top.
TEST(HostCosts, TheFixedWaitIsPaidOncePerWaveOfWaitedPeers) {
  auto price = [](const Topology& t, const std::vector<Schedule>& s) { return CostModel(&t).predictUs(s, 4); };
  auto withWait = [](Topology t, double waitUs) {
    t.hosts[0].waitUs = waitUs;
    return t;
  };
  // Rank 0 receives one float from each of ranks 1-3 in one round; they only send.
  std::vector<Schedule> gather(4);
  Round& r0 = newRound(gather[0]);
  for (int p = 1; p < 4; ++p) {
    addRecv(r0, p, region(Buf::Output, static_cast<size_t>(p), 1));
    addSend(newRound(gather[static_cast<size_t>(p)]), 0, region(Buf::Input, 0, 1));
  }
  const Topology twoCores = oneHost(4, 2, 0), fourCores = oneHost(4, 4, 0);
  EXPECT_NEAR(price(withWait(twoCores, 7), gather) - price(twoCores, gather), 2 * 7.0, 1e-9);
  EXPECT_NEAR(price(withWait(fourCores, 7), gather) - price(fourCores, gather), 7.0, 1e-9);
  // Two such rounds in a row: twice that.
  std::vector<Schedule> twice = gather;
  for (int p = 1; p < 4; ++p) addSend(newRound(twice[static_cast<size_t>(p)]), 0, region(Buf::Input, 0, 1));
  Round& again = newRound(twice[0]);
  for (int p = 1; p < 4; ++p) addRecv(again, p, region(Buf::Output, static_cast<size_t>(p), 1));
  EXPECT_NEAR(price(withWait(twoCores, 7), twice) - price(twoCores, twice), 4 * 7.0, 1e-9);
  // A round waiting for one peer, however many pieces it sends: one wave.
  std::vector<Schedule> pair(4);
  Round& p0 = newRound(pair[0]);
  addRecv(p0, 1, region(Buf::Output, 0, 1));
  addRecv(p0, 1, region(Buf::Output, 1, 1));
  Round& p1 = newRound(pair[1]);
  addSend(p1, 0, region(Buf::Input, 0, 1));
  addSend(p1, 0, region(Buf::Input, 1, 1));
  EXPECT_NEAR(price(withWait(twoCores, 7), pair) - price(twoCores, pair), 7.0, 1e-9);
  // Large messages pay the step cost per message on top of the fixed waits.
  Topology both = withWait(twoCores, 7);
  both.hosts[0].stepUs = 10;
  const size_t big = kStepCalibrationBytes / 4;
  std::vector<Schedule> large(4);
  Round& l0 = newRound(large[0]);
  for (int p = 1; p < 4; ++p) {
    addRecv(l0, p, region(Buf::Output, static_cast<size_t>(p) * big, big));
    addSend(newRound(large[static_cast<size_t>(p)]), 0, region(Buf::Input, 0, big));
  }
  EXPECT_NEAR(price(both, large) - price(twoCores, large), 2 * 7.0 + 3 * 10.0, 1e-6);
}

// 4 hosts x 2 ranks; host 3's own network rate is a quarter of the others'.
const char* kThrottled = R"({
  "hosts": [{"name": "fast", "count": 3, "ranks": 2, "cores": 8, "net_gbps": 0.1},
            {"name": "slow", "ranks": 2, "cores": 8, "net_gbps": 0.025}],
  "links": [{"class": "shm", "alpha_us": 2, "beta_gbps": 8},
            {"class": "socket", "alpha_us": 40, "beta_gbps": 0.1}],
  "devices": [{"kind": "cpu", "copy_gbps": 10, "reduce_gbps": 5}]
})";

TEST(HostCosts, PerHostRatesFromATopologyFileChangeTheDecision) {
  Topology t;
  Status st = parseTopologyJson(kThrottled, &t);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(t.hosts.size(), 4u);
  EXPECT_DOUBLE_EQ(t.hosts[3].netGBps, 0.025);
  EXPECT_DOUBLE_EQ(t.hosts[0].netGBps, 0.1);
  CostModel model(&t);
  std::vector<int> islands = t.islands();

  // The weights come out of the measured rates: host 3 gets the smallest share.
  std::string why;
  std::vector<double> w = chooseIslandWeights(model, islands, &why);
  ASSERT_EQ(w.size(), 4u) << why;
  EXPECT_LT(w[3], w[0]);
  EXPECT_NE(why.find("network"), std::string::npos) << why;

  // With them, the pick at 32 MiB is predicted well ahead of a plain ring, and ahead of the
  // equal-weight hierarchy the same topology without per-host rates would give.
  DecisionQuery q;
  q.count = (32u << 20) / 4;
  q.island = &islands;
  q.islandWeight = &w;
  std::vector<Candidate> ranked = rankCandidates(model, q);
  ASSERT_FALSE(ranked.empty());
  q.onlyAlgorithm = "ring";
  double ring = rankCandidates(model, q).front().predictedUs;
  EXPECT_GE(ring / ranked.front().predictedUs, 1.3) << "picked " << ranked.front().algorithm->name;
  q.onlyAlgorithm = "hier";
  double weighted = rankCandidates(model, q).front().predictedUs;
  q.islandWeight = nullptr;
  double equal = rankCandidates(model, q).front().predictedUs;
  EXPECT_LT(weighted, equal);

  // The same cluster with every host at full rate: equal weights, and the slow-host penalty gone.
  Topology even = t;
  even.hosts[3].netGBps = 0.1;
  CostModel evenModel(&even);
  EXPECT_TRUE(chooseIslandWeights(evenModel, islands, &why).empty()) << why;
  q.onlyAlgorithm = "ring";
  EXPECT_LT(rankCandidates(evenModel, q).front().predictedUs, ring);
}

TEST(HostCosts, SlowDeviceIslandGetsTheSmallerShare) {
  // cpu and emu ranks on one host (two islands); emu reduces at a fifth of the cpu's rate.
  Topology t = oneHost(4, 8, 0);
  t.ranks[1].deviceKind = t.ranks[3].deviceKind = "emu";
  t.deviceRates.push_back({"emu", 2.0, 2.0, "test"});
  CostModel model(&t);
  std::vector<int> islands = t.islands();
  std::string why;
  std::vector<double> w = chooseIslandWeights(model, islands, &why);
  ASSERT_EQ(w.size(), 2u) << why;
  EXPECT_GT(w[static_cast<size_t>(islands[0])], w[static_cast<size_t>(islands[1])]) << why;
}

TEST(HostCosts, TopologyFileRoundTripsTheHostTermsAndRefusesNegatives) {
  Topology t;
  ASSERT_TRUE(parseTopologyJson(kThrottled, &t).isOk());
  t.hosts[1].stepUs = 12.5;
  t.hosts[2].waitUs = 3.25;
  std::string path = ::testing::TempDir() + "host_costs_topo.json";
  ASSERT_TRUE(writeTopologyFile(path, t).isOk());
  Topology back;
  Status st = readTopologyFile(path, &back);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_DOUBLE_EQ(back.hosts[1].stepUs, 12.5);
  EXPECT_DOUBLE_EQ(back.hosts[2].waitUs, 3.25);
  EXPECT_DOUBLE_EQ(back.hosts[3].netGBps, 0.025);
  Topology bad;
  st = parseTopologyJson(R"({"hosts": [{"ranks": 2, "net_gbps": -1}]})", &bad);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("net_gbps"), std::string::npos) << st.message();
  st = parseTopologyJson(R"({"hosts": [{"ranks": 2, "wait_us": -0.5}]})", &bad);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("wait_us"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace mixccl
