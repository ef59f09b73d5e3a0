// fp32 -> stored dtype, for the model synthesiser and for tests of the conversion kernels.
#pragma once

#include <cstdint>
#include <string>

#include "simd/dtype.h"

namespace lazyllm::simd {

// Encodes n floats as dtype t into out (RowBytes(t, n) bytes). For Q8_0 and Q4_0, n must be a
// multiple of 32. Q8_0: scale amax/127, values rounded to nearest even. Q4_0: the element of
// largest magnitude maps to -8, so the scale keeps its sign; values rounded to nearest, clamped.
// t must be one that CanQuantize.
void QuantizeRow(DType t, const float* x, void* out, int64_t n);

// The dtype a row of `cols` elements takes when t's block does not divide it, as llama.cpp's
// quantizer falls back: Q2_K, Q3_K, IQ4_XS -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0;
// then F16 when even the fallback's 32-element block does not divide it. t itself when it fits.
DType FallbackFor(DType t, int64_t cols);

// Whether QuantizeRow encodes dtype t.
bool CanQuantize(DType t);
// Those dtypes' names, lower case, comma-separated (for messages).
std::string QuantizableDTypeNames();

}  // namespace lazyllm::simd
