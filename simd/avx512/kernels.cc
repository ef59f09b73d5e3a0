// AVX-512 (F, BW, VL) kernels where the wider registers pay: the GEMV dot products of decode,
// which are bound by converting stored weights to fp32. Every other entry is the AVX2 kernel.
#include "simd/kernels.h"

#include <immintrin.h>

#include <algorithm>

#include "simd/quant_kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

// Small-batch fp32 matmul: register tiles of MR weight rows × NR input rows, 16 lanes each, over
// columns [c0, c1) (c1 - c0 a multiple of 16, or c1 = k with a masked tail), the accumulators
// taken from and left in acc[MR·NR]. Each lane adds its products in column order, so a result has
// the same bits however the columns are cut into chunks.
template <int MR, int NR>
void GemmTileColumns(const float* w, const float* x, int64_t k, int64_t c0, int64_t c1, __m512* acc_io) {
  __m512 acc[MR * NR];
#pragma GCC unroll 32
  for (int t = 0; t < MR * NR; ++t) acc[t] = acc_io[t];
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
  int64_t c = c0;
  for (; c + 16 <= c1; c += 16) {
    // The weight rows stream from memory: ask for the next tile row's while this one computes.
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (r + MR) * k + c), _MM_HINT_T0);
    step(c, 0xffff);
  }
  if (c < c1) step(c, static_cast<__mmask16>((1u << (c1 - c)) - 1));
#pragma GCC unroll 32
  for (int t = 0; t < MR * NR; ++t) acc_io[t] = acc[t];
}

// Columns per chunk when a weight row block meets more than one tile of inputs: the block's
// chunk (MR · 1 KiB) and the inputs' (n · 1 KiB) stay in L1 while every input tile uses them, so
// wide rows (llama3.2-1b's 2048 and 8192) are read from memory once per block, not per tile.
constexpr int64_t kColumnChunk = 256;

// MR weight rows against all n input rows (n <= kMaxSmallInputs): tiles of 4 inputs (16
// accumulators, 4 inputs and a weight in registers), then the rest.
constexpr int64_t kMaxSmallInputs = 64;
template <int MR>
void GemmRowBlock(const float* w, const float* x, int64_t n, int64_t k, float* y, int64_t ldy) {
  alignas(64) __m512 acc[MR * kMaxSmallInputs];
  for (int64_t t = 0; t < MR * n; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t chunk = n <= 4 ? k : kColumnChunk;
  for (int64_t c0 = 0; c0 < k; c0 += chunk) {
    const int64_t c1 = std::min(k, c0 + chunk);
    ForEachTile<4>(n, [&]<int NR>(int64_t i) { GemmTileColumns<MR, NR>(w, x + i * k, k, c0, c1, acc + MR * i); });
  }
  // acc holds, per tile of NR inputs starting at input i, [r][NR] at MR · i.
  for (int64_t i0 = 0; i0 < n; i0 += 4) {
    const int64_t nr = std::min<int64_t>(4, n - i0);
    for (int r = 0; r < MR; ++r)
      for (int64_t i = 0; i < nr; ++i) y[(i0 + i) * ldy + r] = _mm512_reduce_add_ps(acc[MR * i0 + r * nr + i]);
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
    t.gemm_small_max_rows = kMaxSmallInputs;  // measured: ahead of packed sgemm up to B = 32 and beyond
    InstallDTypeRows(t, Avx512DTypeRows());
    if (CpuSupportsAvx512Vnni()) InstallDTypeRows(t, Avx512VnniDTypeRows());
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
