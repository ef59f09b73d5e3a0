// AVX-512 VNNI int8 kernels: row dots of the 32-element dtypes for decode, and the GEMM.
//
// Row dots (Q4_0, Q8_0 against Q8_0 activations): two blocks per 512-bit vpdpbusd, unsigned
// operand first: Q4_0's nibbles (0..15) times the activations, less 8·Σx, which a second
// vpdpbusd of the constant 8 against the activations gives; Q8_0's activations biased to
// unsigned (x ^ 0x80 = x + 128) times the signed weights, less 128·Σw likewise. Each block's
// integer sum is exact; its scale dw·dx multiplies it in fp32.
//
// GEMM: a panel of weight rows decoded once to int8 levels, interleaved so that
// one 64-byte vector holds 4 consecutive levels of 16 rows, then multiplied into every activation
// row by vpdpbusd (64 multiply-adds per instruction): the activation's 4 levels (biased to
// unsigned) broadcast against the 16 rows' signed levels.
//
// Per group of G levels a row has a scale and an offset (DecodedBlock): with unsigned activations
// u = x + 128, Σ u·q = Σ x·q + 128·Σ q, so each group's integer sum starts at -128·Σ q (the
// panel's bias) and ends exact. Then, per activation block of B levels with scale dx:
// y += dx · Σ_g (scale_g · Σ x·q + offset_g · Σ x).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "simd/avx2/quant_decoders.h"
#include "simd/avx2/vec.h"
#include "simd/kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

constexpr int kLanes = 16;      // weight rows per vector: one int32 lane each
constexpr int kTileInputs = 8;  // activation rows per register tile

// The 16 lanes' scales of two blocks: dw·dx of block j in lanes 0-7, of block j + 1 in 8-15.
inline __m512 PairScales(uint16_t w0, uint16_t x0, uint16_t w1, uint16_t x1) {
  const __m128 d = _mm_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(w0), static_cast<int16_t>(w1),
                                               static_cast<int16_t>(x0), static_cast<int16_t>(x1), 0, 0, 0, 0));
  const __m128 p = _mm_mul_ps(d, _mm_movehl_ps(d, d));  // [dw0·dx0, dw1·dx1, ...]
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                               _mm512_castps128_ps512(p));
}

// Two halves as one vector: lo in bytes 0..31, hi in 32..63.
inline __m512i Join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// Two Q8_0 blocks' levels as one vector.
inline __m512i ActPair(const BlockQ8_0& a, const BlockQ8_0& b) { return Join(Load32(a.qs), Load32(b.qs)); }

// Two Q4_0 blocks' nibbles in element order: [block j 0-15, 16-31, block j+1 0-15, 16-31].
inline __m512i Q4_0Pair(const BlockQ4_0& a, const BlockQ4_0& b) {
  const __m256i q = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b.qs), reinterpret_cast<const __m128i*>(a.qs));
  const __m512i both = Join(q, _mm256_srli_epi16(q, 4));  // lo a, lo b, hi a, hi b
  return _mm512_and_si512(_mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0F));
}

// Exact Σ (q - 8)·x of blocks j and j + 1 (lanes 0-7 and 8-15), wv their nibbles.
inline __m512i Q4_0PairSums(const __m512i& wv, const BlockQ8_0* x) {
  const __m512i xv = ActPair(x[0], x[1]);
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
  return _mm512_sub_epi32(s, _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), xv));
}
inline __m512i Q4_0Weights(const BlockQ4_0* b) { return Q4_0Pair(b[0], b[1]); }

// Exact Σ w·x of blocks j and j + 1: Σ (x + 128)·w - 128·Σ w, wv their levels.
inline __m512i Q8_0PairSums(const __m512i& wv, const BlockQ8_0* x) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(ActPair(x[0], x[1]), bias), wv);
  return _mm512_sub_epi32(s, _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, wv));
}
inline __m512i Q8_0Weights(const BlockQ8_0* b) { return ActPair(b[0], b[1]); }

// One block's exact integer sum (an odd block count's last block).
inline int32_t BlockSum(const BlockQ4_0& b, const BlockQ8_0& x) {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) s += ((b.qs[j] & 0xF) - 8) * x.qs[j] + ((b.qs[j] >> 4) - 8) * x.qs[j + 16];
  return s;
}
inline int32_t BlockSum(const BlockQ8_0& b, const BlockQ8_0& x) {
  int32_t s = 0;
  for (int j = 0; j < 32; ++j) s += b.qs[j] * x.qs[j];
  return s;
}

// Σ over blocks of dw·dx·(exact block sum), two blocks per vector, for NI activation rows at once
// (the weight pair decoded once); input i's arithmetic does not depend on NI.
template <class Block, __m512i (*PairSums)(const __m512i&, const BlockQ8_0*), __m512i (*Weights)(const Block*), int NI>
void PairDots(const void* w, const void* xq, int64_t xq_row_bytes, int64_t k, float* y, int64_t y_stride) {
  const auto* b = static_cast<const Block*>(w);
  const BlockQ8_0* x[NI];
  for (int i = 0; i < NI; ++i)
    x[i] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(xq) + i * xq_row_bytes);
  const int64_t blocks = k / 32;
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 2 <= blocks; j += 2) {
    const __m512i wv = Weights(b + j);
    for (int i = 0; i < NI; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PairSums(wv, x[i] + j)),
                               PairScales(b[j].d, x[i][j].d, b[j + 1].d, x[i][j + 1].d), acc[i]);
  }
  for (int i = 0; i < NI; ++i) {
    float s = _mm512_reduce_add_ps(acc[i]);
    if (j < blocks) s += Half(b[j].d) * Half(x[i][j].d) * static_cast<float>(BlockSum(b[j], x[i][j]));
    y[i * y_stride] = s;
  }
}

// K-quant row dots against Q8_K: 64 levels per vpdpbusd (unsigned levels times the signed
// activations), each int32 lane multiplied by its group's integer scale (vpmulld; the lane's
// group picked from the block's scales by a permute), one conversion to fp32 per block. Mins
// (Q4_K, Q5_K) and Q6_K's -32 come from the activation's per-16 sums.

// Lanes [g ×8, g+1 ×8] for 64 levels of two groups of 32 (chunk c: groups 2c, 2c+1).
inline __m512i Pick32(int c) {
  return _mm512_setr_epi32(2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1, 2 * c + 1,
                           2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1);
}
// Lanes [g ×4, g+1 ×4, g+2 ×4, g+3 ×4] for 64 levels of four groups of 16 (chunk c: 4c..4c+3).
inline __m512i Pick16(int c) {
  const int g = 4 * c;
  return _mm512_setr_epi32(g, g, g, g, g + 1, g + 1, g + 1, g + 1, g + 2, g + 2, g + 2, g + 2, g + 3, g + 3, g + 3,
                           g + 3);
}

// Q4_K (bits = 4) and Q5_K (bits = 5), NI activation rows at once.
template <int kBits, int NI>
void VnniDotsK4(const void* w, const void* xq, int64_t xq_row_bytes, int64_t k, float* y, int64_t y_stride) {
  using Block = std::conditional_t<kBits == 4, BlockQ4_K, BlockQ5_K>;
  const auto* b = static_cast<const Block*>(w);
  const BlockQ8_K* a[NI];
  for (int i = 0; i < NI; ++i)
    a[i] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(xq) + i * xq_row_bytes);
  const __m512i pick[4] = {Pick32(0), Pick32(1), Pick32(2), Pick32(3)};
  __m512 acc[NI];
  float mins_total[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps(), mins_total[i] = 0.0f;
  for (int64_t blk = 0; blk < k / kSuperBlock; ++blk) {
    const Block& wb = b[blk];
    alignas(16) uint8_t scales[16], mins[8];
    UnpackScaleMinK4(wb.scales, scales, mins);
    const float d = Half(wb.d), dmin = Half(wb.dmin);
    for (int i = 0; i < NI; ++i)
      mins_total[i] += a[i][blk].d * dmin * static_cast<float>(MinsDotBsums(mins, a[i][blk].bsums));
    const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales)));
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kBits == 5) hbits = Load32(wb.qh);
    __m512i sumi[NI];
    for (int i = 0; i < NI; ++i) sumi[i] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      LevelsK4<kBits>(wb.qs, hbits, c, &lo, &hi);
      const __m512i wv = Join(lo, hi), scv = _mm512_permutexvar_epi32(pick[c], sc);
      for (int i = 0; i < NI; ++i) {
        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(a[i][blk].qs + 64 * c));
        sumi[i] = _mm512_add_epi32(sumi[i], _mm512_mullo_epi32(s, scv));
      }
    }
    for (int i = 0; i < NI; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i][blk].d * d), _mm512_cvtepi32_ps(sumi[i]), acc[i]);
  }
  for (int i = 0; i < NI; ++i) y[i * y_stride] = _mm512_reduce_add_ps(acc[i]) - mins_total[i];
}

// Q6_K: Σ sc·(q - 32)·x = Σ sc·q·x - 32·Σ sc·bsum, q in 0..63; NI activation rows at once.
template <int NI>
void VnniDotsQ6K(const void* w, const void* xq, int64_t xq_row_bytes, int64_t k, float* y, int64_t y_stride) {
  const auto* b = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* a[NI];
  for (int i = 0; i < NI; ++i)
    a[i] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(xq) + i * xq_row_bytes);
  const __m512i pick[4] = {Pick16(0), Pick16(1), Pick16(2), Pick16(3)};
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t blk = 0; blk < k / kSuperBlock; ++blk) {
    const BlockQ6_K& wb = b[blk];
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales));
    const __m512i sc = _mm512_cvtepi8_epi32(sc8);
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    __m512i sumi[NI];
    for (int i = 0; i < NI; ++i) {
      // -32·Σ sc·bsum over the 16 groups, the starting value of the sum.
      const __m256i offset = _mm256_madd_epi16(sc16, Load32(a[i][blk].bsums));
      sumi[i] = _mm512_castsi256_si512(_mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), offset), 5));
      sumi[i] = _mm512_inserti64x4(sumi[i], _mm256_setzero_si256(), 1);
    }
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      LevelsQ6K(wb, h, q);
      for (int kk = 0; kk < 2; ++kk) {
        const __m512i wv = Join(q[2 * kk], q[2 * kk + 1]), scv = _mm512_permutexvar_epi32(pick[2 * h + kk], sc);
        for (int i = 0; i < NI; ++i) {
          const __m512i s =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(a[i][blk].qs + 128 * h + 64 * kk));
          sumi[i] = _mm512_add_epi32(sumi[i], _mm512_mullo_epi32(s, scv));
        }
      }
    }
    const float d = Half(wb.d);
    for (int i = 0; i < NI; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i][blk].d * d), _mm512_cvtepi32_ps(sumi[i]), acc[i]);
  }
  for (int i = 0; i < NI; ++i) y[i * y_stride] = _mm512_reduce_add_ps(acc[i]);
}

// The multi-row kernels as the table's entries: one activation row (int8_dot), and up to
// kInt8DotsMaxRows rows in chunks of 4 (int8_dots).
template <template <int> class K>
float OneDot(const void* w, const void* xq, int64_t k) {
  float y;
  K<1>::Run(w, xq, 0, k, &y, 1);
  return y;
}

template <template <int> class K>
void ManyDots(const void* w, const void* xq, int64_t xq_row_bytes, int64_t n, int64_t k, float* y, int64_t y_stride) {
  const auto* x = static_cast<const uint8_t*>(xq);
  ForEachTile<4>(
      n, [&]<int NI>(int64_t i) { K<NI>::Run(w, x + i * xq_row_bytes, xq_row_bytes, k, y + i * y_stride, y_stride); });
}

template <int NI>
struct Q4_0Dots {
  static constexpr auto Run = PairDots<BlockQ4_0, Q4_0PairSums, Q4_0Weights, NI>;
};
template <int NI>
struct Q8_0Dots {
  static constexpr auto Run = PairDots<BlockQ8_0, Q8_0PairSums, Q8_0Weights, NI>;
};
template <int NI>
struct Q4KDots {
  static constexpr auto Run = VnniDotsK4<4, NI>;
};
template <int NI>
struct Q5KDots {
  static constexpr auto Run = VnniDotsK4<5, NI>;
};
template <int NI>
struct Q6KDots {
  static constexpr auto Run = VnniDotsQ6K<NI>;
};

template <template <int> class K>
constexpr DTypeKernels DotsRow(DType act, Int8GemmFn gemm, Int8GroupFn group = nullptr,
                               Int8GemmFn group_gemm = nullptr) {
  return {.int8_dot = OneDot<K>,
          .int8_act = act,
          .int8_gemm = gemm,
          .int8_dots = ManyDots<K>,
          .int8_group = group,
          .int8_group_gemm = group_gemm};
}

// 16 rows of a panel, decoded: levels [k/4][16][4], and per group [k/G][16] the bias -128·Σ q,
// the scale and the offset.
struct SubPanel {
  int8_t* levels;
  int32_t* bias;
  float* scale;
  float* offset;
};

SubPanel SubPanelAt(void* scratch, int s, int64_t k, int group) {
  auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
  const int64_t groups = k / group;
  const int64_t bytes = 16 * k + 3 * 16 * 4 * groups;  // a multiple of 64
  uint8_t* p = base + s * bytes;
  return {reinterpret_cast<int8_t*>(p), reinterpret_cast<int32_t*>(p + 16 * k),
          reinterpret_cast<float*>(p + 16 * k + 64 * groups), reinterpret_cast<float*>(p + 16 * k + 128 * groups)};
}

// Σ of the 32 (or 16) int8 levels at q.
template <int G>
int32_t LevelSum(const int8_t* q) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i v;
  if constexpr (G == 32)
    v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))),
    v = _mm256_add_epi16(v, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16))));
  else
    v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  return HorizontalSumI32(_mm256_madd_epi16(v, ones));
}

// Decodes rows [0, rows) (rows <= 16) of w into the sub-panel; absent rows compute to 0.
template <class T>
void Pack(const uint8_t* w, int64_t row_bytes, int rows, int64_t k, const SubPanel& s) {
  constexpr int G = T::kGroup, E = T::kElems;
  const int64_t groups = k / G;
  if (rows < kLanes) {
    std::memset(s.levels, 0, static_cast<size_t>(16 * k));
    std::memset(s.bias, 0, static_cast<size_t>(3 * 16 * 4 * groups));
  }
  DecodedBlock o;
  for (int r = 0; r < rows; ++r) {
    const auto* blocks = reinterpret_cast<const typename T::Block*>(w + r * row_bytes);
    for (int64_t blk = 0; blk < k / E; ++blk) {
      T::Decode(blocks[blk], &o);
      int32_t* lev = reinterpret_cast<int32_t*>(s.levels) + blk * (E / 4) * kLanes + r;
      for (int j = 0; j < E / 4; ++j) std::memcpy(lev + j * kLanes, o.q + 4 * j, 4);
      for (int g = 0; g < E / G; ++g) {
        const int64_t gi = blk * (E / G) + g;
        s.bias[gi * kLanes + r] = -128 * LevelSum<G>(o.q + g * G);
        s.scale[gi * kLanes + r] = o.scale[g];
        s.offset[gi * kLanes + r] = o.offset[g];
      }
    }
  }
}

// NI activation rows from i0 times one sub-panel, written to y[(i0 + i)·ldy + 0..rows).
template <int G, bool kOffsets, int NI>
void Tile(const SubPanel& s, const Int8Acts& x, int64_t i0, int rows, float* y, int64_t ldy) {
  const int64_t k = x.k, B = x.block;
  const uint8_t* xq[NI];
  const float* dx[NI];
  const float* xs[NI];  // level sums per group of G
  for (int i = 0; i < NI; ++i) {
    xq[i] = x.biased.data() + (i0 + i) * k;
    dx[i] = x.scales.data() + (i0 + i) * (k / B);
    xs[i] = (G == 32 ? x.sums32.data() : x.sums16.data()) + (i0 + i) * (k / G);
  }
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  const auto* lev = reinterpret_cast<const __m512i*>(s.levels);
  for (int64_t b = 0; b < k / B; ++b) {
    __m512 f[NI];
    for (int i = 0; i < NI; ++i) f[i] = _mm512_setzero_ps();
    for (int64_t gi = b * (B / G); gi < (b + 1) * (B / G); ++gi) {
      const __m512i bias = _mm512_load_si512(s.bias + gi * kLanes);
      __m512i sum[NI];
      for (int i = 0; i < NI; ++i) sum[i] = bias;
      const int64_t k0 = gi * G;
#pragma GCC unroll 8
      for (int q = 0; q < G / 4; ++q) {
        const __m512i wv = _mm512_load_si512(lev + k0 / 4 + q);
        for (int i = 0; i < NI; ++i) {
          int32_t a;
          std::memcpy(&a, xq[i] + k0 + 4 * q, 4);
          sum[i] = _mm512_dpbusd_epi32(sum[i], _mm512_set1_epi32(a), wv);
        }
      }
      const __m512 scale = _mm512_load_ps(s.scale + gi * kLanes);
      for (int i = 0; i < NI; ++i) f[i] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sum[i]), f[i]);
      if constexpr (kOffsets) {
        const __m512 offset = _mm512_load_ps(s.offset + gi * kLanes);
        for (int i = 0; i < NI; ++i) f[i] = _mm512_fmadd_ps(offset, _mm512_set1_ps(xs[i][gi]), f[i]);
      }
    }
    for (int i = 0; i < NI; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(dx[i][b]), f[i], acc[i]);
  }
  const __mmask16 m = static_cast<__mmask16>((1u << rows) - 1);
  for (int i = 0; i < NI; ++i) _mm512_mask_storeu_ps(y + (i0 + i) * ldy, m, acc[i]);
}

template <int G, bool kOffsets>
void Tiles(const SubPanel& s, const Int8Acts& x, int rows, float* y, int64_t ldy) {
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) { Tile<G, kOffsets, NI>(s, x, i, rows, y, ldy); });
}

// Whether some row of the decoded dtype has a nonzero offset (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).
template <class T>
constexpr bool kHasOffsets = std::is_same_v<T, Q4_1> || std::is_same_v<T, Q5_1> || std::is_same_v<T, Q2_K> ||
                             std::is_same_v<T, Q4_K> || std::is_same_v<T, Q5_K>;

// Decodes the weight rows of sub-panel s (rows 16s.., at most 16) into the scratch.
template <class T>
void PackStored(const uint8_t* w, int64_t row_bytes, int s, int rows, int64_t k, const SubPanel& panel) {
  Pack<T>(w + s * kLanes * row_bytes, row_bytes, rows, k, panel);
}

template <class T, auto kPack = PackStored<T>>
void Gemm(const void* w, int64_t row_bytes, int64_t rows, const Int8Acts& x, float* y, int64_t ldy, void* scratch) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const int subs = static_cast<int>((rows + kLanes - 1) / kLanes);
  for (int s = 0; s < subs; ++s) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, rows - s * kLanes));
    kPack(wb, row_bytes, s, n, x.k, SubPanelAt(scratch, s, x.k, T::kGroup));
  }
  for (int s = 0; s < subs; ++s) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, rows - s * kLanes));
    Tiles<T::kGroup, kHasOffsets<T>>(SubPanelAt(scratch, s, x.k, T::kGroup), x, n, y + s * kLanes, ldy);
  }
}

// Interleaved groups (Q8_0, Q4_0; layout in simd/interleaved.h): per block column, each 64-byte
// level vector holds 4 levels of the 16 rows, and one vpdpbusd per activation row multiplies it by
// those 4 activation levels (a broadcast). 16 rows' int32 sums per block, exact, then as in
// Int8GroupRef: fma(Σ u·x − c·Σx, dw·dx, acc), lane r being row r.

// Four activation levels as one int32, broadcast to every lane.
inline __m512i Act4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, 4);
  return _mm512_set1_epi32(v);
}

// Activation rows [i0, i0 + NI) against one group; dtype Q8_0 (kQ8 true) or Q4_0. Q8_0 with one or
// two rows runs each row's sum in two chains (even and odd vectors) to hide vpdpbusd's latency.
// Q4_0 keeps two per row: the low nibbles' dots, and the high nibbles' taken in place (the byte's
// top four bits, 16 times the level), a multiple of 16 shifted down once per block: exact, and one
// shift per block instead of one per vector.
template <bool kQ8, int NI>
void GroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr int64_t kLevelBytes = kQ8 ? kQ8_0GroupLevelBytes : kQ4_0GroupLevelBytes;
  constexpr int64_t kChains = !kQ8 || NI <= 2 ? 2 : 1;
  constexpr int64_t kColumnBytes = kLevelBytes + 32;
  const int64_t blocks = x.k / 32;
  const BlockQ8_0* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_0>(i0 + i);
  const float* dx = &x.scales[i0 * blocks];
  const float* sx = &x.sums32[i0 * blocks];
  const __m512 minus_c = _mm512_set1_ps(kQ8 ? -128.0f : -8.0f);
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn col = GroupColumnAt(kLevelBytes, j, blocks);
    const uint8_t* lv = g + col.levels;
    const auto* sc = reinterpret_cast<const uint16_t*>(g + col.scales);
    PrefetchAhead(g + j * kColumnBytes, kColumnBytes);  // the group's bytes in column order
    __m512i sum[NI][kChains];
    for (int i = 0; i < NI; ++i)
      for (int c = 0; c < kChains; ++c) sum[i][c] = _mm512_setzero_si512();
    if constexpr (kQ8) {
      for (int v = 0; v < 8; ++v) {
        const __m512i w = _mm512_loadu_si512(lv + 64 * v);
        for (int i = 0; i < NI; ++i)
          sum[i][v % kChains] = _mm512_dpbusd_epi32(sum[i][v % kChains], w, Act4(xr[i][j].qs + 4 * v));
      }
    } else {
      const __m512i low = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi8(static_cast<char>(0xF0));
      for (int v = 0; v < 4; ++v) {
        const __m512i b = _mm512_loadu_si512(lv + 64 * v);
        const __m512i lo = _mm512_and_si512(b, low), hi16 = _mm512_and_si512(b, high);
        for (int i = 0; i < NI; ++i) {
          sum[i][0] = _mm512_dpbusd_epi32(sum[i][0], lo, Act4(xr[i][j].qs + 4 * v));
          sum[i][1] = _mm512_dpbusd_epi32(sum[i][1], hi16, Act4(xr[i][j].qs + 16 + 4 * v));
        }
      }
      for (int i = 0; i < NI; ++i) sum[i][1] = _mm512_srai_epi32(sum[i][1], 4);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sc)));
    for (int i = 0; i < NI; ++i) {
      __m512i s = sum[i][0];
      if constexpr (kChains == 2) s = _mm512_add_epi32(s, sum[i][1]);
      const __m512 exact = _mm512_fmadd_ps(minus_c, _mm512_set1_ps(sx[i * blocks + j]), _mm512_cvtepi32_ps(s));
      acc[i] = _mm512_fmadd_ps(exact, _mm512_mul_ps(dw, _mm512_set1_ps(dx[i * blocks + j])), acc[i]);
    }
  }
  for (int i = 0; i < NI; ++i) _mm512_storeu_ps(y + (i0 + i) * ldy, acc[i]);
}

// Every activation row, in tiles of 8 (then the rest).
template <bool kQ8>
void Int8Group(const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  const auto* g = static_cast<const uint8_t*>(group);
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) { GroupTile<kQ8, NI>(g, x, i, y, ldy); });
}

// Interleaved K-quant groups (Q4_K, Q5_K; layout in simd/interleaved.h). Per super-block column:
// the 8 sub-blocks' 6-bit scales and mins unpacked for all 16 rows at once (one byte per row and
// sub-block in 4-byte lanes); per sub-block s, 8 level vectors (nibbles, plus Q5_K's fifth bit
// moved from bit s of the qh vector), one vpdpbusd each per activation row, then the sub-block's
// int32 sums times its scales (vpmulld); the mins' sum Σ_s m_s·Σx_s by vpdpwssd on int16 pairs.

// Zero-extends byte b of every 4-byte lane to int32 (as a vpshufb control).
inline __m512i ByteOfLanes(int b) {
  const int z = static_cast<int>(0x80808000u);
  return _mm512_set4_epi32(z | (12 + b), z | (8 + b), z | (4 + b), z | b);
}
// Zero-extends bytes b and b + 1 of every 4-byte lane to two int16 (as a vpshufb control).
inline __m512i BytePairOfLanes(int b) {
  const auto lane = [b](int d) { return static_cast<int>(0x80008000u | (4 * d + b + 1) << 16 | (4 * d + b)); };
  return _mm512_set4_epi32(lane(3), lane(2), lane(1), lane(0));
}

// Q4_K's odd sub-blocks are read in place: their levels are the high nibbles, taken as the byte's top
// four bits (16 times the level), and the sub-block's dot is shifted down once (exact, as its
// integer sum is a multiple of 16). Q5_K puts its fifth bit above the nibble, so it shifts each.
template <int kBits, int S>
constexpr bool kInPlace = kBits == 4 && S % 2 == 1;

// Level vector m (levels 32S + 4m..4m+3 of the 16 rows, unsigned) of sub-block S of a column;
// with kScaled, 16 times them where kInPlace.
template <int kBits, int S, bool kScaled = false>
inline __m512i KLevels(const uint8_t* col, int m) {
  __m512i q = _mm512_loadu_si512(col + KQsVectorAt(kBits, 8 * (S / 2) + m));
  if constexpr (kScaled && kInPlace<kBits, S>) return _mm512_and_si512(q, _mm512_set1_epi8(static_cast<char>(0xF0)));
  if constexpr (S % 2 == 1) q = _mm512_srli_epi16(q, 4);
  q = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
  if constexpr (kBits == 5) {
    const __m512i h = _mm512_loadu_si512(col + KQhVectorAt(m));  // bit S: the fifth bit
    const __m512i b = S <= 4 ? _mm512_slli_epi16(h, 4 - S) : _mm512_srli_epi16(h, S - 4);
    q = _mm512_ternarylogic_epi32(q, b, _mm512_set1_epi8(0x10), 0xF8);  // q | (b & 0x10)
  }
  return q;
}

// The scales (sc) and mins (mn) of a column's sub-blocks 4v..4v+3 in bytes 0..3 of each row's
// lane (ScaleMinK4 for the 16 rows at once).
template <int kBits>
inline void KScalesMins(const uint8_t* col, __m512i* sc, __m512i* mn) {
  constexpr KGroupColumn kCol = KGroupColumnOf(kBits);
  const __m512i low4 = _mm512_set1_epi8(0x0F), low6 = _mm512_set1_epi8(0x3F), top2 = _mm512_set1_epi8(0x30);
  const __m512i p0 = _mm512_loadu_si512(col + kCol.scales), p1 = _mm512_loadu_si512(col + kCol.scales + 64),
                p2 = _mm512_loadu_si512(col + kCol.scales + 128);
  sc[0] = _mm512_and_si512(p0, low6);
  sc[1] = _mm512_or_si512(_mm512_and_si512(p2, low4), _mm512_and_si512(_mm512_srli_epi32(p0, 2), top2));
  mn[0] = _mm512_and_si512(p1, low6);
  mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(p2, 4), low4),
                          _mm512_and_si512(_mm512_srli_epi32(p1, 2), top2));
}

// Sub-block S of a super-block column: sum[i] += scale_S · Σ q·x over its 32 levels, for the
// NI activation rows (with one or two, in two chains to hide vpdpbusd's latency).
template <int kBits, int NI, int S>
inline void KSubBlock(const uint8_t* col, const BlockQ8_K* const* xr, int64_t j, const __m512i& sc, __m512i* sum) {
  constexpr int kChains = NI <= 2 ? 2 : 1;
  __m512i part[NI][kChains];
  for (int i = 0; i < NI; ++i)
    for (int h = 0; h < kChains; ++h) part[i][h] = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int m = 0; m < 8; ++m) {
    const __m512i q = KLevels<kBits, S, /*kScaled=*/true>(col, m);
    for (int i = 0; i < NI; ++i)
      part[i][m % kChains] = _mm512_dpbusd_epi32(part[i][m % kChains], q, Act4(xr[i][j].qs + 32 * S + 4 * m));
  }
  const __m512i scale = _mm512_shuffle_epi8(sc, ByteOfLanes(S % 4));
  for (int i = 0; i < NI; ++i) {
    __m512i p = part[i][0];
    if constexpr (kChains == 2) p = _mm512_add_epi32(p, part[i][1]);
    if constexpr (kInPlace<kBits, S>) p = _mm512_srai_epi32(p, 4);
    sum[i] = _mm512_add_epi32(sum[i], _mm512_mullo_epi32(p, scale));
  }
}

// The same sums for one or two activation rows, all eight sub-blocks at once: each qs vector is
// loaded once and gives two level vectors, each qh vector once for eight (8 sums per row; the
// integer total is the same in any order).
template <int kBits, int NI>
inline void KSubBlocksAtOnce(const uint8_t* col, const BlockQ8_K* const* xr, int64_t j, const __m512i* sc,
                             __m512i* sum) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8(static_cast<char>(0xF0)),
                bit4 = _mm512_set1_epi8(0x10);
  __m512i part[NI][8];
  for (int i = 0; i < NI; ++i)
    for (int s = 0; s < 8; ++s) part[i][s] = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int m = 0; m < 8; ++m) {
    __m512i h = _mm512_setzero_si512();
    if constexpr (kBits == 5) h = _mm512_loadu_si512(col + KQhVectorAt(m));
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i q = _mm512_loadu_si512(col + KQsVectorAt(kBits, 8 * c + m));
      __m512i lo = _mm512_and_si512(q, low4), hi;
      if constexpr (kBits == 4) {
        hi = _mm512_and_si512(q, high4);  // Q4_K's odd sub-blocks in place (kInPlace)
      } else {                            // bits 2c and 2c + 1 of h: the fifth bits
        hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        const __m512i b = c < 2 ? _mm512_slli_epi16(h, 4 - 2 * c) : _mm512_srli_epi16(h, 2 * c - 4);
        lo = _mm512_ternarylogic_epi32(lo, b, bit4, 0xF8);
        hi = _mm512_ternarylogic_epi32(hi, _mm512_srli_epi16(b, 1), bit4, 0xF8);
      }
      for (int i = 0; i < NI; ++i) {
        part[i][2 * c] = _mm512_dpbusd_epi32(part[i][2 * c], lo, Act4(xr[i][j].qs + 64 * c + 4 * m));
        part[i][2 * c + 1] = _mm512_dpbusd_epi32(part[i][2 * c + 1], hi, Act4(xr[i][j].qs + 64 * c + 32 + 4 * m));
      }
    }
  }
  for (int s = 0; s < 8; ++s) {
    const __m512i scale = _mm512_shuffle_epi8(sc[s / 4], ByteOfLanes(s % 4));
    for (int i = 0; i < NI; ++i) {
      const __m512i p = kBits == 4 && s % 2 == 1 ? _mm512_srai_epi32(part[i][s], 4) : part[i][s];
      sum[i] = _mm512_add_epi32(sum[i], _mm512_mullo_epi32(p, scale));
    }
  }
}

// Activation rows [i0, i0 + NI) against one Q4_K (kBits 4) or Q5_K (5) group.
template <int kBits, int NI>
void KGroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr KGroupColumn kCol = KGroupColumnOf(kBits);
  const int64_t blocks = x.k / kSuperBlock;
  const BlockQ8_K* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_K>(i0 + i);
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    const uint8_t* col = g + j * kCol.bytes;
    PrefetchAhead(col, kCol.bytes);  // the group's bytes in column order, all at once
    __m512i sc[2], mn[2];
    KScalesMins<kBits>(col, sc, mn);
    __m512i sum[NI];
    for (int i = 0; i < NI; ++i) sum[i] = _mm512_setzero_si512();
    if constexpr (NI <= 2) {
      KSubBlocksAtOnce<kBits, NI>(col, xr, j, sc, sum);
    } else {
      [&]<int... S>(std::integer_sequence<int, S...>) { (KSubBlock<kBits, NI, S>(col, xr, j, sc[S / 4], sum), ...); }
      (std::make_integer_sequence<int, 8>());
    }
    const __m512i mins[4] = {
        _mm512_shuffle_epi8(mn[0], BytePairOfLanes(0)), _mm512_shuffle_epi8(mn[0], BytePairOfLanes(2)),
        _mm512_shuffle_epi8(mn[1], BytePairOfLanes(0)), _mm512_shuffle_epi8(mn[1], BytePairOfLanes(2))};
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + kCol.d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + kCol.dmin)));
    for (int i = 0; i < NI; ++i) {
      int32_t pairs[4];
      SubBlockSumPairs(xr[i][j], pairs);
      __m512i msum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) msum = _mm512_dpwssd_epi32(msum, mins[p], _mm512_set1_epi32(pairs[p]));
      const __m512 dx = _mm512_set1_ps(xr[i][j].d);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[i]), _mm512_mul_ps(d, dx), acc[i]);
      acc[i] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, dx), acc[i]);
    }
  }
  for (int i = 0; i < NI; ++i) _mm512_storeu_ps(y + (i0 + i) * ldy, acc[i]);
}

template <int kBits>
void KGroup(const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  const auto* g = static_cast<const uint8_t*>(group);
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) { KGroupTile<kBits, NI>(g, x, i, y, ldy); });
}

// Decodes interleaved group s (16 rows) into a sub-panel, as Pack<Q4_K/Q5_K> does the same rows
// stored: the level vectors are the layout's own, Σ q by vpdpbusd against ones, and the scales
// and offsets the same fp32 products as GroupScalesK4's.
template <int kBits>
void PackGroupK(const uint8_t* w, int64_t row_bytes, int s, int /*rows: 16*/, int64_t k, const SubPanel& panel) {
  constexpr KGroupColumn kCol = KGroupColumnOf(kBits);
  const uint8_t* g = w + s * kLanes * row_bytes;
  auto* levels = reinterpret_cast<__m512i*>(panel.levels);
  for (int64_t j = 0; j < k / kSuperBlock; ++j) {
    const uint8_t* col = g + j * kCol.bytes;
    __m512i sc[2], mn[2];
    KScalesMins<kBits>(col, sc, mn);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + kCol.d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + kCol.dmin)));
    [&]<int... S>(std::integer_sequence<int, S...>) {
      (
          [&] {
            __m512i sum = _mm512_setzero_si512();
            for (int m = 0; m < 8; ++m) {
              const __m512i q = KLevels<kBits, S>(col, m);
              _mm512_store_si512(levels + 64 * j + 8 * S + m, q);
              sum = _mm512_dpbusd_epi32(sum, q, _mm512_set1_epi8(1));
            }
            const int64_t gi = 8 * j + S;
            _mm512_store_si512(panel.bias + gi * kLanes, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
            const __m512 scale = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(sc[S / 4], ByteOfLanes(S % 4)));
            const __m512 min = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(mn[S / 4], ByteOfLanes(S % 4)));
            _mm512_store_ps(panel.scale + gi * kLanes, _mm512_mul_ps(d, scale));
            _mm512_store_ps(panel.offset + gi * kLanes, _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, min)));
          }(),
          ...);
    }
    (std::make_integer_sequence<int, 8>());
  }
}

// Interleaved Q6_K groups (layout in simd/interleaved.h): per chunk C of 32 levels (C = 4h + k),
// 8 level vectors (ql nibbles with two qh bits moved to bits 4-5: u = q + 32), one vpdpbusd each
// per activation row, the chunk's two sub-blocks in separate sums times their int8 scales
// (vpmulld); the −32·Σ sc·Σx term by vpdpwssd on int16 pairs of scales and the activation's bsums.

// Level vector m of chunk C: levels 32C + 4m..4m+3 of the 16 rows (u in 0..63).
template <int C>
inline __m512i Q6Levels(const uint8_t* lv, int m) {
  constexpr int h = C / 4, k = C % 4;
  __m512i q = _mm512_loadu_si512(lv + Q6QlVectorAt(16 * h + 8 * (k % 2) + m));
  if constexpr (k >= 2) q = _mm512_srli_epi16(q, 4);
  q = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
  __m512i b = _mm512_loadu_si512(lv + Q6QhVectorAt(8 * h + m));  // bits 2k..2k+1: the top two
  if constexpr (k < 2) b = _mm512_slli_epi16(b, 4 - 2 * k);
  if constexpr (k == 3) b = _mm512_srli_epi16(b, 2);
  return _mm512_ternarylogic_epi32(q, b, _mm512_set1_epi8(0x30), 0xF8);  // q | (b & 0x30)
}

// Sign-extends byte b of every 4-byte lane to int32: a vpshufb control moving it to byte 3.
inline __m512i SignedByteOfLanes(const __m512i& v, int b) {
  const int z = 0x00808080;
  const __m512i ctrl = _mm512_set4_epi32(z | (12 + b) << 24, z | (8 + b) << 24, z | (4 + b) << 24, z | b << 24);
  return _mm512_srai_epi32(_mm512_shuffle_epi8(v, ctrl), 24);
}
// Sign-extends bytes b and b + 1 of every 4-byte lane to two int16.
inline __m512i SignedBytePairOfLanes(const __m512i& v, int b) {
  const auto lane = [b](int d) { return static_cast<int>(0x00800080u | (4 * d + b + 1) << 24 | (4 * d + b) << 8); };
  return _mm512_srai_epi16(_mm512_shuffle_epi8(v, _mm512_set4_epi32(lane(3), lane(2), lane(1), lane(0))), 8);
}

// Chunk C (sub-blocks 2C and 2C + 1) of a Q6_K column: sum[i] += Σ_s sc_s·Σ u·x, each level
// vector built once per chunk (the order for many activation rows: two sums per row).
template <int NI, int C>
inline void Q6Chunk(const uint8_t* lv, const BlockQ8_K* const* xr, int64_t j, const __m512i* sc, __m512i* sum) {
  __m512i part[NI][2];  // sub-blocks 2C (m < 4) and 2C + 1
  for (int i = 0; i < NI; ++i) part[i][0] = part[i][1] = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int m = 0; m < 8; ++m) {
    const __m512i q = Q6Levels<C>(lv, m);
    for (int i = 0; i < NI; ++i)
      part[i][m / 4] = _mm512_dpbusd_epi32(part[i][m / 4], q, Act4(xr[i][j].qs + 32 * C + 4 * m));
  }
  const __m512i s0 = SignedByteOfLanes(sc[C / 2], 2 * (C % 2)), s1 = SignedByteOfLanes(sc[C / 2], 2 * (C % 2) + 1);
  for (int i = 0; i < NI; ++i)
    sum[i] = _mm512_add_epi32(sum[i],
                              _mm512_add_epi32(_mm512_mullo_epi32(part[i][0], s0), _mm512_mullo_epi32(part[i][1], s1)));
}

// The same sums for one or two activation rows, a half's four chunks at once: each ql and qh
// vector is loaded once and gives four level vectors (8 sums per row; the integer total is the
// same in any order).
template <int NI>
inline void Q6HalvesAtOnce(const uint8_t* lv, const BlockQ8_K* const* xr, int64_t j, const __m512i* sc, __m512i* sum) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    __m512i part[NI][4][2];  // chunk 4h + k, sub-block half
    for (int i = 0; i < NI; ++i)
      for (int k = 0; k < 4; ++k) part[i][k][0] = part[i][k][1] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int m = 0; m < 8; ++m) {
      const __m512i ql0 = _mm512_loadu_si512(lv + Q6QlVectorAt(16 * h + m));
      const __m512i ql1 = _mm512_loadu_si512(lv + Q6QlVectorAt(16 * h + 8 + m));
      const __m512i qh = _mm512_loadu_si512(lv + Q6QhVectorAt(8 * h + m));
      const __m512i u[4] = {
          _mm512_ternarylogic_epi32(_mm512_and_si512(ql0, low4), _mm512_slli_epi16(qh, 4), top2, 0xF8),
          _mm512_ternarylogic_epi32(_mm512_and_si512(ql1, low4), _mm512_slli_epi16(qh, 2), top2, 0xF8),
          _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql0, 4), low4), qh, top2, 0xF8),
          _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql1, 4), low4), _mm512_srli_epi16(qh, 2), top2,
                                    0xF8)};
      for (int i = 0; i < NI; ++i)
        for (int k = 0; k < 4; ++k)
          part[i][k][m / 4] =
              _mm512_dpbusd_epi32(part[i][k][m / 4], u[k], Act4(xr[i][j].qs + 32 * (4 * h + k) + 4 * m));
    }
    for (int k = 0; k < 4; ++k) {
      const int c = 4 * h + k;
      const __m512i s0 = SignedByteOfLanes(sc[c / 2], 2 * (c % 2)), s1 = SignedByteOfLanes(sc[c / 2], 2 * (c % 2) + 1);
      for (int i = 0; i < NI; ++i)
        sum[i] = _mm512_add_epi32(
            sum[i], _mm512_add_epi32(_mm512_mullo_epi32(part[i][k][0], s0), _mm512_mullo_epi32(part[i][k][1], s1)));
    }
  }
}

// Activation rows [i0, i0 + NI) against one Q6_K group.
template <int NI>
void Q6GroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr int64_t kColumnBytes = kGroupRows * sizeof(BlockQ6_K);
  const int64_t blocks = x.k / kSuperBlock;
  const BlockQ8_K* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_K>(i0 + i);
  __m512 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn col = Q6GroupColumnAt(j, blocks);
    const uint8_t* lv = g + col.levels;
    PrefetchAhead(g + j * kColumnBytes, kColumnBytes);  // the group's bytes in column order, all at once
    __m512i sc[4];                                      // sub-block scales 4v..4v+3 in bytes 0..3 of each row's lane
    for (int v = 0; v < 4; ++v) sc[v] = _mm512_loadu_si512(g + col.scales + 64 * v);
    __m512i sum[NI];
    for (int i = 0; i < NI; ++i) sum[i] = _mm512_setzero_si512();
    if constexpr (NI <= 2) {
      Q6HalvesAtOnce<NI>(lv, xr, j, sc, sum);
    } else {
      [&]<int... C>(std::integer_sequence<int, C...>) { (Q6Chunk<NI, C>(lv, xr, j, sc, sum), ...); }
      (std::make_integer_sequence<int, 8>());
    }
    __m512i pairs[8];  // scales (2p, 2p + 1) as int16
    for (int p = 0; p < 8; ++p) pairs[p] = SignedBytePairOfLanes(sc[p / 2], 2 * (p % 2));
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + col.scales + 256)));
    for (int i = 0; i < NI; ++i) {
      __m512i offset = _mm512_setzero_si512();  // Σ sc·Σx
      const auto* bsums = reinterpret_cast<const int32_t*>(xr[i][j].bsums);
      for (int p = 0; p < 8; ++p) offset = _mm512_dpwssd_epi32(offset, pairs[p], _mm512_set1_epi32(bsums[p]));
      const __m512i exact = _mm512_sub_epi32(sum[i], _mm512_slli_epi32(offset, 5));
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(d, _mm512_set1_ps(xr[i][j].d)), acc[i]);
    }
  }
  for (int i = 0; i < NI; ++i) _mm512_storeu_ps(y + (i0 + i) * ldy, acc[i]);
}

void Q6Group(const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  const auto* g = static_cast<const uint8_t*>(group);
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) { Q6GroupTile<NI>(g, x, i, y, ldy); });
}

// Decodes interleaved Q6_K group s into a sub-panel as Pack<Q6_K> does the same rows stored:
// levels u − 32, per sub-block of 16 the bias −128·Σ(u − 32) and the scale d·sc.
void PackGroupQ6K(const uint8_t* w, int64_t row_bytes, int s, int /*rows: 16*/, int64_t k, const SubPanel& panel) {
  const uint8_t* g = w + s * kLanes * row_bytes;
  auto* levels = reinterpret_cast<__m512i*>(panel.levels);
  const int64_t blocks = k / kSuperBlock;
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn col = Q6GroupColumnAt(j, blocks);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + col.scales + 256)));
    [&]<int... C>(std::integer_sequence<int, C...>) {
      (
          [&] {
            __m512i sums[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
            for (int m = 0; m < 8; ++m) {
              const __m512i q = _mm512_sub_epi8(Q6Levels<C>(g + col.levels, m), _mm512_set1_epi8(32));
              _mm512_store_si512(levels + 64 * j + 8 * C + m, q);
              sums[m / 4] = _mm512_dpbusd_epi32(sums[m / 4], _mm512_set1_epi8(1), q);
            }
            const __m512i sc = _mm512_loadu_si512(g + col.scales + 64 * (C / 2));
            for (int h = 0; h < 2; ++h) {
              const int64_t gi = 16 * j + 2 * C + h;
              _mm512_store_si512(panel.bias + gi * kLanes, _mm512_mullo_epi32(sums[h], _mm512_set1_epi32(-128)));
              const __m512 scale = _mm512_cvtepi32_ps(SignedByteOfLanes(sc, 2 * (C % 2) + h));
              _mm512_store_ps(panel.scale + gi * kLanes, _mm512_mul_ps(d, scale));
              _mm512_store_ps(panel.offset + gi * kLanes, _mm512_setzero_ps());
            }
          }(),
          ...);
    }
    (std::make_integer_sequence<int, 8>());
  }
}

constexpr DTypeRow Row(DType d, Int8GemmFn f) { return {d, {.int8_gemm = f}}; }

constexpr DTypeRow kRows[] = {
    {DType::kQ8_0, DotsRow<Q8_0Dots>(DType::kQ8_0, Gemm<Q8_0>, Int8Group<true>)},
    {DType::kQ4_0, DotsRow<Q4_0Dots>(DType::kQ8_0, Gemm<Q4_0>, Int8Group<false>)},
    Row(DType::kQ4_1, Gemm<Q4_1>),
    Row(DType::kQ5_0, Gemm<Q5_0>),
    Row(DType::kQ5_1, Gemm<Q5_1>),
    Row(DType::kIQ4_NL, Gemm<IQ4_NL>),
    Row(DType::kQ2_K, Gemm<Q2_K>),
    Row(DType::kQ3_K, Gemm<Q3_K>),
    {DType::kQ4_K, DotsRow<Q4KDots>(DType::kQ8_K, Gemm<Q4_K>, KGroup<4>, Gemm<Q4_K, PackGroupK<4>>)},
    {DType::kQ5_K, DotsRow<Q5KDots>(DType::kQ8_K, Gemm<Q5_K>, KGroup<5>, Gemm<Q5_K, PackGroupK<5>>)},
    {DType::kQ6_K, DotsRow<Q6KDots>(DType::kQ8_K, Gemm<Q6_K>, Q6Group, Gemm<Q6_K, PackGroupQ6K>)},
    Row(DType::kIQ4_XS, Gemm<IQ4_XS>),
};

}  // namespace

std::span<const DTypeRow> Avx512VnniDTypeRows() { return kRows; }

}  // namespace lazyllm::simd
