// Every weight dtype's scalar kernels (the fallback and the oracle of the SIMD ones): F32, F16,
// BF16, Q8_0 and Q4_0 element by element; the other quantized types through decoders read
// straight off the block layouts in simd/blocks.h, and to_f32 / GEMV dot / int8 dot drivers built
// on them. The table at the end is the ISA's row per dtype.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

// The plain-number and 32-element legacy types: converted and multiplied element by element.
float DotF32W(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* a = static_cast<const float*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * x[i];
  return s;
}

float DotF16(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += F16ToF32(h[i]) * x[i];
  return s;
}

float DotBF16(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += BF16ToF32(h[i]) * x[i];
  return s;
}

float DotQ8_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(w);
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32) {
    float bs = 0.0f;
    for (int j = 0; j < 32; ++j) bs += static_cast<float>(b[blk].qs[j]) * x[j];
    s += F16ToF32(b[blk].d) * bs;
  }
  return s;
}

float DotQ8_0Q8(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(w);
  const auto* x = static_cast<const BlockQ8_0*>(xq);
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) isum += b[blk].qs[j] * x[blk].qs[j];
    s += F16ToF32(b[blk].d) * F16ToF32(x[blk].d) * static_cast<float>(isum);
  }
  return s;
}

float DotQ4_0Q8(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(w);
  const auto* x = static_cast<const BlockQ8_0*>(xq);
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((b[blk].qs[j] & 0x0f) - 8) * x[blk].qs[j];
      isum += ((b[blk].qs[j] >> 4) - 8) * x[blk].qs[j + 16];
    }
    s += F16ToF32(b[blk].d) * F16ToF32(x[blk].d) * static_cast<float>(isum);
  }
  return s;
}

float DotQ4_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(w);
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32) {
    float bs = 0.0f;
    for (int j = 0; j < 16; ++j) {
      bs += static_cast<float>((b[blk].qs[j] & 0x0f) - 8) * x[j];
      bs += static_cast<float>((b[blk].qs[j] >> 4) - 8) * x[j + 16];
    }
    s += F16ToF32(b[blk].d) * bs;
  }
  return s;
}

void ToF32F32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); }

void ToF32F16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(h[i]);
}

void ToF32BF16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(h[i]);
}

void ToF32Q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t blk = 0; blk < n / 32; ++blk, dst += 32) {
    const float d = F16ToF32(b[blk].d);
    for (int j = 0; j < 32; ++j) dst[j] = d * static_cast<float>(b[blk].qs[j]);
  }
}

void ToF32Q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t blk = 0; blk < n / 32; ++blk, dst += 32) {
    const float d = F16ToF32(b[blk].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>((b[blk].qs[j] & 0x0f) - 8);
      dst[j + 16] = d * static_cast<float>((b[blk].qs[j] >> 4) - 8);
    }
  }
}

// Q4_0-style nibbles: byte j holds element j (low) and j + 16 (high).
void Nibbles16(const uint8_t* qs, int8_t* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = static_cast<int8_t>(qs[j] & 0xF);
    q[j + 16] = static_cast<int8_t>(qs[j] >> 4);
  }
}

// Adds bit j of qh (little-endian u32) as bit 4 of element j.
void FifthBits(const uint8_t* qh_bytes, int8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(q[j] | ((qh >> j) & 1) << 4);
}

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Nibbles16(b.qs, o->q);
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = F16ToF32(b.m);
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Nibbles16(b.qs, o->q);
    FifthBits(b.qh, o->q);
    for (int j = 0; j < 32; ++j) o->q[j] = static_cast<int8_t>(o->q[j] - 16);
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Nibbles16(b.qs, o->q);
    FifthBits(b.qh, o->q);
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = F16ToF32(b.m);
  }
};

struct IQ4_NL {
  using Block = BlockIQ4_NL;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Nibbles16(b.qs, o->q);
    for (int j = 0; j < 32; ++j) o->q[j] = kIq4nlValues[o->q[j]];
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = 0.0f;
  }
};

// Q2_K and Q3_K share the 2-bit layout: element 128h + 32s + l (l < 32) is bits 2s..2s+1 of
// qs[32h + l].
void TwoBitLevels(const uint8_t* qs, int8_t* q) {
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s)
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * s + l] = static_cast<int8_t>((qs[32 * h + l] >> (2 * s)) & 3);
}

struct Q2_K {
  using Block = BlockQ2_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    TwoBitLevels(b.qs, o->q);
    GroupScalesQ2K(b, o);
  }
};

struct Q3_K {
  using Block = BlockQ3_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    TwoBitLevels(b.qs, o->q);
    for (int i = 0; i < 256; ++i)  // element 32k + l: high bit k of hmask[l]
      if (!((b.hmask[i % 32] >> (i / 32)) & 1)) o->q[i] = static_cast<int8_t>(o->q[i] - 4);
    GroupScalesQ3K(b, o);
  }
};

struct Q4_K {
  using Block = BlockQ4_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        o->q[64 * c + l] = static_cast<int8_t>(b.qs[32 * c + l] & 0xF);
        o->q[64 * c + 32 + l] = static_cast<int8_t>(b.qs[32 * c + l] >> 4);
      }
    GroupScalesK4(b.scales, b.d, b.dmin, o);
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        o->q[64 * c + l] = static_cast<int8_t>((b.qs[32 * c + l] & 0xF) | ((b.qh[l] >> (2 * c)) & 1) << 4);
        o->q[64 * c + 32 + l] = static_cast<int8_t>((b.qs[32 * c + l] >> 4) | ((b.qh[l] >> (2 * c + 1)) & 1) << 4);
      }
    GroupScalesK4(b.scales, b.d, b.dmin, o);
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 32; ++l) {
          const uint8_t low = b.ql[64 * h + l + 32 * (k & 1)];
          const int nibble = k < 2 ? low & 0xF : low >> 4;
          const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
          o->q[128 * h + 32 * k + l] = static_cast<int8_t>((nibble | high << 4) - 32);
        }
    GroupScalesQ6K(b, o);
  }
};

struct IQ4_XS {
  using Block = BlockIQ4_XS;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int g = 0; g < 8; ++g) {
      Nibbles16(b.qs + 16 * g, o->q + 32 * g);
      for (int j = 0; j < 32; ++j) o->q[32 * g + j] = kIq4nlValues[o->q[32 * g + j]];
    }
    GroupScalesIQ4XS(b, o);
  }
};

template <class T>
void ToF32(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(src);
  DecodedBlock o;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, dst += T::kElems) {
    T::Decode(b[blk], &o);
    for (int i = 0; i < T::kElems; ++i)
      dst[i] = o.scale[i / T::kGroup] * static_cast<float>(o.q[i]) + o.offset[i / T::kGroup];
  }
}

// Σ over groups of scale·Σ q·x + offset·Σ x, the group sums of x taken from xsum16.
template <class T>
float Dot(const void* w, const float* x, const float* xsum16, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk) {
    T::Decode(b[blk], &o);
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const float* xg = x + blk * T::kElems + g * T::kGroup;
      float qx = 0.0f;
      for (int j = 0; j < T::kGroup; ++j) qx += static_cast<float>(o.q[g * T::kGroup + j]) * xg[j];
      s += o.scale[g] * qx;
      if (o.offset[g] != 0.0f) {
        const float* xs = xsum16 + (blk * T::kElems + g * T::kGroup) / 16;
        s += o.offset[g] * (T::kGroup == 32 ? xs[0] + xs[1] : xs[0]);
      }
    }
  }
  return s;
}

// The activation block under a weight block: its scale, its levels and the sum of the levels of
// each group of 16.
struct ActBlock {
  float d;
  const int8_t* q;
  int32_t sum16[16];
};

ActBlock ActAt(const void* xq, int64_t blk, int elems) {
  ActBlock a;
  if (elems == kSuperBlock) {
    const auto& b = static_cast<const BlockQ8_K*>(xq)[blk];
    a.d = b.d;
    a.q = b.qs;
    for (int g = 0; g < 16; ++g) a.sum16[g] = b.bsums[g];
  } else {
    const auto& b = static_cast<const BlockQ8_0*>(xq)[blk];
    a.d = F16ToF32(b.d);
    a.q = b.qs;
    for (int g = 0; g < 2; ++g) {
      a.sum16[g] = 0;
      for (int j = 0; j < 16; ++j) a.sum16[g] += b.qs[16 * g + j];
    }
  }
  return a;
}

// Σ over blocks of dx · Σ over groups of (scale · Σ q·qx + offset · Σ qx), the inner sums exact
// integers.
template <class T>
float Int8Dot(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  float s = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk) {
    T::Decode(b[blk], &o);
    const ActBlock a = ActAt(xq, blk, T::kElems);
    float bs = 0.0f;
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      int32_t isum = 0;
      for (int j = g * T::kGroup; j < (g + 1) * T::kGroup; ++j) isum += o.q[j] * a.q[j];
      const int32_t xsum = T::kGroup == 32 ? a.sum16[2 * g] + a.sum16[2 * g + 1] : a.sum16[g];
      bs += o.scale[g] * static_cast<float>(isum) + o.offset[g] * static_cast<float>(xsum);
    }
    s += a.d * bs;
  }
  return s;
}

// A decoded type's row: the drivers over its decoder.
template <class T>
constexpr DTypeRow Decoded(DType d) {
  return {d, {ToF32<T>, Dot<T>, Int8Dot<T>, Int8ActFormat(T::kElems)}};
}

// Every weight dtype lazyllm computes with, one row each.
constexpr DTypeRow kRows[] = {
    {DType::kF32, {ToF32F32, DotF32W}},
    {DType::kF16, {ToF32F16, DotF16}},
    {DType::kBF16, {ToF32BF16, DotBF16}},
    {DType::kQ8_0, {ToF32Q8_0, DotQ8_0, DotQ8_0Q8, DType::kQ8_0}},
    {DType::kQ4_0, {ToF32Q4_0, DotQ4_0, DotQ4_0Q8, DType::kQ8_0}},
    Decoded<Q4_1>(DType::kQ4_1),
    Decoded<Q5_0>(DType::kQ5_0),
    Decoded<Q5_1>(DType::kQ5_1),
    Decoded<IQ4_NL>(DType::kIQ4_NL),
    Decoded<Q2_K>(DType::kQ2_K),
    Decoded<Q3_K>(DType::kQ3_K),
    Decoded<Q4_K>(DType::kQ4_K),
    Decoded<Q5_K>(DType::kQ5_K),
    Decoded<Q6_K>(DType::kQ6_K),
    Decoded<IQ4_XS>(DType::kIQ4_XS),
};

}  // namespace

void QuantizeQ8K(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(out);
  for (int64_t blk = 0; blk < n / kSuperBlock; ++blk, x += kSuperBlock) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kSuperBlock; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    if (amax == 0.0f) {
      std::memset(&b[blk], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kSuperBlock; ++j)
      b[blk].qs[j] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += b[blk].qs[16 * g + j];
      b[blk].bsums[g] = static_cast<int16_t>(sum);
    }
    b[blk].d = 1.0f / iscale;
  }
}

std::span<const DTypeRow> RefDTypeRows() { return kRows; }

}  // namespace lazyllm::simd
