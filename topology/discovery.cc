#include "topology/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>

#if MIXCCL_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "core/log.h"
#include "topology/host_identity.h"

namespace mixccl {
namespace {

double readSpeedGbps(const std::string& ifname) {
  // Mb/s, or -1 / an error for interfaces that have no speed (loopback, many virtual ones).
  std::ifstream f("/sys/class/net/" + ifname + "/speed");
  long long mbps = -1;
  if (!(f >> mbps) || mbps <= 0) return 0;
  return static_cast<double>(mbps) / 1000.0;
}

#if MIXCCL_HAVE_HWLOC
void describeWithHwloc(HostInfo* h) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return;
  if (hwloc_topology_load(topo) != 0) {
    MIXCCL_WARN("topology: hwloc could not load this host's topology; using sysconf");
    hwloc_topology_destroy(topo);
    return;
  }
  auto count = [&](hwloc_obj_type_t type) { return std::max(0, hwloc_get_nbobjs_by_type(topo, type)); };
  h->packages = std::max(1, count(HWLOC_OBJ_PACKAGE));
  h->numaNodes = std::max(1, count(HWLOC_OBJ_NUMANODE));
  h->cores = std::max(1, count(HWLOC_OBJ_CORE));
  h->pus = std::max(1, count(HWLOC_OBJ_PU));
  const hwloc_obj_type_t cacheTypes[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE};
  for (int i = 0; i < 4; ++i) {
    int n = count(cacheTypes[i]);
    if (n == 0) continue;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, cacheTypes[i], 0);
    CacheLevel c;
    c.level = i + 1;
    c.count = n;
    c.bytes = obj != nullptr && obj->attr != nullptr ? obj->attr->cache.size : 0;
    h->caches.push_back(c);
  }
  unsigned v = hwloc_get_api_version();
  h->discoveredBy = "hwloc " + std::to_string(v >> 16) + "." + std::to_string((v >> 8) & 0xff) + "." +
                    std::to_string(v & 0xff);
  hwloc_topology_destroy(topo);
}
#endif

void describeWithSysconf(HostInfo* h) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  h->pus = online > 0 ? static_cast<int>(online) : 1;
  h->cores = h->pus;  // sysconf cannot tell hardware threads from cores
  h->discoveredBy = "sysconf (hwloc not built in)";
}

}  // namespace

std::vector<NetworkInterface> discoverNetworkInterfaces() {
  std::vector<NetworkInterface> out;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  std::map<std::string, size_t> seen;
  for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr || (a->ifa_flags & IFF_UP) == 0) continue;
    std::string name = a->ifa_name;
    auto it = seen.find(name);
    if (it == seen.end()) {
      NetworkInterface nic;
      nic.name = name;
      nic.loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
      nic.speedGbps = readSpeedGbps(name);
      it = seen.emplace(name, out.size()).first;
      out.push_back(nic);
    }
    NetworkInterface& nic = out[it->second];
    if (!nic.address.empty() || a->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof(text));
      nic.address = text;
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<struct sockaddr_in6*>(a->ifa_addr)->sin6_addr, text, sizeof(text));
      nic.address = text;
    }
  }
  freeifaddrs(list);
  return out;
}

HostInfo discoverLocalHost() {
  HostInfo h;
  h.name = hostName();
  h.id = hostIdentity();
  describeWithSysconf(&h);
#if MIXCCL_HAVE_HWLOC
  describeWithHwloc(&h);
#endif
  h.nics = discoverNetworkInterfaces();
  return h;
}

}  // namespace mixccl
