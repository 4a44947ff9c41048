/* bindings/nccl/nccl.h must compile as C (C programs are NCCL users too): what C sees of the layout. */
#include <stddef.h>

#include "bindings/nccl/nccl.h"

size_t mixcclNcclHeaderFromC(int* blockingUndef, int* maxRedOp) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  ncclResult_t (*allReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) =
      ncclAllReduce;
  (void)allReduce;
  *blockingUndef = config.blocking == NCCL_CONFIG_UNDEF_INT && sim.estimatedTime == NCCL_UNDEF_FLOAT;
  *maxRedOp = (int)ncclMaxRedOp;
  return sizeof(ncclConfig_t) * 1000 + offsetof(ncclConfig_t, commName);
}
