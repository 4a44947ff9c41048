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
      epoch_(nowSeconds()), ring_(new Record[depth_ + 1]) {}

// No standalone fences (TSan does not support them, and gcc refuses them under -fsanitize=thread):
// every field is stored with release, so the odd version, stored before it, is seen first; the
// reader loads every field with acquire, so its second look at the version comes after them. On
// x86 both are plain moves.
void OpHistory::startWrite(Record& r) {
  r.version.store(r.version.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void OpHistory::finishWrite(Record& r) {
  r.version.store(r.version.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

bool OpHistory::read(const Record& r, Snapshot* out) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint64_t before = r.version.load(std::memory_order_acquire);
    if (before % 2 != 0) {
      std::this_thread::yield();
      continue;
    }
    out->seq = r.seq.load(std::memory_order_acquire);
    out->collective = r.collective.load(std::memory_order_acquire);
    out->count = r.count.load(std::memory_order_acquire);
    out->type = r.type.load(std::memory_order_acquire);
    out->redop = r.redop.load(std::memory_order_acquire);
    out->root = r.root.load(std::memory_order_acquire);
    out->algorithm = r.algorithm.load(std::memory_order_acquire);
    out->rounds = r.rounds.load(std::memory_order_acquire);
    out->state = r.state.load(std::memory_order_acquire);
    out->startSeconds = r.startSeconds.load(std::memory_order_acquire);
    out->durationMs = r.durationMs.load(std::memory_order_acquire);
    if (r.version.load(std::memory_order_relaxed) == before) return true;
  }
  return false;
}

const std::string* OpHistory::intern(const std::string& name) {
  const std::string* last = lastName_.load(std::memory_order_relaxed);
  if (last != nullptr && *last == name) return last;  // the common case: the same algorithm again
  std::lock_guard<std::mutex> lock(namesMutex_);
  const std::string* found = nullptr;
  for (const auto& n : names_)
    if (*n == name) found = n.get();
  if (found == nullptr) {
    names_.push_back(std::make_unique<std::string>(name));
    found = names_.back().get();
  }
  lastName_.store(found, std::memory_order_relaxed);
  return found;
}

void OpHistory::begin(uint64_t seq, Collective collective, size_t count, mixcclDataType_t type, int redop, int root) {
  Record& r = ring_[next_.load(std::memory_order_relaxed)];
  startWrite(r);
  r.seq.store(seq, std::memory_order_release);
  r.collective.store(collective, std::memory_order_release);
  r.count.store(count, std::memory_order_release);
  r.type.store(type, std::memory_order_release);
  r.redop.store(redop, std::memory_order_release);
  r.root.store(root, std::memory_order_release);
  r.algorithm.store(nullptr, std::memory_order_release);
  r.rounds.store(0, std::memory_order_release);
  r.state.store(Snapshot::Running, std::memory_order_release);
  r.startSeconds.store(nowSeconds() - epoch_, std::memory_order_release);
  r.durationMs.store(0, std::memory_order_release);
  finishWrite(r);
  round_.store(0, std::memory_order_relaxed);
  // Waits published for earlier operations no longer show. One writer: a load and a store, no
  // locked instruction.
  started_.store(started_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  running_.store(true, std::memory_order_release);
}

void OpHistory::setAlgorithm(const std::string& algorithm, size_t rounds) {
  if (!running_.load(std::memory_order_relaxed)) return;
  const std::string* name = intern(algorithm);
  Record& r = ring_[next_.load(std::memory_order_relaxed)];
  startWrite(r);
  r.algorithm.store(name, std::memory_order_release);
  r.rounds.store(rounds, std::memory_order_release);
  finishWrite(r);
}

void OpHistory::setWaiting(const std::vector<std::pair<int, bool>>& peerIsSend) {
  std::lock_guard<std::mutex> lock(waitingMutex_);
  waiting_ = peerIsSend;
  waitingOp_ = started_.load(std::memory_order_relaxed);
}

void OpHistory::end(bool ok) {
  if (!running_.load(std::memory_order_relaxed)) return;
  const size_t at = next_.load(std::memory_order_relaxed);
  Record& r = ring_[at];
  startWrite(r);
  r.state.store(ok ? Snapshot::Done : Snapshot::Failed, std::memory_order_release);
  r.durationMs.store((nowSeconds() - epoch_ - r.startSeconds.load(std::memory_order_relaxed)) * 1e3,
                     std::memory_order_release);
  finishWrite(r);
  running_.store(false, std::memory_order_relaxed);
  next_.store((at + 1) % (depth_ + 1), std::memory_order_relaxed);
  total_.store(total_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

std::string OpHistory::describe(const char* why) const {
  const size_t total = total_.load(std::memory_order_acquire);
  const size_t next = next_.load(std::memory_order_relaxed);
  const bool running = running_.load(std::memory_order_acquire);
  std::string out = strFormat("mixccl hang diagnosis (%s): %s rank %d/%d, pid %d, %zu operation(s) completed\n", why,
                              name_.c_str(), rank_, nranks_, static_cast<int>(getpid()), total);
  auto line = [&](const Snapshot& r) {
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
    if (r.algorithm != nullptr) text += strFormat(", algorithm %s (%zu rounds)", r.algorithm->c_str(), r.rounds);
    return text;
  };
  Snapshot now;
  if (running && read(ring_[next], &now)) {
    out += strFormat("  in progress for %.1f s: %s, round %zu of %zu\n", nowSeconds() - epoch_ - now.startSeconds,
                     line(now).c_str(), round_.load(std::memory_order_relaxed) + 1, now.rounds);
    std::string peers;
    {
      std::lock_guard<std::mutex> lock(waitingMutex_);
      if (waitingOp_ == started_.load(std::memory_order_relaxed)) {
        for (const auto& [peer, isSend] : waiting_) {
          peers += strFormat("%s%s rank %d", peers.empty() ? "" : ", ", isSend ? "send to" : "receive from", peer);
        }
      }
    }
    out += strFormat("  waiting for: %s\n", peers.empty() ? "(not waiting on a peer yet)" : peers.c_str());
  } else if (running) {
    out += "  an operation is starting or ending (its record kept changing while being read)\n";
  } else {
    out += "  no operation in progress\n";
  }
  // The finished records, by sequence number: a writer that moved on while they were read has
  // reused the oldest slots (those then hold newer operations, or the one starting).
  std::vector<Snapshot> finished;
  finished.reserve(depth_);
  size_t busy = 0;
  for (size_t i = 0; i < std::min(total, depth_); ++i) {
    Snapshot r;
    if (!read(ring_[(next + depth_ - i) % (depth_ + 1)], &r)) {
      ++busy;
    } else if (r.state != Snapshot::Running) {
      finished.push_back(r);
    }
  }
  // Oldest slot first, then by sequence number, keeping slot order among equal numbers (a group of
  // sends and receives carries the number of the collective before it).
  std::reverse(finished.begin(), finished.end());
  std::stable_sort(finished.begin(), finished.end(), [](const Snapshot& a, const Snapshot& b) { return a.seq < b.seq; });
  out += strFormat("  last %zu operation(s), oldest first:\n", finished.size());
  for (const Snapshot& r : finished) {
    const char* state = r.state == Snapshot::Done ? "done" : "FAILED";
    if (r.durationMs < tickMs()) {
      out += strFormat("    %s: %s after < %.0f ms\n", line(r).c_str(), state, tickMs());
    } else {
      out += strFormat("    %s: %s after %.0f ms\n", line(r).c_str(), state, r.durationMs);
    }
  }
  if (busy > 0) out += strFormat("    (%zu record(s) being rewritten while read)\n", busy);
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
