// What the NCCL binding does with NCCL's environment and NCCL's config struct.
//
// Honoured through the core (core/env.h: each MIXCCL_X also reads NCCL_X): NCCL_DEBUG,
// NCCL_DEBUG_FILE, NCCL_ALGO, NCCL_SOCKET_IFNAME, NCCL_COMM_ID, NCCL_SHM_DISABLE, NCCL_COMM_BLOCKING.
// Checked here: NCCL_DEBUG_SUBSYS and NCCL_P2P_DISABLE. Any other NCCL_* is listed once at INFO.
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "bindings/nccl/shim.h"
#include "core/api_util.h"
#include "core/env.h"
#include "core/log.h"

extern char** environ;

namespace mixccl::nccl {
namespace {

const std::set<std::string>& variablesReadByTheCore() {
  static const std::set<std::string> names = {"NCCL_DEBUG", "NCCL_DEBUG_FILE", "NCCL_ALGO", "NCCL_SOCKET_IFNAME",
                                              "NCCL_COMM_ID", "NCCL_SHM_DISABLE", "NCCL_COMM_BLOCKING",
                                              "NCCL_DEBUG_SUBSYS", "NCCL_P2P_DISABLE", "NCCL_NSOCKSPERTHREAD",
                                              "NCCL_SOCKET_NTHREADS"};
  return names;
}

// NCCL_DEBUG_SUBSYS: a comma list of subsystem names, "^" first to exclude them. mixccl's log lines
// carry no subsystem, so a valid list changes nothing; a name NCCL does not know is reported, as a
// typo there would otherwise be silent.
void checkDebugSubsys() {
  const char* v = std::getenv("NCCL_DEBUG_SUBSYS");
  if (v == nullptr || *v == '\0') return;
  static const std::set<std::string> known = {"INIT", "COLL", "P2P", "SHM", "NET", "GRAPH", "TUNING", "ENV", "ALLOC",
                                              "CALL", "PROXY", "NVLS", "BOOTSTRAP", "REG", "PROFILE", "RAS", "ALL"};
  std::string s = v[0] == '^' ? v + 1 : v;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string name = s.substr(pos, end - pos);
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!name.empty() && known.count(name) == 0) {
      MIXCCL_WARN("NCCL_DEBUG_SUBSYS=%s: '%s' is not an NCCL subsystem; ignored", v, name.c_str());
    }
    pos = end + 1;
  }
  MIXCCL_INFO("NCCL_DEBUG_SUBSYS=%s: mixccl's log is not divided by subsystem; NCCL_DEBUG alone sets what is shown", v);
}

}  // namespace

void onFirstCall() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Like NCCL, the version line appears only when NCCL_DEBUG (or MIXCCL_DEBUG) asks for a log.
    if (env::get("DEBUG", true) && log::enabled(log::Level::Version)) {
      log::write(log::Level::Version, "mixccl %d.%d.%d, implementing the NCCL %d.%d.%d ABI (libnccl.so.2)",
                 MIXCCL_MAJOR, MIXCCL_MINOR, MIXCCL_PATCH, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
    }
    checkDebugSubsys();
    if (env::getInt("P2P_DISABLE", 0, true) != 0) {
      MIXCCL_INFO("NCCL_P2P_DISABLE is set: this build has no device peer-to-peer transport, so ranks on one host "
                  "already talk through shared memory (or sockets with NCCL_SHM_DISABLE=1)");
    }
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string entry = *e;
      if (entry.rfind("NCCL_", 0) != 0) continue;
      std::string name = entry.substr(0, entry.find('='));
      if (variablesReadByTheCore().count(name) != 0) continue;
      MIXCCL_INFO("%s is set; it has no meaning for mixccl and is ignored", entry.c_str());
    }
  });
}

ncclResult_t fail(ncclComm_t comm, const Status& st) {
  mixcclComm_t c = native(comm);
  bool live = c != nullptr && c->magic == mixcclComm::kMagic;
  return result(report(live ? c : nullptr, st));
}

Status translateConfig(const ncclConfig_t* config, const char* function, mixcclConfig_t* storage,
                       mixcclConfig_t** out) {
  *out = nullptr;
  if (config == nullptr) return Status::ok();
  if (config->magic != 0xcafebeefu) {
    return errorStatus(mixcclInvalidArgument, "%s: config.magic is 0x%x: the config was not set up with "
                       "NCCL_CONFIG_INITIALIZER", function, config->magic);
  }
  // Older layouts are prefixes of this one: read a field only if the caller's struct has it.
  auto has = [config](size_t offset, size_t bytes) { return config->size >= offset + bytes; };
#define NCCL_SHIM_HAS(field) has(offsetof(ncclConfig_t, field), sizeof(config->field))
  if (!NCCL_SHIM_HAS(blocking)) {
    return errorStatus(mixcclInvalidArgument, "%s: config.size is %zu, too small for any NCCL config", function,
                       config->size);
  }
  *storage = MIXCCL_CONFIG_INITIALIZER;
  storage->blocking = config->blocking;
  if (NCCL_SHIM_HAS(commName)) storage->commName = config->commName;
  if (NCCL_SHIM_HAS(splitShare)) storage->splitShare = config->splitShare;

  // Fields that steer NCCL's GPU kernels, network plugins or NVLink: accepted, no effect here.
  static std::mutex mutex;
  static std::set<std::string> logged;
  auto note = [&](const char* name, bool set, const char* why) {
    if (!set) return;
    std::lock_guard<std::mutex> lock(mutex);
    if (logged.insert(name).second) MIXCCL_INFO("%s: config.%s is set; ignored (%s)", function, name, why);
  };
  const char* kernels = "it shapes NCCL's GPU kernels";
  if (NCCL_SHIM_HAS(cgaClusterSize)) note("cgaClusterSize", config->cgaClusterSize != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(minCTAs)) note("minCTAs", config->minCTAs != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(maxCTAs)) note("maxCTAs", config->maxCTAs != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(netName)) note("netName", config->netName != nullptr, "mixccl chooses its transport per peer pair");
  if (NCCL_SHIM_HAS(trafficClass)) note("trafficClass", config->trafficClass != NCCL_CONFIG_UNDEF_INT, "no QoS here");
  if (NCCL_SHIM_HAS(collnetEnable)) note("collnetEnable", config->collnetEnable != NCCL_CONFIG_UNDEF_INT, "no CollNet");
  if (NCCL_SHIM_HAS(CTAPolicy)) note("CTAPolicy", config->CTAPolicy != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(shrinkShare)) note("shrinkShare", config->shrinkShare != NCCL_CONFIG_UNDEF_INT, "resources are never shared");
  if (NCCL_SHIM_HAS(nvlsCTAs)) note("nvlsCTAs", config->nvlsCTAs != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(nChannelsPerNetPeer))
    note("nChannelsPerNetPeer", config->nChannelsPerNetPeer != NCCL_CONFIG_UNDEF_INT, kernels);
  if (NCCL_SHIM_HAS(nvlinkCentricSched))
    note("nvlinkCentricSched", config->nvlinkCentricSched != NCCL_CONFIG_UNDEF_INT, "no NVLink scheduling");
#undef NCCL_SHIM_HAS
  *out = storage;
  return Status::ok();
}

namespace {
std::mutex gDevMutex;
std::map<ncclComm_t, int>& cudaDevices() {
  static auto* m = new std::map<ncclComm_t, int>;
  return *m;
}
}  // namespace

void rememberCudaDevice(ncclComm_t comm, int device) {
  if (comm == nullptr || device < 0) return;
  std::lock_guard<std::mutex> lock(gDevMutex);
  cudaDevices()[comm] = device;
}

int cudaDeviceOf(ncclComm_t comm) {
  std::lock_guard<std::mutex> lock(gDevMutex);
  auto it = cudaDevices().find(comm);
  return it == cudaDevices().end() ? -1 : it->second;
}

void forgetComm(ncclComm_t comm) {
  std::lock_guard<std::mutex> lock(gDevMutex);
  cudaDevices().erase(comm);
}

}  // namespace mixccl::nccl
