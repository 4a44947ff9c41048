// A small multi-process harness for the NCCL ABI tests. It uses nothing but the NCCL API (these
// tests are compiled against the system's nccl.h and linked to mixccl's libnccl.so.2), so it does not
// share tests/mp_harness, which is written against mixccl.h.
//
// The unique id is made in a child process of its own that stays alive while the ranks initialize
// (it hosts the rendezvous); the test process stays single-threaded when it forks the ranks.
#pragma once

#include <nccl.h>

#include <functional>
#include <string>

namespace nccl_test {

using RankBody = std::function<void(int rank, int nranks, const ncclUniqueId& id)>;

// Runs body on nranks forked processes; returns "" when every rank exited 0, else what went wrong
// (a rank that failed, crashed or was still running after deadlineSeconds).
std::string runRanks(int nranks, const RankBody& body, int deadlineSeconds = 60);

// Inside a rank: prints "[rank R] file:line: message" to stderr and exits with 1.
[[noreturn]] void failRank(const char* file, int line, const std::string& message);
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace nccl_test

#define NT_CHECK(cond, ...)                                                                                   \
  do {                                                                                                        \
    if (!(cond))                                                                                              \
      ::nccl_test::failRank(__FILE__, __LINE__, std::string("check failed: " #cond ": ") + ::nccl_test::format(__VA_ARGS__)); \
  } while (0)

// Fails the rank unless call returns ncclSuccess, printing ncclGetLastError(comm).
#define NT_OK(call, comm)                                                                                     \
  do {                                                                                                        \
    ncclResult_t ntRc_ = (call);                                                                              \
    if (ntRc_ != ncclSuccess)                                                                                 \
      ::nccl_test::failRank(__FILE__, __LINE__, ::nccl_test::format("%s returned %d (%s): %s", #call, (int)ntRc_, \
                                                                    ncclGetErrorString(ntRc_), ncclGetLastError(comm))); \
  } while (0)
