// The cost model: how long a collective takes on a topology, predicted from the schedules the
// algorithm builds (so every algorithm, present and future, is costed by one rule, and the same
// code drives the tuner and the simulator of mixccl-topo).
//
// Each message over a link of class L costs alpha_L + bytes / beta_L from the moment both sides
// have posted it. A rank's thread does the work of its round serially: local copies and reductions
// at the device's rates, plus its share of moving each message (half of bytes / beta per side, since
// the calibrated beta covers sender and receiver together). Rounds of one rank run in order; rounds
// of different ranks overlap freely and meet only through messages. Device rates depend on the
// working set: every buffer extent the schedules touch, summed over the ranks of one island (one
// host, one device kind: they share its caches), picks between the device's cached and bulk rates. Where a host has more ranks
// than cores, work and latency there stretch by ranks / cores; every round that waits pays the
// host's measured fixed wait (HostInfo::waitUs: a context switch, whatever the size) once per wave
// of the peers it waits for (peers / cores, rounded up, where ranks outnumber cores), and every
// message it waits for the host's measured size-proportional cost (HostInfo::stepUs, scaled by the
// message's size against kStepCalibrationBytes; every sender must get a core in turn, so these add
// up): what makes many small rounds, ring's many pipelined pieces, and direct algorithms' n-1 large
// messages dear on such a host.
// The pieces one link carries in one round flow one after another (their bytes add up). A message
// between hosts also flows no faster than each host's own network rate (HostInfo::netGBps) allows
// for all the crossing bytes of that rank's round, the rate being divided among the host's ranks
// that cross hosts in the schedules (they share the NIC): one slow host slows exactly the traffic
// through it.
// A rank whose device memory is not host memory stages every message a host transport carries:
// the sender copies it device to host, the receiver host to device (then reduces, for a
// receive-reduce), at the device's stagingGBps; over a device-to-device link (cuda_ipc) the same
// copies run at the device's copy rate. Those copies are the rank's own work, and a message flows
// no faster than either end's staging. Every device operation also costs its rank the device's fixed
// cost per call (DeviceRates::callUs): each local copy and reduce, each receive-reduce's reduce, and
// each staging block (kStagingBlockBytes) of a staged message. That is what prices a device rank's
// many small pipelined pieces against a few large ones.
#pragma once

#include <cstddef>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/schedule.h"
#include "topology/topology.h"

namespace mixccl {

class CostModel {
 public:
  explicit CostModel(const Topology* topology);

  // Predicted microseconds for one operation; schedules[r] is rank r's. A set of schedules that
  // cannot finish (a deadlock) costs +infinity.
  double predictUs(const std::vector<Schedule>& schedules, size_t elementBytes) const;

  // Builds every rank's schedule with `algorithm` (proto.rank = 0..n-1) and predicts them.
  double predictUs(const Algorithm& algorithm, const CollectiveArgs& proto, size_t elementBytes) const;

  const Topology& topology() const { return *topology_; }

 private:
  struct RankCosts {
    double share = 1;          // oversubscription stretch of this rank's host
    DeviceRates device;        // this rank's device; its per-byte costs depend on the working set
    int island = 0;            // Topology::islands(): ranks of one island share their caches
    double stepUs = 0;         // the host's size-proportional cost per waited message (HostInfo::stepUs)
    double waitUs = 0;         // the host's fixed cost of a round that waits (HostInfo::waitUs)
    int cores = 0;             // the host's cores where its ranks outnumber them (else 0): waits come in waves
  };
  // us per byte through host h's own network rate (HostInfo::netGBps) shared by the crossing[h]
  // ranks of h that send to other hosts in the schedules; 0 when the rate is unknown.
  double netUsPerByte(int host, const std::vector<int>& crossing) const;
  // us per byte rank r spends staging a message over `link` (0 when its device is host memory);
  // copyUs: its device's copy cost at this operation's working set.
  double stagingUsPerByte(size_t r, const LinkClass& link, double copyUs) const;
  const Topology* topology_;
  std::vector<RankCosts> ranks_;
};

// The message size HostInfo::stepUs is measured with (core/comm_topology.cc): a waited message of
// b bytes costs stepUs * min(1, b / kStepCalibrationBytes).
constexpr size_t kStepCalibrationBytes = 256 * 1024;

// The host staging block a staged message is copied through, one device call each
// (MIXCCL_STAGING_BYTES' default, core/staged_message.h; the model assumes the default, and one call
// per block: MIXCCL_STAGING_UNITS above 1 makes more).
constexpr size_t kStagingBlockBytes = size_t{1} << 20;

// Fixed software cost of running one round (posting, polling, bookkeeping), microseconds.
constexpr double kRoundOverheadUs = 0.15;
// The CPU time each message costs its sender and its receiver, as a share of its link's alpha (an
// assumption, not measured: alpha is one message's latency, of which both ends' software is a part).
constexpr double kMessageOverheadShare = 0.25;

}  // namespace mixccl
