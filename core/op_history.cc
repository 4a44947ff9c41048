#include "core/op_history.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "backends/devices/device.h"
#include "core/env.h"
#include "core/log.h"
#include "core/status.h"

namespace mixccl {
namespace {

// The coarse monotonic clock: begin() and end() run on every call, and on a VM the precise clock
// costs ~25 ns a read against ~5 ns (the small-message all-reduce takes ~200 ns in all). A history
// says which operation hangs and roughly how long the last ones took; ticks of a few ms are enough.
double nowSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The coarse clock's tick in ms (4 ms at HZ=250): durations shorter than this read as 0.
double tickMs() {
  static const double tick = [] {
    struct timespec res;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0) return 0.0;
    return static_cast<double>(res.tv_sec) * 1e3 + static_cast<double>(res.tv_nsec) * 1e-6;
  }();
  return tick;
}

const char* redOpName(int op) {
  switch (op) {
    case mixcclSum: return "sum";
    case mixcclProd: return "prod";
    case mixcclMax: return "max";
    case mixcclMin: return "min";
    case mixcclAvg: return "avg";
    default: return "premulsum";
  }
}

}  // namespace

OpHistory::OpHistory(std::string commName, int rank, int nranks, size_t depth)
    : name_(std::move(commName)), rank_(rank), nranks_(nranks), depth_(std::max<size_t>(1, depth)),
      epoch_(nowSeconds()) {
  ring_.resize(depth_);
}

void OpHistory::begin(uint64_t seq, Collective collective, size_t count, mixcclDataType_t type, int redop, int root) {
  std::lock_guard<std::mutex> lock(mutex_);
  Record& r = ring_[next_];
  r.algorithm.clear();  // keeps its capacity: no allocation per call
  r.rounds = 0;
  r.state = Record::State::Running;
  r.durationMs = 0;
  r.seq = seq;
  r.collective = collective;
  r.count = count;
  r.type = type;
  r.redop = redop;
  r.root = root;
  r.startSeconds = nowSeconds() - epoch_;
  running_ = true;
  waiting_.clear();
  round_.store(0, std::memory_order_relaxed);
}

void OpHistory::setAlgorithm(const std::string& algorithm, size_t rounds) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!running_) return;
  ring_[next_].algorithm = algorithm;
  ring_[next_].rounds = rounds;
}

void OpHistory::setWaiting(const std::vector<std::pair<int, bool>>& peerIsSend) {
  std::lock_guard<std::mutex> lock(mutex_);
  waiting_ = peerIsSend;
}

void OpHistory::end(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!running_) return;
  Record& r = ring_[next_];
  r.state = ok ? Record::State::Done : Record::State::Failed;
  r.durationMs = (nowSeconds() - epoch_ - r.startSeconds) * 1e3;
  running_ = false;
  waiting_.clear();
  next_ = (next_ + 1) % depth_;
  ++total_;
}

std::string OpHistory::describe(const char* why) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out = strFormat("mixccl hang diagnosis (%s): %s rank %d/%d, pid %d, %zu operation(s) completed\n", why,
                              name_.c_str(), rank_, nranks_, static_cast<int>(getpid()), total_);
  auto line = [&](const Record& r) {
    std::string text = strFormat("#%llu %s count %zu %s", static_cast<unsigned long long>(r.seq),
                                 collectiveName(r.collective), r.count, dataTypeName(r.type));
    if (r.collective == Collective::AllReduce || r.collective == Collective::Reduce ||
        r.collective == Collective::ReduceScatter) {
      text += strFormat(" %s", redOpName(r.redop));
    }
    if (r.collective == Collective::Broadcast || r.collective == Collective::Reduce ||
        r.collective == Collective::Gather || r.collective == Collective::Scatter) {
      text += strFormat(" root %d", r.root);
    }
    if (!r.algorithm.empty()) text += strFormat(", algorithm %s (%zu rounds)", r.algorithm.c_str(), r.rounds);
    return text;
  };
  if (running_) {
    const Record& r = ring_[next_];
    out += strFormat("  in progress for %.1f s: %s, round %zu of %zu\n", nowSeconds() - epoch_ - r.startSeconds,
                     line(r).c_str(), round_.load(std::memory_order_relaxed) + 1, r.rounds);
    std::string peers;
    for (const auto& [peer, isSend] : waiting_) {
      peers += strFormat("%s%s rank %d", peers.empty() ? "" : ", ", isSend ? "send to" : "receive from", peer);
    }
    out += strFormat("  waiting for: %s\n", peers.empty() ? "(not waiting on a peer yet)" : peers.c_str());
  } else {
    out += "  no operation in progress\n";
  }
  size_t kept = std::min(total_, depth_);
  out += strFormat("  last %zu operation(s), oldest first:\n", kept);
  for (size_t i = 0; i < kept; ++i) {
    const Record& r = ring_[(next_ + depth_ - kept + i) % depth_];
    const char* state = r.state == Record::State::Done ? "done" : "FAILED";
    if (r.durationMs < tickMs()) {
      out += strFormat("    %s: %s after < %.0f ms\n", line(r).c_str(), state, tickMs());
    } else {
      out += strFormat("    %s: %s after %.0f ms\n", line(r).c_str(), state, r.durationMs);
    }
  }
  return out;
}

// ---- SIGUSR1 ---------------------------------------------------------------------------------------
namespace {

std::mutex gRegistryMutex;
std::vector<std::weak_ptr<OpHistory>>& registry() {
  static auto* r = new std::vector<std::weak_ptr<OpHistory>>;  // never destroyed: the watcher may outlive main
  return *r;
}

int gSignalPipe[2] = {-1, -1};
struct sigaction gPreviousAction {};

// Async-signal-safe: write(2) and errno only. The watcher thread does the rest.
void onSigusr1(int sig, siginfo_t* info, void* context) {
  int saved = errno;
  char byte = 1;
  ssize_t ignored = write(gSignalPipe[1], &byte, 1);  // a full pipe already holds a pending request
  (void)ignored;
  errno = saved;
  // A handler the program had before mixccl's still runs.
  if ((gPreviousAction.sa_flags & SA_SIGINFO) && gPreviousAction.sa_sigaction != nullptr) {
    gPreviousAction.sa_sigaction(sig, info, context);
  } else if (!(gPreviousAction.sa_flags & SA_SIGINFO) && gPreviousAction.sa_handler != SIG_DFL &&
             gPreviousAction.sa_handler != SIG_IGN && gPreviousAction.sa_handler != nullptr) {
    gPreviousAction.sa_handler(sig);
  }
}

void watch() {
  for (;;) {
    char bytes[64];
    ssize_t n = read(gSignalPipe[0], bytes, sizeof(bytes));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    dumpAllHistories("SIGUSR1");
  }
}

void installSignalWatcher() {
  if (pipe2(gSignalPipe, O_CLOEXEC) != 0) {
    MIXCCL_WARN("MIXCCL_DEBUG: cannot create the SIGUSR1 pipe (%s); SIGUSR1 will not print hang diagnoses",
                std::strerror(errno));
    return;
  }
  fcntl(gSignalPipe[1], F_SETFL, O_NONBLOCK);  // the handler must never block
  std::thread(watch).detach();
  struct sigaction action {};
  action.sa_sigaction = onSigusr1;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGUSR1, &action, &gPreviousAction);
  MIXCCL_INFO("MIXCCL_DEBUG: kill -USR1 %d prints what each communicator of this process is doing",
              static_cast<int>(getpid()));
}

}  // namespace

void registerHistory(const std::shared_ptr<OpHistory>& history) {
  static std::once_flag once;
  if (env::get("DEBUG", true)) std::call_once(once, installSignalWatcher);
  std::lock_guard<std::mutex> lock(gRegistryMutex);
  auto& r = registry();
  r.erase(std::remove_if(r.begin(), r.end(), [](const auto& w) { return w.expired(); }), r.end());
  r.push_back(history);
}

void unregisterHistory(const OpHistory* history) {
  std::lock_guard<std::mutex> lock(gRegistryMutex);
  auto& r = registry();
  r.erase(std::remove_if(r.begin(), r.end(),
                         [&](const auto& w) {
                           auto s = w.lock();
                           return !s || s.get() == history;
                         }),
          r.end());
}

void dumpAllHistories(const char* why) {
  std::vector<std::shared_ptr<OpHistory>> live;
  {
    std::lock_guard<std::mutex> lock(gRegistryMutex);
    for (const auto& w : registry())
      if (auto s = w.lock()) live.push_back(s);
  }
  if (live.empty()) {
    std::fprintf(stderr, "mixccl hang diagnosis (%s): pid %d has no live communicator\n", why,
                 static_cast<int>(getpid()));
  }
  for (const auto& h : live) {
    std::string text = h->describe(why);
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  std::fflush(stderr);
}

}  // namespace mixccl
