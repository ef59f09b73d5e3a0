// AVX-VNNI (the VEX-encoded vpdpbusd of CPUs with AVX2 but not AVX-512, such as Intel's hybrid
// and E-core parts) group kernels of the interleaved layouts (simd/interleaved.h): Q8_0, Q4_0,
// Q4_K, Q5_K and Q6_K.
// Each 64-byte level vector of a group is two 256-bit halves, rows 0-7 and rows 8-15; per half
// and activation row one vpdpbusd per 4 levels, then per block, as Int8GroupRef:
// fma(Σ u·x − c·Σx, dw·dx, acc) with lane r being row r, so the bits equal the scalar twin's.
#include <immintrin.h>

#include <cstring>

#include "simd/avx2/quant_decoders.h"
#include "simd/avx2/vec.h"
#include "simd/blocks.h"
#include "simd/interleaved.h"
#include "simd/kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

constexpr int kTileInputs = 4;  // activation rows per register tile: 2 halves × 4 × 2 chains

// Four activation levels as one int32, broadcast to every lane.
inline __m256i Act4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, 4);
  return _mm256_set1_epi32(v);
}

// Activation rows [i0, i0 + NI) against one group, Q8_0 (kQ8) or Q4_0; h is the half (rows 8h..8h+7).
template <bool kQ8, int NI>
void GroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr int64_t kLevelBytes = kQ8 ? kQ8_0GroupLevelBytes : kQ4_0GroupLevelBytes;
  const int64_t blocks = x.k / 32;
  const BlockQ8_0* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_0>(i0 + i);
  const float* dx = &x.scales[i0 * blocks];
  const float* sx = &x.sums32[i0 * blocks];
  const __m256 minus_c = _mm256_set1_ps(kQ8 ? -128.0f : -8.0f);
  __m256 acc[NI][2];
  for (int i = 0; i < NI; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn col = GroupColumnAt(kLevelBytes, j, blocks);
    const uint8_t* lv = g + col.levels;
    const auto* sc = reinterpret_cast<const uint16_t*>(g + col.scales);
    __m256i sum[NI][2];
    for (int i = 0; i < NI; ++i) sum[i][0] = sum[i][1] = _mm256_setzero_si256();
    if constexpr (kQ8) {
      for (int v = 0; v < 8; ++v)
        for (int h = 0; h < 2; ++h) {
          const __m256i w = Load32(lv + 64 * v + 32 * h);
          for (int i = 0; i < NI; ++i) sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], w, Act4(xr[i][j].qs + 4 * v));
        }
    } else {
      const __m256i mask = _mm256_set1_epi8(0x0F);
      if constexpr (NI <= 2) {  // the high nibbles in place, as the AVX-512 kernel (registers allow)
        const __m256i high = _mm256_set1_epi8(static_cast<char>(0xF0));
        __m256i sum16[NI][2];
        for (int i = 0; i < NI; ++i) sum16[i][0] = sum16[i][1] = _mm256_setzero_si256();
        for (int v = 0; v < 4; ++v)
          for (int h = 0; h < 2; ++h) {
            const __m256i b = Load32(lv + 64 * v + 32 * h);
            const __m256i lo = _mm256_and_si256(b, mask), hi16 = _mm256_and_si256(b, high);
            for (int i = 0; i < NI; ++i) {
              sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], lo, Act4(xr[i][j].qs + 4 * v));
              sum16[i][h] = _mm256_dpbusd_avx_epi32(sum16[i][h], hi16, Act4(xr[i][j].qs + 16 + 4 * v));
            }
          }
        for (int i = 0; i < NI; ++i)
          for (int h = 0; h < 2; ++h) sum[i][h] = _mm256_add_epi32(sum[i][h], _mm256_srai_epi32(sum16[i][h], 4));
      } else {
        for (int v = 0; v < 4; ++v)
          for (int h = 0; h < 2; ++h) {
            const __m256i b = Load32(lv + 64 * v + 32 * h);
            const __m256i lo = _mm256_and_si256(b, mask), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), mask);
            for (int i = 0; i < NI; ++i) {
              sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], lo, Act4(xr[i][j].qs + 4 * v));
              sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], hi, Act4(xr[i][j].qs + 16 + 4 * v));
            }
          }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + 8 * h)));
      for (int i = 0; i < NI; ++i) {
        const __m256 exact =
            _mm256_fmadd_ps(minus_c, _mm256_set1_ps(sx[i * blocks + j]), _mm256_cvtepi32_ps(sum[i][h]));
        acc[i][h] = _mm256_fmadd_ps(exact, _mm256_mul_ps(dw, _mm256_set1_ps(dx[i * blocks + j])), acc[i][h]);
      }
    }
  }
  for (int i = 0; i < NI; ++i)
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(y + (i0 + i) * ldy + 8 * h, acc[i][h]);
}

template <bool kQ8>
void Int8Group(const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  const auto* g = static_cast<const uint8_t*>(group);
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) { GroupTile<kQ8, NI>(g, x, i, y, ldy); });
}

// The K-quant layouts (Q4_K, Q5_K, Q6_K; simd/interleaved.h) by halves of 8 rows, in the order
// of the AVX-512 kernels' chunk path: per sub-block (or Q6_K chunk of two sub-blocks) 8 level
// vectors, one vpdpbusd each per activation row, the int32 sums times the int8 scales (vpmulld),
// the mins or Q6_K's −32 term by vpdpwssd; the integer sums exact, the fp32 steps as the twin's.

// Byte b of every 4-byte lane, zero-extended (or, signed, moved to the top for an arithmetic
// shift), and bytes b, b + 1 as two int16: vpshufb controls.
inline __m256i ByteOfLanes(int b, bool top) {
  const auto lane = [&](int d) {
    return top ? static_cast<int>(0x00808080u | static_cast<unsigned>(4 * d + b) << 24)
               : static_cast<int>(0x80808000u | static_cast<unsigned>(4 * d + b));
  };
  return _mm256_setr_epi32(lane(0), lane(1), lane(2), lane(3), lane(0), lane(1), lane(2), lane(3));
}
inline __m256i BytePairOfLanes(int b, bool top) {
  const auto lane = [&](int d) {
    const auto lo = static_cast<unsigned>(4 * d + b), hi = lo + 1;
    return top ? static_cast<int>(0x00800080u | hi << 24 | lo << 8) : static_cast<int>(0x80008000u | hi << 16 | lo);
  };
  return _mm256_setr_epi32(lane(0), lane(1), lane(2), lane(3), lane(0), lane(1), lane(2), lane(3));
}

// Activation rows [i0, i0 + NI) against one Q4_K (kBits 4) or Q5_K (5) group, its two halves of
// 8 rows (h) in turn within each column, so the group is read once.
template <int kBits, int NI>
void KGroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr KGroupColumn kCol = KGroupColumnOf(kBits);
  const int64_t blocks = x.k / kSuperBlock;
  const BlockQ8_K* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_K>(i0 + i);
  const __m256i low4 = _mm256_set1_epi8(0x0F), low6 = _mm256_set1_epi8(0x3F), top2 = _mm256_set1_epi8(0x30);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  const __m256i byte_of[4] = {ByteOfLanes(0, false), ByteOfLanes(1, false), ByteOfLanes(2, false),
                              ByteOfLanes(3, false)};
  const __m256i pair_of[2] = {BytePairOfLanes(0, false), BytePairOfLanes(2, false)};
  __m256 acc[2][NI];
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < NI; ++i) acc[h][i] = _mm256_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    PrefetchAhead(g + j * kCol.bytes, kCol.bytes);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* col = g + j * kCol.bytes + 32 * h;
      const __m256i p0 = Load32(col + kCol.scales), p1 = Load32(col + kCol.scales + 64),
                    p2 = Load32(col + kCol.scales + 128);
      const __m256i sc[2] = {
          _mm256_and_si256(p0, low6),
          _mm256_or_si256(_mm256_and_si256(p2, low4), _mm256_and_si256(_mm256_srli_epi32(p0, 2), top2))};
      const __m256i mn[2] = {_mm256_and_si256(p1, low6),
                             _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(p2, 4), low4),
                                             _mm256_and_si256(_mm256_srli_epi32(p1, 2), top2))};
      __m256i sum[NI];
      for (int i = 0; i < NI; ++i) sum[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int s = 0; s < 8; ++s) {
        __m256i part[NI];
        for (int i = 0; i < NI; ++i) part[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) {
          __m256i q = Load32(col + KQsVectorAt(kBits, 8 * (s / 2) + m));
          q = _mm256_and_si256(s % 2 == 1 ? _mm256_srli_epi16(q, 4) : q, low4);
          if constexpr (kBits == 5) {  // bit s of the qh byte: the fifth bit
            const __m256i hb = Load32(col + KQhVectorAt(m));
            const __m256i b = s <= 4 ? _mm256_sll_epi16(hb, _mm_cvtsi32_si128(4 - s))
                                     : _mm256_srl_epi16(hb, _mm_cvtsi32_si128(s - 4));
            q = _mm256_or_si256(q, _mm256_and_si256(b, bit4));
          }
          for (int i = 0; i < NI; ++i)
            part[i] = _mm256_dpbusd_avx_epi32(part[i], q, Act4(xr[i][j].qs + 32 * s + 4 * m));
        }
        const __m256i scale = _mm256_shuffle_epi8(sc[s / 4], byte_of[s % 4]);
        for (int i = 0; i < NI; ++i) sum[i] = _mm256_add_epi32(sum[i], _mm256_mullo_epi32(part[i], scale));
      }
      __m256i mins[4];
      for (int p = 0; p < 4; ++p) mins[p] = _mm256_shuffle_epi8(mn[p / 2], pair_of[p % 2]);
      const __m256 d =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + j * kCol.bytes + kCol.d + 16 * h)));
      const __m256 dmin =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + j * kCol.bytes + kCol.dmin + 16 * h)));
      for (int i = 0; i < NI; ++i) {
        int32_t pairs[4];
        SubBlockSumPairs(xr[i][j], pairs);
        __m256i msum = _mm256_setzero_si256();
        for (int p = 0; p < 4; ++p) msum = _mm256_dpwssd_avx_epi32(msum, mins[p], _mm256_set1_epi32(pairs[p]));
        const __m256 dx = _mm256_set1_ps(xr[i][j].d);
        acc[h][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[i]), _mm256_mul_ps(d, dx), acc[h][i]);
        acc[h][i] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, dx), acc[h][i]);
      }
    }
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < NI; ++i) _mm256_storeu_ps(y + (i0 + i) * ldy + 8 * h, acc[h][i]);
}

// Activation rows [i0, i0 + NI) against one Q6_K group, its halves in turn within each column.
template <int NI>
void Q6GroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr int64_t kColumnBytes = kGroupRows * sizeof(BlockQ6_K);
  const int64_t blocks = x.k / kSuperBlock;
  const BlockQ8_K* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = x.Row<BlockQ8_K>(i0 + i);
  const __m256i low4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
  const __m256i byte_of[4] = {ByteOfLanes(0, true), ByteOfLanes(1, true), ByteOfLanes(2, true), ByteOfLanes(3, true)};
  const __m256i pair_of[2] = {BytePairOfLanes(0, true), BytePairOfLanes(2, true)};
  __m256 acc[2][NI];
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < NI; ++i) acc[h][i] = _mm256_setzero_ps();
  for (int64_t j = 0; j < blocks; ++j) {
    PrefetchAhead(g + j * kColumnBytes, kColumnBytes);
    for (int h = 0; h < 2; ++h) {
      const GroupColumn col = Q6GroupColumnAt(j, blocks);
      const uint8_t* lv = g + col.levels + 32 * h;
      __m256i sc[4];  // scales 4v..4v+3 in bytes 0..3 of each row's lane
      for (int v = 0; v < 4; ++v) sc[v] = Load32(g + col.scales + 64 * v + 32 * h);
      __m256i sum[NI];
      for (int i = 0; i < NI; ++i) sum[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {  // chunk c = 4·half + k: sub-blocks 2c and 2c + 1
        const int half = c / 4, k = c % 4;
        __m256i part[NI][2];
        for (int i = 0; i < NI; ++i) part[i][0] = part[i][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) {
          __m256i q = Load32(lv + Q6QlVectorAt(16 * half + 8 * (k % 2) + m));
          q = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(q, 4) : q, low4);
          const __m256i hb = Load32(lv + Q6QhVectorAt(8 * half + m));  // bits 2k..2k+1: the top two
          const __m256i b = k < 2 ? _mm256_sll_epi16(hb, _mm_cvtsi32_si128(4 - 2 * k))
                                  : _mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * k - 4));
          q = _mm256_or_si256(q, _mm256_and_si256(b, top2));
          for (int i = 0; i < NI; ++i)
            part[i][m / 4] = _mm256_dpbusd_avx_epi32(part[i][m / 4], q, Act4(xr[i][j].qs + 32 * c + 4 * m));
        }
        for (int e = 0; e < 2; ++e) {
          const __m256i scale = _mm256_srai_epi32(_mm256_shuffle_epi8(sc[c / 2], byte_of[2 * (c % 2) + e]), 24);
          for (int i = 0; i < NI; ++i) sum[i] = _mm256_add_epi32(sum[i], _mm256_mullo_epi32(part[i][e], scale));
        }
      }
      __m256i pairs[8];  // scales (2p, 2p + 1) as int16
      for (int p = 0; p < 8; ++p) pairs[p] = _mm256_srai_epi16(_mm256_shuffle_epi8(sc[p / 2], pair_of[p % 2]), 8);
      const __m256 d =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + col.scales + 256 + 16 * h)));
      for (int i = 0; i < NI; ++i) {
        __m256i offset = _mm256_setzero_si256();  // Σ sc·Σx
        const auto* bsums = reinterpret_cast<const int32_t*>(xr[i][j].bsums);
        for (int p = 0; p < 8; ++p) offset = _mm256_dpwssd_avx_epi32(offset, pairs[p], _mm256_set1_epi32(bsums[p]));
        const __m256i exact = _mm256_sub_epi32(sum[i], _mm256_slli_epi32(offset, 5));
        acc[h][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(d, _mm256_set1_ps(xr[i][j].d)), acc[h][i]);
      }
    }
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < NI; ++i) _mm256_storeu_ps(y + (i0 + i) * ldy + 8 * h, acc[h][i]);
}

template <int kBits>
void KGroup(const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  const auto* g = static_cast<const uint8_t*>(group);
  ForEachTile<kTileInputs>(x.n, [&]<int NI>(int64_t i) {
    if constexpr (kBits == 6)
      Q6GroupTile<NI>(g, x, i, y, ldy);
    else
      KGroupTile<kBits, NI>(g, x, i, y, ldy);
  });
}

constexpr DTypeRow kRows[] = {
    {DType::kQ8_0, {.int8_group = Int8Group<true>}}, {DType::kQ4_0, {.int8_group = Int8Group<false>}},
    {DType::kQ4_K, {.int8_group = KGroup<4>}},       {DType::kQ5_K, {.int8_group = KGroup<5>}},
    {DType::kQ6_K, {.int8_group = KGroup<6>}},
};

}  // namespace

std::span<const DTypeRow> AvxVnniDTypeRows() { return kRows; }

}  // namespace lazyllm::simd
