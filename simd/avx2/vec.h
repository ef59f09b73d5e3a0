// AVX2 helpers shared by the AVX2 kernel files (and the AVX-512 ones, which build on them):
// horizontal reductions, the fp32 dot product and the group kernels' prefetch. The including file must be compiled with
// AVX2 and FMA enabled; everything here is local to it.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lazyllm::simd {
namespace {

// How far ahead of the column they compute the group kernels of the interleaved layouts
// (simd/interleaved.h) prefetch: the hardware prefetchers alone leave them at half their rate from
// DRAM. Each kernel asks for a whole column's lines at the column's start: the AVX-512 K-quant
// kernels spread them over the column's steps until 2026-12-04, and ran at 45-87% of the rate
// they reach so (simd_bench Int8Decode, from DRAM, one thread).
constexpr int64_t kGroupPrefetchBytes = 10 * 1024;

// Prefetches the `bytes` that start kGroupPrefetchBytes past `from`, a cache line at a time.
inline void PrefetchAhead(const uint8_t* from, int64_t bytes) {
  for (int64_t l = 0; l < (bytes + 63) / 64; ++l)
    _mm_prefetch(reinterpret_cast<const char*>(from + kGroupPrefetchBytes + 64 * l), _MM_HINT_T0);
}

inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int32_t HorizontalSumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float HorizontalMax(__m256 v) {
  __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline float DotF32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// DotF32 of q with NK rows at once (n a multiple of 32), times scale, into s[t·lds]: each row's
// four accumulators as DotF32 adds them, q's vectors loaded once for all NK. Decode attention's
// keys against a query, and a weight row against a GEMV step's input rows.
template <int NK>
inline void DotsTile(const float* q, const float* const* k, int64_t n, float scale, float* s, int64_t lds) {
  __m256 acc[NK][4];
#pragma GCC unroll 4
  for (int t = 0; t < NK; ++t)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) acc[t][c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 32) {
    __m256 qv[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) qv[c] = _mm256_loadu_ps(q + i + 8 * c);
#pragma GCC unroll 4
    for (int t = 0; t < NK; ++t)
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[t][c] = _mm256_fmadd_ps(qv[c], _mm256_loadu_ps(k[t] + i + 8 * c), acc[t][c]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < NK; ++t)
    s[t * lds] =
        HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]))) * scale;
}

}  // namespace
}  // namespace lazyllm::simd
