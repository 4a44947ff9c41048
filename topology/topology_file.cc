#include "topology/topology_file.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#if MIXCCL_HAVE_NLOHMANN_JSON
#include <nlohmann/json.hpp>
#endif

namespace mixccl {

#if MIXCCL_HAVE_NLOHMANN_JSON
namespace {

using nlohmann::json;

// A field of an object, with a sentence naming it when it has the wrong type.
template <typename T>
T field(const json& obj, const char* where, const char* name, const T& fallback, bool required = false) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) throw std::runtime_error(std::string(where) + ": the field \"" + name + "\" is missing");
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw std::runtime_error(std::string(where) + ": the field \"" + name + "\" has the wrong type (" +
                             it->type_name() + ")");
  }
}

HostInfo parseHost(const json& j, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error(where + " is not an object");
  HostInfo h;
  h.name = field<std::string>(j, where.c_str(), "name", "host");
  std::string id = field<std::string>(j, where.c_str(), "id", "");
  h.id = id.empty() ? 0 : std::stoull(id, nullptr, 16);
  h.packages = field<int>(j, where.c_str(), "packages", 1);
  h.numaNodes = field<int>(j, where.c_str(), "numa_nodes", 1);
  h.cores = field<int>(j, where.c_str(), "cores", 1);
  h.pus = field<int>(j, where.c_str(), "pus", h.cores);
  if (h.cores < 1 || h.pus < 1 || h.numaNodes < 1 || h.packages < 1)
    throw std::runtime_error(where + ": cores, pus, numa_nodes and packages must be at least 1");
  h.stepUs = field<double>(j, where.c_str(), "step_us", 0);
  h.waitUs = field<double>(j, where.c_str(), "wait_us", 0);
  h.netGBps = field<double>(j, where.c_str(), "net_gbps", 0);
  if (!(h.stepUs >= 0) || !(h.waitUs >= 0) || !(h.netGBps >= 0))
    throw std::runtime_error(where + ": step_us, wait_us and net_gbps must be numbers >= 0 (0: not known)");
  for (const auto& c : field<json>(j, where.c_str(), "caches", json::array())) {
    CacheLevel level;
    level.level = field<int>(c, (where + ".caches[]").c_str(), "level", 0, true);
    level.bytes = field<uint64_t>(c, (where + ".caches[]").c_str(), "bytes", 0, true);
    level.count = field<int>(c, (where + ".caches[]").c_str(), "count", 1);
    h.caches.push_back(level);
  }
  for (const auto& n : field<json>(j, where.c_str(), "nics", json::array())) {
    NetworkInterface nic;
    nic.name = field<std::string>(n, (where + ".nics[]").c_str(), "name", "", true);
    nic.address = field<std::string>(n, (where + ".nics[]").c_str(), "address", "");
    nic.speedGbps = field<double>(n, (where + ".nics[]").c_str(), "speed_gbps", 0);
    nic.loopback = field<bool>(n, (where + ".nics[]").c_str(), "loopback", false);
    h.nics.push_back(nic);
  }
  h.discoveredBy = "file";
  return h;
}

void parseInto(const json& doc, Topology* t) {
  if (!doc.is_object()) throw std::runtime_error("the document is not a JSON object");
  int version = field<int>(doc, "topology", "version", 1);
  if (version != 1) throw std::runtime_error("version " + std::to_string(version) + " is not supported (only 1)");

  // Hosts; "count": N repeats one description N times (named name-0, name-1, ...).
  const json hosts = field<json>(doc, "topology", "hosts", json(), true);
  if (!hosts.is_array() || hosts.empty()) throw std::runtime_error("\"hosts\" must be a non-empty array");
  std::vector<int> ranksPerHost;
  std::vector<std::string> devicePerHost;
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::string where = "hosts[" + std::to_string(i) + "]";
    HostInfo h = parseHost(hosts[i], where);
    int count = field<int>(hosts[i], where.c_str(), "count", 1);
    int rph = field<int>(hosts[i], where.c_str(), "ranks", 0);
    std::string device = field<std::string>(hosts[i], where.c_str(), "device", "cpu");
    if (count < 1 || count > 65536) throw std::runtime_error(where + ": \"count\" must be between 1 and 65536");
    if (rph < 0) throw std::runtime_error(where + ": \"ranks\" must not be negative");
    for (int c = 0; c < count; ++c) {
      HostInfo copy = h;
      if (count > 1) copy.name = h.name + "-" + std::to_string(c);
      if (count > 1 || copy.id == 0) copy.id = 0x100000000ull * (t->hosts.size() + 1);
      t->hosts.push_back(copy);
      ranksPerHost.push_back(rph);
      devicePerHost.push_back(device);
    }
  }

  // Ranks: an explicit list, or "ranks": N on each host entry.
  if (doc.contains("ranks")) {
    const json& ranks = doc["ranks"];
    if (!ranks.is_array()) throw std::runtime_error("\"ranks\" must be an array");
    for (size_t i = 0; i < ranks.size(); ++i) {
      std::string where = "ranks[" + std::to_string(i) + "]";
      RankInfo r;
      r.host = field<int>(ranks[i], where.c_str(), "host", 0, true);
      r.deviceKind = field<std::string>(ranks[i], where.c_str(), "device", "cpu");
      r.deviceOrdinal = field<int>(ranks[i], where.c_str(), "ordinal", 0);
      t->ranks.push_back(r);
    }
  } else {
    for (size_t h = 0; h < t->hosts.size(); ++h) {
      for (int k = 0; k < ranksPerHost[h]; ++k) {
        RankInfo r;
        r.host = static_cast<int>(h);
        r.deviceKind = devicePerHost[h];
        r.deviceOrdinal = k;
        t->ranks.push_back(r);
      }
    }
  }
  if (t->ranks.empty()) throw std::runtime_error("no ranks: give \"ranks\" or \"ranks\": N on the hosts");

  for (const auto& l : field<json>(doc, "topology", "links", json::array())) {
    LinkClass c;
    c.name = field<std::string>(l, "links[]", "class", "", true);
    c.alphaUs = field<double>(l, ("links[" + c.name + "]").c_str(), "alpha_us", 0, true);
    c.betaGBps = field<double>(l, ("links[" + c.name + "]").c_str(), "beta_gbps", 0, true);
    c.source = field<std::string>(l, "links[]", "source", "file");
    t->addLinkClass(c);
  }
  for (const auto& d : field<json>(doc, "topology", "devices", json::array())) {
    DeviceRates r;
    r.kind = field<std::string>(d, "devices[]", "kind", "", true);
    r.copyGBps = field<double>(d, ("devices[" + r.kind + "]").c_str(), "copy_gbps", 0, true);
    r.reduceGBps = field<double>(d, ("devices[" + r.kind + "]").c_str(), "reduce_gbps", 0, true);
    r.bulkCopyGBps = field<double>(d, ("devices[" + r.kind + "]").c_str(), "bulk_copy_gbps", 0);
    r.bulkReduceGBps = field<double>(d, ("devices[" + r.kind + "]").c_str(), "bulk_reduce_gbps", 0);
    r.stagingGBps = field<double>(d, ("devices[" + r.kind + "]").c_str(), "staging_gbps",
                                  defaultDeviceRates(r.kind).stagingGBps);
    r.callUs = field<double>(d, ("devices[" + r.kind + "]").c_str(), "call_us", defaultDeviceRates(r.kind).callUs);
    r.source = field<std::string>(d, "devices[]", "source", "file");
    t->deviceRates.push_back(r);
  }
  // A device kind or link class the file does not price gets the built-in figures (said in "source").
  for (const auto& r : t->ranks)
    if (t->ratesOf(r.deviceKind) == nullptr) t->deviceRates.push_back(defaultDeviceRates(r.deviceKind));
  std::string intra = field<std::string>(doc, "topology", "intra_host_link", "shm");
  std::string inter = field<std::string>(doc, "topology", "inter_host_link", "socket");
  for (const std::string& name : {intra, inter})
    if (t->linkClassIndex(name) < 0) t->addLinkClass(defaultLinkClass(name));
  t->connectByHost(intra, inter);

  // Pairs whose link differs from the by-host rule (e.g. a dump of a job run with MIXCCL_TRANSPORT).
  size_t n = t->ranks.size();
  for (const auto& p : field<json>(doc, "topology", "pair_links", json::array())) {
    int a = field<int>(p, "pair_links[]", "from", 0, true), b = field<int>(p, "pair_links[]", "to", 0, true);
    std::string cls = field<std::string>(p, "pair_links[]", "class", "", true);
    int idx = t->linkClassIndex(cls);
    if (a < 0 || b < 0 || static_cast<size_t>(a) >= n || static_cast<size_t>(b) >= n || idx < 0)
      throw std::runtime_error("pair_links: {from " + std::to_string(a) + ", to " + std::to_string(b) + ", class " +
                               cls + "} names a rank or class that does not exist");
    t->linkOf[static_cast<size_t>(a) * n + static_cast<size_t>(b)] = static_cast<uint16_t>(idx);
  }
}

}  // namespace

Status parseTopologyJson(const std::string& text, Topology* out) {
  Topology t;
  try {
    parseInto(json::parse(text), &t);
  } catch (const std::exception& e) {
    return errorStatus(mixcclInvalidArgument, "topology file: %s", e.what());
  }
  std::string bad = t.validate();
  if (!bad.empty()) return errorStatus(mixcclInvalidArgument, "topology file: %s", bad.c_str());
  *out = std::move(t);
  return Status::ok();
}

std::string topologyToJson(const Topology& t) {
  json doc;
  doc["version"] = 1;
  json hosts = json::array();
  for (const auto& h : t.hosts) {
    char id[24];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(h.id));
    json caches = json::array(), nics = json::array();
    for (const auto& c : h.caches) caches.push_back({{"level", c.level}, {"bytes", c.bytes}, {"count", c.count}});
    for (const auto& n : h.nics)
      nics.push_back({{"name", n.name}, {"address", n.address}, {"speed_gbps", n.speedGbps}, {"loopback", n.loopback}});
    hosts.push_back({{"name", h.name}, {"id", id}, {"packages", h.packages}, {"numa_nodes", h.numaNodes},
                     {"cores", h.cores}, {"pus", h.pus}, {"step_us", h.stepUs}, {"wait_us", h.waitUs}, {"net_gbps", h.netGBps},
                     {"caches", caches}, {"nics", nics}});
  }
  doc["hosts"] = hosts;
  json ranks = json::array();
  for (const auto& r : t.ranks) ranks.push_back({{"host", r.host}, {"device", r.deviceKind}, {"ordinal", r.deviceOrdinal}});
  doc["ranks"] = ranks;
  json links = json::array();
  for (const auto& c : t.linkClasses)
    links.push_back({{"class", c.name}, {"alpha_us", c.alphaUs}, {"beta_gbps", c.betaGBps}, {"source", c.source}});
  doc["links"] = links;
  json devices = json::array();
  for (const auto& d : t.deviceRates) {
    json j = {{"kind", d.kind}, {"copy_gbps", d.copyGBps}, {"reduce_gbps", d.reduceGBps}, {"source", d.source}};
    if (d.bulkCopyGBps > 0) j["bulk_copy_gbps"] = d.bulkCopyGBps;
    if (d.bulkReduceGBps > 0) j["bulk_reduce_gbps"] = d.bulkReduceGBps;
    j["staging_gbps"] = d.stagingGBps;
    j["call_us"] = d.callUs;
    devices.push_back(std::move(j));
  }
  doc["devices"] = devices;

  // The by-host rule with the most common class each way, and the pairs that differ from it.
  size_t n = t.ranks.size();
  std::map<int, int> intraCount, interCount;
  if (t.linkOf.size() == n * n) {
    for (size_t a = 0; a < n; ++a)
      for (size_t b = 0; b < n; ++b)
        if (a != b) ++(t.ranks[a].host == t.ranks[b].host ? intraCount : interCount)[t.linkOf[a * n + b]];
  }
  auto mostCommon = [&](const std::map<int, int>& m, const char* fallback) -> std::string {
    int best = -1, bestCount = 0;
    for (auto [cls, count] : m)
      if (count > bestCount) best = cls, bestCount = count;
    return best < 0 ? std::string(fallback) : t.linkClasses[static_cast<size_t>(best)].name;
  };
  std::string intra = mostCommon(intraCount, "shm"), inter = mostCommon(interCount, "socket");
  doc["intra_host_link"] = intra;
  doc["inter_host_link"] = inter;
  json pairs = json::array();
  if (t.linkOf.size() == n * n) {
    for (size_t a = 0; a < n; ++a)
      for (size_t b = 0; b < n; ++b) {
        if (a == b) continue;
        const std::string& cls = t.linkClasses[t.linkOf[a * n + b]].name;
        if (cls != (t.ranks[a].host == t.ranks[b].host ? intra : inter))
          pairs.push_back({{"from", a}, {"to", b}, {"class", cls}});
      }
  }
  if (!pairs.empty()) doc["pair_links"] = pairs;
  return doc.dump(2) + "\n";
}

#else  // no nlohmann-json in this build

Status parseTopologyJson(const std::string&, Topology*) {
  return errorStatus(mixcclInvalidUsage,
                     "topology files need nlohmann-json, which this build of mixccl did not find "
                     "(install nlohmann-json3-dev and rebuild)");
}

std::string topologyToJson(const Topology&) { return ""; }

#endif

Status readTopologyFile(const std::string& path, Topology* out) {
  std::ifstream f(path);
  if (!f) return errorStatus(mixcclInvalidArgument, "cannot open the topology file '%s'", path.c_str());
  std::stringstream ss;
  ss << f.rdbuf();
  return parseTopologyJson(ss.str(), out).withContext(path + ": ");
}

Status writeTopologyFile(const std::string& path, const Topology& t) {
  std::string text = topologyToJson(t);
  if (text.empty()) {
    return errorStatus(mixcclInvalidUsage,
                       "cannot write the topology file '%s': this build of mixccl has no nlohmann-json", path.c_str());
  }
  std::ofstream f(path);
  if (!f || !(f << text) || !f.flush())
    return errorStatus(mixcclSystemError, "cannot write the topology file '%s'", path.c_str());
  return Status::ok();
}

}  // namespace mixccl
