// AVX-512 (F, BW, VL) kernels where the wider registers pay: the GEMV dot products of decode,
// which are bound by converting stored weights to fp32. Every other entry is the AVX2 kernel.
#include "simd/kernels.h"

#include <immintrin.h>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

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

// F16 rows: 16 halves per step, masked tail (no scalar loop).
float DotF16(const void* w, const float* x, const float* /*xsum16*/, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(w);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))),
                           _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i + 16))),
                           _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)), _mm512_maskz_loadu_ps(m, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

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
    t.dtypes[static_cast<uint32_t>(DType::kQ8_0)].dot = DotQ8_0;
    t.dtypes[static_cast<uint32_t>(DType::kQ4_0)].dot = DotQ4_0;
    t.dtypes[static_cast<uint32_t>(DType::kF16)].dot = DotF16;
    InstallAvx512QuantKernels(t);
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
