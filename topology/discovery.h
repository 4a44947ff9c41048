// Discovery of the local host: packages, NUMA nodes, cores, hardware threads and caches through
// hwloc (when the build found it; otherwise what sysconf and /sys say, and the host record says
// which), and the network interfaces with the speed the kernel reports.
#pragma once

#include "topology/topology.h"

namespace mixccl {

// Describes this host. Never fails: what cannot be found is left at its default and logged.
HostInfo discoverLocalHost();

// The network interfaces that are up, with address and speed (/sys/class/net/<name>/speed).
std::vector<NetworkInterface> discoverNetworkInterfaces();

}  // namespace mixccl
