// The system's (NVIDIA's) nccl.h, described by nccl_layout_probe.inc.
#include <nccl.h>
#define NCCL_LAYOUT_PROBE_NAME describeSystemNcclHeader
#include "tests/nccl/nccl_layout_probe.inc"
