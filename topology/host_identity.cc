#include "topology/host_identity.h"

#include <unistd.h>

#include <fstream>

#include "core/env.h"

namespace mixccl {

uint64_t hash64(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string hostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "unknown-host";
  return host;
}

uint64_t hostIdentity() {
  std::string id;
  if (auto v = env::get("HOST_ID")) {
    id = "id:" + *v;
  } else {
    // Containers may share a host name; the boot id tells two kernels apart.
    std::string boot;
    std::ifstream f("/proc/sys/kernel/random/boot_id");
    std::getline(f, boot);
    id = hostName() + "/" + boot;
  }
  return hash64(id.data(), id.size());
}

}  // namespace mixccl
