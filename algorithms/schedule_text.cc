#include "algorithms/schedule_text.h"

namespace mixccl {

std::string elementsText(size_t count) {
  return std::to_string(count) + (count == 1 ? " element" : " elements");
}

std::string bufName(Buf buf) {
  switch (buf) {
    case Buf::Input: return "Input";
    case Buf::Output: return "Output";
    case Buf::Scratch: return "Scratch";
  }
  return "user buffer " + std::to_string(static_cast<unsigned>(buf) - kFirstUserBuf);
}

std::string describeRegion(const Region& region) {
  return bufName(region.buf) + "[" + std::to_string(region.offset) + ".." +
         std::to_string(region.offset + region.count) + ")";
}

std::string describeStep(const Step& step) {
  const std::string peer = "rank " + std::to_string(step.peer);
  switch (step.kind) {
    case StepKind::Send:
      return "Send " + elementsText(step.src.count) + " of " + describeRegion(step.src) +
             " to " + peer;
    case StepKind::Recv:
      return "Recv " + elementsText(step.dst.count) + " from " + peer + " into " +
             describeRegion(step.dst);
    case StepKind::RecvReduce:
      return "RecvReduce " + elementsText(step.dst.count) + " from " + peer + " into " +
             describeRegion(step.dst) + " with " + describeRegion(step.src);
    case StepKind::Copy:
      return "Copy " + describeRegion(step.src) + " to " + describeRegion(step.dst);
    case StepKind::Reduce:
      return "Reduce " + describeRegion(step.src) + " with " + describeRegion(step.src2) + " into " +
             describeRegion(step.dst);
  }
  return "step of unknown kind " + std::to_string(static_cast<int>(step.kind));
}

std::string describeSchedule(const Schedule& schedule) {
  std::string text = schedule.algorithm + ": " + std::to_string(schedule.rounds.size()) +
                     " rounds, scratch of " + elementsText(schedule.scratchCount) + "\n";
  for (size_t r = 0; r < schedule.rounds.size(); ++r) {
    text += "  round " + std::to_string(r) + ":\n";
    for (const Step& step : schedule.rounds[r].steps) text += "    " + describeStep(step) + "\n";
  }
  return text;
}

}  // namespace mixccl
