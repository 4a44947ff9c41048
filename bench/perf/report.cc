#include "bench/perf/report.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mixccl.h"

namespace mixcclperf {

namespace {

// nccl-tests keeps the time column 7 wide: fewer decimals as the number grows.
std::string formatTime(double us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), us >= 10000 ? "%7.0f" : us >= 100 ? "%7.1f" : "%7.2f", us);
  return buf;
}

// The widths of the row format below: the leading columns, then one group per measurement.
constexpr size_t kLeadingWidth = 2 + 10 + 2 + 12 + 2 + 8 + 2 + 9 + 2 + 6;
constexpr size_t kGroupWidth = 2 + 7 + 2 + 6 + 2 + 6 + 2 + 6;

// "out-of-place" and "in-place", each centred over its four columns.
std::string groupLabels() {
  std::string line(kLeadingWidth + 2 * kGroupWidth, ' ');
  line[0] = '#';
  auto centre = [&](size_t groupStart, const std::string& label) {
    line.replace(groupStart + (kGroupWidth - label.size()) / 2 + 1, label.size(), label);
  };
  centre(kLeadingWidth, "out-of-place");
  centre(kLeadingWidth + kGroupWidth, "in-place");
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string formatWrong(int64_t wrong) { return wrong < 0 ? "N/A" : std::to_string(wrong); }

void printMeasurement(const Measurement& m) {
  std::printf("  %7s  %6.2f  %6.2f  %6s", formatTime(m.timeUs).c_str(), m.algBw, m.busBw,
              formatWrong(m.wrong).c_str());
}

nlohmann::json measurementJson(const Measurement& m) {
  nlohmann::json j = {{"time_us", m.timeUs}, {"algbw_gbps", m.algBw}, {"busbw_gbps", m.busBw}};
  j["wrong"] = m.wrong < 0 ? nlohmann::json(nullptr) : nlohmann::json(m.wrong);
  return j;
}

}  // namespace

Report::Report(const Options& options, int nranks, std::string launcher)
    : options_(options), nranks_(nranks), launcher_(std::move(launcher)) {}

void Report::printHeader(const std::vector<RankDevice>& devices) {
  devices_ = devices;
  const Options& o = options_;
  std::printf("# mixccl-perf %s: %d ranks, launched by %s\n", o.collective.c_str(), nranks_, launcher_.c_str());
  if (o.usesFactor())
    std::printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %g(factor) warmup iters: %d iters: %d "
                "validation: %d\n", o.minBytes, o.maxBytes, o.stepFactor, o.warmupIters, o.iters, o.check ? 1 : 0);
  else
    std::printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %zu(bytes) warmup iters: %d iters: %d "
                "validation: %d\n", o.minBytes, o.maxBytes, o.stepBytes, o.warmupIters, o.iters, o.check ? 1 : 0);
  if (o.rounds > 1)
    std::printf("# timed in %d rounds%s; each time is the size's %s round\n", o.rounds,
                o.algos.size() > 1 ? ", the communicators taking turns round by round" : "", o.roundStat.c_str());
  std::printf("#\n# Using devices\n");
  for (const auto& d : devices_)
    std::printf("#  Rank %2d Pid %6d on %10s device %2d [%s]\n", d.rank, d.pid, d.host.c_str(), d.ordinal,
                d.kind.c_str());
  std::printf("#\n");
  std::printf("%s\n", groupLabels().c_str());
  // With --algos each row ends with the algorithm its communicator forced (after nccl-tests' columns,
  // so that parsers reading those by position still work).
  const bool algos = !o.algos.empty();
  std::printf("# %10s  %12s  %8s  %9s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s%s\n", "size", "count", "type",
              "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong",
              algos ? "  algorithm" : "");
  std::printf("# %10s  %12s  %8s  %9s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "(B)", "(elements)", "",
              "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
  std::fflush(stdout);
}

void Report::printRow(const Row& row) {
  rows_.push_back(row);
  std::printf("  %10zu  %12zu  %8s  %9s  %6d", row.bytes, row.count, row.type.c_str(), row.redop.c_str(), row.root);
  printMeasurement(row.outOfPlace);
  printMeasurement(row.inPlace);
  if (!row.algorithm.empty()) std::printf("  %s", row.algorithm.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

void Report::keepRow(const Row& row) { rows_.push_back(row); }

uint64_t Report::wrongTotal() const {
  uint64_t total = 0;
  for (const auto& r : rows_) {
    if (r.outOfPlace.wrong > 0) total += static_cast<uint64_t>(r.outOfPlace.wrong);
    if (r.inPlace.wrong > 0) total += static_cast<uint64_t>(r.inPlace.wrong);
  }
  return total;
}

// The mean bus bandwidth of every measurement, out-of-place and in-place alike (as nccl-tests does).
double Report::averageBusBandwidth() const {
  if (rows_.empty()) return 0;
  double sum = 0;
  for (const auto& r : rows_) sum += r.outOfPlace.busBw + r.inPlace.busBw;
  return sum / static_cast<double>(2 * rows_.size());
}

void Report::printFooter() const {
  const uint64_t wrong = wrongTotal();
  if (options_.check)
    std::printf("# Out of bounds values : %llu %s\n", static_cast<unsigned long long>(wrong), wrong == 0 ? "OK" : "FAILED");
  else
    std::printf("# Out of bounds values : not checked (-c 0)\n");
  std::printf("# Avg bus bandwidth    : %g \n#\n", averageBusBandwidth());
  std::fflush(stdout);
}

bool Report::writeJson(const std::string& path) const {
  const Options& o = options_;
  nlohmann::json doc;
  int version = 0;
  mixcclGetVersion(&version);
  char host[256] = "unknown";
  gethostname(host, sizeof(host) - 1);
  doc["tool"] = "mixccl-perf";
  doc["collective"] = o.collective;
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : devices_)
    devices.push_back({{"rank", d.rank}, {"pid", d.pid}, {"host", d.host}, {"kind", d.kind}, {"ordinal", d.ordinal}});
  doc["machine"] = {{"host", host}, {"nranks", nranks_}, {"launcher", launcher_}, {"mixccl_version", version},
                    {"online_cpus", sysconf(_SC_NPROCESSORS_ONLN)}, {"devices", devices}};
  doc["parameters"] = {{"min_bytes", o.minBytes}, {"max_bytes", o.maxBytes},
                       {"step_factor", o.usesFactor() ? nlohmann::json(o.stepFactor) : nlohmann::json(nullptr)},
                       {"step_bytes", o.usesFactor() ? nlohmann::json(nullptr) : nlohmann::json(o.stepBytes)},
                       {"iters", o.iters}, {"warmup_iters", o.warmupIters},
                       {"rounds", o.rounds}, {"round_stat", o.roundStat}, {"check", o.check != 0},
                       {"datatype", o.dtypeArg}, {"op", o.redopArg}, {"root", o.root}, {"devices", o.devices},
                       {"algos", o.algos}};
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : rows_)
    rows.push_back({{"size_bytes", r.bytes}, {"count", r.count}, {"type", r.type}, {"redop", r.redop},
                    {"root", r.root}, {"out_of_place", measurementJson(r.outOfPlace)},
                    {"in_place", measurementJson(r.inPlace)},
                    {"algorithm", r.algorithm.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.algorithm)}});
  doc["rows"] = rows;
  doc["summary"] = {{"wrong_total", wrongTotal()}, {"avg_busbw_gbps", averageBusBandwidth()},
                    {"ok", wrongTotal() == 0}};
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) {
    std::fprintf(stderr, "mixccl-perf: cannot write the JSON report to %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace mixcclperf
