// Every weight dtype's AVX2 kernels: F16, BF16, Q8_0 and Q4_0 with their own vector code; the
// other quantized types through drivers over the decoders of quant_decoders.h: to_f32 and the
// GEMV dot (levels widened to fp32 and multiplied into the activations with FMA, one scale per
// group), the generic int8 dot, and fused int8 dots for Q4_K, Q5_K and Q6_K. The table at the end
// is the ISA's row per dtype.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "simd/avx2/quant_decoders.h"
#include "simd/avx2/vec.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

// The plain-number and 32-element legacy types, with their own vector code.
inline __m256 LoadF16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline __m256 LoadBF16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

inline __m256 Int8x8ToF32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

float DotF32W(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  return DotF32(static_cast<const float*>(w), x, n);
}

void DotsF32W(const void* w, const float* x, int64_t ldx, int64_t nx, const float* /*xsum16*/, int64_t n, float* y,
              int64_t ldy) {
  const auto* wf = static_cast<const float*>(w);
  if (n % 32 != 0) {  // DotF32's other steps
    for (int64_t t = 0; t < nx; ++t) y[t * ldy] = DotF32(wf, x + t * ldx, n);
    return;
  }
  // DotF32's bits with the inputs as its second operand; a scale of 1 changes none.
  ForEachRowTile<3>(x, ldx, nullptr, nx, [&]<int NX>(int64_t t, const float* const* xt) {
    DotsTile<NX>(wf, xt, n, 1.0f, y + t * ldy, ldy);
  });
}

// A row of 16-bit floats (IEEE half or bfloat16): 8 at a time widened by Load, two accumulators,
// the tail widened by Widen.
template <__m256 (*Load)(const uint16_t*), float (*Widen)(uint16_t)>
float DotHalfRow(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(w);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(Load(h + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(Load(h + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load(h + i), _mm256_loadu_ps(x + i), acc0);
  float s = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += Widen(h[i]) * x[i];
  return s;
}

template <__m256 (*Load)(const uint16_t*), float (*Widen)(uint16_t)>
void HalfRowToF32(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Load(h + i));
  for (; i < n; ++i) dst[i] = Widen(h[i]);
}

inline __m256 BlockScale(uint16_t d) { return _mm256_set1_ps(_cvtsh_ss(d)); }

// Σ q·x over one block of 32 int8 values (lo: elements 0..15, hi: 16..31), as two short
// independent chains so that consecutive blocks overlap in the pipeline.
inline __m256 Int8BlockDot(__m128i lo, __m128i hi, const float* x) {
  const __m256 p0 = _mm256_mul_ps(Int8x8ToF32(lo), _mm256_loadu_ps(x));
  const __m256 p1 = _mm256_mul_ps(Int8x8ToF32(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8));
  const __m256 p2 = _mm256_fmadd_ps(Int8x8ToF32(hi), _mm256_loadu_ps(x + 16), p0);
  const __m256 p3 = _mm256_fmadd_ps(Int8x8ToF32(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), p1);
  return _mm256_add_ps(p2, p3);
}

inline __m256 Q8Block(const BlockQ8_0& b, const float* x) {
  return Int8BlockDot(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)),
                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16)), x);
}

// Splits a Q4_0 block into signed low (elements 0..15) and high (16..31) nibbles.
inline void UnpackQ4_0(const BlockQ4_0& b, __m128i* lo, __m128i* hi) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i mask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  *lo = _mm_sub_epi8(_mm_and_si128(q, mask), eight);
  *hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight);
}

inline __m256 Q4Block(const BlockQ4_0& b, const float* x) {
  __m128i lo, hi;
  UnpackQ4_0(b, &lo, &hi);
  return Int8BlockDot(lo, hi, x);
}

// Blocks in pairs with one accumulator each: scale · block sum.
template <typename Block, __m256 (*BlockDot)(const Block&, const float*)>
float BlockRowDot(const void* w, const float* x, int64_t n) {
  const auto* b = static_cast<const Block*>(w);
  const int64_t blocks = n / 32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= blocks; i += 2) {
    acc0 = _mm256_fmadd_ps(BlockScale(b[i].d), BlockDot(b[i], x + 32 * i), acc0);
    acc1 = _mm256_fmadd_ps(BlockScale(b[i + 1].d), BlockDot(b[i + 1], x + 32 * i + 32), acc1);
  }
  if (i < blocks) acc0 = _mm256_fmadd_ps(BlockScale(b[i].d), BlockDot(b[i], x + 32 * i), acc0);
  return HorizontalSum(_mm256_add_ps(acc0, acc1));
}

float DotQ8_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  return BlockRowDot<BlockQ8_0, Q8Block>(w, x, n);
}
float DotQ4_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  return BlockRowDot<BlockQ4_0, Q4Block>(w, x, n);
}

// Σ w·x over 32 int8 pairs as 8 int32 lane sums: |w| (unsigned) times x with w's sign, through
// the u8×s8 multiply-add; no overflow for |x| <= 127 (2·128·127 < 2¹⁵).
inline __m256i Int8PairDot(__m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

inline __m256i LoadQ4_0Int8(const BlockQ4_0& b) { return _mm256_sub_epi8(Nibbles16(b.qs), Bytes(8)); }

template <typename Block, __m256i (*Load)(const Block&)>
float Int8RowDot(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const Block*>(w);
  const auto* x = static_cast<const BlockQ8_0*>(xq);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t blocks = n / 32;
  int64_t i = 0;
  auto step = [&](int64_t j, __m256 acc) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j].qs));
    const __m256 sums = _mm256_cvtepi32_ps(Int8PairDot(Load(b[j]), xv));
    return _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[j].d) * _cvtsh_ss(x[j].d)), sums, acc);
  };
  for (; i + 2 <= blocks; i += 2) {
    acc0 = step(i, acc0);
    acc1 = step(i + 1, acc1);
  }
  if (i < blocks) acc0 = step(i, acc0);
  return HorizontalSum(_mm256_add_ps(acc0, acc1));
}

inline __m256i LoadQ8_0Int8(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

float DotQ8_0Q8(const void* w, const void* xq, int64_t n) { return Int8RowDot<BlockQ8_0, LoadQ8_0Int8>(w, xq, n); }
float DotQ4_0Q8(const void* w, const void* xq, int64_t n) { return Int8RowDot<BlockQ4_0, LoadQ4_0Int8>(w, xq, n); }

void ToF32Q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t blk = 0; blk < n / 32; ++blk, dst += 32) {
    const __m256 d = BlockScale(b[blk].d);
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[blk].qs));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[blk].qs + 16));
    _mm256_storeu_ps(dst, _mm256_mul_ps(d, Int8x8ToF32(q0)));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(d, Int8x8ToF32(_mm_srli_si128(q0, 8))));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(d, Int8x8ToF32(q1)));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(d, Int8x8ToF32(_mm_srli_si128(q1, 8))));
  }
}

void ToF32Q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t blk = 0; blk < n / 32; ++blk, dst += 32) {
    const __m256 d = BlockScale(b[blk].d);
    __m128i lo, hi;
    UnpackQ4_0(b[blk], &lo, &hi);
    _mm256_storeu_ps(dst, _mm256_mul_ps(d, Int8x8ToF32(lo)));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(d, Int8x8ToF32(_mm_srli_si128(lo, 8))));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(d, Int8x8ToF32(hi)));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(d, Int8x8ToF32(_mm_srli_si128(hi, 8))));
  }
}

// The other quantized types: drivers over the decoders of quant_decoders.h.
inline __m256 Levels8(const int8_t* q) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}

// scale·q + offset per element, as a multiply then an add (bit-identical to the scalar twin).
template <class T>
void ToF32(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(src);
  DecodedBlock o;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, dst += T::kElems) {
    T::Decode(b[blk], &o);
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const __m256 scale = _mm256_set1_ps(o.scale[g]), offset = _mm256_set1_ps(o.offset[g]);
      for (int j = g * T::kGroup; j < (g + 1) * T::kGroup; j += 8)
        _mm256_storeu_ps(dst + j, _mm256_add_ps(_mm256_mul_ps(scale, Levels8(o.q + j)), offset));
    }
  }
}

// Σ over groups of scale·(Σ q·x) + offset·(Σ x), the group sums of x taken from xsum16. Group g
// accumulates into acc[g % 4], so the groups' FMAs do not wait on each other.
template <class T>
float Dot(const void* w, const float* x, const float* xsum16, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float offsets = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, x += T::kElems) {
    T::Decode(b[blk], &o);
#pragma GCC unroll 16
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const int j = g * T::kGroup;
      __m256 s0 = _mm256_mul_ps(Levels8(o.q + j), _mm256_loadu_ps(x + j));
      __m256 s1 = _mm256_mul_ps(Levels8(o.q + j + 8), _mm256_loadu_ps(x + j + 8));
      if constexpr (T::kGroup == 32) {
        s0 = _mm256_fmadd_ps(Levels8(o.q + j + 16), _mm256_loadu_ps(x + j + 16), s0);
        s1 = _mm256_fmadd_ps(Levels8(o.q + j + 24), _mm256_loadu_ps(x + j + 24), s1);
      }
      acc[g & 3] = _mm256_fmadd_ps(_mm256_set1_ps(o.scale[g]), _mm256_add_ps(s0, s1), acc[g & 3]);
      if (o.offset[g] != 0.0f) {
        const float* xs = xsum16 + (blk * T::kElems + j) / 16;
        offsets += o.offset[g] * (T::kGroup == 32 ? xs[0] + xs[1] : xs[0]);
      }
    }
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + offsets;
}

// Byte products of signed w and x summed in fours into 8 int32 lanes (lanes 0-3: bytes 0-15):
// maddubs on |w| and x carrying w's sign; |w|, |x| <= 127 keeps the pair sums inside int16.
inline __m256i DotI8(__m256i w, __m256i x) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// The twin of the scalar Int8Dot: per weight block, dx · Σ groups (scale · Σ q·qx + offset · Σ qx).
template <class T>
float Int8Dot(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk) {
    T::Decode(b[blk], &o);
    float dx;
    const int8_t* qx;
    const int16_t* bsums = nullptr;
    if constexpr (T::kElems == kSuperBlock) {
      const BlockQ8_K& a = static_cast<const BlockQ8_K*>(xq)[blk];
      dx = a.d, qx = a.qs, bsums = a.bsums;
    } else {
      const BlockQ8_0& a = static_cast<const BlockQ8_0*>(xq)[blk];
      dx = Half(a.d), qx = a.qs;
    }
    __m256 block = _mm256_setzero_ps();
    float block_offsets = 0.0f;
    for (int j = 0; j < T::kElems; j += 32) {
      const __m256i x = Load32(qx + j);
      const __m256 isum = _mm256_cvtepi32_ps(DotI8(Load32(o.q + j), x));
      if constexpr (T::kGroup == 32) {
        block = _mm256_fmadd_ps(_mm256_set1_ps(o.scale[j / 32]), isum, block);
      } else {
        const int g = j / 16;
        block = _mm256_fmadd_ps(_mm256_setr_m128(_mm_set1_ps(o.scale[g]), _mm_set1_ps(o.scale[g + 1])), isum, block);
      }
      for (int g = j / T::kGroup; g < (j + 32) / T::kGroup; ++g) {
        if (o.offset[g] == 0.0f) continue;
        int32_t xsum;
        if (bsums != nullptr)
          xsum = T::kGroup == 32 ? bsums[2 * g] + bsums[2 * g + 1] : bsums[g];
        else
          xsum = HorizontalSumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(Bytes(1), x), _mm256_set1_epi16(1)));
        block_offsets += o.offset[g] * static_cast<float>(xsum);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dx), block, acc);
    offsets += dx * block_offsets;
  }
  return HorizontalSum(acc) + offsets;
}

// Fused int8 dots of the K-quants most files use: levels unpacked in registers, products of the
// unsigned levels with the activations by maddubs, the integer sub-block scales applied by
// madd_epi16, one conversion to float per 256 elements. Offsets (Q4_K/Q5_K mins, Q6_K's -32) come
// from the activation's per-16 sums. Bounds: maddubs pairs <= 63·127·2 < 2^15; with scales <= 127
// every int32 lane stays below 2^23.

// Q4_K (bits = 4) and Q5_K (bits = 5) against Q8_K.
template <int kBits>
float Int8DotK4(const void* w, const void* xq, int64_t n) {
  using Block = std::conditional_t<kBits == 4, BlockQ4_K, BlockQ5_K>;
  const auto* b = static_cast<const Block*>(w);
  const auto* a = static_cast<const BlockQ8_K*>(xq);
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0.0f;
  for (int64_t blk = 0; blk < n / kSuperBlock; ++blk) {
    const Block& wb = b[blk];
    const BlockQ8_K& xb = a[blk];
    alignas(16) uint8_t scales[8], mins[8];
    UnpackScaleMinK4(wb.scales, scales, mins);
    mins_total += xb.d * Half(wb.dmin) * static_cast<float>(MinsDotBsums(mins, xb.bsums));
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kBits == 5) hbits = Load32(wb.qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      LevelsK4<kBits>(wb.qs, hbits, c, &lo, &hi);
      const __m256i plo = _mm256_maddubs_epi16(lo, Load32(xb.qs + 64 * c));
      const __m256i phi = _mm256_maddubs_epi16(hi, Load32(xb.qs + 64 * c + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(scales[2 * c])));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(scales[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * Half(wb.d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HorizontalSum(acc) - mins_total;
}

// Q6_K against Q8_K: Σ sc·(q - 32)·qx = Σ sc·q·qx - 32·Σ sc·bsum, q in 0..63.
float Int8DotQ6K(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(w);
  const auto* a = static_cast<const BlockQ8_K*>(xq);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < n / kSuperBlock; ++blk) {
    const BlockQ6_K& wb = b[blk];
    const BlockQ8_K& xb = a[blk];
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales)));
    // 32·Σ sc·bsum over the 16 groups.
    const __m256i offset = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums)));
    __m256i sumi = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), offset), 5);
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      LevelsQ6K(wb, h, q);
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], Load32(xb.qs + 128 * h + 32 * k));
        const int g = 8 * h + 2 * k;  // bytes 0..15 are group g, 16..31 group g + 1
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(wb.scales[g + 1]), _mm_set1_epi16(wb.scales[g]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * Half(wb.d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HorizontalSum(acc);
}

// A decoded type's row: the drivers over its decoder.
template <class T>
constexpr DTypeRow Decoded(DType d) {
  return {d, {ToF32<T>, Dot<T>, Int8Dot<T>, Int8ActFormat(T::kElems)}};
}

// Every weight dtype's row (F32 converts as the scalar table does: a copy).
constexpr DTypeRow kRows[] = {
    {DType::kF32, {.dot = DotF32W, .dots = DotsF32W}},
    {DType::kF16, {HalfRowToF32<LoadF16, F16ToF32>, DotHalfRow<LoadF16, F16ToF32>}},
    {DType::kBF16, {HalfRowToF32<LoadBF16, BF16ToF32>, DotHalfRow<LoadBF16, BF16ToF32>}},
    {DType::kQ8_0, {ToF32Q8_0, DotQ8_0, DotQ8_0Q8, DType::kQ8_0}},
    {DType::kQ4_0, {ToF32Q4_0, DotQ4_0, DotQ4_0Q8, DType::kQ8_0}},
    Decoded<Q4_1>(DType::kQ4_1),
    Decoded<Q5_0>(DType::kQ5_0),
    Decoded<Q5_1>(DType::kQ5_1),
    Decoded<IQ4_NL>(DType::kIQ4_NL),
    Decoded<Q2_K>(DType::kQ2_K),
    Decoded<Q3_K>(DType::kQ3_K),
    {DType::kQ4_K, {ToF32<Q4_K>, Dot<Q4_K>, Int8DotK4<4>, DType::kQ8_K}},
    {DType::kQ5_K, {ToF32<Q5_K>, Dot<Q5_K>, Int8DotK4<5>, DType::kQ8_K}},
    {DType::kQ6_K, {ToF32<Q6_K>, Dot<Q6_K>, Int8DotQ6K, DType::kQ8_K}},
    Decoded<IQ4_XS>(DType::kIQ4_XS),
};

}  // namespace

std::span<const DTypeRow> Avx2DTypeRows() { return kRows; }

}  // namespace lazyllm::simd
