// mixccl's bindings/nccl/nccl.h, described by nccl_layout_probe.inc (built without CUDA's headers).
#include "bindings/nccl/nccl.h"
#define NCCL_LAYOUT_PROBE_NAME describeMixcclNcclHeader
#include "tests/nccl/nccl_layout_probe.inc"
