// AVX-512 GEMV dots of the weight dtypes: F32, F16, Q8_0 and Q4_0 with their own code; for the other
// quantized types a driver over the AVX2 decoders' int8 levels widened 16 at a time to fp32 and
// multiplied into the activations with 512-bit FMA, and a fused Q4_K dot that widens the stored
// bytes directly (for Q6_K, unpacking in the byte domain first is faster). The table at the end is
// the ISA's row per dtype (only the dots; the rest stays the AVX2 one).
#include <immintrin.h>

#include "simd/avx2/quant_decoders.h"
#include "simd/avx512/vec.h"
#include "simd/kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

// F32 rows: DotF32's bits (simd/avx2/vec.h). Input rows in 16-lane registers, up to 4 at a time
// (DotsTile16, as decode attention's dots), the weight row prefetched kF32Ahead bytes ahead (the
// rows of a matrix are consecutive, so this reaches into the next ones): core_bench
// DecodeMatMuls/1 1.24-1.32 against the AVX2 dot's 1.28-1.47 ms. Two or three input rows (a
// LazyLLM decode step with revived tokens) took 14-16% longer per layer than one row on the AVX2
// kernel, whose twelve accumulator chains have no prefetch, and 4-7% longer here
// (docs/performance.md, 2026-12-04). Widths that 32 does not divide take the AVX2 DotF32 itself
// (compiled here, its scalar tail might contract differently).
constexpr int kF32Ahead = 10 * 1024;

float DotF32Row(const void* w, const float* x, const float* xsum16, int64_t n) {
  if (n % 32 != 0) return Avx2Kernels().Row(DType::kF32).dot(w, x, xsum16, n);
  const float* xs[1] = {x};
  return _mm_cvtss_f32(DotsTile16<1, kF32Ahead>(static_cast<const float*>(w), xs, n, 1.0f));  // 1 changes no bit
}

void DotsF32Rows(const void* w, const float* x, int64_t ldx, int64_t nx, const float* xsum16, int64_t n, float* y,
                 int64_t ldy) {
  if (n % 32 != 0) return Avx2Kernels().Row(DType::kF32).dots(w, x, ldx, nx, xsum16, n, y, ldy);
  ForEachRowTile<4>(x, ldx, nullptr, nx, [&]<int NX>(int64_t t, const float* const* xt) {
    const __m128 dots = DotsTile16<NX, kF32Ahead>(static_cast<const float*>(w), xt, n, 1.0f);  // 1 changes no bit
    for (int i = 0; i < NX; ++i) y[(t + i) * ldy] = dots[i];
  });
}

// F16, Q8_0 and Q4_0 with their own vector code.
inline __m512 BlockScale(uint16_t d) { return _mm512_set1_ps(_cvtsh_ss(d)); }

// Σ q·x over one block of 32 int8 values given as two 16-byte halves.
inline __m512 Int8BlockDot(__m128i lo, __m128i hi, const float* x) {
  const __m512 p0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), _mm512_loadu_ps(x));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), _mm512_loadu_ps(x + 16), p0);
}

inline __m512 Q8Block(const BlockQ8_0& b, const float* x) {
  return Int8BlockDot(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)),
                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16)), x);
}

inline __m512 Q4Block(const BlockQ4_0& b, const float* x) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i mask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  return Int8BlockDot(_mm_sub_epi8(_mm_and_si128(q, mask), eight),
                      _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight), x);
}

template <typename Block, __m512 (*BlockDot)(const Block&, const float*)>
float BlockRowDot(const void* w, const float* x, int64_t n) {
  const auto* b = static_cast<const Block*>(w);
  const int64_t blocks = n / 32;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= blocks; i += 2) {
    acc0 = _mm512_fmadd_ps(BlockScale(b[i].d), BlockDot(b[i], x + 32 * i), acc0);
    acc1 = _mm512_fmadd_ps(BlockScale(b[i + 1].d), BlockDot(b[i + 1], x + 32 * i + 32), acc1);
  }
  if (i < blocks) acc0 = _mm512_fmadd_ps(BlockScale(b[i].d), BlockDot(b[i], x + 32 * i), acc0);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float DotQ8_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  return BlockRowDot<BlockQ8_0, Q8Block>(w, x, n);
}
float DotQ4_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  return BlockRowDot<BlockQ4_0, Q4Block>(w, x, n);
}

// A row of 16-bit floats (IEEE half or bfloat16): 16 per step widened by Widen, two
// accumulators, masked tail (no scalar loop).
inline __m512 WidenF16(__m256i h) { return _mm512_cvtph_ps(h); }
// bfloat16: its 16 bits moved to the top of a float.
inline __m512 WidenBF16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

template <__m512 (*Widen)(__m256i)>
float DotHalfRow(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(w);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))), _mm512_loadu_ps(x + i),
                           acc0);
    acc1 = _mm512_fmadd_ps(Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i + 16))),
                           _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(Widen(_mm256_maskz_loadu_epi16(m, h + i)), _mm512_maskz_loadu_ps(m, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// The other quantized types: a driver over the AVX2 decoders.

inline __m512 Levels16(const int8_t* q) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))));
}

// As the AVX2 driver: Σ over groups of scale·(Σ q·x) + offset·(Σ x), with 16-lane vectors.
template <class T>
float Dot(const void* w, const float* x, const float* xsum16, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  // Four accumulators, group g into acc[g % 4]: the groups' FMAs do not wait on each other.
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  float offsets = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, x += T::kElems) {
    T::Decode(b[blk], &o);
#pragma GCC unroll 16
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const int j = g * T::kGroup;
      __m512 s = _mm512_mul_ps(Levels16(o.q + j), _mm512_loadu_ps(x + j));
      if constexpr (T::kGroup == 32) s = _mm512_fmadd_ps(Levels16(o.q + j + 16), _mm512_loadu_ps(x + j + 16), s);
      acc[g & 3] = _mm512_fmadd_ps(_mm512_set1_ps(o.scale[g]), s, acc[g & 3]);
      if (o.offset[g] != 0.0f) {
        const float* xs = xsum16 + (blk * T::kElems + j) / 16;
        offsets += o.offset[g] * (T::kGroup == 32 ? xs[0] + xs[1] : xs[0]);
      }
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))) + offsets;
}

// Q4_K fused: each 16 stored bytes widen once to 16 int32 lanes holding two groups' elements
// (low nibbles: group 2c, high nibbles: group 2c + 1), converted and multiplied into x directly.
float DotQ4K(const void* w, const float* x, const float* xsum16, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(w);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  float offsets = 0.0f;
  const __m512i low4 = _mm512_set1_epi32(0x0F);
  for (int64_t blk = 0; blk < n / kSuperBlock; ++blk, x += kSuperBlock, xsum16 += kSuperBlock / 16) {
    const BlockQ4_K& wb = b[blk];
    alignas(16) uint8_t scales[8], mins[8];
    UnpackScaleMinK4(wb.scales, scales, mins);
    const float d = Half(wb.d), dmin = Half(wb.dmin);
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.qs + 32 * c)));
      const __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.qs + 32 * c + 16)));
      const float* xl = x + 64 * c;
      __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v0, low4)), _mm512_loadu_ps(xl));
      lo = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v1, low4)), _mm512_loadu_ps(xl + 16), lo);
      __m512 hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v0, 4)), _mm512_loadu_ps(xl + 32));
      hi = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v1, 4)), _mm512_loadu_ps(xl + 48), hi);
      acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * static_cast<float>(scales[2 * c])), lo, acc[c]);
      acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * static_cast<float>(scales[2 * c + 1])), hi, acc[c]);
      offsets -= dmin * static_cast<float>(mins[2 * c]) * (xsum16[4 * c] + xsum16[4 * c + 1]);
      offsets -= dmin * static_cast<float>(mins[2 * c + 1]) * (xsum16[4 * c + 2] + xsum16[4 * c + 3]);
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))) + offsets;
}

// A decoded type's row: the 512-bit GEMV dot over its decoder.
template <class T>
constexpr DTypeRow Decoded(DType d) {
  return {d, {nullptr, Dot<T>}};
}

// The GEMV dots that pay on AVX-512; every other kernel is the AVX2 one.
constexpr DTypeRow kRows[] = {
    {DType::kF32, {.dot = DotF32Row, .dots = DotsF32Rows}},
    {DType::kF16, {nullptr, DotHalfRow<WidenF16>}},
    {DType::kBF16, {nullptr, DotHalfRow<WidenBF16>}},
    {DType::kQ8_0, {nullptr, DotQ8_0}},
    {DType::kQ4_0, {nullptr, DotQ4_0}},
    Decoded<Q4_1>(DType::kQ4_1),
    Decoded<Q5_0>(DType::kQ5_0),
    Decoded<Q5_1>(DType::kQ5_1),
    Decoded<IQ4_NL>(DType::kIQ4_NL),
    Decoded<Q2_K>(DType::kQ2_K),
    Decoded<Q3_K>(DType::kQ3_K),
    {DType::kQ4_K, {nullptr, DotQ4K}},
    Decoded<Q5_K>(DType::kQ5_K),
    Decoded<Q6_K>(DType::kQ6_K),
    Decoded<IQ4_XS>(DType::kIQ4_XS),
};

}  // namespace

std::span<const DTypeRow> Avx512DTypeRows() { return kRows; }

}  // namespace lazyllm::simd
