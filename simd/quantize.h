// fp32 -> stored dtype, for the model synthesiser and for tests of the conversion kernels.
#pragma once

#include <cstdint>

#include "simd/dtype.h"

namespace lazyllm::simd {

// Bytes that n elements take in dtype t (n a multiple of the block size).
inline int64_t RowBytes(DType t, int64_t n) {
  const DTypeTraits tr = TraitsOf(t);
  return n / tr.block_elems * tr.block_bytes;
}

// Encodes n floats as dtype t into out (RowBytes(t, n) bytes). For Q8_0 and Q4_0, n must be a
// multiple of 32. Q8_0: scale amax/127, values rounded to nearest even. Q4_0: the element of
// largest magnitude maps to -8, so the scale keeps its sign; values rounded to nearest, clamped.
void QuantizeRow(DType t, const float* x, void* out, int64_t n);

}  // namespace lazyllm::simd
