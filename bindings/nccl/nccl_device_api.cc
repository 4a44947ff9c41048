// NCCL 2.28's device-side API (ncclDevComm, teams, barriers, LL all-to-all): GPU kernels that load and
// store peers' memory directly. This build has no such memory, so the calls that would set it up
// fail with ncclInvalidUsage and a sentence saying so; the team queries, which are plain arithmetic
// on rank numbers, answer truthfully (every rank's load/store team is itself alone).
#include "bindings/nccl/shim.h"
#include "core/api_util.h"

using namespace mixccl;
using namespace mixccl::nccl;

namespace {

// The layout of NCCL's ncclTeam (three ints), returned by value as NCCL does.
struct Team {
  int nRanks, rank, stride;
};

ncclResult_t unsupported(ncclComm_t comm, const char* fn) {
  return fail(comm, errorStatus(mixcclInvalidUsage, "%s: NCCL's device API (symmetric memory, GPU-initiated "
                                "communication) is not supported by mixccl; use the host collectives", fn));
}

Team world(ncclComm_t comm) {
  int n = 0, r = 0;
  if (mixcclCommCount(native(comm), &n) != mixcclSuccess || mixcclCommUserRank(native(comm), &r) != mixcclSuccess) {
    return Team{0, -1, 0};
  }
  return Team{n, r, 1};
}

}  // namespace

NCCL_SHIM_API ncclResult_t pncclDevCommCreate(ncclComm_t comm, const void*, void*) {
  return unsupported(comm, "ncclDevCommCreate");
}
NCCL_SHIM_API ncclResult_t pncclDevCommDestroy(ncclComm_t comm, const void*) {
  return unsupported(comm, "ncclDevCommDestroy");
}
NCCL_SHIM_API ncclResult_t pncclLsaBarrierCreateRequirement(Team, int, void*, void*) {
  return unsupported(nullptr, "ncclLsaBarrierCreateRequirement");
}
NCCL_SHIM_API ncclResult_t pncclGinBarrierCreateRequirement(ncclComm_t comm, Team, int, void*, void*) {
  return unsupported(comm, "ncclGinBarrierCreateRequirement");
}
NCCL_SHIM_API ncclResult_t pncclLLA2ACreateRequirement(int, int, void*, void*) {
  return unsupported(nullptr, "ncclLLA2ACreateRequirement");
}
// Returns a slot count; there are no LL slots here, so -1 (never a valid count) plus the sentence.
NCCL_SHIM_API int pncclLLA2ACalcSlots(int, int) {
  unsupported(nullptr, "ncclLLA2ACalcSlots");
  return -1;
}

NCCL_SHIM_API Team pncclTeamWorld(ncclComm_t comm) { return world(comm); }
// Load/store-accessible peers: none but the rank itself.
NCCL_SHIM_API Team pncclTeamLsa(ncclComm_t comm) {
  Team w = world(comm);
  return w.nRanks > 0 ? Team{1, 0, 1} : w;
}
// The ranks that share this rank's position in its load/store team: with teams of one, everyone.
NCCL_SHIM_API Team pncclTeamRail(ncclComm_t comm) { return world(comm); }

NCCL_SHIM_API int pncclTeamRankToWorld(ncclComm_t comm, Team team, int rank) {
  Team w = world(comm);
  if (w.nRanks <= 0 || rank < 0 || rank >= team.nRanks) return -1;
  int worldRank = w.rank + (rank - team.rank) * team.stride;
  return worldRank >= 0 && worldRank < w.nRanks ? worldRank : -1;
}
// A team member's index in this rank's load/store team: 0 for the rank itself, -1 for any other.
NCCL_SHIM_API int pncclTeamRankToLsa(ncclComm_t comm, Team team, int rank) {
  Team w = world(comm);
  int worldRank = pncclTeamRankToWorld(comm, team, rank);
  return worldRank >= 0 && worldRank == w.rank ? 0 : -1;
}

#define NCCL_SHIM_DEVICE_ALIAS(name) \
  extern "C" __attribute__((visibility("default"), weak, alias("p" #name))) decltype(p##name) name;
NCCL_SHIM_DEVICE_ALIAS(ncclDevCommCreate)
NCCL_SHIM_DEVICE_ALIAS(ncclDevCommDestroy)
NCCL_SHIM_DEVICE_ALIAS(ncclLsaBarrierCreateRequirement)
NCCL_SHIM_DEVICE_ALIAS(ncclGinBarrierCreateRequirement)
NCCL_SHIM_DEVICE_ALIAS(ncclLLA2ACreateRequirement)
NCCL_SHIM_DEVICE_ALIAS(ncclLLA2ACalcSlots)
NCCL_SHIM_DEVICE_ALIAS(ncclTeamWorld)
NCCL_SHIM_DEVICE_ALIAS(ncclTeamLsa)
NCCL_SHIM_DEVICE_ALIAS(ncclTeamRail)
NCCL_SHIM_DEVICE_ALIAS(ncclTeamRankToWorld)
NCCL_SHIM_DEVICE_ALIAS(ncclTeamRankToLsa)
