// The symbolic simulator: runs every rank's schedule of one operation together, on symbolic data
// (algorithms/symbolic_memory.h), with the execution semantics of schedule.h, and says what is
// wrong in a sentence, or "" when the schedules are right.
//
// It runs in rendezvous mode: a send and its matching receive complete only when both are posted in
// the two ranks' current rounds. That is stricter than any real transport (which buffers at least a
// little), so schedules that pass here cannot deadlock on any transport.
//
// Detected: deadlock (who waits for whom, in which round), element-count mismatch between a send
// and its receive, regions out of range of the buffer sizes the collective implies (Scratch beyond
// Schedule::scratchCount, Output on a rank where it is not significant), writes to Input, writes
// overlapping other communication steps of the same round, reads of never-written cells,
// contributions counted twice or combined across different elements, and finally any rank whose
// Output differs from what the collective must produce (a missing contribution shows up here).
#pragma once

#include <string>
#include <vector>

#include "algorithms/schedule.h"

namespace mixccl {

using ScheduleBuilder = Schedule (*)(const CollectiveArgs& args);

// Builds every rank's schedule with `build` (proto with rank = 0..nranks-1) and simulates them.
// Supports 1 to 64 ranks. The error names the operation so that a failing test needs no context.
std::string simulate(const CollectiveArgs& proto, ScheduleBuilder build);
// The same for schedules given directly (schedules[r] is rank r's), e.g. hand-made ones.
std::string simulateSchedules(const CollectiveArgs& proto, const std::vector<Schedule>& schedules);

// Grouped point-to-point: ops[r] is rank r's group in posting order. Builds each rank's schedule
// with buildP2PSchedule, runs them, and checks that every receive holds the data of the send it
// was matched with (the k-th send from a to b meets the k-th receive on b from a).
std::string simulateP2P(const std::vector<std::vector<P2POp>>& ops);
std::string simulateP2PSchedules(const std::vector<std::vector<P2POp>>& ops, const std::vector<Schedule>& schedules);

}  // namespace mixccl
