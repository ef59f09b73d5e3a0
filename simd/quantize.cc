// Scalar fp32 -> stored-dtype row encoders for every weight dtype (Q8_0 shares the reference
// kernel): simple range-and-round quantizers that produce valid blocks, not llama.cpp's searches.
#include "simd/quantize.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "simd/kernels.h"

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

// Round to nearest, ties to even (the default rounding mode), clamped to [lo, hi].
int Level(float v, int lo, int hi) { return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi); }

// The fp16 of d, and the float it decodes to (later steps quantize against the stored scale).
float StoreHalf(float d, uint16_t* out) {
  *out = F32ToF16(d);
  return F16ToF32(*out);
}

// Signed value of largest magnitude among n.
float Extreme(const float* x, int n) {
  float e = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(e)) e = x[i];
  return e;
}

// Min and max of n values, the min clamped to <= 0 (so the offset is a non-negative "min").
void Range(const float* x, int n, float* lo, float* hi) {
  *lo = 0.0f;
  *hi = x[0];
  for (int i = 0; i < n; ++i) *lo = std::min(*lo, x[i]), *hi = std::max(*hi, x[i]);
}

float Inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// Q4_0-style nibble packing: element j in the low nibble of byte j, element j + 16 in the high.
void PackNibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(q[j] | q[j + 16] << 4);
}

// Offset types with 2^bits levels: value = d·q + m, m the block min.
template <typename Block>
void QuantizeAffine32(const float* x, Block* b, int levels, int q[32]) {
  const float lo = *std::min_element(x, x + 32), hi = *std::max_element(x, x + 32);
  const float d = StoreHalf((hi - lo) / static_cast<float>(levels - 1), &b->d);
  const float m = StoreHalf(lo, &b->m);
  const float inv = Inverse(d);
  for (int j = 0; j < 32; ++j) q[j] = Level((x[j] - m) * inv, 0, levels - 1);
}

void FifthBitsOf(const int* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < 32; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, 4);
}

void QuantizeQ4_1(const float* x, BlockQ4_1* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 32) {
    int q[32];
    QuantizeAffine32(x, &out[b], 16, q);
    PackNibbles(q, out[b].qs);
  }
}

void QuantizeQ5_1(const float* x, BlockQ5_1* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 32) {
    int q[32], low[32];
    QuantizeAffine32(x, &out[b], 32, q);
    for (int j = 0; j < 32; ++j) low[j] = q[j] & 0xF;
    PackNibbles(low, out[b].qs);
    FifthBitsOf(q, out[b].qh);
  }
}

void QuantizeQ5_0(const float* x, BlockQ5_0* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 32) {
    const float inv = Inverse(StoreHalf(Extreme(x, 32) / -16.0f, &out[b].d));  // the extreme maps to -16
    int q[32], low[32];
    for (int j = 0; j < 32; ++j) q[j] = Level(x[j] * inv, -16, 15) + 16, low[j] = q[j] & 0xF;
    PackNibbles(low, out[b].qs);
    FifthBitsOf(q, out[b].qh);
  }
}

// Index of the IQ4_NL table entry nearest to v.
int NearestIq4(float v) {
  int best = 0;
  for (int i = 1; i < 16; ++i)
    if (std::fabs(v - kIq4nlValues[i]) < std::fabs(v - kIq4nlValues[best])) best = i;
  return best;
}

void QuantizeIQ4_NL(const float* x, BlockIQ4_NL* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 32) {
    const float inv = Inverse(StoreHalf(Extreme(x, 32) / -127.0f, &out[b].d));  // the extreme maps to -127
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = NearestIq4(x[j] * inv);
    PackNibbles(q, out[b].qs);
  }
}

// K-quants with a scale and a min per group: per-group ranges, then the group scales and mins
// quantized to `scale_levels` against super-block scales d and dmin, then every element against
// its group's stored scale and min. Returns levels 0..levels-1 in q and the quantized group
// scales / mins in sc / mn.
void QuantizeScaleMinGroups(const float* x, int groups, int group, int levels, int scale_levels, uint16_t* d_bits,
                            uint16_t* dmin_bits, int* q, int* sc, int* mn) {
  float scale[16], min[16], max_scale = 0.0f, max_min = 0.0f;
  for (int g = 0; g < groups; ++g) {
    float lo, hi;
    Range(x + g * group, group, &lo, &hi);
    scale[g] = (hi - lo) / static_cast<float>(levels - 1);
    min[g] = -lo;
    max_scale = std::max(max_scale, scale[g]);
    max_min = std::max(max_min, min[g]);
  }
  const float d = StoreHalf(max_scale / static_cast<float>(scale_levels - 1), d_bits);
  const float dmin = StoreHalf(max_min / static_cast<float>(scale_levels - 1), dmin_bits);
  for (int g = 0; g < groups; ++g) {
    // Round the scale up so the group's range still fits the levels.
    sc[g] = std::clamp(static_cast<int>(std::ceil(scale[g] * Inverse(d))), 0, scale_levels - 1);
    mn[g] = Level(min[g] * Inverse(dmin), 0, scale_levels - 1);
    const float gd = d * static_cast<float>(sc[g]), gm = dmin * static_cast<float>(mn[g]);
    for (int j = 0; j < group; ++j) q[g * group + j] = Level((x[g * group + j] + gm) * Inverse(gd), 0, levels - 1);
  }
}

// Symmetric K-quants: per-group scales mapping the group's extreme to `extreme_level`, quantized
// to signed integers in [-scale_max - 1, scale_max] against d; levels in [lo, hi].
float QuantizeSymmetricGroups(const float* x, int groups, int group, float extreme_level, int scale_max, int lo, int hi,
                              uint16_t* d_bits, int* q, int* sc) {
  float scale[16], max_abs = 0.0f, max_signed = 0.0f;
  for (int g = 0; g < groups; ++g) {
    scale[g] = Extreme(x + g * group, group) / extreme_level;
    if (std::fabs(scale[g]) > max_abs) max_abs = std::fabs(scale[g]), max_signed = scale[g];
  }
  // The largest scale maps to -(scale_max + 1), using the full signed range.
  const float d = StoreHalf(max_signed / -static_cast<float>(scale_max + 1), d_bits);
  for (int g = 0; g < groups; ++g) {
    sc[g] = Level(scale[g] * Inverse(d), -scale_max - 1, scale_max);
    const float inv = Inverse(d * static_cast<float>(sc[g]));
    for (int j = 0; j < group; ++j) q[g * group + j] = Level(x[g * group + j] * inv, lo, hi);
  }
  return d;
}

void QuantizeQ2_K(const float* x, BlockQ2_K* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[16], mn[16];
    QuantizeScaleMinGroups(x, 16, 16, 4, 16, &out[b].d, &out[b].dmin, q, sc, mn);
    for (int g = 0; g < 16; ++g) out[b].scales[g] = static_cast<uint8_t>(sc[g] | mn[g] << 4);
    std::memset(out[b].qs, 0, 64);
    for (int e = 0; e < 256; ++e)
      out[b].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q[e] << (2 * ((e % 128) / 32)));
  }
}

void QuantizeQ3_K(const float* x, BlockQ3_K* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[16];
    QuantizeSymmetricGroups(x, 16, 16, -4.0f, 31, -4, 3, &out[b].d, q, sc);
    std::memset(out[b].scales, 0, 12);
    for (int s = 0; s < 16; ++s) {
      const int v = sc[s] + 32;
      if (s < 8)
        out[b].scales[s] |= static_cast<uint8_t>(v & 0xF);
      else
        out[b].scales[s - 8] |= static_cast<uint8_t>((v & 0xF) << 4);
      out[b].scales[8 + s % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s / 4)));
    }
    std::memset(out[b].qs, 0, 64);
    std::memset(out[b].hmask, 0, 32);
    for (int e = 0; e < 256; ++e) {
      const int u = q[e] + 4;  // 0..7: low 2 bits in qs, bit 2 in hmask
      out[b].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((u & 3) << (2 * ((e % 128) / 32)));
      out[b].hmask[e % 32] |= static_cast<uint8_t>((u >> 2) << (e / 32));
    }
  }
}

void PackScaleMinK4(const int* sc, const int* mn, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = static_cast<uint8_t>(sc[j]);
      q[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      q[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | (mn[j] & 0xF) << 4);
      q[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

void QuantizeQ4_K(const float* x, BlockQ4_K* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[8], mn[8];
    QuantizeScaleMinGroups(x, 8, 32, 16, 64, &out[b].d, &out[b].dmin, q, sc, mn);
    PackScaleMinK4(sc, mn, out[b].scales);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        out[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | q[64 * c + 32 + l] << 4);
  }
}

void QuantizeQ5_K(const float* x, BlockQ5_K* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[8], mn[8];
    QuantizeScaleMinGroups(x, 8, 32, 32, 64, &out[b].d, &out[b].dmin, q, sc, mn);
    PackScaleMinK4(sc, mn, out[b].scales);
    std::memset(out[b].qh, 0, 32);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        out[b].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | (hi & 0xF) << 4);
        out[b].qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
      }
  }
}

void QuantizeQ6_K(const float* x, BlockQ6_K* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[16];
    QuantizeSymmetricGroups(x, 16, 16, -32.0f, 127, -32, 31, &out[b].d, q, sc);
    for (int g = 0; g < 16; ++g) out[b].scales[g] = static_cast<int8_t>(sc[g]);
    std::memset(out[b].ql, 0, 128);
    std::memset(out[b].qh, 0, 64);
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32, u = q[e] + 32;
      out[b].ql[64 * h + l + 32 * (k & 1)] |= static_cast<uint8_t>((u & 0xF) << (k < 2 ? 0 : 4));
      out[b].qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * k));
    }
  }
}

void QuantizeIQ4_XS(const float* x, BlockIQ4_XS* out, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b, x += 256) {
    int q[256], sc[8];
    const float d = QuantizeSymmetricGroups(x, 8, 32, -127.0f, 31, -127, 127, &out[b].d, q, sc);
    out[b].scales_h = 0;
    std::memset(out[b].scales_l, 0, 4);
    for (int g = 0; g < 8; ++g) {
      const int ls = sc[g] + 32;
      out[b].scales_l[g / 2] |= static_cast<uint8_t>((ls & 0xF) << (4 * (g % 2)));
      out[b].scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * g));
      // Levels through the non-linear table, against the stored group scale.
      const float inv = Inverse(d * static_cast<float>(sc[g]));
      int idx[32];
      for (int j = 0; j < 32; ++j) idx[j] = NearestIq4(x[32 * g + j] * inv);
      PackNibbles(idx, out[b].qs + 16 * g);
    }
  }
}

// One encoder per dtype; nullptr for dtypes lazyllm does not write.
using EncodeFn = void (*)(const float* x, void* out, int64_t n);

template <typename Block, void (*Encode)(const float*, Block*, int64_t), int kElems>
void Blocks(const float* x, void* out, int64_t n) {
  Encode(x, static_cast<Block*>(out), n / kElems);
}

void CopyF32(const float* x, void* out, int64_t n) { std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float)); }
void EncodeF16(const float* x, void* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(out)[i] = F32ToF16(x[i]);
}
void EncodeBF16(const float* x, void* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(out)[i] = F32ToBF16(x[i]);
}
void EncodeQ8_0(const float* x, void* out, int64_t n) { RefKernels().quantize_q8_0(x, out, n); }

EncodeFn EncoderFor(DType t) {
  switch (t) {
    case DType::kF32:
      return CopyF32;
    case DType::kF16:
      return EncodeF16;
    case DType::kBF16:
      return EncodeBF16;
    case DType::kQ8_0:
      return EncodeQ8_0;
    case DType::kQ4_0:
      return Blocks<BlockQ4_0, QuantizeQ4_0, 32>;
    case DType::kQ4_1:
      return Blocks<BlockQ4_1, QuantizeQ4_1, 32>;
    case DType::kQ5_0:
      return Blocks<BlockQ5_0, QuantizeQ5_0, 32>;
    case DType::kQ5_1:
      return Blocks<BlockQ5_1, QuantizeQ5_1, 32>;
    case DType::kIQ4_NL:
      return Blocks<BlockIQ4_NL, QuantizeIQ4_NL, 32>;
    case DType::kQ2_K:
      return Blocks<BlockQ2_K, QuantizeQ2_K, 256>;
    case DType::kQ3_K:
      return Blocks<BlockQ3_K, QuantizeQ3_K, 256>;
    case DType::kQ4_K:
      return Blocks<BlockQ4_K, QuantizeQ4_K, 256>;
    case DType::kQ5_K:
      return Blocks<BlockQ5_K, QuantizeQ5_K, 256>;
    case DType::kQ6_K:
      return Blocks<BlockQ6_K, QuantizeQ6_K, 256>;
    case DType::kIQ4_XS:
      return Blocks<BlockIQ4_XS, QuantizeIQ4_XS, 256>;
    default:
      return nullptr;
  }
}

}  // namespace

void QuantizeRow(DType t, const float* x, void* out, int64_t n) {
  if (EncodeFn encode = EncoderFor(t)) encode(x, out, n);
}

DType FallbackFor(DType t, int64_t cols) {
  if (cols % InfoOf(t).block_elems == 0) return t;
  DType f = DType::kF16;
  switch (t) {
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kIQ4_XS:
      f = DType::kIQ4_NL;
      break;
    case DType::kQ4_K:
      f = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      f = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      f = DType::kQ8_0;
      break;
    default:
      break;
  }
  return cols % InfoOf(f).block_elems == 0 ? f : DType::kF16;
}

bool CanQuantize(DType t) { return EncoderFor(t) != nullptr; }

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
