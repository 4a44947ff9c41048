// The engine of the symbolic simulator: executes all ranks' schedules round by round on symbolic
// memory, matching each send with its receive only when both ranks have posted them (rendezvous).
#pragma once

#include <string>
#include <vector>

#include "algorithms/schedule.h"
#include "algorithms/symbolic_memory.h"

namespace mixccl::sim {

class RendezvousRun {
 public:
  // memory[r] is rank r's memory, already laid out; `reductions` says whether Reduce and RecvReduce
  // steps are allowed (only collectives that combine values may use them).
  RendezvousRun(const std::vector<Schedule>& schedules, std::vector<RankMemory>& memory, bool reductions);
  // Runs to the end; "" on success, else the first problem found.
  std::string run();

 private:
  // A posted communication step. `data` is what a Send reads or a Recv/RecvReduce writes; `local`
  // is a RecvReduce's local operand.
  struct Posted {
    int rank = 0;
    size_t step = 0;
    Place data;
    Place local;
  };
  struct Queue {
    std::vector<Posted> items;
    size_t head = 0;
    bool empty() const { return head == items.size(); }
  };
  struct RankState {
    size_t round = 0;
    size_t pending = 0;          // communication steps of the current round not yet matched
    std::vector<char> matched;   // per step of the current round (local steps count as matched)
    bool done = false;
  };

  bool enter(int rank);  // runs rounds from the current one until one must wait; false on error
  bool runLocalStep(int rank, size_t stepIndex);
  bool postCommSteps(int rank, size_t* postedCount);
  void tryMatch(int from, int to);
  bool deliver(const Posted& send, const Posted& recv);
  // out = local op other, unless that would count a rank twice or mix different elements.
  bool combine(Cell& out, const Cell& local, const Cell& other, int rank, size_t stepIndex);
  bool fail(std::string message);
  std::string where(int rank, size_t stepIndex) const;
  std::string deadlockReport() const;
  const Step& step(int rank, size_t index) const;
  size_t pair(int from, int to) const { return static_cast<size_t>(from) * static_cast<size_t>(n_) + static_cast<size_t>(to); }

  const std::vector<Schedule>& schedules_;
  std::vector<RankMemory>& memory_;
  const bool reductions_;
  const int n_;
  std::vector<RankState> state_;
  std::vector<Queue> sends_;      // [from * n + to]: posted, unmatched sends
  std::vector<Queue> recvs_;      // [from * n + to]: posted, unmatched receives on `to`
  std::vector<size_t> messages_;  // [from * n + to]: messages delivered so far
  std::vector<int> ready_;        // ranks whose current round has just completed
  std::string error_;
};

}  // namespace mixccl::sim
