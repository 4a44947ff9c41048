#include "algorithms/islands.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace mixccl {

std::string checkIslands(const CollectiveArgs& args) {
  if (args.island == nullptr) return "";
  const std::vector<int>& island = *args.island;
  if (island.size() != static_cast<size_t>(args.nranks))
    return "the island list has " + std::to_string(island.size()) + " entries for " + std::to_string(args.nranks) +
           " ranks";
  for (size_t r = 0; r < island.size(); ++r) {
    if (island[r] < 0) return "rank " + std::to_string(r) + " has a negative island index";
    if (args.islandWeight == nullptr) continue;
    const std::vector<double>& weight = *args.islandWeight;
    const size_t i = static_cast<size_t>(island[r]);
    if (i >= weight.size())
      return "rank " + std::to_string(r) + " is on island " + std::to_string(i) + " but only " +
             std::to_string(weight.size()) + " island weights are given";
    if (!std::isfinite(weight[i]) || weight[i] <= 0)
      return "island " + std::to_string(i) + " has weight " + std::to_string(weight[i]) +
             "; weights are relative speeds and must be finite and positive";
  }
  return "";
}

IslandLayout islandLayout(const CollectiveArgs& args) {
  IslandLayout layout;
  const size_t n = static_cast<size_t>(args.nranks);
  const bool valid = checkIslands(args).empty();
  std::map<int, size_t> number;  // island index -> island number, ascending
  if (valid && args.island != nullptr)
    for (int i : *args.island) number.emplace(i, 0);
  else
    number.emplace(0, 0);
  size_t next = 0;
  for (auto& [index, num] : number) num = next++;
  layout.members.resize(number.size());
  layout.islandOf.resize(n);
  for (size_t r = 0; r < n; ++r) {
    const int index = valid && args.island != nullptr ? (*args.island)[r] : 0;
    layout.islandOf[r] = number[index];
    layout.members[number[index]].push_back(static_cast<int>(r));
  }
  // Integer weights: the fastest island gets 2^20, the others in proportion (at least 1).
  std::vector<double> speed(number.size(), 1.0);
  if (valid && args.island != nullptr && args.islandWeight != nullptr)
    for (const auto& [index, num] : number) speed[num] = (*args.islandWeight)[static_cast<size_t>(index)];
  const double fastest = *std::max_element(speed.begin(), speed.end());
  for (double s : speed)
    layout.weight.push_back(std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(s / fastest * 1048576.0))));
  return layout;
}

RankOrder islandOrder(const IslandLayout& layout, int first) {
  RankOrder order;
  const size_t home = layout.islandOf[static_cast<size_t>(first)];
  order.rankAt.push_back(first);
  for (size_t k = 0; k < layout.count(); ++k) {
    const size_t island = (home + k) % layout.count();
    for (int r : layout.members[island])
      if (r != first) order.rankAt.push_back(r);
  }
  order.fill();
  return order;
}

void weightedParts(const IslandLayout& layout, size_t offset, size_t length, std::vector<size_t>* starts) {
  const size_t m = layout.count();
  unsigned __int128 total = 0;
  for (uint64_t w : layout.weight) total += w;
  starts->assign(m + 1, offset + length);
  unsigned __int128 before = 0;
  for (size_t i = 0; i < m; ++i) {
    (*starts)[i] = offset + static_cast<size_t>(static_cast<unsigned __int128>(length) * before / total);
    before += layout.weight[i];
  }
}

}  // namespace mixccl
