// AVX-512 (F, BW, VL) kernels where the wider registers pay: the GEMV dot products of decode,
// which are bound by converting stored weights to fp32. Every other entry is the AVX2 kernel.
#include "simd/kernels.h"

#include <immintrin.h>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

// Small-batch fp32 matmul: register tiles of MR weight rows × NR input rows, 16 lanes each;
// the k tail is masked.
template <int MR, int NR>
void GemmTile(const float* w, const float* x, int64_t k, float* y, int64_t ldy) {
  __m512 acc[MR * NR];
#pragma GCC unroll 32
  for (int t = 0; t < MR * NR; ++t) acc[t] = _mm512_setzero_ps();
  auto step = [&](int64_t c, __mmask16 m) __attribute__((always_inline)) {
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int i = 0; i < NR; ++i) xv[i] = _mm512_maskz_loadu_ps(m, x + i * k + c);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + r * k + c);
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) acc[r * NR + i] = _mm512_fmadd_ps(wv, xv[i], acc[r * NR + i]);
    }
  };
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    // The weight rows stream from memory: ask for the next tile row's while this one computes.
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (r + MR) * k + c), _MM_HINT_T0);
    step(c, 0xffff);
  }
  if (c < k) step(c, static_cast<__mmask16>((1u << (k - c)) - 1));
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int i = 0; i < NR; ++i) y[i * ldy + r] = _mm512_reduce_add_ps(acc[r * NR + i]);
}

// Tiles of 4 weight rows × 4 input rows (16 accumulators, 4 inputs and a weight in registers).
template <int MR>
void GemmRowBlock(const float* w, const float* x, int64_t n, int64_t k, float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) GemmTile<MR, 4>(w, x + i * k, k, y + i * ldy, ldy);
  switch (n - i) {
    case 3:
      GemmTile<MR, 3>(w, x + i * k, k, y + i * ldy, ldy);
      break;
    case 2:
      GemmTile<MR, 2>(w, x + i * k, k, y + i * ldy, ldy);
      break;
    case 1:
      GemmTile<MR, 1>(w, x + i * k, k, y + i * ldy, ldy);
      break;
    default:
      break;
  }
}

void GemmSmallF32(const float* w, int64_t rows, const float* x, int64_t n, int64_t k, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) GemmRowBlock<4>(w + r * k, x, n, k, y + r, ldy);
  for (; r < rows; ++r) GemmRowBlock<1>(w + r * k, x, n, k, y + r, ldy);
}

}  // namespace

const Kernels& Avx512Kernels() {
  static const Kernels k = [] {
    Kernels t = Avx2Kernels();
    t.isa = Isa::kAvx512;
    t.gemm_small_f32 = GemmSmallF32;
    t.gemm_small_max_rows = 64;  // measured: ahead of packed sgemm up to B = 32 and beyond
    InstallDTypeRows(t, Avx512DTypeRows());
    if (CpuSupportsAvx512Vnni()) InstallDTypeRows(t, Avx512VnniDTypeRows());
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
