#include "bench/perf/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bench/perf/collectives.h"
#include "bench/perf/data_check.h"
#include "bench/perf/device_memory.h"
#include "bench/perf/dtypes.h"
#include "bench/perf/report.h"
#include "bench/perf/timing.h"

namespace mixcclperf {

namespace {

// The device kind of each rank cycles over --devices; the ordinal counts earlier ranks of the same kind
// on this host (ranks of one host are assumed consecutive, as mpirun and -np place them).
void chooseDevice(const Options& o, const World& w, std::string* kind, int* ordinal) {
  const auto kindOf = [&](int rank) { return o.devices[static_cast<size_t>(rank) % o.devices.size()]; };
  *kind = kindOf(w.rank);
  *ordinal = 0;
  for (int r = w.rank - w.localRank; r < w.rank; ++r)
    if (r >= 0 && kindOf(r) == *kind) ++*ordinal;
}

// Every rank's pid, host and device, for the "# Using devices" lines.
std::vector<RankDevice> gatherDevices(mixcclComm_t comm, const World& w) {
  struct Entry {
    int32_t pid, ordinal;
    char host[64];
    char kind[32];
  };
  Entry mine{};
  mine.pid = getpid();
  gethostname(mine.host, sizeof(mine.host) - 1);
  const char* kind = "?";
  int ordinal = 0;
  expectSuccess(mixcclCommDevice(comm, &kind, &ordinal), "mixcclCommDevice", "reading this rank's device", comm);
  mine.ordinal = ordinal;
  std::snprintf(mine.kind, sizeof(mine.kind), "%s", kind);
  std::vector<Entry> all(static_cast<size_t>(w.nranks));
  expectSuccess(mixcclAllGather(&mine, all.data(), sizeof(Entry), mixcclUint8, comm, nullptr), "mixcclAllGather",
                "gathering every rank's device for the header", comm);
  std::vector<RankDevice> devices;
  for (int r = 0; r < w.nranks; ++r) {
    const Entry& e = all[static_cast<size_t>(r)];
    devices.push_back({r, e.pid, std::string(e.host, strnlen(e.host, sizeof(e.host))),
                       std::string(e.kind, strnlen(e.kind, sizeof(e.kind))), e.ordinal});
  }
  return devices;
}

// A premulsum operator lives per communicator and type; the others are plain enum values.
class NativeRedOp {
 public:
  NativeRedOp(RedOp op, mixcclDataType_t type, mixcclComm_t comm) : comm_(comm) {
    switch (op) {
      case RedOp::Sum: op_ = mixcclSum; break;
      case RedOp::Prod: op_ = mixcclProd; break;
      case RedOp::Max: op_ = mixcclMax; break;
      case RedOp::Min: op_ = mixcclMin; break;
      case RedOp::Avg: op_ = mixcclAvg; break;
      case RedOp::PreMulSum: {
        alignas(8) unsigned char scalar[8] = {};
        storeElement(scalar, 0, type, kPreMulSumScalar);
        expectSuccess(mixcclRedOpCreatePreMulSum(&op_, scalar, type, mixcclScalarHostImmediate, comm),
                      "mixcclRedOpCreatePreMulSum", std::string("scalar 2 of type ") + dataTypeInfo(type).name, comm);
        created_ = true;
        break;
      }
    }
  }
  ~NativeRedOp() {
    if (created_) mixcclRedOpDestroy(op_, comm_);
  }
  NativeRedOp(const NativeRedOp&) = delete;
  NativeRedOp& operator=(const NativeRedOp&) = delete;
  mixcclRedOp_t get() const { return op_; }

 private:
  mixcclComm_t comm_;
  mixcclRedOp_t op_ = mixcclSum;
  bool created_ = false;
};

// Buffers live in the rank's device memory (host memory for cpu ranks); inputs and checks go
// through `host` and are copied across outside the timed calls.
struct Buffers {
  DeviceMemory& mem;
  DeviceBuffer send, recv, inPlace;
  std::vector<char> host;
  Buffers(DeviceMemory& m, const Shape& largest, size_t elementBytes)
      : mem(m),
        send(m, largest.sendCount * elementBytes),
        recv(m, largest.recvCount * elementBytes),
        inPlace(m, std::max(largest.sendCount, largest.recvCount) * elementBytes),
        host(std::max<size_t>(1, std::max(largest.sendCount, largest.recvCount) * elementBytes)) {}
  void fill(char* dst, size_t count, mixcclDataType_t type, const InputPattern& p, int rank) {
    fillInput(host.data(), count, type, p, rank);
    mem.toDevice(dst, host.data(), count * dataTypeInfo(type).bytes);
  }
  void sentinel(char* dst, size_t count, mixcclDataType_t type) {
    fillSentinel(host.data(), count, type);
    mem.toDevice(dst, host.data(), count * dataTypeInfo(type).bytes);
  }
  uint64_t wrong(const char* src, const CheckSetup& s, const InputPattern& p, mixcclDataType_t type) {
    mem.toHost(host.data(), src, s.shape.recvCount * dataTypeInfo(type).bytes);
    return countWrongElements(host.data(), s, p);
  }
};

// The communicators a sweep measures: the one it was given, or with --algos one split of it per
// algorithm, each forcing its algorithm through config.algorithms, so that the algorithms are timed in
// turn inside one process (alternating at every size: a noisy spell hits them alike).
struct Variant {
  std::string algorithm;  // empty without --algos (then comm is the caller's, not ours to destroy)
  mixcclComm_t comm = nullptr;
};

class Variants {
 public:
  Variants(const Options& o, const World& w, mixcclComm_t comm) {
    if (o.algos.empty()) {
      list_.push_back({"", comm});
      return;
    }
    // "all_reduce" -> "allreduce", the collective's name in config.algorithms' syntax.
    std::string key;
    for (char c : o.collective)
      if (c != '_') key += c;
    for (const std::string& name : o.algos) {
      const std::string spec = key + ":" + name;
      mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
      config.algorithms = spec.c_str();
      config.commName = "mixccl-perf";
      mixcclComm_t child = nullptr;
      mixcclResult_t r = mixcclCommSplit(comm, 0, w.rank, &child, &config);
      if (r != mixcclSuccess) {
        for (Variant& v : list_) mixcclCommAbort(v.comm);  // no destructor runs for a half-built object
        throw CallFailed("mixcclCommSplit", "one communicator forcing " + spec + " (--algos)", r, comm);
      }
      list_.push_back({name, child});
    }
  }
  // Left by an error (a failed call throws): abort, as runRank does with the parent, since peers may
  // be stuck in a call this rank will not make.
  ~Variants() {
    const bool failing = std::uncaught_exceptions() > 0;
    for (Variant& v : list_)
      if (!v.algorithm.empty()) failing ? mixcclCommAbort(v.comm) : mixcclCommDestroy(v.comm);
  }
  Variants(const Variants&) = delete;
  Variants& operator=(const Variants&) = delete;
  const std::vector<Variant>& list() const { return list_; }

 private:
  std::vector<Variant> list_;
};

class Sweep {
 public:
  Sweep(const Options& o, const World& w, mixcclComm_t comm, Report& report, DeviceMemory& mem)
      : o_(o), w_(w), comm_(comm), report_(report), mem_(mem), collective_(collectiveFromName(o.collective)) {}

  void run() {
    const CollectiveInfo& info = collectiveInfo(collective_);
    const std::vector<RedOp> ops = info.hasRedOp ? o_.redops : std::vector<RedOp>{RedOp::Sum};
    const Variants variants(o_, w_, comm_);
    for (mixcclDataType_t type : o_.dtypes) {
      const size_t elementBytes = dataTypeInfo(type).bytes;
      Buffers buffers(mem_, shapeFor(collective_, o_.maxBytes, elementBytes, w_.nranks, w_.rank), elementBytes);
      for (RedOp op : ops) {
        std::vector<std::unique_ptr<NativeRedOp>> natives;  // premulsum lives per communicator
        for (const Variant& v : variants.list()) natives.push_back(std::make_unique<NativeRedOp>(op, type, v.comm));
        for (size_t bytes : sweepSizes(o_)) {
          for (const Row& row : measure(variants, natives, bytes, type, op, buffers)) {
            if (w_.rank == 0) report_.printRow(row);
            else report_.keepRow(row);
          }
        }
      }
    }
  }

 private:
  // One size on every communicator of the sweep: a row each. The timed iterations run in rounds
  // (--rounds); in each round every communicator takes its turn, out of place and then in place, and a
  // row reports its median round (--round-stat). With one round this is nccl-tests' plain
  // warm-up-then-time. Until 2026-12-07 a row kept its fastest round: six communicators forcing the
  // same algorithm in one process then came out 11-20 % apart (2 ranks 16 MiB ring, 4 ranks 256 KiB
  // Rabenseifner, 32-96 rounds), their medians 1.4-2.6 % (the lucky round is luck, not the
  // communicator), and the tuner's target compared against the luckiest of seven.
  // Every communicator's calls start from the same barrier, on the sweep's own communicator: the
  // first timed call absorbs how unevenly the ranks leave the barrier, and a barrier run by each
  // communicator's own algorithm made that differ by algorithm (4 ranks on 2 cores, 256 KiB in rounds
  // of 4 calls: the tuner's communicator, whose barrier is the fast path's, timed 1.04-1.31x the same
  // Rabenseifner forced; from one barrier, 0.93-1.08x with 10 calls a round).
  std::vector<Row> measure(const Variants& variants, const std::vector<std::unique_ptr<NativeRedOp>>& natives,
                           size_t bytes, mixcclDataType_t type, RedOp op, Buffers& b) {
    const CollectiveInfo& info = collectiveInfo(collective_);
    const DataTypeInfo& t = dataTypeInfo(type);
    const Shape shape = shapeFor(collective_, bytes, t.bytes, w_.nranks, w_.rank);
    const int root = info.hasRoot ? o_.root : -1;
    Row blank;
    blank.bytes = shape.totalCount * t.bytes;
    blank.count = shape.totalCount;
    blank.type = t.name;
    blank.redop = info.hasRedOp ? redOpName(op) : "none";
    blank.root = root;
    const std::string context = std::string(info.name) + ", " + std::to_string(blank.bytes) + " bytes, " + t.name +
                                (info.hasRedOp ? std::string(", ") + blank.redop : "");

    char* inPlaceSend = b.inPlace.get() + shape.inPlaceSendOffset * t.bytes;
    char* inPlaceRecv = b.inPlace.get() + shape.inPlaceRecvOffset * t.bytes;
    const size_t n = variants.list().size();
    auto call = [&](size_t i, const void* send, void* recv) {
      const mixcclComm_t comm = variants.list()[i].comm;
      const char* failedCall = "?";
      mixcclResult_t r = runCollective(collective_, send, recv, shape, type, natives[i]->get(), root, comm, &failedCall);
      expectSuccess(r, failedCall, context, comm);
    };

    // Timing runs on valid inputs (so reductions do ordinary arithmetic), filled once.
    const InputPattern timingInputs(collective_, op, type, w_.nranks, /*seed=*/0);
    b.fill(b.send.get(), shape.sendCount, type, timingInputs, w_.rank);
    b.fill(inPlaceSend, shape.sendCount, type, timingInputs, w_.rank);
    std::vector<Row> rows(n, blank);
    for (size_t i = 0; i < n; ++i) rows[i].algorithm = variants.list()[i].algorithm;
    std::vector<std::vector<double>> outRounds(n), inRounds(n);  // each communicator's rounds (us a call)
    for (int round = 0; round < o_.rounds; ++round) {
      // The iterations spread evenly, the first rounds taking the remainder; warm-up before the first.
      const int iters = o_.iters / o_.rounds + (round < o_.iters % o_.rounds ? 1 : 0);
      const int warmup = round == 0 ? o_.warmupIters : 0;
      // The order turns by one each round, so that every communicator takes every place in it equally:
      // the first place of a round ran about 2 % slower (2 ranks, 256 KiB, four rings forced, 32
      // rounds: the first slowest in 6 of 8 runs), which made the tuner, listed first, look worse
      // than its own algorithm forced.
      for (size_t k = 0; k < n; ++k) {
        const size_t i = (k + static_cast<size_t>(round)) % n;
        const double out = timeCalls(warmup, iters, [&] { call(i, b.send.get(), b.recv.get()); }, comm_);
        const double in = timeCalls(warmup, iters, [&] { call(i, inPlaceSend, inPlaceRecv); }, comm_);
        outRounds[i].push_back(out);
        inRounds[i].push_back(in);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      rows[i].outOfPlace.timeUs = roundTime(outRounds[i], o_.roundStat);
      rows[i].inPlace.timeUs = roundTime(inRounds[i], o_.roundStat);
      bandwidths(&rows[i].outOfPlace, rows[i].bytes);
      bandwidths(&rows[i].inPlace, rows[i].bytes);
    }

    if (o_.check) {
      // One more call on fresh inputs (another seed) over outputs marked "unwritten", then every element.
      const InputPattern checkInputs(collective_, op, type, w_.nranks, /*seed=*/1 + bytes);
      const CheckSetup setup{collective_, op, type, w_.nranks, w_.rank, root, shape};
      for (size_t i = 0; i < n; ++i) {
        const mixcclComm_t comm = variants.list()[i].comm;
        b.fill(b.send.get(), shape.sendCount, type, checkInputs, w_.rank);
        b.sentinel(b.recv.get(), shape.recvCount, type);
        call(i, b.send.get(), b.recv.get());
        rows[i].outOfPlace.wrong =
            static_cast<int64_t>(sumOverRanks(b.wrong(b.recv.get(), setup, checkInputs, type), comm));

        b.sentinel(b.inPlace.get(), std::max(shape.sendCount, shape.recvCount), type);
        b.fill(inPlaceSend, shape.sendCount, type, checkInputs, w_.rank);
        call(i, inPlaceSend, inPlaceRecv);
        rows[i].inPlace.wrong = static_cast<int64_t>(sumOverRanks(b.wrong(inPlaceRecv, setup, checkInputs, type), comm));
      }
    }
    return rows;
  }

  void bandwidths(Measurement* m, size_t bytes) const {
    m->algBw = m->timeUs > 0 ? static_cast<double>(bytes) / m->timeUs / 1e3 : 0;  // bytes/us/1e3 = GB/s
    m->busBw = m->algBw * busBandwidthFactor(collective_, w_.nranks);
  }

  const Options& o_;
  const World& w_;
  mixcclComm_t comm_;
  Report& report_;
  DeviceMemory& mem_;
  Collective collective_;
};

mixcclComm_t initComm(const Options& o, const World& w) {
  std::string kind;
  int ordinal = 0;
  chooseDevice(o, w, &kind, &ordinal);
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  config.deviceKind = kind.c_str();
  config.deviceOrdinal = ordinal;
  config.commName = "mixccl-perf";
  mixcclComm_t comm = nullptr;
  mixcclResult_t r = mixcclCommInitRankConfig(&comm, w.nranks, w.id, w.rank, &config);
  if (r != mixcclSuccess) {
    std::fprintf(stderr, "mixccl-perf: rank %d: mixcclCommInitRankConfig (%d ranks, device %s %d) failed: %s: %s\n",
                 w.rank, w.nranks, kind.c_str(), ordinal, mixcclGetErrorString(r), mixcclGetLastError(nullptr));
    return nullptr;
  }
  return comm;
}

}  // namespace

int runRank(const Options& o, const World& w) {
  const CollectiveInfo& info = collectiveInfo(collectiveFromName(o.collective));
  if (info.hasRoot && o.root >= w.nranks) {
    if (w.rank == 0)
      std::fprintf(stderr, "mixccl-perf: -r %d is not a rank: %s runs on %d ranks (0 .. %d)\n", o.root,
                   info.name, w.nranks, w.nranks - 1);
    return kExitUsage;
  }
  mixcclComm_t comm = initComm(o, w);
  if (comm == nullptr) return kExitError;
  try {
    Report report(o, w.nranks, w.launcher);
    const std::vector<RankDevice> devices = gatherDevices(comm, w);
    if (w.rank == 0) report.printHeader(devices);
    const char* kind = "cpu";
    int ordinal = 0;
    expectSuccess(mixcclCommDevice(comm, &kind, &ordinal), "mixcclCommDevice", "opening this rank's device memory", comm);
    std::unique_ptr<DeviceMemory> mem = openDeviceMemory(kind, ordinal);
    Sweep(o, w, comm, report, *mem).run();
    if (w.rank == 0) {
      report.printFooter();
      if (!o.jsonPath.empty() && !report.writeJson(o.jsonPath)) {
        mixcclCommDestroy(comm);
        return kExitUsage;
      }
    }
    expectSuccess(mixcclCommDestroy(comm), "mixcclCommDestroy", "end of the benchmark", nullptr);
    return report.wrongTotal() == 0 ? kExitOk : kExitWrongValues;
  } catch (const CallFailed& e) {
    std::fprintf(stderr, "mixccl-perf: rank %d: %s\n", w.rank, e.what());
    mixcclCommAbort(comm);
    return kExitError;
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "mixccl-perf: rank %d: %s\n", w.rank, e.what());
    mixcclCommAbort(comm);
    return kExitError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mixccl-perf: rank %d: out of memory for buffers of %zu bytes; lower -e\n", w.rank,
                 o.maxBytes);
    mixcclCommAbort(comm);
    return kExitError;
  }
}

}  // namespace mixcclperf
