// The quantized weight dtypes beyond Q8_0/Q4_0 (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS):
// each is a decoder from one block to int8 levels and a (scale, offset) per group, and shared
// drivers turn a decoder into the dtype's to_f32 and GEMV dot (simd/<isa>/dtypes.cc, whose
// tables list every dtype's row).
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

// The per-group scales and offsets of a block, shared by every ISA's decoder (a handful of scalar
// operations per 256 elements); Half converts the fp16 scales (the exact software conversion by
// default, F16C in the AVX2 decoders: both exact).
template <float (*Half)(uint16_t) = F16ToF32>
inline void GroupScalesQ2K(const BlockQ2_K& b, DecodedBlock* o) {
  const float d = Half(b.d), dmin = Half(b.dmin);
  for (int g = 0; g < 16; ++g) {
    o->scale[g] = d * static_cast<float>(b.scales[g] & 0xF);
    o->offset[g] = -(dmin * static_cast<float>(b.scales[g] >> 4));
  }
}

template <float (*Half)(uint16_t) = F16ToF32>
inline void GroupScalesQ3K(const BlockQ3_K& b, DecodedBlock* o) {
  int8_t sc[16];
  ScalesQ3K(b.scales, sc);
  const float d = Half(b.d);
  for (int g = 0; g < 16; ++g) {
    o->scale[g] = d * static_cast<float>(sc[g]);
    o->offset[g] = 0.0f;
  }
}

// Q4_K and Q5_K: group g is d·scale_g, offset -dmin·min_g.
template <float (*Half)(uint16_t) = F16ToF32>
inline void GroupScalesK4(const uint8_t* packed, uint16_t d_bits, uint16_t dmin_bits, DecodedBlock* o) {
  const float d = Half(d_bits), dmin = Half(dmin_bits);
  for (int g = 0; g < 8; ++g) {
    uint8_t sc, m;
    ScaleMinK4(g, packed, &sc, &m);
    o->scale[g] = d * static_cast<float>(sc);
    o->offset[g] = -(dmin * static_cast<float>(m));
  }
}

template <float (*Half)(uint16_t) = F16ToF32>
inline void GroupScalesQ6K(const BlockQ6_K& b, DecodedBlock* o) {
  const float d = Half(b.d);
  for (int g = 0; g < 16; ++g) {
    o->scale[g] = d * static_cast<float>(b.scales[g]);
    o->offset[g] = 0.0f;
  }
}

template <float (*Half)(uint16_t) = F16ToF32>
inline void GroupScalesIQ4XS(const BlockIQ4_XS& b, DecodedBlock* o) {
  const float d = Half(b.d);
  for (int g = 0; g < 8; ++g) {
    const int ls = ((b.scales_l[g / 2] >> (4 * (g % 2))) & 0xF) | ((b.scales_h >> (2 * g)) & 3) << 4;
    o->scale[g] = d * static_cast<float>(ls - 32);
    o->offset[g] = 0.0f;
  }
}

// Q8_K activation rows (ggml's quantize_row_q8_K): per 256 values, the value of largest
// magnitude maps to -127 (d = -max/127, so d carries the opposite sign of that value), the others
// round to nearest even and clamp to 127; bsums[i] = Σ of the 16 levels of group i.
void QuantizeQ8K(const float* x, void* out, int64_t n);

// The activation block format of a weight dtype's int8 dot: Q8_K for 256-element types, Q8_0
// for 32-element ones.
constexpr DType Int8ActFormat(int block_elems) { return block_elems == kSuperBlock ? DType::kQ8_K : DType::kQ8_0; }

}  // namespace lazyllm::simd
