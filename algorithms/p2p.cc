// Grouped point-to-point operations as a schedule: one round holding every op, so they are all in
// flight together and any pattern (cycles where everyone sends first included) completes. Ops to
// the same peer stay in posting order, which is what makes the k-th send meet the k-th receive.
#include "algorithms/algorithm.h"
#include "algorithms/builder_util.h"

namespace mixccl {

Schedule buildP2PSchedule(std::span<const P2POp> ops) {
  Schedule schedule;
  schedule.algorithm = "p2p";
  Round& round = newRound(schedule);
  for (size_t i = 0; i < ops.size(); ++i) {
    const Region data = region(userBuf(i), 0, ops[i].count);
    if (ops[i].isSend)
      addSend(round, ops[i].peer, data);
    else
      addRecv(round, ops[i].peer, data);
  }
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
