// Schedules as text, for logs (MIXCCL_DEBUG=TRACE) and for the simulator's error messages.
#pragma once

#include <string>

#include "algorithms/schedule.h"

namespace mixccl {

// "1 element", "10 elements".
std::string elementsText(size_t count);
// "Input", "Output", "Scratch", "user buffer 2".
std::string bufName(Buf buf);
// "Output[10..20)".
std::string describeRegion(const Region& region);
// "RecvReduce 10 elements from rank 3 into Output[0..10) with Input[0..10)".
std::string describeStep(const Step& step);
// One line per step, grouped by round.
std::string describeSchedule(const Schedule& schedule);

}  // namespace mixccl
