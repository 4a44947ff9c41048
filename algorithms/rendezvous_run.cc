#include "algorithms/rendezvous_run.h"

#include <algorithm>

#include "algorithms/schedule_text.h"

namespace mixccl::sim {

namespace {

bool isComm(StepKind kind) {
  return kind == StepKind::Send || kind == StepKind::Recv || kind == StepKind::RecvReduce;
}

// The number of elements a step moves; 0 means the step is dropped.
size_t stepCount(const Step& step) { return step.kind == StepKind::Send ? step.src.count : step.dst.count; }

std::string ordinal(size_t k) {
  const char* suffix = (k % 100 >= 11 && k % 100 <= 13) ? "th" : k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
  return std::to_string(k) + suffix;
}

// Elementwise steps may run in place (operand and destination the very same cells) but a partial
// overlap would make the result depend on the order in which the device walks the elements.
bool sameOrDisjoint(const Place& a, const Place& b) { return a == b || !a.overlaps(b); }

}  // namespace

RendezvousRun::RendezvousRun(const std::vector<Schedule>& schedules, std::vector<RankMemory>& memory, bool reductions)
    : schedules_(schedules),
      memory_(memory),
      reductions_(reductions),
      n_(static_cast<int>(schedules.size())),
      state_(schedules.size()),
      sends_(schedules.size() * schedules.size()),
      recvs_(schedules.size() * schedules.size()),
      messages_(schedules.size() * schedules.size(), 0) {}

const Step& RendezvousRun::step(int rank, size_t index) const {
  return schedules_[static_cast<size_t>(rank)].rounds[state_[static_cast<size_t>(rank)].round].steps[index];
}

std::string RendezvousRun::where(int rank, size_t stepIndex) const {
  const RankState& s = state_[static_cast<size_t>(rank)];
  return "rank " + std::to_string(rank) + ", round " + std::to_string(s.round) + " of " +
         std::to_string(schedules_[static_cast<size_t>(rank)].rounds.size()) + ", step " + std::to_string(stepIndex) +
         " (" + describeStep(step(rank, stepIndex)) + ")";
}

bool RendezvousRun::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  return false;
}

std::string RendezvousRun::run() {
  for (int r = 0; r < n_; ++r)
    if (!enter(r)) return error_;
  while (!ready_.empty()) {
    const int r = ready_.back();
    ready_.pop_back();
    ++state_[static_cast<size_t>(r)].round;
    if (!enter(r)) return error_;
  }
  for (const RankState& s : state_)
    if (!s.done) return deadlockReport();
  return "";
}

bool RendezvousRun::enter(int rank) {
  RankState& s = state_[static_cast<size_t>(rank)];
  const Schedule& schedule = schedules_[static_cast<size_t>(rank)];
  for (; s.round < schedule.rounds.size(); ++s.round) {
    const Round& round = schedule.rounds[s.round];
    // Local steps first, in order (schedule.h), then all communication at once.
    for (size_t i = 0; i < round.steps.size(); ++i)
      if (!isComm(round.steps[i].kind) && !runLocalStep(rank, i)) return false;
    size_t posted = 0;
    if (!postCommSteps(rank, &posted)) return false;
    // Once anything was posted, the rank moves on when its last step is matched (possibly
    // already, during posting): it is then on ready_, and run() advances it.
    if (posted > 0) return true;
  }
  s.done = true;
  return true;
}

bool RendezvousRun::runLocalStep(int rank, size_t i) {
  const Step& st = step(rank, i);
  RankMemory& memory = memory_[static_cast<size_t>(rank)];
  if (st.kind != StepKind::Copy && st.kind != StepKind::Reduce)
    return fail(where(rank, i) + ": unknown step kind");
  if (st.kind == StepKind::Reduce && !reductions_)
    return fail(where(rank, i) + ": a Reduce step in a collective that does not combine values");
  const bool reduce = st.kind == StepKind::Reduce;
  if (st.src.count != st.dst.count || (reduce && st.src2.count != st.dst.count))
    return fail(where(rank, i) + ": its operands and destination have different element counts");
  if (st.dst.count == 0) return true;
  Place src, src2, dst;
  std::string problem = memory.resolve(st.src, false, &src);
  if (problem.empty() && reduce) problem = memory.resolve(st.src2, false, &src2);
  if (problem.empty()) problem = memory.resolve(st.dst, true, &dst);
  if (!problem.empty()) return fail(where(rank, i) + ": " + problem);
  if (!sameOrDisjoint(src, dst) || (reduce && !sameOrDisjoint(src2, dst)))
    return fail(where(rank, i) + ": an operand partly overlaps the destination");
  for (size_t e = 0; e < dst.count; ++e) {
    const Cell a = memory.cell(src, e);
    if (!a.written())
      return fail(where(rank, i) + ": reads element " + std::to_string(st.src.offset + e) + " of " +
                  bufName(st.src.buf) + ", which was never written");
    if (!reduce) {
      memory.cell(dst, e) = a;
      continue;
    }
    const Cell b = memory.cell(src2, e);
    if (!b.written())
      return fail(where(rank, i) + ": reads element " + std::to_string(st.src2.offset + e) + " of " +
                  bufName(st.src2.buf) + ", which was never written");
    if (!combine(memory.cell(dst, e), a, b, rank, i)) return false;
  }
  return true;
}

bool RendezvousRun::postCommSteps(int rank, size_t* postedCount) {
  RankState& s = state_[static_cast<size_t>(rank)];
  const Round& round = schedules_[static_cast<size_t>(rank)].rounds[s.round];
  RankMemory& memory = memory_[static_cast<size_t>(rank)];
  s.matched.assign(round.steps.size(), 1);
  s.pending = 0;

  struct Access {
    Place place;
    bool write;
    size_t step;
  };
  std::vector<Access> accesses;
  std::vector<Posted> posted;
  for (size_t i = 0; i < round.steps.size(); ++i) {
    const Step& st = round.steps[i];
    if (!isComm(st.kind)) continue;
    if (st.peer < 0 || st.peer >= n_)
      return fail(where(rank, i) + ": peer " + std::to_string(st.peer) + " is not a rank of this " +
                  std::to_string(n_) + "-rank communicator");
    if (st.kind == StepKind::RecvReduce && !reductions_)
      return fail(where(rank, i) + ": a RecvReduce step in an operation that does not combine values");
    if (st.kind == StepKind::RecvReduce && st.src.count != st.dst.count)
      return fail(where(rank, i) + ": its local operand and destination have different element counts");
    if (stepCount(st) == 0) continue;
    Posted p;
    p.rank = rank;
    p.step = i;
    std::string problem = st.kind == StepKind::Send ? memory.resolve(st.src, false, &p.data) : memory.resolve(st.dst, true, &p.data);
    if (problem.empty() && st.kind == StepKind::RecvReduce) problem = memory.resolve(st.src, false, &p.local);
    if (!problem.empty()) return fail(where(rank, i) + ": " + problem);
    if (st.kind == StepKind::RecvReduce && !sameOrDisjoint(p.local, p.data))
      return fail(where(rank, i) + ": its local operand partly overlaps its destination");
    accesses.push_back({p.data, st.kind != StepKind::Send, i});
    if (st.kind == StepKind::RecvReduce && p.local != p.data) accesses.push_back({p.local, false, i});
    posted.push_back(p);
  }

  // No region a receive writes may overlap any other communication step's region (schedule.h):
  // the transport may write it at any moment of the round.
  std::sort(accesses.begin(), accesses.end(), [](const Access& a, const Access& b) {
    return a.place.storage != b.place.storage ? a.place.storage < b.place.storage : a.place.offset < b.place.offset;
  });
  for (size_t a = 0; a < accesses.size(); ++a) {
    for (size_t b = a + 1; b < accesses.size() && accesses[b].place.overlaps(accesses[a].place); ++b) {
      if (!accesses[a].write && !accesses[b].write) continue;
      if (accesses[a].step == accesses[b].step) continue;
      const size_t writer = accesses[a].write ? accesses[a].step : accesses[b].step;
      const size_t other = writer == accesses[a].step ? accesses[b].step : accesses[a].step;
      return fail(where(rank, writer) + ": writes memory that step " + std::to_string(other) + " (" +
                  describeStep(round.steps[other]) + ") of the same round also uses");
    }
  }

  *postedCount = posted.size();
  for (const Posted& p : posted) {
    s.matched[p.step] = 0;
    ++s.pending;
    const Step& st = round.steps[p.step];
    if (st.kind == StepKind::Send)
      sends_[pair(rank, st.peer)].items.push_back(p);
    else
      recvs_[pair(st.peer, rank)].items.push_back(p);
  }
  for (const Posted& p : posted) {
    const Step& st = round.steps[p.step];
    if (st.kind == StepKind::Send)
      tryMatch(rank, st.peer);
    else
      tryMatch(st.peer, rank);
    if (!error_.empty()) return false;
  }
  return true;
}

void RendezvousRun::tryMatch(int from, int to) {
  Queue& sends = sends_[pair(from, to)];
  Queue& recvs = recvs_[pair(from, to)];
  while (!sends.empty() && !recvs.empty() && error_.empty()) {
    const Posted send = sends.items[sends.head++];
    const Posted recv = recvs.items[recvs.head++];
    if (!deliver(send, recv)) return;
    for (const Posted* p : {&send, &recv}) {
      RankState& s = state_[static_cast<size_t>(p->rank)];
      s.matched[p->step] = 1;
      if (--s.pending == 0) ready_.push_back(p->rank);
    }
  }
  // Reclaim consumed entries so queues stay short over long pipelines.
  for (Queue* q : {&sends, &recvs})
    if (q->empty()) {
      q->items.clear();
      q->head = 0;
    }
}

bool RendezvousRun::deliver(const Posted& send, const Posted& recv) {
  const size_t k = ++messages_[pair(send.rank, recv.rank)];
  const Step& recvStep = step(recv.rank, recv.step);
  if (send.data.count != recv.data.count)
    return fail("element counts differ: the " + ordinal(k) + " message from rank " + std::to_string(send.rank) +
                " to rank " + std::to_string(recv.rank) + " carries " + elementsText(send.data.count) + " [" + where(send.rank, send.step) + "] but the receive it meets expects " +
                elementsText(recv.data.count) + " [" + where(recv.rank, recv.step) + "]");
  const RankMemory& from = memory_[static_cast<size_t>(send.rank)];
  RankMemory& to = memory_[static_cast<size_t>(recv.rank)];
  for (size_t e = 0; e < send.data.count; ++e) {
    const Cell value = from.cell(send.data, e);
    if (!value.written())
      return fail(where(send.rank, send.step) + ": sends element " +
                  std::to_string(step(send.rank, send.step).src.offset + e) + " of " +
                  bufName(step(send.rank, send.step).src.buf) + ", which was never written");
    if (recvStep.kind == StepKind::Recv) {
      to.cell(recv.data, e) = value;
      continue;
    }
    const Cell local = to.cell(recv.local, e);
    if (!local.written())
      return fail(where(recv.rank, recv.step) + ": reduces with element " + std::to_string(recvStep.src.offset + e) +
                  " of " + bufName(recvStep.src.buf) + ", which was never written");
    if (!combine(to.cell(recv.data, e), local, value, recv.rank, recv.step)) return false;
  }
  return true;
}

bool RendezvousRun::combine(Cell& out, const Cell& local, const Cell& other, int rank, size_t stepIndex) {
  if (local.index != other.index || local.tag != other.tag)
    return fail(where(rank, stepIndex) + ": combines " + cellText(local, true) + " with " + cellText(other, true) +
                ", elements of different positions");
  if (local.ranks & other.ranks)
    return fail(where(rank, stepIndex) + ": counts the contribution of ranks " + rankSetText(local.ranks & other.ranks) +
                " twice (combining " + cellText(local, true) + " with " + cellText(other, true) + ")");
  out = {local.ranks | other.ranks, local.tag, local.index};
  return true;
}

std::string RendezvousRun::deadlockReport() const {
  std::string report = "deadlock: no rank can make progress.";
  int shown = 0;
  for (int r = 0; r < n_; ++r) {
    const RankState& s = state_[static_cast<size_t>(r)];
    if (s.done) continue;
    if (++shown > 8) {
      report += "\n  ... and more ranks";
      break;
    }
    report += "\n  rank " + std::to_string(r) + " is stuck in round " + std::to_string(s.round) + " of " +
              std::to_string(schedules_[static_cast<size_t>(r)].rounds.size()) + ", waiting to";
    bool first = true;
    for (size_t i = 0; i < s.matched.size(); ++i) {
      if (s.matched[i]) continue;
      const Step& st = step(r, i);
      const RankState& peer = state_[static_cast<size_t>(st.peer)];
      const std::string peerState =
          peer.done ? "which has finished its schedule"
                    : "which is in round " + std::to_string(peer.round);
      report += std::string(first ? " " : "; ") +
                (st.kind == StepKind::Send ? "send " + elementsText(st.src.count) + " to rank "
                                           : "receive " + elementsText(st.dst.count) + " from rank ") +
                std::to_string(st.peer) + " (" + peerState + ")";
      first = false;
    }
  }
  return report;
}

}  // namespace mixccl::sim
