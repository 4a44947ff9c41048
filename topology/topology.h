// The topology graph: hosts (with their NUMA nodes, cores, caches and network interfaces), the ranks
// and their devices, and the links between ranks, each with a latency and a bandwidth. It is what the
// cost model (topology/cost_model.h) predicts on and what a topology file (topology/topology_file.h)
// stores, so a cluster that is not here can be described and tuned for.
//
// Links are grouped in classes named after the transport that carries them ("shm", "socket", later
// "ucx", "ofi", "cuda_ipc"): every pair of ranks uses one class, and each class has one alpha-beta
// cost. Classes are data: a new transport needs a new name, not new code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mixccl {

struct CacheLevel {
  int level = 0;         // 1, 2, 3...
  uint64_t bytes = 0;    // size of one cache of this level
  int count = 0;         // how many caches of this level the host has
};

struct NetworkInterface {
  std::string name;      // "eth0"
  std::string address;   // first IPv4/IPv6 address, "" if none
  double speedGbps = 0;  // link speed the kernel reports; 0 when unknown (virtual interfaces)
  bool loopback = false;
};

struct HostInfo {
  std::string name;
  uint64_t id = 0;       // stable host identity (topology/host_identity.h)
  int numaNodes = 1;
  int packages = 1;
  int cores = 1;         // physical cores
  int pus = 1;           // hardware threads
  std::vector<CacheLevel> caches;
  std::vector<NetworkInterface> nics;
  std::string discoveredBy;  // "hwloc 2.9.0", "sysconf", "file"
  // Measured at init (or from a topology file); 0 = unknown, and the model then ignores the term.
  // stepUs: what one round that waits for a message costs on this host beyond the link's alpha when
  //   all the job's ranks there are active at once (with more ranks than cores, every wait is a
  //   context switch). netGBps: this host's own rate to other hosts (its NIC, or a throttled link);
  //   a cross-host message flows at the least of its class's beta and both ends' netGBps, shared by
  //   the ranks of a host that cross at the same time.
  // waitUs: the part of that cost that does not grow with the message: what a round that waits for a
  //   tiny message costs beyond the model's price (a context switch per round where ranks outnumber
  //   cores); stepUs is then only the size-proportional rest, at 256 KiB.
  double stepUs = 0;
  double waitUs = 0;
  double netGBps = 0;
};

struct RankInfo {
  int host = 0;                    // index into Topology::hosts
  std::string deviceKind = "cpu";  // cpu, cuda, hip, emu, a plugin's name
  int deviceOrdinal = 0;
};

// Alpha-beta cost of one message over a link class: alphaUs + bytes / (betaGBps * 1e9) seconds.
struct LinkClass {
  std::string name;        // the transport's name
  double alphaUs = 0;      // latency of one message, microseconds
  double betaGBps = 0;     // bandwidth, GB/s (1e9 bytes per second)
  std::string source;      // "measured", "default", "file"
};

// How fast a device kind copies and reduces its own memory (bytes of output per second), measured
// twice: with operands that fit in the caches (kCachedRateBytes each) and with operands far beyond
// them (kBulkRateBytes each). A large collective streams through memory and runs at the second;
// priced at the first, byte-heavy algorithms looked 2-4x cheaper than they run on this project's
// machines (memcpy of 1 MiB at 47 GB/s, of 64 MiB at 10 GB/s).
struct DeviceRates {
  std::string kind;
  double copyGBps = 0;
  double reduceGBps = 0;   // float sum: dst = a + b, counted in bytes of dst
  std::string source;
  double bulkCopyGBps = 0;    // 0: not known, the cached rates hold at every size
  double bulkReduceGBps = 0;
  // Where this kind's memory is not host memory, every byte a host transport (shm, socket, ucx,
  // ofi) carries to or from it is copied device to host by the sender and host to device by the
  // receiver first: stagingGBps is the rate of those copies (each way). 0: the device computes in
  // host memory (cpu), nothing is staged. Device-to-device transports (cuda_ipc) copy at copyGBps.
  double stagingGBps = 0;
  // Fixed cost of one device operation (a copy, a reduce, one staging copy) beyond its bytes, in
  // microseconds: for a device with its own stream (a plugin, a GPU) the hand-off to that stream and
  // the wait for its completion; for the cpu a function call. What makes many small staged pieces
  // dearer than a few large ones (the emu: 15-30 us a call on a 2-core VM). 0: not known, free.
  double callUs = 0;

  // Microseconds per byte of output when the operation's working set (all the memory the ranks
  // sharing this device's caches touch) is `workingSetBytes`: the cached rate up to the cached
  // calibration's own working set, the bulk rate from the bulk calibration's, log-linear between.
  double copyUsPerByte(double workingSetBytes) const;
  double reduceUsPerByte(double workingSetBytes) const;
};

// Operand sizes of the two device-rate calibrations (core/comm_topology.cc). A reduce touches three
// operands, so their working sets are three times these.
constexpr size_t kCachedRateBytes = size_t{1} << 20;
constexpr size_t kBulkRateBytes = size_t{8} << 20;

struct Topology {
  std::vector<HostInfo> hosts;
  std::vector<RankInfo> ranks;
  std::vector<LinkClass> linkClasses;
  std::vector<DeviceRates> deviceRates;
  // linkOf[a * nranks + b]: index into linkClasses of the link from rank a to rank b (a != b).
  std::vector<uint16_t> linkOf;

  int nranks() const { return static_cast<int>(ranks.size()); }
  const LinkClass& link(int a, int b) const {
    return linkClasses[linkOf[static_cast<size_t>(a) * ranks.size() + static_cast<size_t>(b)]];
  }
  // The class called `name`, added with the given costs if absent; returns its index.
  int linkClassIndex(const std::string& name) const;
  int addLinkClass(const LinkClass& c);
  const DeviceRates* ratesOf(const std::string& kind) const;
  // Ranks sharing a host: how many, and how many cores they share (for oversubscription).
  int ranksOnHost(int host) const;

  // Sets every pair's link: pairs on one host use `intraHost`, others `interHost` (class names,
  // which must exist). Used for topology files and simulated clusters; a live communicator sets
  // linkOf from the transport that really serves each pair.
  void connectByHost(const std::string& intraHost, const std::string& interHost);

  // Islands: ranks on one host with the same device kind. island[r] is rank r's island index
  // (0, 1, ... in order of first appearance).
  std::vector<int> islands() const;
  // Is the description complete and consistent? "" or a sentence saying what is wrong.
  std::string validate() const;
};

// How many islands a Topology::islands() vector names (its largest index + 1; 0 when empty).
size_t islandCount(const std::vector<int>& islands);

// A human-readable description (hosts, NUMA, cores, caches, NICs, ranks, link classes).
std::string describeTopology(const Topology& t);

// Built-in costs used when nothing was measured and no file was given (MIXCCL_CALIBRATE=0): rough
// figures for one modern x86 host; the log says when they are used.
LinkClass defaultLinkClass(const std::string& name);
DeviceRates defaultDeviceRates(const std::string& kind);

}  // namespace mixccl
