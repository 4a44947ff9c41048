// Schedules: what one rank does to carry out one collective, as plain data. A builder (ring, tree,
// pairwise, ...) turns a CollectiveArgs into a Schedule for one rank; the engine (core/engine.*)
// runs it over real transports and a device backend; the simulator (algorithms/simulator.*) runs all
// ranks' schedules on symbolic data to prove them right. Builders know nothing of sockets or devices.
//
// Execution model, shared by the engine and the simulator:
//  - A schedule is a list of rounds, run one after the other.
//  - A round first runs its local steps (Copy, Reduce) in the order listed, then posts all its
//    communication steps (Send, Recv, RecvReduce) at once and waits until all have completed.
//  - Messages between two ranks are matched in order: the k-th Send from a to b is received by the
//    k-th Recv/RecvReduce on b from a, and both must carry the same element count.
//  - Within a round's communication steps, no region that a Recv/RecvReduce writes may overlap a
//    region that any other communication step of the round reads or writes.
//  - Steps with a zero count are dropped by both engine and simulator.
//  - All offsets and counts are in elements of the operation's data type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mixccl {

enum class Collective : uint8_t {
  AllReduce,
  Broadcast,
  Reduce,
  AllGather,
  ReduceScatter,
  AlltoAll,
  Gather,
  Scatter,
  SendRecv,  // grouped point-to-point operations
};
const char* collectiveName(Collective c);
constexpr int kNumCollectives = 9;

// Which of the operation's buffers a region lies in. Scratch is memory the engine provides, of the
// size the schedule asks for (Schedule::scratchCount); it holds nothing on entry. Grouped
// point-to-point operations use one buffer each: the i-th posted op's buffer is Buf(kFirstUser + i).
enum class Buf : uint16_t { Input = 0, Output = 1, Scratch = 2 };
constexpr uint16_t kFirstUserBuf = 3;
inline Buf userBuf(size_t i) { return static_cast<Buf>(kFirstUserBuf + i); }

struct Region {
  Buf buf = Buf::Input;
  size_t offset = 0;  // elements
  size_t count = 0;   // elements
};

enum class StepKind : uint8_t {
  Send,        // send src to peer
  Recv,        // receive from peer into dst
  RecvReduce,  // receive from peer; dst = src (local operand) op received
  Copy,        // dst = src (local)
  Reduce,      // dst = src op src2 (local)
};

struct Step {
  StepKind kind = StepKind::Copy;
  int peer = -1;   // Send / Recv / RecvReduce
  Region src;      // Send: what is sent; Copy: source; Reduce / RecvReduce: local operand
  Region src2;     // Reduce: second operand
  Region dst;      // Recv / RecvReduce / Copy / Reduce: destination
};

struct Round {
  std::vector<Step> steps;
};

struct Schedule {
  std::string algorithm;  // the builder's name, for logs
  std::vector<Round> rounds;
  size_t scratchCount = 0;  // elements of scratch the schedule uses
};

// What a builder needs to know. Counts follow the C API of each collective:
//   AllReduce, Broadcast, Reduce: count elements in and out.
//   AllGather: count = elements each rank contributes; Output holds nranks*count.
//   ReduceScatter: count = elements each rank receives; Input holds nranks*count.
//   AlltoAll: count = elements per block; Input and Output hold nranks*count.
//   Gather: count per rank; root's Output holds nranks*count.
//   Scatter: count per rank; root's Input holds nranks*count.
// In-place operations (inPlace true) alias Input and Output as the C API defines:
//   AllReduce, Broadcast, Reduce, AlltoAll: Input is Output.
//   AllGather, Gather: Input is Output at offset rank*count.
//   ReduceScatter, Scatter: Output is Input at offset rank*count.
// Builders must give the same result either way (the simulator checks both).
struct CollectiveArgs {
  Collective collective = Collective::AllReduce;
  int nranks = 1;
  int rank = 0;
  size_t count = 0;
  int root = 0;
  bool inPlace = false;
  // Pipelining granularity in elements, chosen by the tuner (0: the builder's default). Builders that
  // pipeline (chain, ring, double binary tree) cut their work into pieces of about this size.
  size_t chunkCount = 0;
  // Topology for builders that use it (hierarchical). nullptr: every rank on one island.
  const std::vector<int>* island = nullptr;        // island index of each rank (size nranks)
  const std::vector<double>* islandWeight = nullptr; // relative speed per island index; nullptr: equal
  // (What a weight does to the work split, and algorithms/islands.h checkIslands: docs/algorithms.md.)
};

// Grouped point-to-point: one rank's sends and receives, in the order they were posted.
// The i-th op's data is buffer userBuf(i), from offset 0.
struct P2POp {
  bool isSend = false;
  int peer = -1;
  size_t count = 0;
};

}  // namespace mixccl
