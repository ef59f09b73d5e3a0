// The quantized weight dtypes beyond Q8_0/Q4_0 (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS):
// each is a decoder from one block to int8 levels and a (scale, offset) per group, and shared
// drivers turn a decoder into the dtype's to_f32 and GEMV dot. These install those rows into a
// kernel table (simd/ref/quants.cc, simd/avx2/quants.cc).
#pragma once

#include <cstdint>

#include "simd/kernels.h"

namespace lazyllm::simd {

// One block decoded: element i is scale[g] * q[i] + offset[g] with g = i / group. Every level of
// every listed dtype fits an int8 (IQ4's table -127..113, Q5_1's 0..31, Q6_K's -32..31).
struct DecodedBlock {
  alignas(32) int8_t q[kSuperBlock];
  float scale[16];
  float offset[16];
};

// The scalar twins (fallback and test oracle).
void InstallRefQuantKernels(Kernels& table);
// AVX2 decoders and drivers; only for the AVX2 (and AVX-512) tables.
void InstallAvx2QuantKernels(Kernels& table);

}  // namespace lazyllm::simd
