// The kernels compiled for AVX2 (CMake adds -mavx2 to this file on x86-64); cpu_kernels.cc uses
// them where the CPU has it. Eight floats a vector instead of four: the narrow-float kernels, which
// convert every element, run about twice as fast; float and wider ones are bound by memory anyway.
#define MIXCCL_CPU_KERNEL_ISA avx2
#define MIXCCL_CPU_KERNEL_TABLE avx2Kernels
#include "backends/devices/cpu/cpu_kernel_table.inc"
