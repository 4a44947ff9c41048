// mixccl-soak: many random collectives on N self-launched ranks, every result checked, memory
// watched. Each operation picks (the same on every rank, from --seed) a collective, data type,
// reduction, element count, root and in/out of place; inputs are small integers so every result is
// exact in every type. At the end each rank reports wrong results, failed calls and its resident
// memory (VmRSS) after the warm-up and at the end; the exit code is non-zero on any wrong result,
// any failure, or memory growth above --max-growth percent.
//
//   mixccl-soak [-n OPS] [-np RANKS] [--seed S] [--max-count C] [--max-growth PCT] [--warmup OPS]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mixccl.h"

namespace {

struct Options {
  long ops = 10000;
  int nranks = 4;
  uint64_t seed = 1;
  size_t maxCount = 65536;
  double maxGrowthPercent = 5.0;
  long warmup = -1;  // random ops before the first VmRSS reading; -1: min(1000, ops/4)
};

enum class Coll { AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AlltoAll, Gather, Scatter, Count };
const char* collName(Coll c) {
  static const char* names[] = {"AllReduce", "Broadcast", "Reduce", "AllGather", "ReduceScatter", "AlltoAll",
                                "Gather", "Scatter"};
  return names[static_cast<int>(c)];
}

// One operation, identical on every rank.
struct Plan {
  Coll coll;
  mixcclDataType_t type;
  mixcclRedOp_t op;
  size_t count;
  int root;
  bool inPlace;
};

const mixcclDataType_t kTypes[] = {mixcclInt8, mixcclUint8, mixcclInt32, mixcclUint32, mixcclInt64, mixcclUint64,
                                   mixcclFloat32, mixcclFloat64};
bool isFloat(mixcclDataType_t t) { return t == mixcclFloat32 || t == mixcclFloat64; }

Plan planFor(const Options& o, long i, bool maxSize) {
  std::mt19937_64 gen(o.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
  Plan p;
  p.coll = static_cast<Coll>(gen() % static_cast<uint64_t>(Coll::Count));
  p.type = kTypes[gen() % (sizeof(kTypes) / sizeof(kTypes[0]))];
  int nops = isFloat(p.type) ? 5 : 4;  // avg only for floats (integer averages truncate)
  p.op = static_cast<mixcclRedOp_t>(gen() % static_cast<uint64_t>(nops));
  int maxExp = 0;
  while ((size_t{1} << (maxExp + 1)) <= o.maxCount) ++maxExp;
  size_t limit = size_t{1} << (gen() % static_cast<uint64_t>(maxExp + 1));  // log-uniform sizes
  p.count = maxSize ? o.maxCount : 1 + gen() % limit;
  p.root = static_cast<int>(gen() % static_cast<uint64_t>(o.nranks));
  p.inPlace = p.coll != Coll::AlltoAll && (gen() % 2 == 0);
  return p;
}

// Rank r's input element j of operation i: 1, 2 or 3, so sums, products (3^n) and averages of
// powers-of-two rank counts are exact in every type.
int inputValue(int r, size_t j, long i) { return static_cast<int>((static_cast<size_t>(r) * 3 + j * 7 + static_cast<size_t>(i)) % 3) + 1; }

double reduceAll(const Plan& p, int n, size_t j, long i) {
  double acc = inputValue(0, j, i);
  for (int r = 1; r < n; ++r) {
    double v = inputValue(r, j, i);
    switch (p.op) {
      case mixcclSum: case mixcclAvg: acc += v; break;
      case mixcclProd: acc *= v; break;
      case mixcclMax: acc = std::max(acc, v); break;
      case mixcclMin: acc = std::min(acc, v); break;
      default: break;
    }
  }
  return p.op == mixcclAvg ? acc / n : acc;
}

struct Outcome {
  int rank = -1;
  long ops = 0;
  long wrong = 0;
  long failed = 0;
  long rssFirstKb = 0;
  long rssLastKb = 0;
  double seconds = 0;
  char firstProblem[256] = {};
};

// A field of /proc/self/status in kB ("VmRSS", "RssAnon", "RssShmem").
long statusKb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  size_t len = std::strlen(field);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = std::atol(line + len + 1);
      break;
    }
  }
  std::fclose(f);
  return kb;
}
long vmRssKb() { return statusKb("VmRSS"); }

// The send and receive buffers, allocated once at the largest size: the soak measures the library's
// memory, not the churn of its own allocations.
struct Buffers {
  std::vector<unsigned char> send, recv;
};

template <class T>
bool runTyped(mixcclComm_t comm, const Plan& p, int rank, int n, long i, Buffers& buffers, std::string* problem) {
  const size_t c = p.count;
  const size_t nc = c * static_cast<size_t>(n);
  // Sizes of the send and receive buffers, and where this rank's input lives.
  bool bigSend = p.coll == Coll::ReduceScatter || p.coll == Coll::AlltoAll || p.coll == Coll::Scatter;
  bool bigRecv = p.coll == Coll::AllGather || p.coll == Coll::AlltoAll || p.coll == Coll::Gather;
  struct View {
    T* ptr;
    size_t n;
    T* data() { return ptr; }
    size_t size() const { return n; }
  };
  View send{reinterpret_cast<T*>(buffers.send.data()), bigSend ? nc : c};
  View recv{reinterpret_cast<T*>(buffers.recv.data()), bigRecv ? nc : c};
  std::memset(recv.data(), 0, recv.size() * sizeof(T));
  auto fill = [&](T* dst, size_t elems, size_t base) {
    for (size_t j = 0; j < elems; ++j) dst[j] = static_cast<T>(inputValue(rank, base + j, i));
  };
  const T* sendPtr = send.data();
  T* recvPtr = recv.data();
  if (p.inPlace) {
    if (p.coll == Coll::AllGather || p.coll == Coll::Gather) {
      fill(recv.data() + static_cast<size_t>(rank) * c, c, 0);
      sendPtr = recv.data() + static_cast<size_t>(rank) * c;
    } else if (p.coll == Coll::ReduceScatter || p.coll == Coll::Scatter) {
      fill(send.data(), nc, 0);
      recvPtr = send.data() + static_cast<size_t>(rank) * c;
    } else {
      fill(recv.data(), c, 0);
      sendPtr = recv.data();
    }
  } else {
    fill(send.data(), send.size(), 0);
  }
  mixcclDataType_t t = p.type;
  mixcclResult_t rc = mixcclSuccess;
  switch (p.coll) {
    case Coll::AllReduce: rc = mixcclAllReduce(sendPtr, recvPtr, c, t, p.op, comm, nullptr); break;
    case Coll::Broadcast: rc = mixcclBroadcast(sendPtr, recvPtr, c, t, p.root, comm, nullptr); break;
    case Coll::Reduce: rc = mixcclReduce(sendPtr, recvPtr, c, t, p.op, p.root, comm, nullptr); break;
    case Coll::AllGather: rc = mixcclAllGather(sendPtr, recvPtr, c, t, comm, nullptr); break;
    case Coll::ReduceScatter: rc = mixcclReduceScatter(sendPtr, recvPtr, c, t, p.op, comm, nullptr); break;
    case Coll::AlltoAll: rc = mixcclAlltoAll(sendPtr, recvPtr, c, t, comm, nullptr); break;
    case Coll::Gather: rc = mixcclGather(sendPtr, recvPtr, c, t, p.root, comm, nullptr); break;
    case Coll::Scatter: rc = mixcclScatter(sendPtr, recvPtr, c, t, p.root, comm, nullptr); break;
    default: break;
  }
  if (rc != mixcclSuccess) {
    *problem = std::string("call failed: ") + mixcclGetLastError(comm);
    return false;
  }
  // What this rank must now hold.
  auto check = [&](size_t elems, auto expected) {
    for (size_t j = 0; j < elems; ++j) {
      T want = static_cast<T>(expected(j));
      if (std::memcmp(&recvPtr[j], &want, sizeof(T)) != 0) {
        char buf[200];
        std::snprintf(buf, sizeof(buf), "element %zu is %g, want %g", j, static_cast<double>(recvPtr[j]),
                      static_cast<double>(want));
        *problem = buf;
        return false;
      }
    }
    return true;
  };
  switch (p.coll) {
    case Coll::AllReduce: return check(c, [&](size_t j) { return reduceAll(p, n, j, i); });
    case Coll::Broadcast: return check(c, [&](size_t j) { return inputValue(p.root, j, i); });
    case Coll::Reduce:
      return rank != p.root || check(c, [&](size_t j) { return reduceAll(p, n, j, i); });
    case Coll::AllGather: return check(nc, [&](size_t j) { return inputValue(static_cast<int>(j / c), j % c, i); });
    case Coll::ReduceScatter:
      return check(c, [&](size_t j) { return reduceAll(p, n, static_cast<size_t>(rank) * c + j, i); });
    case Coll::AlltoAll:
      return check(nc, [&](size_t j) { return inputValue(static_cast<int>(j / c), static_cast<size_t>(rank) * c + j % c, i); });
    case Coll::Gather:
      return rank != p.root || check(nc, [&](size_t j) { return inputValue(static_cast<int>(j / c), j % c, i); });
    case Coll::Scatter:
      return check(c, [&](size_t j) { return inputValue(p.root, static_cast<size_t>(rank) * c + j, i); });
    default: return false;
  }
}

bool runOne(mixcclComm_t comm, const Plan& p, int rank, int n, long i, Buffers& b, std::string* problem) {
  switch (p.type) {
    case mixcclInt8: return runTyped<int8_t>(comm, p, rank, n, i, b, problem);
    case mixcclUint8: return runTyped<uint8_t>(comm, p, rank, n, i, b, problem);
    case mixcclInt32: return runTyped<int32_t>(comm, p, rank, n, i, b, problem);
    case mixcclUint32: return runTyped<uint32_t>(comm, p, rank, n, i, b, problem);
    case mixcclInt64: return runTyped<int64_t>(comm, p, rank, n, i, b, problem);
    case mixcclUint64: return runTyped<uint64_t>(comm, p, rank, n, i, b, problem);
    case mixcclFloat32: return runTyped<float>(comm, p, rank, n, i, b, problem);
    case mixcclFloat64: return runTyped<double>(comm, p, rank, n, i, b, problem);
    default: return false;
  }
}

Outcome runRank(const Options& o, int rank, const mixcclUniqueId& id) {
  Outcome out;
  out.rank = rank;
  mixcclComm_t comm = nullptr;
  if (mixcclCommInitRank(&comm, o.nranks, id, rank) != mixcclSuccess) {
    std::snprintf(out.firstProblem, sizeof(out.firstProblem), "init: %s", mixcclGetLastError(nullptr));
    out.failed = 1;
    return out;
  }
  auto note = [&](long i, const Plan& p, const std::string& what) {
    if (out.firstProblem[0] != '\0') return;
    std::snprintf(out.firstProblem, sizeof(out.firstProblem), "op %ld %s count %zu type %d op %d root %d %s: %s", i,
                  collName(p.coll), p.count, static_cast<int>(p.type), static_cast<int>(p.op), p.root,
                  p.inPlace ? "in place" : "out of place", what.c_str());
  };
  Buffers buffers;
  buffers.send.resize(o.maxCount * static_cast<size_t>(o.nranks) * 8);
  buffers.recv.resize(o.maxCount * static_cast<size_t>(o.nranks) * 8);
  // Warm-up: every collective at the largest size and widest type, in and out of place, with the
  // operator that needs most scratch (avg: a pre-scaled copy), so that scratch buffers reach their
  // steady size; then the first `warmup` random ops (the schedule cache fills and starts over: it
  // holds 256; shared-memory ring slots all get touched), and memory is measured from there.
  // Warm-up ops are checked like all others.
  for (int c = 0; c < static_cast<int>(Coll::Count); ++c) {
    for (int inPlace = 0; inPlace < 2; ++inPlace) {
      Plan p = planFor(o, -1 - c, true);
      p.coll = static_cast<Coll>(c);
      p.type = mixcclFloat64;
      p.op = mixcclAvg;
      p.inPlace = inPlace == 1 && p.coll != Coll::AlltoAll;
      std::string problem;
      if (!runOne(comm, p, rank, o.nranks, -1 - c, buffers, &problem)) {
        note(-1 - c, p, problem);
        ++out.failed;
      }
    }
  }
  const long warmup = o.warmup >= 0 ? std::min(o.warmup, o.ops) : std::min(1000L, o.ops / 4);
  out.rssFirstKb = vmRssKb();
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < o.ops && out.failed == 0; ++i) {
    if (i == warmup) out.rssFirstKb = vmRssKb();
    if (std::getenv("MIXCCL_SOAK_TRACE") && i % 1000 == 0) {
      std::fprintf(stderr, "rank %d op %ld: VmRSS %ld RssAnon %ld RssShmem %ld RssFile %ld kB\n", rank, i, vmRssKb(),
                   statusKb("RssAnon"), statusKb("RssShmem"), statusKb("RssFile"));
    }
    Plan p = planFor(o, i, false);
    std::string problem;
    if (!runOne(comm, p, rank, o.nranks, i, buffers, &problem)) {
      note(i, p, problem);
      if (problem.rfind("call failed", 0) == 0) ++out.failed;  // the ranks may be out of step: stop
      else ++out.wrong;
    }
    ++out.ops;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.rssLastKb = vmRssKb();
  if (out.failed == 0) mixcclCommDestroy(comm);
  else mixcclCommAbort(comm);
  return out;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [-n OPS] [-np RANKS] [--seed S] [--max-count C] [--max-growth PCT] [--warmup OPS]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    auto next = [&]() -> const char* { return a + 1 < argc ? argv[++a] : nullptr; };
    const char* v = nullptr;
    if (arg == "-h" || arg == "--help") return usage(argv[0]);
    if ((arg == "-n" || arg == "--ops") && (v = next())) o.ops = std::atol(v);
    else if (arg == "-np" && (v = next())) o.nranks = std::atoi(v);
    else if (arg == "--seed" && (v = next())) o.seed = std::strtoull(v, nullptr, 10);
    else if (arg == "--max-count" && (v = next())) o.maxCount = std::strtoull(v, nullptr, 10);
    else if (arg == "--max-growth" && (v = next())) o.maxGrowthPercent = std::atof(v);
    else if (arg == "--warmup" && (v = next())) o.warmup = std::atol(v);
    else return usage(argv[0]);
  }
  if (o.ops < 0 || o.nranks < 1 || o.nranks > 64 || o.maxCount < 1) return usage(argv[0]);
  setenv("MIXCCL_TIMEOUT", "60", 0);  // a hang fails the soak in a minute, not five

  mixcclUniqueId id;
  if (mixcclGetUniqueId(&id) != mixcclSuccess) {
    std::fprintf(stderr, "mixccl-soak: mixcclGetUniqueId: %s\n", mixcclGetLastError(nullptr));
    return 1;
  }
  int fds[2];
  if (pipe(fds) != 0) return 1;
  std::vector<pid_t> pids;
  for (int r = 0; r < o.nranks; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      Outcome out = runRank(o, r, id);
      ssize_t w = write(fds[1], &out, sizeof(out));  // < PIPE_BUF: atomic
      _exit(w == static_cast<ssize_t>(sizeof(out)) ? 0 : 1);
    }
    if (pid < 0) {
      std::perror("mixccl-soak: fork");
      for (pid_t p : pids) kill(p, SIGKILL);
      return 1;
    }
    pids.push_back(pid);
  }
  close(fds[1]);
  std::vector<Outcome> outcomes;
  Outcome out;
  while (read(fds[0], &out, sizeof(out)) == static_cast<ssize_t>(sizeof(out))) outcomes.push_back(out);
  for (pid_t p : pids) waitpid(p, nullptr, 0);

  std::sort(outcomes.begin(), outcomes.end(), [](const Outcome& a, const Outcome& b) { return a.rank < b.rank; });
  bool ok = static_cast<int>(outcomes.size()) == o.nranks;
  long wrong = 0, failed = 0;
  double worstGrowth = 0;
  std::printf("mixccl-soak: %ld random collectives on %d ranks, seed %" PRIu64 ", counts 1..%zu\n", o.ops, o.nranks,
              o.seed, o.maxCount);
  for (const Outcome& r : outcomes) {
    double growth = r.rssFirstKb > 0 ? 100.0 * static_cast<double>(r.rssLastKb - r.rssFirstKb) / static_cast<double>(r.rssFirstKb) : 0;
    worstGrowth = std::max(worstGrowth, growth);
    wrong += r.wrong;
    failed += r.failed;
    std::printf("  rank %d: %ld ops in %.1f s, %ld wrong, %ld failed, VmRSS %ld kB after warm-up -> %ld kB at the end (%+.2f%%)%s%s\n",
                r.rank, r.ops, r.seconds, r.wrong, r.failed, r.rssFirstKb, r.rssLastKb, growth,
                r.firstProblem[0] ? "\n    first problem: " : "", r.firstProblem);
  }
  if (!ok) std::printf("  only %zu of %d ranks reported (a rank crashed?)\n", outcomes.size(), o.nranks);
  ok = ok && wrong == 0 && failed == 0 && worstGrowth <= o.maxGrowthPercent;
  std::printf("mixccl-soak: %s: %ld wrong results, %ld failed calls, worst VmRSS growth %+.2f%% (limit %.1f%%)\n",
              ok ? "PASS" : "FAIL", wrong, failed, worstGrowth, o.maxGrowthPercent);
  return ok ? 0 : 1;
}
