#include "topology/topology.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

namespace mixccl {
namespace {

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string bytesText(uint64_t b) {
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) return format("%llu MiB", static_cast<unsigned long long>(b >> 20));
  if (b >= 1024 && b % 1024 == 0) return format("%llu KiB", static_cast<unsigned long long>(b >> 10));
  return format("%llu B", static_cast<unsigned long long>(b));
}

}  // namespace

int Topology::linkClassIndex(const std::string& name) const {
  for (size_t i = 0; i < linkClasses.size(); ++i)
    if (linkClasses[i].name == name) return static_cast<int>(i);
  return -1;
}

int Topology::addLinkClass(const LinkClass& c) {
  int i = linkClassIndex(c.name);
  if (i >= 0) {
    linkClasses[static_cast<size_t>(i)] = c;
    return i;
  }
  linkClasses.push_back(c);
  return static_cast<int>(linkClasses.size() - 1);
}

namespace {

// us per byte at working set w, from the cached and bulk rates (GB/s; bulk 0 = unknown).
double usPerByteAt(double cachedGBps, double bulkGBps, double w) {
  const double cached = 1e-3 / cachedGBps;  // 1 GB/s = 1e3 bytes per microsecond
  if (!(bulkGBps > 0)) return cached;
  const double bulk = 1e-3 / bulkGBps;
  const double lo = 3.0 * static_cast<double>(kCachedRateBytes), hi = 3.0 * static_cast<double>(kBulkRateBytes);
  if (!(w > lo)) return cached;
  if (w >= hi) return bulk;
  const double f = std::log(w / lo) / std::log(hi / lo);
  return cached + f * (bulk - cached);
}

}  // namespace

double DeviceRates::copyUsPerByte(double workingSetBytes) const {
  return usPerByteAt(copyGBps, bulkCopyGBps, workingSetBytes);
}

double DeviceRates::reduceUsPerByte(double workingSetBytes) const {
  return usPerByteAt(reduceGBps, bulkReduceGBps, workingSetBytes);
}

const DeviceRates* Topology::ratesOf(const std::string& kind) const {
  for (const auto& d : deviceRates)
    if (d.kind == kind) return &d;
  return nullptr;
}

int Topology::ranksOnHost(int host) const {
  return static_cast<int>(std::count_if(ranks.begin(), ranks.end(), [&](const RankInfo& r) { return r.host == host; }));
}

void Topology::connectByHost(const std::string& intraHost, const std::string& interHost) {
  size_t n = ranks.size();
  int intra = linkClassIndex(intraHost), inter = linkClassIndex(interHost);
  linkOf.assign(n * n, 0);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) {
      int c = ranks[a].host == ranks[b].host ? intra : inter;
      linkOf[a * n + b] = static_cast<uint16_t>(std::max(c, 0));
    }
}

std::vector<int> Topology::islands() const {
  std::map<std::pair<int, std::string>, int> index;
  std::vector<int> out;
  out.reserve(ranks.size());
  for (const auto& r : ranks) {
    auto [it, added] = index.try_emplace({r.host, r.deviceKind}, static_cast<int>(index.size()));
    out.push_back(it->second);
  }
  return out;
}

size_t islandCount(const std::vector<int>& islands) {
  return islands.empty() ? 0 : static_cast<size_t>(*std::max_element(islands.begin(), islands.end())) + 1;
}

std::string Topology::validate() const {
  if (ranks.empty()) return "the topology has no ranks";
  if (hosts.empty()) return "the topology has no hosts";
  for (size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].host < 0 || static_cast<size_t>(ranks[r].host) >= hosts.size())
      return format("rank %zu names host %d, but there are %zu hosts (0..%zu)", r, ranks[r].host, hosts.size(),
                    hosts.size() - 1);
    if (ratesOf(ranks[r].deviceKind) == nullptr)
      return format("rank %zu has device kind '%s', which has no copy/reduce rates", r, ranks[r].deviceKind.c_str());
  }
  for (const auto& c : linkClasses) {
    if (!(c.alphaUs >= 0) || !(c.betaGBps > 0))
      return format("link class '%s' needs alpha_us >= 0 and beta_gbps > 0 (has %g and %g)", c.name.c_str(), c.alphaUs,
                    c.betaGBps);
  }
  for (const auto& d : deviceRates) {
    if (!(d.copyGBps > 0) || !(d.reduceGBps > 0))
      return format("device kind '%s' needs copy_gbps > 0 and reduce_gbps > 0", d.kind.c_str());
    if (!(d.stagingGBps >= 0))
      return format("device kind '%s' needs staging_gbps >= 0 (0: its memory is host memory), not %g", d.kind.c_str(),
                    d.stagingGBps);
    if (!(d.callUs >= 0))
      return format("device kind '%s' needs call_us >= 0 (0: a device call costs nothing beyond its bytes), not %g",
                    d.kind.c_str(), d.callUs);
    if (!(d.bulkCopyGBps >= 0) || !(d.bulkReduceGBps >= 0) || (d.bulkCopyGBps > 0) != (d.bulkReduceGBps > 0))
      return format("device kind '%s' needs bulk_copy_gbps and bulk_reduce_gbps both > 0, or both absent (has %g and "
                    "%g)", d.kind.c_str(), d.bulkCopyGBps, d.bulkReduceGBps);
  }
  if (ranks.size() > 1) {
    if (linkOf.size() != ranks.size() * ranks.size()) return "the rank-to-rank link table has the wrong size";
    for (uint16_t l : linkOf)
      if (l >= linkClasses.size()) return "a rank pair uses a link class that is not defined";
  }
  return "";
}

std::string describeTopology(const Topology& t) {
  std::string s;
  s += format("%zu host(s), %zu rank(s)\n", t.hosts.size(), t.ranks.size());
  for (size_t h = 0; h < t.hosts.size(); ++h) {
    const HostInfo& host = t.hosts[h];
    s += format("host %zu: %s (id %016llx, from %s)\n", h, host.name.c_str(), static_cast<unsigned long long>(host.id),
                host.discoveredBy.c_str());
    s += format("  %d package(s), %d NUMA node(s), %d core(s), %d hardware thread(s)\n", host.packages,
                host.numaNodes, host.cores, host.pus);
    if (host.stepUs > 0 || host.waitUs > 0 || host.netGBps > 0)
      s += format("  scheduling cost per waiting round %.2f us, plus %.2f us per waited 256 KiB message; own network "
                  "rate %s\n", host.waitUs, host.stepUs,
                  host.netGBps > 0 ? format("%.3f GB/s", host.netGBps).c_str() : "not measured (one host)");
    for (const auto& c : host.caches)
      s += format("  L%d cache: %d x %s\n", c.level, c.count, bytesText(c.bytes).c_str());
    for (const auto& n : host.nics) {
      std::string speed = n.speedGbps > 0 ? format("%g Gb/s", n.speedGbps) : std::string("speed unknown");
      s += format("  nic %s%s: %s%s%s\n", n.name.c_str(), n.loopback ? " (loopback)" : "", speed.c_str(),
                  n.address.empty() ? "" : ", ", n.address.c_str());
    }
    std::string rankList;
    for (size_t r = 0; r < t.ranks.size(); ++r) {
      if (t.ranks[r].host != static_cast<int>(h)) continue;
      rankList += format("%s%zu(%s:%d)", rankList.empty() ? "" : " ", r, t.ranks[r].deviceKind.c_str(),
                         t.ranks[r].deviceOrdinal);
    }
    s += format("  ranks: %s\n", rankList.empty() ? "-" : rankList.c_str());
  }
  s += format("islands (same host, same device kind): %zu\n", islandCount(t.islands()));
  for (const auto& d : t.deviceRates) {
    s += format("device %s: copy %.2f GB/s, reduce %.2f GB/s (%s)", d.kind.c_str(), d.copyGBps, d.reduceGBps,
                d.source.c_str());
    if (d.bulkCopyGBps > 0 && d.bulkReduceGBps > 0)
      s += format("; beyond the caches copy %.2f GB/s, reduce %.2f GB/s", d.bulkCopyGBps, d.bulkReduceGBps);
    s += d.stagingGBps > 0 ? format("; staged to and from host memory at %.2f GB/s", d.stagingGBps)
                           : std::string("; host memory, nothing staged");
    if (d.callUs > 0) s += format("; %.2f us a call", d.callUs);
    s += "\n";
  }
  // Which classes are in use, and by how many directed pairs.
  std::map<int, int> pairs;
  size_t n = t.ranks.size();
  if (t.linkOf.size() == n * n)
    for (size_t a = 0; a < n; ++a)
      for (size_t b = 0; b < n; ++b)
        if (a != b) ++pairs[t.linkOf[a * n + b]];
  for (size_t i = 0; i < t.linkClasses.size(); ++i) {
    const LinkClass& c = t.linkClasses[i];
    s += format("link %s: alpha %.2f us, beta %.2f GB/s (%s), %d directed rank pair(s)\n", c.name.c_str(), c.alphaUs,
                c.betaGBps, c.source.c_str(), pairs[static_cast<int>(i)]);
  }
  return s;
}

LinkClass defaultLinkClass(const std::string& name) {
  // Order-of-magnitude figures: shared memory between cores of one host, TCP, RDMA-class networks,
  // and GPU peer copies. Measured values replace them whenever calibration runs.
  if (name == "shm") return {name, 1.0, 6.0, "default"};
  if (name == "socket") return {name, 25.0, 1.2, "default"};
  if (name == "ucx" || name == "ofi") return {name, 3.0, 12.0, "default"};
  if (name == "cuda_ipc") return {name, 8.0, 150.0, "default"};
  return {name, 30.0, 1.0, "default"};
}

DeviceRates defaultDeviceRates(const std::string& kind) {
  // Staging: a GPU's copies to and from pageable host memory over PCIe; a plugin's kind, its copy
  // rate (calibration, and the rank's own device, say which kinds need none).
  if (kind == "cpu") return {kind, 10.0, 6.0, "default", 0, 0, 0};
  if (kind == "cuda" || kind == "hip") return {kind, 1000.0, 800.0, "default", 0, 0, 15.0};
  return {kind, 5.0, 3.0, "default", 0, 0, 5.0};
}

}  // namespace mixccl
