// AVX-512 vector helpers shared by the ISA's kernels (kernels.cc) and its weight rows' dots
// (dtypes.cc).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lazyllm::simd {

// The dots of NK <= 4 keys from their accumulators, times scale, in lanes [0, NK). Key t's lo[t] holds
// DotF32's accumulators a0 and a1 in its halves, hi[t] a2 and a3; DotF32 adds v = (a0 + a1) +
// (a2 + a3), then HorizontalSum(v): w[l] = v[l] + v[l+4], x[l] = w[l] + w[l+2], x[0] + x[1]. The
// same additions, of the same pairs, run here for the four keys side by side in one register.
template <int NK>
inline __m128 ReduceDots(const __m512* lo, const __m512* hi, float scale) {
  const auto key = [](const __m512* a, int t) { return t < NK ? a[t] : _mm512_setzero_ps(); };
  // v of keys t and u: [v_t | v_u].
  const auto pair = [&](int t, int u) {
    const auto halves_added = [](__m512 x, __m512 y) {  // [x's low half + its high half | y's likewise]
      return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
    };
    return _mm512_add_ps(halves_added(key(lo, t), key(lo, u)), halves_added(key(hi, t), key(hi, u)));
  };
  const __m512 v01 = pair(0, 1), v23 = pair(2, 3);
  // w of the four keys, one per 128-bit lane: v[0, 4) + v[4, 8).
  const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(v01, v23, 0x88), _mm512_shuffle_f32x4(v01, v23, 0xDD));
  const __m512 x = _mm512_add_ps(w, _mm512_shuffle_ps(w, w, 0xEE));  // lanes 0, 1: w[0] + w[2], w[1] + w[3]
  const __m512 d = _mm512_add_ps(x, _mm512_shuffle_ps(x, x, 0x55));  // lane 0: x[0] + x[1]
  const __m512 dots = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), d);
  return _mm_mul_ps(_mm512_castps512_ps128(dots), _mm_set1_ps(scale));
}

// DotsTile (simd/avx2/vec.h) in 16-lane registers, with its bits: per key, lo holds DotF32's
// accumulators 0 and 1 in its two halves, hi its 2 and 3, each lane taking the same fused
// multiply-adds in the same order; they are then added as DotF32 adds them. Half the loads and
// multiply-adds of the AVX2 tile, and a quarter of its horizontal additions.
// The dots come back in lanes [0, NK). With kAhead > 0, q is a row streamed from memory (a GEMV's
// weight row): its bytes kAhead on are prefetched.
template <int NK, int kAhead = 0>
inline __m128 DotsTile16(const float* q, const float* const* k, int64_t n, float scale) {
  __m512 lo[NK], hi[NK];
#pragma GCC unroll 8
  for (int t = 0; t < NK; ++t) lo[t] = hi[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 32) {
    if constexpr (kAhead > 0) {
      _mm_prefetch(reinterpret_cast<const char*>(q + i) + kAhead, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(q + i) + kAhead + 64, _MM_HINT_T0);
    }
    const __m512 q0 = _mm512_loadu_ps(q + i), q1 = _mm512_loadu_ps(q + i + 16);
#pragma GCC unroll 8
    for (int t = 0; t < NK; ++t) {
      lo[t] = _mm512_fmadd_ps(q0, _mm512_loadu_ps(k[t] + i), lo[t]);
      hi[t] = _mm512_fmadd_ps(q1, _mm512_loadu_ps(k[t] + i + 16), hi[t]);
    }
  }
  return ReduceDots<NK>(lo, hi, scale);
}

}  // namespace lazyllm::simd
