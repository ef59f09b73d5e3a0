// AVX-VNNI (the VEX-encoded vpdpbusd of CPUs with AVX2 but not AVX-512, such as Intel's hybrid
// and E-core parts) group kernel of the interleaved Q8_0 and Q4_0 layout (simd/interleaved.h).
// Each 64-byte level vector of a group is two 256-bit halves, rows 0-7 and rows 8-15; per half
// and activation row one vpdpbusd per 4 levels, then per block, as Int8GroupRef:
// fma(Σ u·x − c·Σx, dw·dx, acc) with lane r being row r, so the bits equal the scalar twin's.
#include <immintrin.h>

#include <cstring>

#include "simd/blocks.h"
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

inline __m256i Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Activation rows [i0, i0 + NI) against one group, Q8_0 (kQ8) or Q4_0; h is the half (rows 8h..8h+7).
template <bool kQ8, int NI>
void GroupTile(const uint8_t* g, const Int8Acts& x, int64_t i0, float* y, int64_t ldy) {
  constexpr int64_t kLevelBytes = kQ8 ? kQ8_0GroupLevelBytes : kQ4_0GroupLevelBytes;
  const int64_t blocks = x.k / 32, xb = x.row_bytes();
  const BlockQ8_0* xr[NI];
  for (int i = 0; i < NI; ++i) xr[i] = reinterpret_cast<const BlockQ8_0*>(&x.blocks[(i0 + i) * xb]);
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
          const __m256i w = Load(lv + 64 * v + 32 * h);
          for (int i = 0; i < NI; ++i) sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], w, Act4(xr[i][j].qs + 4 * v));
        }
    } else {
      const __m256i mask = _mm256_set1_epi8(0x0F);
      for (int v = 0; v < 4; ++v)
        for (int h = 0; h < 2; ++h) {
          const __m256i b = Load(lv + 64 * v + 32 * h);
          const __m256i lo = _mm256_and_si256(b, mask), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), mask);
          for (int i = 0; i < NI; ++i) {
            sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], lo, Act4(xr[i][j].qs + 4 * v));
            sum[i][h] = _mm256_dpbusd_avx_epi32(sum[i][h], hi, Act4(xr[i][j].qs + 16 + 4 * v));
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

constexpr DTypeRow kRows[] = {
    {DType::kQ8_0, {.int8_group = Int8Group<true>}},
    {DType::kQ4_0, {.int8_group = Int8Group<false>}},
};

}  // namespace

std::span<const DTypeRow> AvxVnniDTypeRows() { return kRows; }

}  // namespace lazyllm::simd
