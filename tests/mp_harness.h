// Runs a test body on N ranks, each in a forked child process, with a deadline.
//
// The parent creates the unique id (and so hosts the rendezvous, staying alive while the children
// initialize), forks one child per rank and waits for all of them. A child reports failure through
// its exit code: gtest assertions inside a child would not reach the parent, so bodies use the
// MP_* macros below, which print the rank and a message to stderr.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "mixccl.h"

namespace mixccl_test {

// True in scripts/test.sh's ASan and TSan builds, where the slowest multi-process sweeps run a
// subset (the sanitizers watch the engine and transports, which the subset drives through every
// step kind; the normal build runs everything).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

using RankBody = std::function<void(int rank, int nranks, const mixcclUniqueId& id)>;

struct RankOutcome {
  int rank = -1;
  pid_t pid = -1;
  bool finished = false;  // false: still running at the deadline (then killed)
  int exitCode = -1;      // valid when finished and signal == 0
  int signal = 0;         // the signal that ended the child, 0 if it exited
  bool killedAfterOtherFailed = false;  // killed because another rank had already failed
};

struct RunSummary {
  std::vector<RankOutcome> ranks;
  std::string setupError;  // the parent could not start the run (unique id, fork)
  bool ok() const;
  // "rank 1 exited with code 1; ranks 2, 3 did not finish: hang?" — empty when ok().
  std::string describe() const;
};

struct RunOptions {
  int deadlineSeconds = 120;
  // Once one rank has failed, the others get this long to finish before they are killed (they
  // are probably blocked on the failed one).
  int graceAfterFailureSeconds = 20;
  // false: the body makes its own communicators (mixcclCommInitAll) and the id is all zeros.
  bool createUniqueId = true;
};

RunSummary runRanks(int nranks, const RankBody& body, const RunOptions& options = {});

// Hosts a rendezvous (mixcclGetUniqueId) in a child process of its own for as long as this object
// lives. The test process then stays single-threaded when it forks ranks: a fork taken while another
// thread holds a lock (the rendezvous thread inside the allocator, say) can leave the child
// deadlocked, and sanitizer allocators do exactly that.
class RendezvousHost {
 public:
  RendezvousHost() = default;
  RendezvousHost(const RendezvousHost&) = delete;
  RendezvousHost& operator=(const RendezvousHost&) = delete;
  ~RendezvousHost();
  bool start(mixcclUniqueId* id, std::string* error);

 private:
  pid_t pid_ = -1;
};

// ---- inside a rank -------------------------------------------------------------------------------

// The rank this process runs as (set by runRanks in the child), for messages.
int currentRank();

// Prints "[rank R] file:line: message" and ends the child with exit code 1.
[[noreturn]] void failRank(const char* file, int line, const std::string& message);
// Prints the message and counts a failure; the child exits with code 1 when its body returns.
// For data mismatches: the rank keeps going so the other ranks are not left waiting for it.
void recordFailure(const char* file, int line, const std::string& message);
int recordedFailures();

std::string formatString(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "mixcclAllReduce(...) returned mixcclInvalidArgument (...): <last error of comm>"
std::string describeResult(const char* call, mixcclResult_t result, mixcclComm_t comm);

}  // namespace mixccl_test

// Fatal: ends the rank. Use for anything after which the ranks cannot stay in step.
#define MP_CHECK(cond, ...)                                                                          \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      ::mixccl_test::failRank(__FILE__, __LINE__,                                                    \
                              std::string("check failed: " #cond ": ") +                             \
                                  ::mixccl_test::formatString(__VA_ARGS__));                         \
    }                                                                                                \
  } while (0)

// Fatal unless the call returns mixcclSuccess; prints the communicator's last error.
#define MP_CHECK_OK(call, comm)                                                                      \
  do {                                                                                               \
    const mixcclResult_t mpResult_ = (call);                                                         \
    if (mpResult_ != mixcclSuccess) {                                                                \
      ::mixccl_test::failRank(__FILE__, __LINE__, ::mixccl_test::describeResult(#call, mpResult_, comm)); \
    }                                                                                                \
  } while (0)

// Non-fatal: records the failure and goes on.
#define MP_EXPECT(cond, ...)                                                                         \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      ::mixccl_test::recordFailure(__FILE__, __LINE__,                                               \
                                   std::string("expectation failed: " #cond ": ") +                  \
                                       ::mixccl_test::formatString(__VA_ARGS__));                    \
    }                                                                                                \
  } while (0)
