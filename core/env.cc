#include "core/env.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "core/log.h"

namespace mixccl::env {

std::optional<std::string> get(const char* name, bool alsoNccl) {
  std::string key = std::string("MIXCCL_") + name;
  const char* v = std::getenv(key.c_str());
  if ((v == nullptr || *v == '\0') && alsoNccl) {
    key = std::string("NCCL_") + name;
    v = std::getenv(key.c_str());
  }
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int64_t getInt(const char* name, int64_t defaultValue, bool alsoNccl) {
  auto v = get(name, alsoNccl);
  if (!v) return defaultValue;
  errno = 0;
  char* end = nullptr;
  long long parsed = std::strtoll(v->c_str(), &end, 0);
  if (errno != 0 || end == v->c_str() || *end != '\0') {
    MIXCCL_WARN("MIXCCL_%s=%s is not an integer; using the default %lld", name, v->c_str(),
                static_cast<long long>(defaultValue));
    return defaultValue;
  }
  return parsed;
}

int timeoutSeconds() {
  int64_t t = getInt("TIMEOUT", kDefaultTimeoutSeconds);
  if (t <= 0 || t > 86400 * 7) {
    MIXCCL_WARN("MIXCCL_TIMEOUT=%lld is out of range (1 .. 604800 s); using %d", static_cast<long long>(t),
                kDefaultTimeoutSeconds);
    return kDefaultTimeoutSeconds;
  }
  return static_cast<int>(t);
}

}  // namespace mixccl::env
