// Scalar fp32 -> F16/BF16/Q8_0/Q4_0 row encoders (Q8_0 shares the reference kernel).
#include "simd/quantize.h"

#include "simd/kernels.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

namespace lazyllm::simd {
namespace {

void QuantizeQ4_0(const float* x, BlockQ4_0* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 32) {
    float extreme = 0.0f;  // signed value of largest magnitude
    for (int i = 0; i < 32; ++i)
      if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    const float d = extreme / -8.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    auto level = [&](float v) { return static_cast<uint8_t>(std::clamp(std::lround(v * inv) + 8, 0L, 15L)); };
    for (int j = 0; j < 16; ++j) out[b].qs[j] = static_cast<uint8_t>(level(x[j]) | level(x[j + 16]) << 4);
  }
}

}  // namespace

void QuantizeRow(DType t, const float* x, void* out, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(out)[i] = F32ToF16(x[i]);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(out)[i] = F32ToBF16(x[i]);
      return;
    case DType::kQ8_0: RefKernels().quantize_q8_0(x, out, n); return;
    case DType::kQ4_0: QuantizeQ4_0(x, static_cast<BlockQ4_0*>(out), n / 32); return;
    default: return;
  }
}

bool CanQuantize(DType t) {
  switch (t) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0: case DType::kQ4_0:
      return true;
    default:
      return false;
  }
}

std::string QuantizableDTypeNames() {
  std::string s;
  size_t count;
  const DTypeInfo* all = AllDTypes(&count);
  for (size_t i = 0; i < count; ++i) {
    if (!CanQuantize(all[i].id)) continue;
    std::string name = all[i].name;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s += (s.empty() ? "" : ", ") + name;
  }
  return s;
}

}  // namespace lazyllm::simd
