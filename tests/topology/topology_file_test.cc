// Topology files: the example cluster parses into the graph it describes, a topology survives a
// write and a read unchanged, and every kind of mistake is refused with a sentence naming it.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "topology/topology.h"
#include "topology/topology_file.h"

namespace mixccl {
namespace {

const char* kTwoHosts = R"({
  "version": 1,
  "hosts": [
    {"name": "a", "cores": 4, "ranks": 2, "nics": [{"name": "eth0", "speed_gbps": 25}]},
    {"name": "b", "cores": 4, "ranks": 2, "device": "cuda"}
  ],
  "links": [{"class": "shm", "alpha_us": 1, "beta_gbps": 8},
            {"class": "socket", "alpha_us": 20, "beta_gbps": 2.5}],
  "devices": [{"kind": "cpu", "copy_gbps": 10, "reduce_gbps": 5}]
})";

TEST(TopologyFile, ParsesHostsRanksLinksAndDevices) {
  Topology t;
  Status st = parseTopologyJson(kTwoHosts, &t);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(t.hosts.size(), 2u);
  ASSERT_EQ(t.nranks(), 4);
  EXPECT_EQ(t.hosts[0].nics.at(0).speedGbps, 25);
  EXPECT_EQ(t.ranks[2].host, 1);
  EXPECT_EQ(t.ranks[2].deviceKind, "cuda");
  EXPECT_EQ(t.link(0, 1).name, "shm");
  EXPECT_EQ(t.link(1, 2).name, "socket");
  EXPECT_EQ(t.link(3, 2).name, "shm");
  EXPECT_DOUBLE_EQ(t.link(0, 3).alphaUs, 20);
  // cuda was not priced: it gets the built-in figures, and says so.
  ASSERT_NE(t.ratesOf("cuda"), nullptr);
  EXPECT_EQ(t.ratesOf("cuda")->source, "default");
  EXPECT_EQ(t.ratesOf("cpu")->source, "file");
  // Islands: host a's cpus, host b's cudas.
  EXPECT_EQ(t.islands(), (std::vector<int>{0, 0, 1, 1}));
}

TEST(TopologyFile, ExampleClusterHas64RanksOn8Hosts) {
  Topology t;
  Status st = readTopologyFile(MIXCCL_SOURCE_DIR "/bench/topo/examples/cluster-8x8.json", &t);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(t.hosts.size(), 8u);
  EXPECT_EQ(t.nranks(), 64);
  EXPECT_EQ(t.hosts[7].name, "node-7");
  EXPECT_NE(t.hosts[0].id, t.hosts[1].id);
  EXPECT_EQ(t.link(0, 7).name, "shm");
  EXPECT_EQ(t.link(0, 8).name, "socket");
  EXPECT_EQ(t.validate(), "");
}

TEST(TopologyFile, RoundTripsThroughJson) {
  Topology t;
  ASSERT_TRUE(parseTopologyJson(kTwoHosts, &t).isOk());
  // A pair that breaks the by-host rule (as MIXCCL_TRANSPORT=socket would make) must survive too.
  t.linkOf[0 * 4 + 1] = static_cast<uint16_t>(t.linkClassIndex("socket"));
  std::string text = topologyToJson(t);
  Topology back;
  Status st = parseTopologyJson(text, &back);
  ASSERT_TRUE(st.isOk()) << st.message() << "\n" << text;
  EXPECT_EQ(topologyToJson(back), text);
  EXPECT_EQ(back.link(0, 1).name, "socket");
  EXPECT_EQ(back.link(1, 0).name, "shm");
  EXPECT_EQ(back.hosts[0].id, t.hosts[0].id);
}

TEST(TopologyFile, RoundTripsBulkDeviceRates) {
  Topology t;
  ASSERT_TRUE(parseTopologyJson(kTwoHosts, &t).isOk());
  ASSERT_FALSE(t.deviceRates.empty());
  t.deviceRates[0].bulkCopyGBps = 9.5;
  t.deviceRates[0].bulkReduceGBps = 7.25;
  std::string text = topologyToJson(t);
  EXPECT_NE(text.find("\"bulk_copy_gbps\""), std::string::npos) << text;
  Topology back;
  Status st = parseTopologyJson(text, &back);
  ASSERT_TRUE(st.isOk()) << st.message() << "\n" << text;
  EXPECT_EQ(back.deviceRates[0].bulkCopyGBps, 9.5);
  EXPECT_EQ(back.deviceRates[0].bulkReduceGBps, 7.25);
  EXPECT_NE(describeTopology(back).find("beyond the caches copy 9.50 GB/s, reduce 7.25 GB/s"), std::string::npos)
      << describeTopology(back);
}

TEST(TopologyFile, WritesAndReadsAFile) {
  Topology t;
  ASSERT_TRUE(parseTopologyJson(kTwoHosts, &t).isOk());
  std::string path = testing::TempDir() + "/mixccl-topo-test.json";
  ASSERT_TRUE(writeTopologyFile(path, t).isOk());
  Topology back;
  Status st = readTopologyFile(path, &back);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(back.nranks(), 4);
  std::remove(path.c_str());
}

void expectRefused(const std::string& text, const std::string& mentions) {
  Topology t;
  Status st = parseTopologyJson(text, &t);
  ASSERT_FALSE(st.isOk()) << "accepted: " << text;
  EXPECT_EQ(st.code(), mixcclInvalidArgument);
  EXPECT_NE(st.message().find(mentions), std::string::npos) << st.message();
}

TEST(TopologyFile, RoundTripsStagingRatesAndDefaultsThemByKind) {
  // Absent: the kind's built-in figure (cpu computes in host memory; a GPU stages over PCIe).
  Topology t;
  ASSERT_TRUE(parseTopologyJson(R"({"hosts": [{"ranks": 3}], "ranks": [{"host": 0, "device": "cpu"},
      {"host": 0, "device": "cuda"}, {"host": 0, "device": "npu"}],
      "devices": [{"kind": "cpu", "copy_gbps": 9, "reduce_gbps": 5},
                  {"kind": "cuda", "copy_gbps": 900, "reduce_gbps": 700},
                  {"kind": "npu", "copy_gbps": 90, "reduce_gbps": 70, "staging_gbps": 12.5, "call_us": 18.5}]})", &t)
                  .isOk());
  EXPECT_EQ(t.ratesOf("cpu")->stagingGBps, 0);
  EXPECT_EQ(t.ratesOf("cuda")->stagingGBps, defaultDeviceRates("cuda").stagingGBps);
  EXPECT_GT(t.ratesOf("cuda")->stagingGBps, 0);
  EXPECT_EQ(t.ratesOf("npu")->stagingGBps, 12.5);
  EXPECT_EQ(t.ratesOf("npu")->callUs, 18.5);
  EXPECT_EQ(t.ratesOf("cuda")->callUs, defaultDeviceRates("cuda").callUs);
  // Written out always, read back the same.
  std::string text = topologyToJson(t);
  Topology back;
  Status st = parseTopologyJson(text, &back);
  ASSERT_TRUE(st.isOk()) << st.message() << "\n" << text;
  EXPECT_EQ(back.ratesOf("cpu")->stagingGBps, 0);
  EXPECT_EQ(back.ratesOf("npu")->stagingGBps, 12.5);
  EXPECT_EQ(back.ratesOf("npu")->callUs, 18.5);
  EXPECT_NE(describeTopology(back).find("device npu: copy 90.00 GB/s, reduce 70.00 GB/s (file); staged to and from "
                                        "host memory at 12.50 GB/s; 18.50 us a call"), std::string::npos)
      << describeTopology(back);
  EXPECT_NE(describeTopology(back).find("host memory, nothing staged"), std::string::npos);
}

TEST(TopologyFile, RefusesMistakesWithASentence) {
  expectRefused("not json", "topology file");
  expectRefused(R"({"version": 2, "hosts": [{"ranks": 1}]})", "version 2");
  expectRefused(R"({"ranks": []})", "\"hosts\"");
  expectRefused(R"({"hosts": [{"ranks": 0}]})", "no ranks");
  expectRefused(R"({"hosts": [{"cores": "many", "ranks": 1}]})", "\"cores\" has the wrong type");
  expectRefused(R"({"hosts": [{"ranks": 2}], "links": [{"class": "shm", "alpha_us": 1, "beta_gbps": 0}]})",
                "beta_gbps > 0");
  expectRefused(R"({"hosts": [{"ranks": 2}], "links": [{"class": "shm", "alpha_us": 1}]})", "\"beta_gbps\" is missing");
  expectRefused(R"({"hosts": [{"ranks": 1}], "ranks": [{"host": 3}]})", "names host 3");
  expectRefused(R"({"hosts": [{"ranks": 1}], "devices": [{"kind": "cpu", "copy_gbps": 9, "reduce_gbps": 5,
                   "bulk_copy_gbps": 4}]})", "bulk_copy_gbps and bulk_reduce_gbps both > 0, or both absent");
  expectRefused(R"({"hosts": [{"ranks": 1}], "devices": [{"kind": "cpu", "copy_gbps": 9, "reduce_gbps": 5,
                   "staging_gbps": -1}]})", "staging_gbps >= 0 (0: its memory is host memory), not -1");
  expectRefused(R"({"hosts": [{"ranks": 1}], "devices": [{"kind": "cpu", "copy_gbps": 9, "reduce_gbps": 5,
                   "call_us": -3}]})", "call_us >= 0 (0: a device call costs nothing beyond its bytes), not -3");
  expectRefused(R"({"hosts": [{"ranks": 2}], "pair_links": [{"from": 0, "to": 9, "class": "shm"}]})",
                "does not exist");
  Topology t;
  Status st = readTopologyFile("/nonexistent/topo.json", &t);
  EXPECT_NE(st.message().find("/nonexistent/topo.json"), std::string::npos) << st.message();
}

TEST(Topology, DescribesEverything) {
  Topology t;
  ASSERT_TRUE(parseTopologyJson(kTwoHosts, &t).isOk());
  std::string text = describeTopology(t);
  for (const char* part : {"2 host(s), 4 rank(s)", "nic eth0: 25 Gb/s", "link shm: alpha 1.00 us, beta 8.00 GB/s",
                           "link socket: alpha 20.00 us", "8 directed rank pair(s)", "islands (same host, same device kind): 2"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing from:\n" << text;
}

}  // namespace
}  // namespace mixccl
