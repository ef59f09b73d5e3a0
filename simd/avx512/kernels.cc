// AVX-512 (F, BW, VL) kernels where the wider registers pay: the GEMV dot products of decode,
// which are bound by converting stored weights to fp32. Every other entry is the AVX2 kernel.
#include <immintrin.h>

#include "simd/kernels.h"
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

float DotQ8_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) { return BlockRowDot<BlockQ8_0, Q8Block>(w, x, n); }
float DotQ4_0(const void* w, const float* x, const float* /*xsum16*/, int64_t n) { return BlockRowDot<BlockQ4_0, Q4Block>(w, x, n); }

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

}  // namespace

const Kernels& Avx512Kernels() {
  static const Kernels k = [] {
    Kernels t = Avx2Kernels();
    t.isa = Isa::kAvx512;
    t.dtypes[static_cast<uint32_t>(DType::kQ8_0)].dot = DotQ8_0;
    t.dtypes[static_cast<uint32_t>(DType::kQ4_0)].dot = DotQ4_0;
    t.dtypes[static_cast<uint32_t>(DType::kF16)].dot = DotF16;
    InstallAvx512QuantKernels(t);
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
