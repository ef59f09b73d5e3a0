// AVX2+FMA+F16C kernels; compiled with those ISA flags and only called after CPU detection.
#include "simd/kernels.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "simd/avx2/vec.h"
#include "simd/quant_kernels.h"
#include "simd/tiles.h"

namespace lazyllm::simd {
namespace {

// exp(x) with a degree-6 polynomial on [-ln2/2, ln2/2]; about 2 ulp over the float range.
inline __m256 Exp(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // p * 2^n, split in two steps so that n = 128 (x near the top of the range) does not overflow.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  const __m256 s2 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

// One register tile: MR weight rows (ldw apart) × NR input rows (k apart), 8 lanes per accumulator.
template <int MR, int NR>
void GemmTile(const float* w, int64_t ldw, const float* x, int64_t k, float* y, int64_t ldy) {
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int i = 0; i < NR; ++i) acc[r][i] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= k; c += 8) {
    // The weight rows stream from memory: ask for the next tile row's while this one computes.
    if (c % 16 == 0)
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (r + MR) * ldw + c), _MM_HINT_T0);
    __m256 xv[NR];
#pragma GCC unroll 8
    for (int i = 0; i < NR; ++i) xv[i] = _mm256_loadu_ps(x + i * k + c);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + r * ldw + c);
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int i = 0; i < NR; ++i) {
      float s = HorizontalSum(acc[r][i]);
      for (int64_t t = c; t < k; ++t) s += w[r * ldw + t] * x[i * k + t];
      y[i * ldy + r] = s;
    }
}

// Tiles of 4 weight rows × 3 input rows (12 accumulators, 3 inputs and 1 weight in registers),
// with narrower tiles at the edges.
template <int MR>
void GemmRowBlock(const float* w, int64_t ldw, const float* x, int64_t n, int64_t k, float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 3 <= n; i += 3) GemmTile<MR, 3>(w, ldw, x + i * k, k, y + i * ldy, ldy);
  if (n - i == 2) GemmTile<MR, 2>(w, ldw, x + i * k, k, y + i * ldy, ldy);
  if (n - i == 1) GemmTile<MR, 1>(w, ldw, x + i * k, k, y + i * ldy, ldy);
}

void GemmSmallF32(const float* w, int64_t ldw, int64_t rows, const float* x, int64_t n, int64_t k, float* y,
                  int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) GemmRowBlock<4>(w + r * ldw, ldw, x, n, k, y + r, ldy);
  for (; r < rows; ++r) GemmRowBlock<1>(w + r * ldw, ldw, x, n, k, y + r, ldy);
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

// Per tile of keys, every head's dots with them (the tile's rows read again from L1).
void DotsF32(const float* q, int64_t q_stride, int64_t heads, const float* k, int64_t ld, const int64_t* rows,
             int64_t keys, int64_t n, float scale, float* s, int64_t s_stride) {
  auto row = [&](int64_t j) { return k + (rows ? rows[j] : j) * ld; };
  if (n % 32 != 0) {  // DotF32's other steps
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t g = 0; g < heads; ++g) s[g * s_stride + j] = DotF32(q + g * q_stride, row(j), n) * scale;
    return;
  }
  ForEachRowTile<3>(k, ld, rows, keys, [&]<int NK>(int64_t j, const float* const* kt) {
    for (int64_t g = 0; g < heads; ++g) DotsTile<NK>(q + g * q_stride, kt, n, scale, s + g * s_stride + j, 1);
  });
}

// For the G heads g: o_g[0, 8·NV) += Σ_j p_g[j] · (row j of v)[0, 8·NV), kept in G·NV registers over
// all keys; each value vector is loaded once for the G heads.
template <int G, int NV>
void WeightedSumTile(const float* p, int64_t ps, const float* v, int64_t ld, const int64_t* rows, int64_t keys,
                     float* o, int64_t os) {
  __m256 acc[G * NV];
#pragma GCC unroll 16
  for (int t = 0; t < G * NV; ++t) acc[t] = _mm256_loadu_ps(o + t / NV * os + 8 * (t % NV));
  for (int64_t j = 0; j < keys; ++j) {
    const float* vj = v + (rows ? rows[j] : j) * ld;
    __m256 vv[NV];
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) vv[c] = _mm256_loadu_ps(vj + 8 * c);
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const __m256 pj = _mm256_set1_ps(p[g * ps + j]);
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[g * NV + c] = _mm256_fmadd_ps(pj, vv[c], acc[g * NV + c]);
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) _mm256_storeu_ps(o + g * os + 8 * c, acc[g * NV + c]);
}

void WeightedSumF32(const float* p, int64_t p_stride, int64_t heads, const float* v, int64_t ld, const int64_t* rows,
                    int64_t keys, int64_t n, float* o, int64_t o_stride) {
  if (n % 8 != 0) {  // Axpy's scalar steps
    for (int64_t g = 0; g < heads; ++g) {
      float* og = o + g * o_stride;
      for (int64_t j = 0; j < keys; ++j) Axpy(p[g * p_stride + j], v + (rows ? rows[j] : j) * ld, og, n);
    }
    return;
  }
  // Tiles of 2 heads × 4 vectors: 8 accumulators, enough independent sums to hide the multiply-add's latency.
  ForEachTile<2>(heads, [&]<int G>(int64_t g) {
    ForEachTile<4>(n / 8, [&]<int NV>(int64_t c) {
      WeightedSumTile<G, NV>(p + g * p_stride, p_stride, v + 8 * c, ld, rows, keys, o + g * o_stride + 8 * c, o_stride);
    });
  });
}

void Scale(float* x, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) x[i] *= a;
}

void Add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

void RmsNorm(const float* x, const float* w, float* out, int64_t n, float eps) {
  const float ss = DotF32(x, x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void Softmax(float* x, int64_t n) {
  int64_t i = 0;
  float mx = x[0];
  if (n >= 8) {
    __m256 vmx = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(x + i));
    mx = HorizontalMax(vmx);
  }
  for (; i < n; ++i) mx = std::fmax(mx, x[i]);
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = HorizontalSum(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  Scale(x, 1.0f / sum, n);
}

// Adjacent pairs: out = (x0·c - x1·s, x1·c + x0·s). With x = [x0 x1 ...], the pair-swapped
// [x1 x0 ...] and cs duplicated into c = [c c ...] and s = [s s ...], fmaddsub gives
// x·c ∓ swapped·s on even/odd lanes.
void Rope(float* x, const float* cs, int64_t n_pairs) {
  int64_t i = 0;
  for (; i + 4 <= n_pairs; i += 4) {
    const __m256 v = _mm256_loadu_ps(x + 2 * i);
    const __m256 t = _mm256_loadu_ps(cs + 2 * i);
    const __m256 c = _mm256_moveldup_ps(t), s = _mm256_movehdup_ps(t);
    const __m256 swapped = _mm256_permute_ps(v, 0xB1);
    _mm256_storeu_ps(x + 2 * i, _mm256_fmaddsub_ps(v, c, _mm256_mul_ps(swapped, s)));
  }
  for (; i < n_pairs; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x0 * s + x1 * c;
  }
}

float OnlineSoftmax(float* s, int64_t n, float* m, float* l) {
  int64_t i = 0;
  float mx = *m;
  if (n >= 8) {
    __m256 vmx = _mm256_loadu_ps(s);
    for (i = 8; i + 8 <= n; i += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + i));
    mx = std::fmax(mx, HorizontalMax(vmx));
  }
  for (; i < n; ++i) mx = std::fmax(mx, s[i]);
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
    _mm256_storeu_ps(s + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = HorizontalSum(vsum);
  for (; i < n; ++i) {
    s[i] = std::exp(s[i] - mx);
    sum += s[i];
  }
  const float c = std::isinf(*m) ? 0.0f : std::exp(*m - mx);
  *l = *l * c + sum;
  *m = mx;
  return c;
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 sig = _mm256_div_ps(g, _mm256_add_ps(one, Exp(_mm256_sub_ps(zero, g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(sig, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// gelu(g) = g/2·(1 + tanh(y)) = g·sigmoid(2y) with y = sqrt(2/π)·(g + 0.044715·g³): the sigmoid
// form needs one exp and no cancellation near 0.
void GeGlu(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256 k2 = _mm256_set1_ps(2.0f * 0.7978845608028654f), k3 = _mm256_set1_ps(0.044715f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 two_y = _mm256_mul_ps(k2, _mm256_fmadd_ps(_mm256_mul_ps(k3, g), _mm256_mul_ps(g, g), g));
    const __m256 gelu = _mm256_div_ps(g, _mm256_add_ps(one, Exp(_mm256_sub_ps(zero, two_y))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(gelu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = 0.5f * g * (1.0f + std::tanh(0.7978845608028654f * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void RopeNeox(float* x, const float* cs, int64_t n_pairs) {
  int64_t i = 0;
  for (; i + 8 <= n_pairs; i += 8) {
    const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(cs + n_pairs + i);
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + n_pairs + i);
    _mm256_storeu_ps(x + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
    _mm256_storeu_ps(x + n_pairs + i, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
  }
  for (; i < n_pairs; ++i) {
    const float c = cs[i], s = cs[n_pairs + i];
    const float x0 = x[i], x1 = x[i + n_pairs];
    x[i] = x0 * c - x1 * s;
    x[i + n_pairs] = x0 * s + x1 * c;
  }
}

// 4 vectors of 8 int32 levels (each within int8) as 32 bytes in element order (the packs
// saturate and interleave 128-bit lanes; the permute undoes the interleave).
inline __m256i PackLevels(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void QuantizeQ8_0(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(out);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32) {
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                   _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float d = HorizontalMax(m) / 127.0f;
    const __m256 inv = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    b[blk].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    // cvtps rounds to nearest even (the default MXCSR mode); the packs saturate, but |x·inv| <= 127.
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, inv)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, inv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, inv)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, inv));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[blk].qs), PackLevels(i0, i1, i2, i3));
  }
}

// The scalar QuantizeQ8K's twin, bit for bit: the first element of largest magnitude sets the
// scale, levels round to nearest even (cvtps under the default MXCSR mode) and clamp at 127.
void QuantizeQ8KAvx2(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(out);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t blk = 0; blk < n / kSuperBlock; ++blk, x += kSuperBlock) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kSuperBlock; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    const float amax = HorizontalMax(m);
    if (amax == 0.0f) {
      std::memset(&b[blk], 0, sizeof(BlockQ8_K));
      continue;
    }
    int first = 0;
    for (const __m256 am = _mm256_set1_ps(amax);; first += 8) {
      const int hit =
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + first)), am, _CMP_EQ_OQ));
      if (hit != 0) {
        first += __builtin_ctz(static_cast<unsigned>(hit));
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m256 is = _mm256_set1_ps(iscale), top = _mm256_set1_ps(127.0f);
    auto level = [&](int j) {
      return _mm256_cvtps_epi32(_mm256_min_ps(top, _mm256_mul_ps(is, _mm256_loadu_ps(x + j))));
    };
    for (int j = 0; j < kSuperBlock; j += 32) {
      const __m256i i0 = level(j), i1 = level(j + 8), i2 = level(j + 16), i3 = level(j + 24);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[blk].qs + j), PackLevels(i0, i1, i2, i3));
      b[blk].bsums[j / 16] = static_cast<int16_t>(HorizontalSumI32(_mm256_add_epi32(i0, i1)));
      b[blk].bsums[j / 16 + 1] = static_cast<int16_t>(HorizontalSumI32(_mm256_add_epi32(i2, i3)));
    }
    b[blk].d = 1.0f / iscale;
  }
}

void F32ToF16Row(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = F32ToF16(x[i]);
}

}  // namespace

const Kernels& Avx2Kernels() {
  static const Kernels k = [] {
    Kernels t = RefKernels();
    t.isa = Isa::kAvx2;
    t.dot_f32 = DotF32;
    t.gemm_small_f32 = GemmSmallF32;
    t.gemm_small_max_rows = 64;  // measured: ahead of packed sgemm up to B = 32 and beyond
    t.axpy = Axpy;
    t.dots_f32 = DotsF32;
    t.weighted_sum_f32 = WeightedSumF32;
    t.scale = Scale;
    t.add = Add;
    t.rms_norm = RmsNorm;
    t.softmax = Softmax;
    t.online_softmax = OnlineSoftmax;
    t.rope = Rope;
    t.swiglu = SwiGlu;
    t.rope_neox = RopeNeox;
    t.geglu = GeGlu;
    t.f32_to_f16 = F32ToF16Row;
    t.quantize_q8_0 = QuantizeQ8_0;
    t.quantize_q8_k = QuantizeQ8KAvx2;
    InstallDTypeRows(t, Avx2DTypeRows());
    if (CpuSupportsAvxVnni()) InstallDTypeRows(t, AvxVnniDTypeRows());
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
