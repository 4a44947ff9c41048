#include "topology/cost_model.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace mixccl {
namespace {

struct Posted {
  double at;           // when the sender posted it (us)
  double toPeerBytes;  // everything the sender's round sends to this receiver (one link, in turn)
  double crossBytes;   // everything the sender's round sends to other hosts (through its host's NIC)
};

bool isComm(StepKind k) { return k == StepKind::Send || k == StepKind::Recv || k == StepKind::RecvReduce; }

}  // namespace

CostModel::CostModel(const Topology* topology) : topology_(topology) {
  const Topology& t = *topology_;
  ranks_.resize(t.ranks.size());
  const std::vector<int> islands = t.islands();
  for (size_t r = 0; r < t.ranks.size(); ++r) {
    const RankInfo& info = t.ranks[r];
    const HostInfo& host = t.hosts[static_cast<size_t>(info.host)];
    RankCosts& c = ranks_[r];
    // Only ranks computing on the host's cores compete for them (GPU ranks mostly wait).
    int onHost = t.ranksOnHost(info.host);
    c.share = info.deviceKind == "cpu" ? std::max(1.0, static_cast<double>(onHost) / std::max(1, host.cores)) : 1.0;
    const DeviceRates* rates = t.ratesOf(info.deviceKind);
    c.device = rates != nullptr ? *rates : defaultDeviceRates(info.deviceKind);
    c.island = islands[r];
    c.stepUs = std::max(0.0, host.stepUs);
    c.waitUs = std::max(0.0, host.waitUs);
    c.cores = c.share > 1 ? std::max(1, host.cores) : 0;
  }
}

double CostModel::netUsPerByte(int host, const std::vector<int>& crossing) const {
  const double net = topology_->hosts[static_cast<size_t>(host)].netGBps;
  if (!(net > 0)) return 0;
  return 1e-3 / (net / std::max(1, crossing[static_cast<size_t>(host)]));
}

double CostModel::stagingUsPerByte(size_t r, const LinkClass& link, double copyUs) const {
  const double staging = ranks_[r].device.stagingGBps;
  if (!(staging > 0)) return 0;
  // Device-to-device transports copy between the two devices' memories: no host memory between.
  return link.name == "cuda_ipc" ? copyUs : 1e-3 / staging;
}

double CostModel::predictUs(const std::vector<Schedule>& schedules, size_t es) const {
  const Topology& t = *topology_;
  const size_t n = schedules.size();
  if (n != t.ranks.size()) return std::numeric_limits<double>::infinity();
  std::vector<std::deque<Posted>> inbox(n * n);  // [from * n + to]: sends posted, not yet received
  std::vector<size_t> next(n, 0);
  std::vector<double> clock(n, 0.0);
  // Ranks of each host that send to another host somewhere in the schedules: they share its NIC.
  std::vector<int> crossing(t.hosts.size(), 0);
  for (size_t r = 0; r < n; ++r) {
    const int h = t.ranks[r].host;
    bool crosses = false;
    for (const Round& round : schedules[r].rounds)
      for (const Step& s : round.steps)
        crosses = crosses || (s.kind == StepKind::Send && s.src.count > 0 && t.ranks[static_cast<size_t>(s.peer)].host != h);
    if (crosses) ++crossing[static_cast<size_t>(h)];
  }
  // Device costs at this operation's working set: each rank's buffers (the furthest element any step
  // touches, per buffer), summed over the ranks of its island.
  std::vector<double> islandBytes(n, 0.0);
  for (size_t r = 0; r < n; ++r) {
    std::vector<size_t> extent;
    auto touch = [&](const Region& g) {
      if (g.count == 0) return;
      const size_t b = static_cast<size_t>(g.buf);
      if (extent.size() <= b) extent.resize(b + 1, 0);
      extent[b] = std::max(extent[b], g.offset + g.count);
    };
    for (const Round& round : schedules[r].rounds)
      for (const Step& s : round.steps) touch(s.src), touch(s.src2), touch(s.dst);
    for (size_t e : extent) islandBytes[static_cast<size_t>(ranks_[r].island)] += static_cast<double>(e * es);
  }
  std::vector<double> copyUsPerByte(n), reduceUsPerByte(n);
  for (size_t r = 0; r < n; ++r) {
    const double w = islandBytes[static_cast<size_t>(ranks_[r].island)];
    copyUsPerByte[r] = ranks_[r].device.copyUsPerByte(w);
    reduceUsPerByte[r] = ranks_[r].device.reduceUsPerByte(w);
  }
  size_t finished = 0;
  for (size_t r = 0; r < n; ++r)
    if (schedules[r].rounds.empty()) ++finished;

  // A round is posted when its rank reaches it (local steps done, sends handed to the links), and
  // completes once every message it receives has been posted by its sender: two ranks that send to
  // each other in the same round both post before either completes, as in the engine.
  std::vector<size_t> need(n);
  std::vector<double> sendTo(n, 0.0), recvFrom(n, 0.0);  // this round's bytes per peer
  std::vector<char> posted(n, 0);
  std::vector<double> postAt(n, 0.0);
  while (finished < n) {
    bool progressed = false;
    for (size_t r = 0; r < n; ++r) {
      const RankCosts& rc = ranks_[r];
      const double copyUs = copyUsPerByte[r], reduceUs = reduceUsPerByte[r];  // per byte
      while (next[r] < schedules[r].rounds.size()) {
        const Round& round = schedules[r].rounds[next[r]];
        if (!posted[r]) {
          double local = 0;
          for (const Step& s : round.steps) {
            double bytes = static_cast<double>(s.dst.count * es);
            if (s.kind == StepKind::Copy && bytes > 0) local += bytes * copyUs + rc.device.callUs;
            if (s.kind == StepKind::Reduce && bytes > 0) local += bytes * reduceUs + rc.device.callUs;
          }
          postAt[r] = clock[r] + local * rc.share;
          double cross = 0;
          for (const Step& s : round.steps)
            if (s.kind == StepKind::Send && static_cast<size_t>(s.peer) != r) {
              sendTo[static_cast<size_t>(s.peer)] += static_cast<double>(s.src.count * es);
              if (t.ranks[static_cast<size_t>(s.peer)].host != t.ranks[r].host) cross += static_cast<double>(s.src.count * es);
            }
          for (const Step& s : round.steps)
            if (s.kind == StepKind::Send && s.src.count > 0 && static_cast<size_t>(s.peer) != r)
              inbox[r * n + static_cast<size_t>(s.peer)].push_back({postAt[r], sendTo[static_cast<size_t>(s.peer)], cross});
          for (const Step& s : round.steps)
            if (s.kind == StepKind::Send) sendTo[static_cast<size_t>(s.peer)] = 0;
          posted[r] = 1;
          progressed = true;
        }
        std::fill(need.begin(), need.end(), 0);
        for (const Step& s : round.steps)
          if ((s.kind == StepKind::Recv || s.kind == StepKind::RecvReduce) && s.dst.count > 0 &&
              static_cast<size_t>(s.peer) != r)
            ++need[static_cast<size_t>(s.peer)];
        bool ready = true;
        for (size_t p = 0; p < n && ready; ++p) ready = inbox[p * n + r].size() >= need[p];
        if (!ready) break;

        const double post = postAt[r];
        double busy = 0, end = post, crossIn = 0;
        for (const Step& s : round.steps)
          if ((s.kind == StepKind::Recv || s.kind == StepKind::RecvReduce) && static_cast<size_t>(s.peer) != r) {
            recvFrom[static_cast<size_t>(s.peer)] += static_cast<double>(s.dst.count * es);
            if (t.ranks[static_cast<size_t>(s.peer)].host != t.ranks[r].host) crossIn += static_cast<double>(s.dst.count * es);
          }
        // Waits this round may sleep through: every message from another rank, weighted by its size
        // against the calibration message (a waiting rank waits for a core held by ranks busy with
        // work of about the message's size). Messages from several peers add up too: with more
        // ranks than cores, each of those senders has to get a core in turn before its message is
        // there, so one round of n-1 large messages is not cheaper than n-1 rounds of one.
        double waits = 0;
        for (const Step& s : round.steps) {
          if (!isComm(s.kind)) continue;
          size_t p = static_cast<size_t>(s.peer);
          double bytes = static_cast<double>((s.kind == StepKind::Send ? s.src.count : s.dst.count) * es);
          if (bytes == 0) continue;
          if (p == r) {  // a message to itself is a local copy (or reduce) at receive time
            if (s.kind != StepKind::Send)
              busy += bytes * (s.kind == StepKind::RecvReduce ? reduceUs : copyUs) + rc.device.callUs;
            continue;
          }
          const LinkClass& link = t.link(static_cast<int>(r), static_cast<int>(p));
          const double usPerByte = 1e-3 / link.betaGBps;
          const double stageUs = stagingUsPerByte(r, link, copyUs);
          // Each message also costs both sides software time (posting, polling, system calls):
          // kMessageOverheadShare of alpha. This is what makes 63 messages in one round dearer than
          // six rounds of one message on a slow link.
          busy += 0.5 * bytes * usPerByte + kMessageOverheadShare * link.alphaUs + bytes * stageUs;
          // The device calls it makes here: one per staging block of a staged message, and the
          // reduce of a receive-reduce.
          if (stageUs > 0) busy += rc.device.callUs * std::ceil(bytes / static_cast<double>(kStagingBlockBytes));
          if (s.kind == StepKind::RecvReduce) busy += rc.device.callUs;
          if (s.kind == StepKind::Send) continue;
          waits += std::min(1.0, bytes / static_cast<double>(kStepCalibrationBytes));
          Posted sent = inbox[p * n + r].front();
          inbox[p * n + r].pop_front();
          // The pieces one link carries in a round go one after another, at the slowest of the link,
          // (for a reduce) the device's reduction, and between hosts each host's own network rate,
          // which all that host's crossing traffic of the round shares.
          double flow = sent.toPeerBytes * std::max(usPerByte, stagingUsPerByte(p, link, copyUsPerByte[p]));
          flow = std::max(flow, recvFrom[p] * stageUs);
          if (s.kind == StepKind::RecvReduce) {
            flow = std::max(flow, recvFrom[p] * (stageUs + reduceUs));
            busy += bytes * reduceUs * 0.5;
          }
          if (t.ranks[p].host != t.ranks[r].host) {
            flow = std::max(flow, sent.crossBytes * netUsPerByte(t.ranks[p].host, crossing));
            flow = std::max(flow, crossIn * netUsPerByte(t.ranks[r].host, crossing));
          }
          double share = std::max(rc.share, ranks_[p].share);
          end = std::max(end, std::max(sent.at, post) + link.alphaUs * share + flow);
        }
        for (const Step& s : round.steps)
          if (s.kind == StepKind::Recv || s.kind == StepKind::RecvReduce) recvFrom[static_cast<size_t>(s.peer)] = 0;
        // A round that waits pays the host's fixed wait (its peers' messages arrive while it is
        // switched out) once per wave of the peers it waits for, and each waited message its
        // size-proportional part. Where ranks outnumber cores the peers get the cores `cores` at a
        // time, so a round waiting for 3 peers on 2 cores sleeps through two switches: what made
        // two-shot's 3-peer rounds measure 19 us at 4 ranks, 32 KiB, against recursive doubling's
        // 15 (one peer a round) where one wait per round priced them the other way round.
        double peers = 0;
        for (size_t p = 0; p < n; ++p) peers += (p != r && need[p] > 0) ? 1 : 0;
        const double waves = rc.cores > 0 ? std::ceil(peers / rc.cores) : std::min(peers, 1.0);
        end = std::max(end, post + busy * rc.share) + kRoundOverheadUs * rc.share + waits * rc.stepUs +
              waves * rc.waitUs;
        clock[r] = end;
        posted[r] = 0;
        ++next[r];
        progressed = true;
        if (next[r] == schedules[r].rounds.size()) ++finished;
      }
    }
    if (!progressed) return std::numeric_limits<double>::infinity();
  }
  return *std::max_element(clock.begin(), clock.end());
}

double CostModel::predictUs(const Algorithm& algorithm, const CollectiveArgs& proto, size_t es) const {
  std::vector<Schedule> schedules;
  schedules.reserve(static_cast<size_t>(proto.nranks));
  for (int r = 0; r < proto.nranks; ++r) {
    CollectiveArgs a = proto;
    a.rank = r;
    schedules.push_back(algorithm.build(a));
  }
  return predictUs(schedules, es);
}

}  // namespace mixccl
