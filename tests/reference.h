// Reference values for the collective tests, computed without the library.
//
// Every input element is a pure function of (seed, rank, index), so any rank can recompute what any
// other rank sent and what the reduction over all ranks must be. Inputs are chosen so that sum, prod,
// max and min are exact whatever order the library reduces in (small integers for the narrow float
// types, wrap-around arithmetic for integers); avg and pre-multiplied sum of float types are compared
// with a tolerance because their intermediate products are rounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mixccl.h"

namespace mixccl_test {

// What a test does with the data: a reduction, or just moving bytes (None: random bit patterns,
// compared bit for bit, so any conversion of the data would be caught).
enum class Reduction { None, Sum, Prod, Max, Min, Avg, PreMulSum };

const std::vector<mixcclDataType_t>& allTypes();
const std::vector<Reduction>& allReductions();  // every reduction except None
const char* typeName(mixcclDataType_t type);
const char* reductionName(Reduction reduction);
size_t typeSize(mixcclDataType_t type);
bool isFloatType(mixcclDataType_t type);
// The builtin operator for a reduction; PreMulSum operators are created per communicator.
mixcclRedOp_t builtinOp(Reduction reduction);

// Narrow float formats, written here so the reference does not share code with the library.
// Round to nearest, ties to even. float16 and bfloat16 overflow to infinity; both fp8 formats
// saturate to their largest finite value (e4m3 "fn" has no infinity, max 448; e5m2 max 57344).
uint16_t encodeFloat16(double v);
uint16_t encodeBfloat16(double v);
uint8_t encodeFp8E4M3(double v);
uint8_t encodeFp8E5M2(double v);
double decodeFloat16(uint16_t bits);
double decodeBfloat16(uint16_t bits);
double decodeFp8E4M3(uint8_t bits);
double decodeFp8E5M2(uint8_t bits);

// One element of a float type, as a double and back (the codecs above for the narrow types).
void storeFloat(mixcclDataType_t type, double v, void* dst);
double loadFloat(mixcclDataType_t type, const void* src);

// Writes `count` input elements of `rank`, logical indices firstIndex .. firstIndex+count-1.
void fillInput(mixcclDataType_t type, Reduction reduction, uint64_t seed, int rank, int nranks,
               size_t firstIndex, size_t count, void* dst);

// The pre-multiplication scalar `rank` passes to mixcclRedOpCreatePreMulSum (typeSize bytes).
// Ranks use different scalars: the scalar is local to each rank, as in NCCL.
void preMulScalar(mixcclDataType_t type, int rank, void* dst);

// Checks `count` elements of `got` against rank `rank`'s inputs at logical indices firstIndex...,
// bit for bit (for a broadcast, a gather, an unchanged send buffer). Prints the first few
// mismatches, prefixed with `label`, to stderr and returns how many elements differ.
size_t checkInputs(mixcclDataType_t type, Reduction reduction, uint64_t seed, int rank, int nranks,
                   size_t firstIndex, size_t count, const void* got, const std::string& label);

// Checks `count` elements of `got` against the reduction over ranks 0..nranks-1 of the inputs at
// logical indices firstIndex...: bit for bit for integers, by value for exact float reductions,
// within (nranks+1) ulps of the sum of magnitudes for float avg / premulsum (their products are
// rounded to the type before summing). Returns how many elements differ.
size_t checkReduction(mixcclDataType_t type, Reduction reduction, uint64_t seed, int nranks,
                      size_t firstIndex, size_t count, const void* got, const std::string& label);

// Checks that every byte of `got` still holds `sentinel`; returns how many bytes changed.
size_t checkSentinel(const void* got, size_t bytes, uint8_t sentinel, const std::string& label);

// A deterministic 64-bit hash (splitmix64 finalizer); exposed for the tests' own patterns.
uint64_t mixBits(uint64_t x);

}  // namespace mixccl_test
