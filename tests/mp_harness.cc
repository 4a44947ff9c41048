#include "tests/mp_harness.h"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

namespace mixccl_test {
namespace {

int gRank = -1;
std::atomic<int> gFailures{0};

std::string joinRanks(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ranks[i]);
  }
  return out;
}

[[noreturn]] void runChild(int rank, int nranks, const mixcclUniqueId& id, const RankBody& body) {
  // Die with the parent: a crashed test binary must not leave ranks behind.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  gRank = rank;
  // Keep freed memory for the next case: the matrices allocate and free buffers of up to 128 MiB per
  // case, which glibc would map afresh each time (above 32 MiB it always maps) and the kernel zero
  // page by page: first touches were a third of the 8-rank matrix's time at 1M+3 elements (62 s
  // without this, 42 s with it, measured before reference.cc's generator was rewritten). The
  // library's own allocations may do what they did; only where glibc takes the memory from changes.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int code = 0;
  try {
    body(rank, nranks, id);
    code = gFailures.load() > 0 ? 1 : 0;
    if (code) std::fprintf(stderr, "[rank %d] finished with %d failed expectations\n", rank, gFailures.load());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[rank %d] uncaught exception: %s\n", rank, e.what());
    code = 2;
  } catch (...) {
    std::fprintf(stderr, "[rank %d] uncaught exception of unknown type\n", rank);
    code = 2;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  // _exit: the child must not run the parent's atexit handlers or gtest's teardown.
  _exit(code);
}

}  // namespace

bool RunSummary::ok() const {
  if (!setupError.empty()) return false;
  for (const auto& r : ranks) {
    if (!r.finished || r.signal != 0 || r.exitCode != 0) return false;
  }
  return true;
}

std::string RunSummary::describe() const {
  if (!setupError.empty()) return setupError;
  std::vector<std::string> parts;
  std::vector<int> hung, killedLater;
  for (const auto& r : ranks) {
    if (!r.finished) {
      (r.killedAfterOtherFailed ? killedLater : hung).push_back(r.rank);
    } else if (r.signal != 0) {
      parts.push_back(formatString("rank %d was killed by signal %d (%s)", r.rank, r.signal, strsignal(r.signal)));
    } else if (r.exitCode != 0) {
      parts.push_back(formatString("rank %d exited with code %d", r.rank, r.exitCode));
    }
  }
  if (!hung.empty()) {
    parts.push_back((hung.size() == 1 ? "rank " : "ranks ") + joinRanks(hung) + " did not finish by the deadline: hang?");
  }
  if (!killedLater.empty()) {
    const bool one = killedLater.size() == 1;
    parts.push_back((one ? "rank " : "ranks ") + joinRanks(killedLater) + (one ? " was" : " were") +
                    " still running well after another rank failed (blocked on it?) and " + (one ? "was" : "were") +
                    " killed");
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

RendezvousHost::~RendezvousHost() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool RendezvousHost::start(mixcclUniqueId* id, std::string* error) {
  struct Answer {
    mixcclResult_t result;
    mixcclUniqueId id;
    char message[512];
  };
  int fds[2];
  if (pipe(fds) != 0) {
    *error = formatString("pipe failed: %s", std::strerror(errno));
    return false;
  }
  std::fflush(nullptr);
  pid_ = fork();
  if (pid_ < 0) {
    *error = formatString("fork for the rendezvous host failed: %s", std::strerror(errno));
    return false;
  }
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    close(fds[0]);
    Answer a{};
    a.result = mixcclGetUniqueId(&a.id);
    std::snprintf(a.message, sizeof(a.message), "%s", mixcclGetLastError(nullptr));
    if (write(fds[1], &a, sizeof(a)) != static_cast<ssize_t>(sizeof(a))) _exit(1);
    for (;;) pause();  // the rendezvous thread serves until the test kills this process
  }
  close(fds[1]);
  Answer a{};
  size_t got = 0;
  while (got < sizeof(a)) {
    ssize_t r = read(fds[0], reinterpret_cast<char*>(&a) + got, sizeof(a) - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  close(fds[0]);
  if (got != sizeof(a) || a.result != mixcclSuccess) {
    *error = got != sizeof(a) ? std::string("the rendezvous host died before answering")
                              : std::string("mixcclGetUniqueId failed: ") + mixcclGetErrorString(a.result) + ": " +
                                    a.message;
    return false;
  }
  *id = a.id;
  return true;
}

RunSummary runRanks(int nranks, const RankBody& body, const RunOptions& options) {
  using Clock = std::chrono::steady_clock;
  RunSummary summary;
  // Tests run on one machine: keep the library off every interface but loopback.
  setenv("MIXCCL_SOCKET_IFNAME", "lo", 0);

  mixcclUniqueId id;
  std::memset(&id, 0, sizeof id);
  RendezvousHost host;
  if (options.createUniqueId && !host.start(&id, &summary.setupError)) return summary;

  std::fflush(nullptr);  // else buffered output would be written once per child too
  for (int r = 0; r < nranks; ++r) {
    const pid_t pid = fork();
    if (pid == 0) runChild(r, nranks, id, body);
    if (pid < 0) {
      summary.setupError = formatString("fork for rank %d failed: %s", r, std::strerror(errno));
      for (auto& started : summary.ranks) {
        kill(started.pid, SIGKILL);
        waitpid(started.pid, nullptr, 0);
      }
      return summary;
    }
    RankOutcome outcome;
    outcome.rank = r;
    outcome.pid = pid;
    summary.ranks.push_back(outcome);
  }

  auto deadline = Clock::now() + std::chrono::seconds(options.deadlineSeconds);
  bool someoneFailed = false;
  size_t running = summary.ranks.size();
  while (running > 0) {
    for (auto& r : summary.ranks) {
      if (r.finished) continue;
      int status = 0;
      const pid_t done = waitpid(r.pid, &status, WNOHANG);
      if (done != r.pid) continue;
      r.finished = true;
      --running;
      if (WIFSIGNALED(status)) {
        r.signal = WTERMSIG(status);
      } else {
        r.exitCode = WEXITSTATUS(status);
      }
      if ((r.signal != 0 || r.exitCode != 0) && !someoneFailed) {
        someoneFailed = true;
        deadline = std::min(deadline, Clock::now() + std::chrono::seconds(options.graceAfterFailureSeconds));
      }
    }
    if (running == 0) break;
    if (Clock::now() >= deadline) {
      for (auto& r : summary.ranks) {
        if (r.finished) continue;
        kill(r.pid, SIGKILL);
        waitpid(r.pid, nullptr, 0);
        r.killedAfterOtherFailed = someoneFailed;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return summary;
}

int currentRank() { return gRank; }

void failRank(const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "[rank %d] %s:%d: FATAL: %s\n", gRank, file, line, message.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(1);
}

void recordFailure(const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "[rank %d] %s:%d: %s\n", gRank, file, line, message.c_str());
  gFailures.fetch_add(1);
}

int recordedFailures() { return gFailures.load(); }

std::string formatString(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char small[512];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  std::string out;
  if (n < 0) {
    out = fmt;
  } else if (static_cast<size_t>(n) < sizeof small) {
    out.assign(small, static_cast<size_t>(n));
  } else {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), fmt, args);
    out.resize(static_cast<size_t>(n));
  }
  va_end(args);
  return out;
}

std::string describeResult(const char* call, mixcclResult_t result, mixcclComm_t comm) {
  const char* last = mixcclGetLastError(comm);
  return formatString("%s returned %d (%s): %s", call, static_cast<int>(result), mixcclGetErrorString(result),
                      last && *last ? last : "(no last error)");
}

}  // namespace mixccl_test
