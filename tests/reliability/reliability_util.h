// Helpers the reliability tests share: counting this process's threads and the shared memory it
// holds, so that "abort cleans up" is checked, not assumed.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace mixccl_test {

// Whether thread counts mean anything here: under ThreadSanitizer its runtime starts (and restarts
// after fork) a background thread of its own whenever it likes, so "no thread leaked" is checked in
// the other builds only.
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadCountsAreExact = false;
#else
constexpr bool kThreadCountsAreExact = true;
#endif

// Threads of this process (/proc/self/task).
inline int threadCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

// The thread count once it has come down to `expected`, or after 2 s. A joined thread can still be
// listed for a moment: pthread_join returns when the thread has cleared its id, a little before the
// kernel removes it from /proc/self/task.
inline int settledThreadCount(int expected) {
  int n = threadCount();
  for (int i = 0; i < 200 && n != expected; ++i) {
    usleep(10000);
    n = threadCount();
  }
  return n;
}

// "main, worker, ..." : the names of this process's threads (for messages).
inline std::string threadNames() {
  std::string names;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    std::ifstream wchan(std::string("/proc/self/task/") + e->d_name + "/wchan");
    std::string waitsIn;
    std::getline(wchan, waitsIn);
    names += (names.empty() ? "" : ", ") + name + "(" + e->d_name + (waitsIn.empty() ? "" : " in " + waitsIn) + ")";
  }
  closedir(d);
  return names;
}

// mixccl shared memory this process still maps (segments are unlinked at setup, so they show as
// "/dev/shm/mixccl-... (deleted)").
inline int mappedMixcclSegments() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm/mixccl-") != std::string::npos) ++n;
  }
  return n;
}

// Names in /dev/shm that start with `prefix` (e.g. "mixccl-<comm hash>").
inline int shmNamesWithPrefix(const std::string& prefix) {
  int n = 0;
  DIR* d = opendir("/dev/shm");
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) ++n;
  }
  closedir(d);
  return n;
}

}  // namespace mixccl_test
