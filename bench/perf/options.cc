#include "bench/perf/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>

#include "bench/perf/collectives.h"
#include "bench/perf/dtypes.h"

namespace mixcclperf {

const char* redOpName(RedOp op) {
  switch (op) {
    case RedOp::Sum: return "sum";
    case RedOp::Prod: return "prod";
    case RedOp::Max: return "max";
    case RedOp::Min: return "min";
    case RedOp::Avg: return "avg";
    case RedOp::PreMulSum: return "premulsum";
  }
  return "?";
}

size_t parseByteSize(const std::string& text) {
  size_t pos = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &pos);
  } catch (const std::exception&) {
    throw std::invalid_argument("'" + text + "' is not a size in bytes (examples: 8, 512K, 64M, 1G)");
  }
  if (!text.empty() && text[0] == '-')
    throw std::invalid_argument("'" + text + "' is negative; a size must be at least 0");
  std::string suffix = text.substr(pos);
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  unsigned long long mult = 1;
  if (suffix == "K" || suffix == "k") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "m") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "g") mult = 1ull << 30;
  else if (!suffix.empty())
    throw std::invalid_argument("'" + text + "' has an unknown suffix '" + suffix + "' (use K, M or G)");
  if (value > (~0ull) / mult) throw std::invalid_argument("'" + text + "' is too large");
  return static_cast<size_t>(value * mult);
}

std::vector<size_t> sweepSizes(const Options& o) {
  std::vector<size_t> sizes;
  for (size_t s = o.minBytes; s <= o.maxBytes;) {
    sizes.push_back(s);
    size_t next = o.usesFactor() ? static_cast<size_t>(std::ceil(static_cast<double>(s) * o.stepFactor))
                                 : s + o.stepBytes;
    if (next <= s) break;  // a factor on size 0, or overflow: one row is all we can do
    s = next;
  }
  return sizes;
}

namespace {

// CLI11 short options are one letter, so nccl-tests' "-np 4" becomes "--np 4" before parsing.
std::vector<std::string> normalizeArgs(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-np") a = "--np";
    else if (a.rfind("-np=", 0) == 0) a = "--np=" + a.substr(4);
    args.push_back(a);
  }
  return args;
}

std::vector<RedOp> parseRedOps(const std::string& text) {
  static const RedOp all[] = {RedOp::Sum, RedOp::Prod, RedOp::Max, RedOp::Min, RedOp::Avg, RedOp::PreMulSum};
  if (text == "all") return {std::begin(all), std::end(all)};
  for (RedOp op : all)
    if (text == redOpName(op)) return {op};
  throw std::invalid_argument("-o " + text + ": unknown reduction (use sum, prod, max, min, avg, premulsum or all)");
}

std::vector<mixcclDataType_t> parseDataTypes(const std::string& text) {
  if (text == "all") return allDataTypes();
  mixcclDataType_t t;
  if (!dataTypeFromName(text, &t))
    throw std::invalid_argument("-d " + text +
                                ": unknown data type (use int8, uint8, int32, uint32, int64, uint64, half, "
                                "float, double, bfloat16, fp8_e4m3, fp8_e5m2 or all)");
  return {t};
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

}  // namespace

bool parseOptions(int argc, char** argv, Options* out, int* exitCode) {
  Options o;
  CLI::App app{"mixccl-perf: measures mixccl collectives the way nccl-tests measures NCCL", "mixccl-perf"};
  std::string minText = "32M", maxText = "32M", stepText;
  app.add_option("collective", o.collective, collectiveNamesForHelp())->required();
  app.add_option("-b,--minbytes", minText, "smallest size in bytes (suffix K, M, G)")->capture_default_str();
  app.add_option("-e,--maxbytes", maxText, "largest size in bytes (suffix K, M, G)")->capture_default_str();
  auto* factorOpt = app.add_option("-f,--stepfactor", o.stepFactor, "multiply the size by this each step");
  auto* stepOpt = app.add_option("-i,--stepbytes", stepText, "add this many bytes each step (default 1M)");
  app.add_option("-n,--iters", o.iters, "timed iterations per size")->capture_default_str();
  app.add_option("-w,--warmup_iters", o.warmupIters, "untimed iterations before timing")->capture_default_str();
  app.add_option("--rounds", o.rounds,
                 "split the -n timed iterations into this many rounds and report the median round of each size "
                 "(--round-stat); with --algos the communicators take turns round by round, so a noisy spell of the "
                 "machine spoils one round of every algorithm, not all of one")
      ->capture_default_str();
  app.add_option("--round-stat", o.roundStat,
                 "with --rounds, which round each size reports: its median (robust: communicators running the same "
                 "algorithm agree within 1-3 %) or its fastest (the luckiest round: the same communicators came out "
                 "11-20 % apart on a noisy VM)")
      ->check(CLI::IsMember({"median", "fastest"}))
      ->capture_default_str();
  app.add_option("-c,--check", o.check, "1: verify every output element after timing; 0: skip")->capture_default_str();
  app.add_option("-d,--datatype", o.dtypeArg, "data type, or all")->capture_default_str();
  app.add_option("-o,--op", o.redopArg, "reduction: sum prod max min avg premulsum, or all")->capture_default_str();
  app.add_option("-r,--root", o.root, "root rank of broadcast, reduce, gather, scatter")->capture_default_str();
  app.add_option("--np", o.nprocs, "-np N: launch N ranks on this host (fork after mixcclGetUniqueId)");
  std::string devicesText = "cpu";
  app.add_option("--devices", devicesText, "device kind per rank, comma-separated, cycled over ranks")
      ->capture_default_str();
  std::string algosText;
  app.add_option("--algos", algosText,
                 "time these algorithms of the collective in turn at every size, each on its own communicator "
                 "(comma-separated names as in MIXCCL_ALGO; 'auto' is the tuner's pick; mixccl-topo "
                 "--list-algorithms lists them)");
  app.add_option("--json", o.jsonPath, "also write every row, the machine and the parameters to this file");
  app.add_option("--bind", o.bind,
                 "with -np: 'core' pins rank r to the r-th usable core, 'none' leaves placement to the kernel, "
                 "'auto' pins when every rank has a core of its own (what mpirun does by default)")
      ->check(CLI::IsMember({"auto", "core", "none"}))
      ->capture_default_str();

  std::vector<std::string> args = normalizeArgs(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 wants the vector in reverse order
  try {
    app.parse(args);
    if (!isKnownCollective(o.collective))
      throw std::invalid_argument("unknown collective '" + o.collective + "' (use " + collectiveNamesForHelp() + ")");
    o.minBytes = parseByteSize(minText);
    o.maxBytes = parseByteSize(maxText);
    if (!stepText.empty()) o.stepBytes = parseByteSize(stepText);
    if (factorOpt->count() > 0 && stepOpt->count() > 0)
      throw std::invalid_argument("-f (step factor) and -i (step bytes) exclude each other: give one");
    if (factorOpt->count() > 0 && o.stepFactor < 1)
      throw std::invalid_argument("-f must be at least 1 (it multiplies the size each step)");
    if (stepOpt->count() > 0) o.stepFactor = 1;
    if (!o.usesFactor() && o.stepBytes == 0 && o.minBytes != o.maxBytes)
      throw std::invalid_argument("-i 0 would never reach -e; give a step of at least 1 byte");
    if (o.minBytes > o.maxBytes)
      throw std::invalid_argument("-b " + minText + " is larger than -e " + maxText);
    if (o.iters < 1) throw std::invalid_argument("-n must be at least 1");
    if (o.warmupIters < 0) throw std::invalid_argument("-w must be at least 0");
    if (o.rounds < 1) throw std::invalid_argument("--rounds must be at least 1");
    if (o.rounds > o.iters)
      throw std::invalid_argument("--rounds " + std::to_string(o.rounds) + " is more than -n " +
                                  std::to_string(o.iters) + ": every round needs at least one timed iteration");
    if (o.check < 0) throw std::invalid_argument("-c must be 0 or 1");
    if (o.root < 0) throw std::invalid_argument("-r must be a rank (0 or more)");
    if (app.count("--np") > 0 && o.nprocs < 1)
      throw std::invalid_argument("-np must be at least 1 (it is the number of ranks to launch)");
    o.dtypes = parseDataTypes(o.dtypeArg);
    o.redops = parseRedOps(o.redopArg);
    o.devices = splitList(devicesText);
    for (const auto& d : o.devices)
      if (d.empty()) throw std::invalid_argument("--devices '" + devicesText + "' has an empty entry");
    if (!algosText.empty()) o.algos = splitList(algosText);
    for (const auto& a : o.algos) {
      if (a.empty()) throw std::invalid_argument("--algos '" + algosText + "' has an empty entry");
      if (a.find_first_of(":;") != std::string::npos)
        throw std::invalid_argument("--algos '" + algosText + "': give bare algorithm names (ring,tree,auto); "
                                    "the collective is the one being measured");
    }
  } catch (const CLI::ParseError& e) {
    *exitCode = app.exit(e);
    if (*exitCode == 0) return false;  // --help
    return false;
  } catch (const std::invalid_argument& e) {
    std::cerr << "mixccl-perf: " << e.what() << "\n";
    *exitCode = 2;
    return false;
  }
  *out = std::move(o);
  return true;
}

}  // namespace mixcclperf
