// What the user asked mixccl-perf to do: the command line, parsed and checked, nccl-tests' option names.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "mixccl.h"

namespace mixcclperf {

// One reduction as the benchmark knows it: NCCL's built-in operators plus premulsum, which is created
// per communicator with mixcclRedOpCreatePreMulSum.
enum class RedOp { Sum, Prod, Max, Min, Avg, PreMulSum };

struct Options {
  std::string collective;             // e.g. "all_reduce"
  size_t minBytes = 32u << 20;        // -b
  size_t maxBytes = 32u << 20;        // -e
  double stepFactor = 1;              // -f: used when > 1
  size_t stepBytes = 1u << 20;        // -i: used otherwise
  int iters = 20;                     // -n
  int warmupIters = 1;                // -w
  int rounds = 1;                     // --rounds: the timed iterations split into rounds
  std::string roundStat = "median";   // --round-stat: which round a size reports, "median" or "fastest"
  int check = 1;                      // -c: 0 skips validation
  std::vector<mixcclDataType_t> dtypes;  // -d (several with "all")
  std::vector<RedOp> redops;             // -o (several with "all")
  int root = 0;                       // -r
  int nprocs = 0;                     // -np: 0 means "not self-launched"
  std::vector<std::string> devices;   // --devices, cycled over ranks
  std::vector<std::string> algos;     // --algos: one communicator per algorithm ("auto": the tuner's pick)
  std::string jsonPath;               // --json
  std::string bind = "auto";          // --bind: auto, core or none (self-launched ranks only)
  // What the user typed for -d/-o, shown in the header and the JSON file.
  std::string dtypeArg = "float";
  std::string redopArg = "sum";

  bool usesFactor() const { return stepFactor > 1; }
};

// Parses argv. On --help prints usage and returns false with exitCode 0; on a bad argument prints a
// message to stderr and returns false with a non-zero exitCode.
bool parseOptions(int argc, char** argv, Options* out, int* exitCode);

// "64M" -> 67108864. Suffixes K, M, G (powers of 1024, either case, optional trailing B). Throws
// std::invalid_argument with a sentence on a malformed value.
size_t parseByteSize(const std::string& text);

// The sizes a sweep visits, in bytes: minBytes, then times stepFactor (or plus stepBytes), up to maxBytes.
std::vector<size_t> sweepSizes(const Options& o);

const char* redOpName(RedOp op);

}  // namespace mixcclperf
