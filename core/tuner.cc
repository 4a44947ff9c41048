#include "core/tuner.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "backends/devices/device.h"
#include "core/comm.h"
#include "core/env.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr size_t kTreeMaxBytes = 64 * 1024;        // rooted ops up to this size: binomial tree
constexpr size_t kDefaultChunkBytes = 256 * 1024;  // pipelining piece: one shm slot

struct ForcedAlgo {
  std::string collective;  // empty: every collective
  std::string name;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "allreduce" from collectiveName's "AllReduce", for matching MIXCCL_ALGO entries.
std::string key(Collective c) { return lower(collectiveName(c)); }

const std::vector<ForcedAlgo>& forcedAlgos() {
  static const std::vector<ForcedAlgo> forced = [] {
    std::vector<ForcedAlgo> out;
    auto spec = env::get("ALGO", true);
    if (!spec) return out;
    std::string s = lower(*spec);
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t end = s.find_first_of(";,", pos);
      if (end == std::string::npos) end = s.size();
      std::string item = s.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty()) continue;
      size_t colon = item.find(':');
      if (colon == std::string::npos) out.push_back({"", item});
      else out.push_back({item.substr(0, colon), item.substr(colon + 1)});
    }
    return out;
  }();
  return forced;
}

const char* defaultAlgorithm(Collective c, size_t bytes) {
  switch (c) {
    case Collective::AllReduce:
    case Collective::AllGather:
    case Collective::ReduceScatter: return "ring";
    case Collective::Broadcast:
    case Collective::Reduce: return bytes <= kTreeMaxBytes ? "tree" : "chain";
    case Collective::AlltoAll: return "pairwise";
    case Collective::Gather:
    case Collective::Scatter: return "direct";
    case Collective::SendRecv: break;
  }
  return "";
}

// Logs each (collective, algorithm) decision once at INFO; every decision at TRACE.
void logChoice(const mixcclComm* comm, Collective c, size_t bytes, const char* name, bool forced) {
  static std::mutex mutex;
  static std::set<std::string> seen;
  std::string k = key(c) + "/" + name;
  bool first;
  {
    std::lock_guard<std::mutex> lock(mutex);
    first = seen.insert(k).second;
  }
  if (first) {
    MIXCCL_INFO("%s rank %d: %s of %zu bytes uses %s (%s)", comm->name.c_str(), comm->rank, collectiveName(c), bytes,
                name, forced ? "forced by MIXCCL_ALGO" : "default rule: tree up to 64 KiB for rooted ops, "
                                                         "pipelined chain above; ring for all-reduce family");
  } else {
    MIXCCL_TRACE("%s rank %d: %s of %zu bytes uses %s", comm->name.c_str(), comm->rank, collectiveName(c), bytes, name);
  }
}

}  // namespace

Status chooseAlgorithm(const mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type,
                       AlgorithmChoice* out) {
  size_t es = dataTypeSize(type);
  size_t bytes = count * es;
  const Algorithm* algo = nullptr;
  bool forced = false;
  for (const auto& f : forcedAlgos()) {
    if (!f.collective.empty() && f.collective != key(c)) continue;
    const Algorithm* a = findAlgorithm(c, f.name);
    if (a == nullptr && !f.collective.empty()) {
      return errorStatus(mixcclInvalidArgument, "MIXCCL_ALGO asks for '%s' for %s, which has no such algorithm",
                         f.name.c_str(), collectiveName(c));
    }
    if (a != nullptr) {
      algo = a;
      forced = true;
      break;
    }
  }
  if (algo == nullptr) algo = findAlgorithm(c, defaultAlgorithm(c, bytes));
  if (algo == nullptr) {
    return errorStatus(mixcclInternalError, "no algorithm registered for %s", collectiveName(c));
  }
  int64_t chunkBytes = env::getInt("CHUNK_BYTES", kDefaultChunkBytes);
  if (chunkBytes < static_cast<int64_t>(es)) chunkBytes = kDefaultChunkBytes;
  out->algorithm = algo;
  out->chunkCount = static_cast<size_t>(chunkBytes) / es;
  logChoice(comm, c, bytes, algo->name, forced);
  return Status::ok();
}

}  // namespace mixccl
