#include "topology/cost_model.h"

#include <algorithm>
#include <deque>
#include <limits>

namespace mixccl {
namespace {

struct Posted {
  double at;  // when the sender posted it (us)
};

bool isComm(StepKind k) { return k == StepKind::Send || k == StepKind::Recv || k == StepKind::RecvReduce; }

}  // namespace

CostModel::CostModel(const Topology* topology) : topology_(topology) {
  const Topology& t = *topology_;
  ranks_.resize(t.ranks.size());
  for (size_t r = 0; r < t.ranks.size(); ++r) {
    const RankInfo& info = t.ranks[r];
    const HostInfo& host = t.hosts[static_cast<size_t>(info.host)];
    RankCosts& c = ranks_[r];
    // Only ranks computing on the host's cores compete for them (GPU ranks mostly wait).
    int onHost = t.ranksOnHost(info.host);
    c.share = info.deviceKind == "cpu" ? std::max(1.0, static_cast<double>(onHost) / std::max(1, host.cores)) : 1.0;
    const DeviceRates* rates = t.ratesOf(info.deviceKind);
    DeviceRates d = rates != nullptr ? *rates : defaultDeviceRates(info.deviceKind);
    c.copyUsPerByte = 1e-3 / d.copyGBps;      // 1 GB/s = 1e3 bytes per microsecond
    c.reduceUsPerByte = 1e-3 / d.reduceGBps;
  }
}

double CostModel::predictUs(const std::vector<Schedule>& schedules, size_t es) const {
  const Topology& t = *topology_;
  const size_t n = schedules.size();
  if (n != t.ranks.size()) return std::numeric_limits<double>::infinity();
  std::vector<std::deque<Posted>> inbox(n * n);  // [from * n + to]: sends posted, not yet received
  std::vector<size_t> next(n, 0);
  std::vector<double> clock(n, 0.0);
  size_t finished = 0;
  for (size_t r = 0; r < n; ++r)
    if (schedules[r].rounds.empty()) ++finished;

  // A round is posted when its rank reaches it (local steps done, sends handed to the links), and
  // completes once every message it receives has been posted by its sender: two ranks that send to
  // each other in the same round both post before either completes, as in the engine.
  std::vector<size_t> need(n);
  std::vector<char> posted(n, 0);
  std::vector<double> postAt(n, 0.0);
  while (finished < n) {
    bool progressed = false;
    for (size_t r = 0; r < n; ++r) {
      const RankCosts& rc = ranks_[r];
      while (next[r] < schedules[r].rounds.size()) {
        const Round& round = schedules[r].rounds[next[r]];
        if (!posted[r]) {
          double local = 0;
          for (const Step& s : round.steps) {
            double bytes = static_cast<double>(s.dst.count * es);
            if (s.kind == StepKind::Copy) local += bytes * rc.copyUsPerByte;
            if (s.kind == StepKind::Reduce) local += bytes * rc.reduceUsPerByte;
          }
          postAt[r] = clock[r] + local * rc.share;
          for (const Step& s : round.steps)
            if (s.kind == StepKind::Send && s.src.count > 0 && static_cast<size_t>(s.peer) != r)
              inbox[r * n + static_cast<size_t>(s.peer)].push_back({postAt[r]});
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
        double busy = 0, end = post;
        for (const Step& s : round.steps) {
          if (!isComm(s.kind)) continue;
          size_t p = static_cast<size_t>(s.peer);
          double bytes = static_cast<double>((s.kind == StepKind::Send ? s.src.count : s.dst.count) * es);
          if (bytes == 0) continue;
          if (p == r) {  // a message to itself is a local copy (or reduce) at receive time
            if (s.kind != StepKind::Send)
              busy += bytes * (s.kind == StepKind::RecvReduce ? rc.reduceUsPerByte : rc.copyUsPerByte);
            continue;
          }
          const LinkClass& link = t.link(static_cast<int>(r), static_cast<int>(p));
          double usPerByte = 1e-3 / link.betaGBps;
          // Each message also costs both sides software time (posting, polling, system calls):
          // kMessageOverheadShare of alpha. This is what makes 63 messages in one round dearer than
          // six rounds of one message on a slow link.
          busy += 0.5 * bytes * usPerByte + kMessageOverheadShare * link.alphaUs;
          if (s.kind == StepKind::Send) continue;
          Posted sent = inbox[p * n + r].front();
          inbox[p * n + r].pop_front();
          // The message flows at the slower of the link and (for a reduce) the device's reduction.
          double flow = s.kind == StepKind::RecvReduce ? std::max(usPerByte, rc.reduceUsPerByte) : usPerByte;
          if (s.kind == StepKind::RecvReduce) busy += bytes * rc.reduceUsPerByte * 0.5;
          double share = std::max(rc.share, ranks_[p].share);
          end = std::max(end, std::max(sent.at, post) + link.alphaUs * share + bytes * flow);
        }
        end = std::max(end, post + busy * rc.share) + kRoundOverheadUs * rc.share;
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
