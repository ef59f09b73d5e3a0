// AVX-512 (F, BW, VL) kernels where the wider registers pay: the GEMV dot products of decode,
// which are bound by converting stored weights to fp32, the small-batch fp32 matmul, and decode
// attention's dots and weighted sums (with the AVX2 kernels' bits). Every other entry is the AVX2
// kernel.
#include "simd/kernels.h"

#include <immintrin.h>

#include <algorithm>

#include "simd/avx2/vec.h"
#include "simd/avx512/vec.h"
#include "simd/quant_kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

// Small-batch fp32 matmul: register tiles of MR weight rows (ldw apart) × NR input rows (k apart),
// 16 lanes each, over columns [c0, c1) (c1 - c0 a multiple of 16, or c1 = k with a masked tail),
// the accumulators taken from and left in acc[MR·NR]. Each lane adds its products in column
// order, so a result has the same bits however the columns are cut into chunks.
template <int MR, int NR>
void GemmTileColumns(const float* w, int64_t ldw, const float* x, int64_t k, int64_t c0, int64_t c1, __m512* acc_io) {
  __m512 acc[MR * NR];
#pragma GCC unroll 32
  for (int t = 0; t < MR * NR; ++t) acc[t] = acc_io[t];
  auto step = [&](int64_t c, __mmask16 m) __attribute__((always_inline)) {
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int i = 0; i < NR; ++i) xv[i] = _mm512_maskz_loadu_ps(m, x + i * k + c);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + r * ldw + c);
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) acc[r * NR + i] = _mm512_fmadd_ps(wv, xv[i], acc[r * NR + i]);
    }
  };
  int64_t c = c0;
  for (; c + 16 <= c1; c += 16) {
    // The weight rows stream from memory: ask for the next tile row's while this one computes.
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (r + MR) * ldw + c), _MM_HINT_T0);
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
void GemmRowBlock(const float* w, int64_t ldw, const float* x, int64_t n, int64_t k, float* y, int64_t ldy) {
  alignas(64) __m512 acc[MR * kMaxSmallInputs];
  for (int64_t t = 0; t < MR * n; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t chunk = n <= 4 ? k : kColumnChunk;
  for (int64_t c0 = 0; c0 < k; c0 += chunk) {
    const int64_t c1 = std::min(k, c0 + chunk);
    ForEachTile<4>(n, [&]<int NR>(int64_t i) { GemmTileColumns<MR, NR>(w, ldw, x + i * k, k, c0, c1, acc + MR * i); });
  }
  // acc holds, per tile of NR inputs starting at input i, [r][NR] at MR · i.
  for (int64_t i0 = 0; i0 < n; i0 += 4) {
    const int64_t nr = std::min<int64_t>(4, n - i0);
    for (int r = 0; r < MR; ++r)
      for (int64_t i = 0; i < nr; ++i) y[(i0 + i) * ldy + r] = _mm512_reduce_add_ps(acc[MR * i0 + r * nr + i]);
  }
}

void GemmSmallF32(const float* w, int64_t ldw, int64_t rows, const float* x, int64_t n, int64_t k, float* y,
                  int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) GemmRowBlock<4>(w + r * ldw, ldw, x, n, k, y + r, ldy);
  for (; r < rows; ++r) GemmRowBlock<1>(w + r * ldw, ldw, x, n, k, y + r, ldy);
}

// DotsTile16 for G heads (head g's query at q + g·qs, its dots to s + g·ss) at once: each key
// vector loaded once for all of them, the heads' dots reduced key pair by key pair.
template <int NK, int G>
void GroupDotsTile16(const float* q, int64_t qs, const float* const* k, int64_t n, float scale, float* s, int64_t ss) {
  __m512 lo[G * NK], hi[G * NK];  // head g, key t at g·NK + t
#pragma GCC unroll 16
  for (int c = 0; c < G * NK; ++c) lo[c] = hi[c] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 32) {
    __m512 k0[NK], k1[NK];
#pragma GCC unroll 4
    for (int t = 0; t < NK; ++t) k0[t] = _mm512_loadu_ps(k[t] + i), k1[t] = _mm512_loadu_ps(k[t] + i + 16);
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const __m512 q0 = _mm512_loadu_ps(q + g * qs + i), q1 = _mm512_loadu_ps(q + g * qs + i + 16);
#pragma GCC unroll 4
      for (int t = 0; t < NK; ++t) {
        lo[g * NK + t] = _mm512_fmadd_ps(q0, k0[t], lo[g * NK + t]);
        hi[g * NK + t] = _mm512_fmadd_ps(q1, k1[t], hi[g * NK + t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
    _mm_mask_storeu_ps(s + g * ss, (1 << NK) - 1, ReduceDots<NK>(lo + g * NK, hi + g * NK, scale));
}

// One head: tiles of 4 keys. Several: up to 4 heads over 2 keys at a time (16 accumulators).
void DotsF32(const float* q, int64_t q_stride, int64_t heads, const float* k, int64_t ld, const int64_t* rows,
             int64_t keys, int64_t n, float scale, float* s, int64_t s_stride) {
  if (n % 32 != 0)  // DotF32's other steps
    return Avx2Kernels().dots_f32(q, q_stride, heads, k, ld, rows, keys, n, scale, s, s_stride);
  if (heads == 1) {
    ForEachRowTile<4>(k, ld, rows, keys, [&]<int NK>(int64_t j, const float* const* kt) {
      _mm_mask_storeu_ps(s + j, (1 << NK) - 1, DotsTile16<NK>(q, kt, n, scale));
    });
    return;
  }
  ForEachRowTile<2>(k, ld, rows, keys, [&]<int NK>(int64_t j, const float* const* kt) {
    ForEachTile<4>(heads, [&]<int G>(int64_t g) {
      GroupDotsTile16<NK, G>(q + g * q_stride, q_stride, kt, n, scale, s + g * s_stride + j, s_stride);
    });
  });
}

// For the G heads g: o_g[0, 16·NV) += Σ_j p_g[j] · (row j of v)[0, 16·NV) (the last vector's lanes
// masked by `last`), each column's sum taken as the AVX2 tile takes it: one fused multiply-add per
// key in key order. Each value vector is loaded once for the G heads.
template <int G, int NV>
void WeightedSumTile16(const float* p, int64_t ps, const float* v, int64_t ld, const int64_t* rows, int64_t keys,
                       float* o, int64_t os, __mmask16 last) {
  __m512 acc[G * NV];
#pragma GCC unroll 16
  for (int t = 0; t < G * NV; ++t)
    acc[t] = _mm512_maskz_loadu_ps(t % NV == NV - 1 ? last : 0xffff, o + t / NV * os + 16 * (t % NV));
  for (int64_t j = 0; j < keys; ++j) {
    const float* vj = v + (rows ? rows[j] : j) * ld;
    __m512 vv[NV];
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) vv[c] = _mm512_maskz_loadu_ps(c == NV - 1 ? last : 0xffff, vj + 16 * c);
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const __m512 pj = _mm512_set1_ps(p[g * ps + j]);
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c) acc[g * NV + c] = _mm512_fmadd_ps(pj, vv[c], acc[g * NV + c]);
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c)
      _mm512_mask_storeu_ps(o + g * os + 16 * c, c == NV - 1 ? last : 0xffff, acc[g * NV + c]);
}

void WeightedSumF32(const float* p, int64_t p_stride, int64_t heads, const float* v, int64_t ld, const int64_t* rows,
                    int64_t keys, int64_t n, float* o, int64_t o_stride) {
  if (n % 8 != 0)  // Axpy's scalar steps
    return Avx2Kernels().weighted_sum_f32(p, p_stride, heads, v, ld, rows, keys, n, o, o_stride);
  // Tiles of up to 4 heads × 4 vectors of 16 columns; a width of 8 more ends on a half-masked vector.
  const int64_t vectors = (n + 15) / 16;
  const __mmask16 last = n % 16 == 0 ? 0xffff : 0x00ff;
  ForEachTile<4>(heads, [&]<int G>(int64_t g) {
    ForEachTile<4>(vectors, [&]<int NV>(int64_t c) {
      WeightedSumTile16<G, NV>(p + g * p_stride, p_stride, v + 16 * c, ld, rows, keys, o + g * o_stride + 16 * c,
                               o_stride, c + NV == vectors ? last : 0xffff);
    });
  });
}

}  // namespace

const Kernels& Avx512Kernels() {
  static const Kernels k = [] {
    Kernels t = Avx2Kernels();
    t.isa = Isa::kAvx512;
    t.gemm_small_f32 = GemmSmallF32;
    t.gemm_small_max_rows = kMaxSmallInputs;  // measured: ahead of packed sgemm up to B = 32 and beyond
    t.dots_f32 = DotsF32;
    t.weighted_sum_f32 = WeightedSumF32;
    InstallDTypeRows(t, Avx512DTypeRows());
    if (CpuSupportsAvx512Vnni()) InstallDTypeRows(t, Avx512VnniDTypeRows());
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
