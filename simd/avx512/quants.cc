// AVX-512 GEMV dots for the quantized weight dtypes: a driver over the AVX2 decoders' int8 levels
// widened 16 at a time to fp32 and multiplied into the activations with 512-bit FMA, and a fused
// Q4_K dot that widens the stored bytes directly (for Q6_K, unpacking in the byte domain first is
// faster).
#include <immintrin.h>

#include "simd/avx2/quant_decoders.h"

namespace lazyllm::simd {
namespace {

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

template <class T>
void Install(Kernels& t, DType d) {
  t.dtypes[static_cast<uint32_t>(d)].dot = Dot<T>;
}

}  // namespace

void InstallAvx512QuantKernels(Kernels& t) {
#define LAZYLLM_INSTALL(decoder, dtype) Install<decoder>(t, DType::dtype);
  LAZYLLM_DECODED_DTYPES(LAZYLLM_INSTALL)
#undef LAZYLLM_INSTALL
  t.dtypes[static_cast<uint32_t>(DType::kQ4_K)].dot = DotQ4K;
}

}  // namespace lazyllm::simd
