// Building a communicator's topology at init: every rank describes its host, device and links; the
// link classes and device rates are measured (a few ping-pongs over one pair per class, a short
// copy and reduce per island; a few ms in all), taken from MIXCCL_TOPO_FILE, or, with
// MIXCCL_CALIBRATE=0, left at built-in figures. Every rank ends with the same topology (so every
// rank's tuner makes the same choices) and a Tuner on comm->tuner. MIXCCL_TOPO_DUMP=path makes rank 0
// write it as a topology file. Collective: every rank calls it after the transports are connected.
#pragma once

#include "core/status.h"

struct mixcclComm;

namespace mixccl {

Status buildCommTopology(mixcclComm* comm);

}  // namespace mixccl
