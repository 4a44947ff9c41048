// libFuzzer target: the topology-file parser (topology/topology_file.h) on arbitrary text, as
// MIXCCL_TOPO_FILE could hold it. Anything it accepts must pass Topology::validate() and survive a
// round trip through topologyToJson.
#include <cstddef>
#include <cstdint>
#include <string>

#include "topology/topology_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  mixccl::Topology topo;
  if (!mixccl::parseTopologyJson(text, &topo).isOk()) return 0;
  mixccl::Topology again;
  if (!mixccl::parseTopologyJson(mixccl::topologyToJson(topo), &again).isOk()) __builtin_trap();
  return 0;
}
