// What rank 0 prints (nccl-tests' layout, so existing parsers and habits work) and writes to --json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/perf/options.h"

namespace mixcclperf {

struct RankDevice {
  int rank = 0;
  int pid = 0;
  std::string host;
  std::string kind;
  int ordinal = 0;
};

struct Measurement {
  double timeUs = 0;
  double algBw = 0;   // GB/s: size / time
  double busBw = 0;   // GB/s: algBw * the collective's factor
  int64_t wrong = -1; // wrong elements over all ranks; -1 when not checked
};

struct Row {
  size_t bytes = 0;
  size_t count = 0;
  std::string type;
  std::string redop;  // "none" for collectives without a reduction
  int root = -1;      // -1 for collectives without a root
  std::string algorithm;  // what --algos forced ("auto": the tuner); empty without --algos
  Measurement outOfPlace;
  Measurement inPlace;
};

class Report {
 public:
  Report(const Options& options, int nranks, std::string launcher);

  void printHeader(const std::vector<RankDevice>& devices);
  void printRow(const Row& row);  // printed at once, and kept for the footer and the JSON file
  void keepRow(const Row& row);   // kept only (ranks other than 0 print nothing)
  void printFooter() const;
  // Writes everything to path; returns false (after saying why) when the file cannot be written.
  bool writeJson(const std::string& path) const;

  uint64_t wrongTotal() const;
  double averageBusBandwidth() const;

 private:
  const Options& options_;
  int nranks_;
  std::string launcher_;
  std::vector<RankDevice> devices_;
  std::vector<Row> rows_;
};

}  // namespace mixcclperf
