#include "core/peer_liveness.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace mixccl {

bool processAlive(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  // The state follows the command name, which is in parentheses and may itself hold spaces.
  const char* close = std::strrchr(buf, ')');
  if (n == 0 || close == nullptr || close[1] == '\0') return true;  // unreadable: assume alive
  char state = close[2];
  return state != 'Z' && state != 'X';
}

}  // namespace mixccl
