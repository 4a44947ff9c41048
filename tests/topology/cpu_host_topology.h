// A described topology for tuner tests: one host with `cores` cores, `nranks` cpu ranks on it, shm
// links of 1 us and 10 GB/s, and a cpu that copies at 20 GB/s and reduces at 10 GB/s.
#pragma once

#include "topology/topology.h"

namespace mixccl {

inline Topology cpuHostTopology(int nranks, int cores) {
  Topology t;
  HostInfo h;
  h.cores = cores;
  t.hosts.push_back(h);
  for (int r = 0; r < nranks; ++r) t.ranks.push_back({0, "cpu", r});
  t.addLinkClass({"shm", 1.0, 10.0, "test"});
  t.deviceRates.push_back({"cpu", 20.0, 10.0, "test"});
  t.connectByHost("shm", "shm");
  return t;
}

}  // namespace mixccl
