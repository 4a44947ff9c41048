// The kernels compiled for AVX-512 (F, BW, VL, DQ: CMake adds the flags to this file on x86-64);
// cpu_kernels.cc uses them for the narrow floats where the CPU has all four.
#define MIXCCL_CPU_KERNEL_ISA avx512
#define MIXCCL_CPU_KERNEL_TABLE avx512Kernels
#include "backends/devices/cpu/cpu_kernel_table.inc"
