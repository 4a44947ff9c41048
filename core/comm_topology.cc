#include "core/comm_topology.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "algorithms/builder_util.h"
#include "core/comm.h"
#include "core/engine.h"
#include "core/env.h"
#include "core/log.h"
#include "core/tuner.h"
#include "topology/cost_model.h"
#include "topology/discovery.h"
#include "topology/topology_file.h"

namespace mixccl {
namespace {

constexpr int kMaxCaches = 4;
constexpr int kMaxNics = 8;
constexpr size_t kMaxClasses = 8;

// One rank's host as it travels through the bootstrap allGather (plain bytes).
struct HostRecord {
  uint64_t id;
  char name[64];
  char discoveredBy[32];
  char deviceKind[32];
  int32_t deviceOrdinal;
  int32_t hostMemory;  // the device computes in host memory: messages are not staged
  int32_t packages, numaNodes, cores, pus;
  int32_t nCaches, nNics;
  struct {
    int32_t level, count;
    uint64_t bytes;
  } caches[kMaxCaches];
  struct {
    char name[16];
    char address[48];
    double speedGbps;
    int32_t loopback;
  } nics[kMaxNics];
};

// What one rank measured: NaN where it measured nothing.
struct Measurement {
  double alphaUs[kMaxClasses];
  double betaGBps[kMaxClasses];
  double copyGBps;
  double reduceGBps;
  double bulkCopyGBps;    // the same with operands far beyond the caches
  double bulkReduceGBps;
  double stagingGBps;   // device <-> host copies (0: host memory)
  double callUs;        // the fixed cost of one device operation (DeviceRates::callUs)
  double ringRoundUs;   // one round of a ring shift of kStepBytes among this host's ranks, all active at once
  double smallRoundUs;  // the same with kWaitBytes messages
  double netGBps;      // host leaders: the best rate of its exchanges with neighbouring hosts
};

template <size_t N>
void copyText(char (&dst)[N], const std::string& src) {
  std::snprintf(dst, N, "%s", src.c_str());
}

const HostInfo& localHost() {
  // hwloc loads in milliseconds, but every communicator of a process would repeat it.
  static std::once_flag once;
  static HostInfo host;
  std::call_once(once, [] { host = discoverLocalHost(); });
  return host;
}

HostRecord packHost(const mixcclComm* comm) {
  const HostInfo& h = localHost();
  HostRecord r;
  std::memset(&r, 0, sizeof(r));
  r.id = comm->peers[static_cast<size_t>(comm->rank)].hostId;  // the identity the transports used
  copyText(r.name, h.name);
  copyText(r.discoveredBy, h.discoveredBy);
  copyText(r.deviceKind, comm->device->kind());
  r.deviceOrdinal = comm->device->ordinal();
  r.hostMemory = comm->device->hostAccessible() ? 1 : 0;
  r.packages = h.packages;
  r.numaNodes = h.numaNodes;
  r.cores = h.cores;
  r.pus = h.pus;
  for (const auto& c : h.caches) {
    if (r.nCaches == kMaxCaches) break;
    r.caches[r.nCaches++] = {c.level, c.count, c.bytes};
  }
  for (const auto& n : h.nics) {
    if (r.nNics == kMaxNics) break;
    auto& out = r.nics[r.nNics++];
    copyText(out.name, n.name);
    copyText(out.address, n.address);
    out.speedGbps = n.speedGbps;
    out.loopback = n.loopback ? 1 : 0;
  }
  return r;
}

HostInfo unpackHost(const HostRecord& r) {
  HostInfo h;
  h.id = r.id;
  h.name = std::string(r.name, strnlen(r.name, sizeof(r.name)));
  h.discoveredBy = std::string(r.discoveredBy, strnlen(r.discoveredBy, sizeof(r.discoveredBy)));
  h.packages = r.packages;
  h.numaNodes = r.numaNodes;
  h.cores = r.cores;
  h.pus = r.pus;
  for (int i = 0; i < std::clamp(r.nCaches, 0, kMaxCaches); ++i)
    h.caches.push_back({r.caches[i].level, r.caches[i].bytes, r.caches[i].count});
  for (int i = 0; i < std::clamp(r.nNics, 0, kMaxNics); ++i) {
    NetworkInterface n;
    n.name = std::string(r.nics[i].name, strnlen(r.nics[i].name, sizeof(r.nics[i].name)));
    n.address = std::string(r.nics[i].address, strnlen(r.nics[i].address, sizeof(r.nics[i].address)));
    n.speedGbps = r.nics[i].speedGbps;
    n.loopback = r.nics[i].loopback != 0;
    h.nics.push_back(n);
  }
  return h;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs one calibration schedule through the engine (input at buf, output at buf + outOffset) and
// returns its wall time in microseconds.
Status timeSchedule(mixcclComm* comm, const Schedule& s, mixcclDataType_t type, void* buf, size_t outOffset,
                    const char* what, double* us) {
  ExecArgs exec;
  exec.schedule = &s;
  exec.type = type;
  exec.op = ReduceOp::Sum;
  exec.what = what;
  exec.buffers = {buf, static_cast<char*>(buf) + outOffset, nullptr};
  auto t0 = std::chrono::steady_clock::now();
  MIXCCL_CHECK(runSchedule(comm, exec));
  *us = secondsSince(t0) * 1e6;
  return Status::ok();
}

// Half the round trip of `iters` ping-pongs of `bytes` between this rank and `peer` (microseconds),
// through the engine and the real link, exactly as collectives move data.
Status pingPong(mixcclComm* comm, int peer, bool first, size_t bytes, int iters, void* buf, double* halfRttUs) {
  Schedule s;
  s.algorithm = "calibration ping-pong";
  for (int i = 0; i < iters; ++i) {
    for (bool sending : {first, !first}) {
      Round& round = newRound(s);
      if (sending) addSend(round, peer, region(Buf::Input, 0, bytes));
      else addRecv(round, peer, region(Buf::Output, 0, bytes));
    }
  }
  double us = 0;
  MIXCCL_CHECK(timeSchedule(comm, s, mixcclUint8, buf, bytes, "link calibration", &us));
  *halfRttUs = us / (2.0 * iters);
  return Status::ok();
}

constexpr size_t kLargeBytes = 1 << 20;

// Measures the link classes this rank is the designated pair for: the lowest pair of each class
// whose two devices compute in host memory, else the lowest pair. A message to or from a device
// rank is also staged through host memory, which the cost model prices on its own (the device's
// stagingGBps): measured through an emu rank at 4 GB/s, the shm class read 1.9 GB/s and every
// cpu-to-cpu message was priced as slow as the emu's.
Status measureLinks(mixcclComm* comm, const Topology& t, void* buf, Measurement* m) {
  const int n = t.nranks();
  auto staged = [&](int r) {
    const DeviceRates* d = t.ratesOf(t.ranks[static_cast<size_t>(r)].deviceKind);
    return d != nullptr && d->stagingGBps > 0;
  };
  for (size_t c = 0; c < t.linkClasses.size() && c < kMaxClasses; ++c) {
    int a = -1, b = -1;
    for (int pass = 0; pass < 2 && a < 0; ++pass)
      for (int i = 0; i < n && a < 0; ++i)
        for (int j = i + 1; j < n; ++j)
          if (t.linkOf[static_cast<size_t>(i * n + j)] == c && t.linkOf[static_cast<size_t>(j * n + i)] == c &&
              (pass == 1 || (!staged(i) && !staged(j)))) {
            a = i, b = j;
            break;
          }
    if (a < 0 || (comm->rank != a && comm->rank != b)) continue;
    const int peer = comm->rank == a ? b : a;
    const bool first = comm->rank == a;
    double warm, small, large;
    // Warm-up at both sizes first: the first large message faults in the buffers and the link's
    // own memory (shm rings), which would otherwise pass for a slow link.
    MIXCCL_CHECK(pingPong(comm, peer, first, kLargeBytes, 1, buf, &warm));
    MIXCCL_CHECK(pingPong(comm, peer, first, 8, 5, buf, &warm));
    // The best of three batches: other processes on a shared machine only ever make a batch slower.
    small = large = 1e30;
    // Small messages first: right after large ones, the device's helper threads may still be spinning
    // on the cores (oneTBB workers do for a while) and would make the link look slow.
    for (int batch = 0; batch < 3; ++batch) {
      double us;
      MIXCCL_CHECK(pingPong(comm, peer, first, 8, 10, buf, &us));
      small = std::min(small, us);
    }
    for (int batch = 0; batch < 3; ++batch) {
      double us;
      MIXCCL_CHECK(pingPong(comm, peer, first, kLargeBytes, 1, buf, &us));
      large = std::min(large, us);
    }
    MIXCCL_TRACE("%s rank %d: link %s to rank %d: 8 B half round trip %.2f us, %zu B %.2f us", comm->name.c_str(),
                 comm->rank, t.linkClasses[c].name.c_str(), peer, small, kLargeBytes, large);
    m->alphaUs[c] = small;
    // The large message's time beyond one small message's is the bandwidth term. On a loaded or
    // oversubscribed machine the small message can cost nearly as much as the large one (a context
    // switch hides the copy); the difference would then claim an absurd bandwidth, so count at
    // least half of the large message's time as transfer: beta is never above twice the rate the
    // large ping-pong itself showed.
    m->betaGBps[c] = static_cast<double>(kLargeBytes) / std::max(large - small, 0.5 * large) * 1e-3;
  }
  return Status::ok();
}

// Every rank of a host with others on it runs a ring shift among them, all at once, as a collective's
// steps run: each round sends a message to the right and receive-reduces one from the left. The
// model prices the same schedule; what the measured round costs beyond that prediction is the
// host's scheduling cost: with more ranks than cores, a rank that waits gives its core away and
// gets it back only when another rank's slice ends, which no alpha-beta term shows. Run with tiny
// messages it gives the fixed cost of a waiting round (HostInfo::waitUs), with kStepBytes the
// size-proportional rest per waited message (HostInfo::stepUs). Measured, not assumed: close to
// zero where every rank has a core.
constexpr size_t kStepBytes = kStepCalibrationBytes;
constexpr int kStepRounds = 6;
// The first batches of the large ring fault in the links' memory: on a 2-core VM with 4 ranks a
// round took 2-3 ms in the first batch, 110-460 us in the second and 40-100 us from the third on.
// With two batches the step cost read the second (110-360 us per waited message, where the ring
// all-reduce's own rounds showed none) and the tuner priced ring-like schedules 2-3x too dear.
constexpr int kStepBatches = 6;
constexpr size_t kWaitBytes = 2 * sizeof(float);
constexpr int kWaitRounds = 20;

Schedule hostRingSchedule(const Topology& t, int rank, int rounds, size_t bytes) {
  Schedule s;
  s.algorithm = "calibration ring shift";
  std::vector<int> mates;
  for (int r = 0; r < t.nranks(); ++r)
    if (t.ranks[static_cast<size_t>(r)].host == t.ranks[static_cast<size_t>(rank)].host) mates.push_back(r);
  if (mates.size() < 2) return s;
  const size_t q = static_cast<size_t>(std::find(mates.begin(), mates.end(), rank) - mates.begin());
  const int right = mates[(q + 1) % mates.size()], left = mates[(q + mates.size() - 1) % mates.size()];
  const size_t count = bytes / sizeof(float);
  for (int i = 0; i < rounds; ++i) {
    Round& round = newRound(s);
    addSend(round, right, region(Buf::Input, 0, count));
    addRecvReduce(round, left, region(Buf::Input, 0, count), region(Buf::Output, 0, count));
  }
  return s;
}

Status measureHostRing(mixcclComm* comm, const Topology& t, void* buf, Measurement* m) {
  auto ring = [&](int rounds, double* us, size_t bytes = kStepBytes) -> Status {
    Schedule s = hostRingSchedule(t, comm->rank, rounds, bytes);
    if (s.rounds.empty()) return Status::ok();
    MIXCCL_CHECK(timeSchedule(comm, s, mixcclFloat32, buf, kCachedRateBytes, "host scheduling calibration", us));
    *us /= rounds;
    return Status::ok();
  };
  auto bestOf = [&](int batches, int rounds, size_t bytes, double* best) -> Status {
    *best = 1e30;
    for (int batch = 0; batch < batches; ++batch) {
      double us = NAN;
      MIXCCL_CHECK(ring(rounds, &us, bytes));
      *best = std::min(*best, us);
    }
    return Status::ok();
  };
  double us = NAN;
  MIXCCL_CHECK(ring(2, &us));  // the ranks arrive at different times: the first rounds line them up
  if (std::isnan(us)) return Status::ok();
  MIXCCL_CHECK(bestOf(kStepBatches, kStepRounds, kStepBytes, &m->ringRoundUs));
  MIXCCL_CHECK(bestOf(3, kWaitRounds, kWaitBytes, &m->smallRoundUs));
  return Status::ok();
}

constexpr size_t kNetBytes = 1 << 20;

// Hosts' own network rates: host leaders exchange kNetBytes both ways with a neighbouring host's
// leader, in two phases (hosts 0-1, 2-3, ... then 1-2, 3-4, ..., last-0), so each host meets both
// ring neighbours. A pair's exchange runs at the slower host's rate; a host's rate is the better of
// its two exchanges (exact when slow hosts are not neighbours; otherwise it errs low). A warm-up
// message first drains any token-bucket burst so the timed one shows the sustained rate.
Status measureHostNetwork(mixcclComm* comm, const Topology& t, void* buf, Measurement* m) {
  const int nh = static_cast<int>(t.hosts.size());
  if (nh < 2) return Status::ok();
  std::vector<int> leader(static_cast<size_t>(nh), -1);
  for (int r = t.nranks() - 1; r >= 0; --r) leader[static_cast<size_t>(t.ranks[static_cast<size_t>(r)].host)] = r;
  const int host = t.ranks[static_cast<size_t>(comm->rank)].host;
  if (leader[static_cast<size_t>(host)] != comm->rank) return Status::ok();
  double best = 0;
  for (int phase = 0; phase < 2; ++phase) {
    // Partner host in this phase: hosts pair as (phase + 2k, phase + 2k + 1) around the ring.
    int pos = ((host - phase) % nh + nh) % nh;
    int other = pos % 2 == 0 ? host + 1 : host - 1;
    if (pos % 2 == 0 && pos + 1 >= nh) continue;  // odd count: the last one sits this phase out
    if (nh == 2 && phase == 1) continue;          // two hosts have one pair
    other = ((other % nh) + nh) % nh;
    const int peer = leader[static_cast<size_t>(other)];
    auto exchange = [&](size_t bytes, double* us) -> Status {
      Schedule s;
      s.algorithm = "calibration host network";
      Round& round = newRound(s);
      addSend(round, peer, region(Buf::Input, 0, bytes));
      addRecv(round, peer, region(Buf::Output, 0, bytes));
      return timeSchedule(comm, s, mixcclUint8, buf, kNetBytes, "host network calibration", us);
    };
    double us = 0;
    MIXCCL_CHECK(exchange(8, &us));  // both leaders are here
    MIXCCL_CHECK(exchange(kNetBytes / 2, &us));
    MIXCCL_CHECK(exchange(kNetBytes, &us));
    const double gbps = static_cast<double>(kNetBytes) / std::max(us, 1e-3) * 1e-3;
    MIXCCL_TRACE("%s rank %d: host %d <-> host %d exchanged %zu B each way in %.1f us (%.3f GB/s)",
                 comm->name.c_str(), comm->rank, host, other, kNetBytes, us, gbps);
    best = std::max(best, gbps);
  }
  if (best > 0) m->netGBps = best;
  return Status::ok();
}

// The fastest of `tries` runs of op(), in microseconds.
template <class Op>
Status fastestUs(int tries, Op op, double* us) {
  *us = 1e30;
  for (int i = 0; i < tries; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    MIXCCL_CHECK(op());
    *us = std::min(*us, secondsSince(t0) * 1e6);
  }
  return Status::ok();
}

// The best of `tries` timings of a copy and of a float-sum reduce of `bytes` on `dev`, with the three
// operands at buf (3 * bytes), as rates in GB/s. Each operation is timed alone and the fastest kept:
// on a shared machine a preemption only ever makes one slower, and one preempted run in an average
// made an emu island look 20x slower than its throttle, which would then skew the island weights.
Status timeDeviceRates(Device* dev, char* base, size_t bytes, int tries, double* copyGBps, double* reduceGBps) {
  const size_t count = bytes / sizeof(float);
  double copyUs = 1e30, reduceUs = 1e30;
  MIXCCL_CHECK(dev->copy(base + 2 * bytes, base, bytes));  // touch the pages
  MIXCCL_CHECK(fastestUs(tries, [&] { return dev->copy(base, base + bytes, bytes); }, &copyUs));
  MIXCCL_CHECK(fastestUs(
      tries, [&] { return dev->reduce(base, base + bytes, base + 2 * bytes, count, mixcclFloat32, ReduceOp::Sum); },
      &reduceUs));
  *copyGBps = static_cast<double>(bytes) / std::max(copyUs, 1e-3) * 1e-3;
  *reduceGBps = static_cast<double>(bytes) / std::max(reduceUs, 1e-3) * 1e-3;
  return Status::ok();
}

// The copy that times a device call's fixed cost: one cache line.
constexpr size_t kCallProbeBytes = 64;

// Copy and float-sum reduce rates of this rank's device with operands in the caches (buf). Only the
// first rank of each island runs it, so ranks sharing cores do not slow each other's measurement.
Status measureDevice(mixcclComm* comm, void* buf, Measurement* m) {
  Device* dev = comm->device.get();
  MIXCCL_CHECK(timeDeviceRates(dev, static_cast<char*>(buf), kCachedRateBytes, 5, &m->copyGBps, &m->reduceGBps));
  // A call's fixed cost: the fastest of ten one-line copies (the bytes cost nothing next to it).
  MIXCCL_CHECK(fastestUs(10, [&] { return dev->copy(buf, static_cast<char*>(buf) + kCachedRateBytes, kCallProbeBytes); },
                         &m->callUs));
  m->stagingGBps = 0;
  if (dev->hostAccessible()) return Status::ok();
  // The copies a host transport's messages make: device to plain host memory and back (the
  // transports' own memory is not pinned), the fastest of five each way.
  std::vector<char> host(kCachedRateBytes, 0);
  double out = 1e30, in = 1e30;
  MIXCCL_CHECK(fastestUs(5, [&] { return dev->copy(host.data(), buf, kCachedRateBytes); }, &out));
  MIXCCL_CHECK(fastestUs(5, [&] { return dev->copy(buf, host.data(), kCachedRateBytes); }, &in));
  m->stagingGBps = 2.0 * static_cast<double>(kCachedRateBytes) / std::max(out + in, 1e-3) * 1e-3;
  return Status::ok();
}

// The same rates with operands far beyond the caches, in a buffer of their own (the first rank of
// each island again). It runs last: faulting in and freeing 24 MiB disturbed the host ring shift
// run after it (its step cost measured 30 us to 1.1 ms instead of 14 to 120 us, 4 ranks on 2 cores).
// MIXCCL_CALIBRATE_BULK=0 skips it (about 25 ms of init on a CPU): large collectives are then priced
// at the cached rates.
Status measureDeviceBulk(mixcclComm* comm, Measurement* m) {
  if (env::getInt("CALIBRATE_BULK", 1) == 0) return Status::ok();
  Device* dev = comm->device.get();
  void* bulk = nullptr;
  MIXCCL_CHECK(dev->allocate(3 * kBulkRateBytes, &bulk).withContext("bulk calibration buffer: "));
  // The two source operands filled with zeros (no denormals to slow the reduce), from calloc's
  // memory: fresh pages that all read as the one zero page, so filling costs one pass, not two.
  Status st = Status::ok();
  if (void* zeros = std::calloc(1, kBulkRateBytes)) {
    for (size_t i = 0; i < 2 && st.isOk(); ++i)
      st = dev->copy(static_cast<char*>(bulk) + i * kBulkRateBytes, zeros, kBulkRateBytes);
    std::free(zeros);
  } else {
    st = errorStatus(mixcclSystemError, "out of host memory for the bulk calibration's %zu B of zeros", kBulkRateBytes);
  }
  if (st.isOk()) st = timeDeviceRates(dev, static_cast<char*>(bulk), kBulkRateBytes, 2, &m->bulkCopyGBps, &m->bulkReduceGBps);
  dev->release(bulk);
  return st;
}

// Combines every rank's measurements into the topology (the same on every rank: all see the same
// gathered table and combine it the same way).
void applyMeasurements(const std::vector<Measurement>& all, Topology* t) {
  for (size_t c = 0; c < t->linkClasses.size() && c < kMaxClasses; ++c) {
    double alpha = 0, beta = 0;
    int got = 0;
    for (const auto& m : all)
      if (std::isfinite(m.alphaUs[c]) && std::isfinite(m.betaGBps[c])) alpha += m.alphaUs[c], beta += m.betaGBps[c], ++got;
    if (got == 0) continue;
    t->linkClasses[c].alphaUs = alpha / got;
    t->linkClasses[c].betaGBps = beta / got;
    t->linkClasses[c].source = "measured";
  }
  for (auto& d : t->deviceRates) {
    double copy = 0, reduce = 0, bulkCopy = 0, bulkReduce = 0, staging = 0, call = 0;
    int got = 0, bulkGot = 0;
    for (size_t r = 0; r < all.size(); ++r) {
      if (t->ranks[r].deviceKind != d.kind) continue;
      if (std::isfinite(all[r].copyGBps))
        copy += all[r].copyGBps, reduce += all[r].reduceGBps, staging += all[r].stagingGBps, call += all[r].callUs, ++got;
      if (std::isfinite(all[r].bulkCopyGBps))
        bulkCopy += all[r].bulkCopyGBps, bulkReduce += all[r].bulkReduceGBps, ++bulkGot;
    }
    if (got == 0) continue;
    d.copyGBps = copy / got;
    d.reduceGBps = reduce / got;
    d.stagingGBps = staging / got;
    d.callUs = call / got;
    d.source = "measured";
    // Beyond the caches an operation is never faster than in them: a bulk rate above the cached one
    // is a preempted cached measurement, and the cached rate is the better figure for both.
    if (bulkGot > 0) {
      d.bulkCopyGBps = std::min(d.copyGBps, bulkCopy / bulkGot);
      d.bulkReduceGBps = std::min(d.reduceGBps, bulkReduce / bulkGot);
    }
  }
  // Per host: the median measured ring-shift round beyond the model's price of the same schedule
  // (link and device rates above), one waited message per round. First the tiny ring, priced
  // without any scheduling cost, gives the fixed wait; then the 256 KiB ring, priced with it, the
  // size-proportional rest.
  for (size_t h = 0; h < t->hosts.size(); ++h) {
    std::vector<double> large, small;
    for (size_t r = 0; r < all.size(); ++r) {
      if (t->ranks[r].host != static_cast<int>(h)) continue;
      if (std::isfinite(all[r].ringRoundUs)) large.push_back(all[r].ringRoundUs);
      if (std::isfinite(all[r].smallRoundUs)) small.push_back(all[r].smallRoundUs);
      if (std::isfinite(all[r].netGBps)) t->hosts[h].netGBps = all[r].netGBps;
    }
    auto beyondModel = [&](std::vector<double>& measured, int rounds, size_t bytes) {
      if (measured.empty()) return 0.0;
      std::nth_element(measured.begin(), measured.begin() + static_cast<long>(measured.size() / 2), measured.end());
      std::vector<Schedule> schedules(all.size());
      for (size_t r = 0; r < all.size(); ++r)
        if (t->ranks[r].host == static_cast<int>(h)) schedules[r] = hostRingSchedule(*t, static_cast<int>(r), rounds, bytes);
      const double predicted = CostModel(t).predictUs(schedules, sizeof(float)) / rounds;
      MIXCCL_TRACE("host %zu: ring shift of %zu B: median round %.1f us measured, %.1f us predicted without "
                   "this cost", h, bytes, measured[measured.size() / 2], predicted);
      return std::isfinite(predicted) ? std::max(0.0, measured[measured.size() / 2] - predicted) : 0.0;
    };
    t->hosts[h].stepUs = 0;  // the tiny ring is priced without any scheduling cost
    t->hosts[h].waitUs = beyondModel(small, kWaitRounds, kWaitBytes);
    t->hosts[h].stepUs = beyondModel(large, kStepRounds, kStepBytes);
  }
}

// Takes costs from a topology file: link classes by name, device rates by kind. When the file
// describes exactly this job (same rank count), its hosts and rank placement are used as well.
Status applyFile(const std::string& path, Topology* t) {
  Topology file;
  MIXCCL_CHECK(readTopologyFile(path, &file).withContext("MIXCCL_TOPO_FILE: "));
  for (const auto& c : file.linkClasses) {
    int i = t->linkClassIndex(c.name);
    if (i >= 0) t->linkClasses[static_cast<size_t>(i)] = c;
  }
  for (const auto& d : file.deviceRates) {
    for (auto& mine : t->deviceRates)
      if (mine.kind == d.kind) mine = d;
  }
  if (file.nranks() == t->nranks()) {
    t->hosts = file.hosts;
    for (size_t r = 0; r < t->ranks.size(); ++r) t->ranks[r].host = file.ranks[r].host;
  }
  return Status::ok();
}

}  // namespace

Status buildCommTopology(mixcclComm* comm) {
  const int n = comm->nranks;
  const size_t nz = static_cast<size_t>(n);
  Topology t;

  // Hosts and ranks.
  std::vector<HostRecord> records(nz);
  records[static_cast<size_t>(comm->rank)] = packHost(comm);
  MIXCCL_CHECK(comm->bootstrap->allGather(records.data(), sizeof(HostRecord)).withContext("exchanging topology: "));
  for (size_t r = 0; r < nz; ++r) {
    int host = -1;
    for (size_t h = 0; h < t.hosts.size(); ++h)
      if (t.hosts[h].id == records[r].id) host = static_cast<int>(h);
    if (host < 0) {
      host = static_cast<int>(t.hosts.size());
      t.hosts.push_back(unpackHost(records[r]));
    }
    RankInfo info;
    info.host = host;
    info.deviceKind = std::string(records[r].deviceKind, strnlen(records[r].deviceKind, sizeof(records[r].deviceKind)));
    info.deviceOrdinal = records[r].deviceOrdinal;
    t.ranks.push_back(info);
    if (t.ratesOf(info.deviceKind) == nullptr) {
      t.deviceRates.push_back(defaultDeviceRates(info.deviceKind));
      // Whether messages are staged is the device's own answer, not a guess from its kind's name.
      if (records[r].hostMemory != 0) t.deviceRates.back().stagingGBps = 0;
    }
  }

  // Links: every rank created the same transports in the same order, so a transport's position
  // names its class on every rank; each rank contributes its row of the pair table.
  for (const auto& tr : comm->transports) t.addLinkClass(defaultLinkClass(tr->name()));
  std::vector<uint8_t> rows(nz * nz, 0);
  for (int p = 0; p < n; ++p) {
    if (p == comm->rank) continue;
    for (size_t i = 0; i < comm->transports.size(); ++i)
      if (comm->linkOwner[static_cast<size_t>(p)] == comm->transports[i].get())
        rows[static_cast<size_t>(comm->rank) * nz + static_cast<size_t>(p)] = static_cast<uint8_t>(i);
  }
  MIXCCL_CHECK(comm->bootstrap->allGather(rows.data(), nz).withContext("exchanging link table: "));
  t.linkOf.assign(rows.begin(), rows.end());

  // Costs.
  auto file = env::get("TOPO_FILE");
  bool calibrate = !file && env::getInt("CALIBRATE", 1) != 0;
  if (file) {
    MIXCCL_CHECK(applyFile(*file, &t));
  } else if (calibrate) {
    auto t0 = std::chrono::steady_clock::now();
    Measurement mine;
    std::fill(std::begin(mine.alphaUs), std::end(mine.alphaUs), NAN);
    std::fill(std::begin(mine.betaGBps), std::end(mine.betaGBps), NAN);
    mine.copyGBps = mine.reduceGBps = mine.bulkCopyGBps = mine.bulkReduceGBps = mine.stagingGBps = mine.callUs = NAN;
    mine.ringRoundUs = mine.smallRoundUs = mine.netGBps = NAN;
    void* buf = nullptr;
    MIXCCL_CHECK(comm->device->allocate(3 * kCachedRateBytes, &buf).withContext("calibration buffer: "));
    {
      // Zeros (no denormals to slow the reduce), and every page faulted in before the clock runs.
      // The copy takes host memory as its source, which every backend accepts (pinned or not).
      std::vector<char> zeros(3 * kCachedRateBytes, 0);
      MIXCCL_CHECK(comm->device->copy(buf, zeros.data(), zeros.size()));
    }
    Status st = measureLinks(comm, t, buf, &mine);
    std::vector<int> isl = t.islands();
    bool firstOfIsland = std::find(isl.begin(), isl.end(), isl[static_cast<size_t>(comm->rank)]) - isl.begin() ==
                         comm->rank;
    if (st.isOk() && firstOfIsland) st = measureDevice(comm, buf, &mine);
    // The ring shift needs every rank of the host at it, the network exchange both leaders.
    if (st.isOk()) st = comm->bootstrap->barrier();
    if (st.isOk()) st = measureHostRing(comm, t, buf, &mine);
    if (st.isOk()) st = measureHostNetwork(comm, t, buf, &mine);
    if (st.isOk() && firstOfIsland) st = measureDeviceBulk(comm, &mine);
    comm->device->release(buf);
    MIXCCL_CHECK(st.withContext("calibrating links (MIXCCL_CALIBRATE=0 skips this): "));
    std::vector<Measurement> all(nz);
    all[static_cast<size_t>(comm->rank)] = mine;
    MIXCCL_CHECK(comm->bootstrap->allGather(all.data(), sizeof(Measurement)).withContext("exchanging calibration: "));
    applyMeasurements(all, &t);
    MIXCCL_INFO("%s rank %d: calibrated links and devices in %.1f ms", comm->name.c_str(), comm->rank,
                secondsSince(t0) * 1e3);
  }
  std::string bad = t.validate();
  if (!bad.empty()) return errorStatus(mixcclInternalError, "the detected topology is inconsistent: %s", bad.c_str());

  if (comm->rank == 0 && log::enabled(log::Level::Info)) {
    std::string text = describeTopology(t);
    MIXCCL_INFO("%s topology (%s):\n%s", comm->name.c_str(),
                file ? ("costs from " + *file).c_str() : (calibrate ? "costs measured at init" : "built-in costs, "
                "MIXCCL_CALIBRATE=0"), text.c_str());
  }
  if (auto dump = env::get("TOPO_DUMP"); dump && comm->rank == 0) {
    Status st = writeTopologyFile(*dump, t);
    if (!st.isOk()) MIXCCL_WARN("MIXCCL_TOPO_DUMP: %s", st.message().c_str());
    else MIXCCL_INFO("%s: topology written to %s", comm->name.c_str(), dump->c_str());
  }
  comm->tuner = std::make_shared<Tuner>(std::move(t), comm->rank, comm->name);
  if (!comm->algorithms.empty()) comm->tuner->forceAlgorithms(comm->algorithms, "config.algorithms");
  if (auto w = env::get("ISLAND_WEIGHTS")) MIXCCL_CHECK(comm->tuner->setIslandWeights(*w, "MIXCCL_ISLAND_WEIGHTS"));
  return Status::ok();
}

}  // namespace mixccl
