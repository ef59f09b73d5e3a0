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

// Whether QuantizeRow encodes dtype t.
bool CanQuantize(DType t);
// Those dtypes' names, lower case, comma-separated (for messages).
std::string QuantizableDTypeNames();

}  // namespace lazyllm::simd
