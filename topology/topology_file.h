// Topology files: the topology graph as JSON, so that a cluster that is not here can be described
// (MIXCCL_TOPO_FILE, mixccl-topo --file) and a detected one saved (MIXCCL_TOPO_DUMP). The format is
// documented in docs/topology.md; both functions name the field that is wrong.
#pragma once

#include <string>

#include "core/status.h"
#include "topology/topology.h"

namespace mixccl {

// Parses JSON text. Fills hosts, ranks, link classes (with their costs), device rates and the link
// of every rank pair; the result passes Topology::validate().
Status parseTopologyJson(const std::string& text, Topology* out);
Status readTopologyFile(const std::string& path, Topology* out);

// The JSON text of a topology (pretty-printed); readTopologyFile reads it back unchanged.
std::string topologyToJson(const Topology& t);
Status writeTopologyFile(const std::string& path, const Topology& t);

}  // namespace mixccl
