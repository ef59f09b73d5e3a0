// Scalar reference kernels: the portable fallback and the oracle the SIMD versions are tested against.
#include "simd/kernels.h"

#include <cmath>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

float DotF32(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void DotsF32(const float* q, int64_t q_stride, int64_t heads, const float* k, int64_t ld, const int64_t* rows,
             int64_t keys, int64_t n, float scale, float* s, int64_t s_stride) {
  for (int64_t g = 0; g < heads; ++g)
    for (int64_t j = 0; j < keys; ++j)
      s[g * s_stride + j] = DotF32(q + g * q_stride, k + (rows ? rows[j] : j) * ld, n) * scale;
}

void WeightedSumF32(const float* p, int64_t p_stride, int64_t heads, const float* v, int64_t ld, const int64_t* rows,
                    int64_t keys, int64_t n, float* o, int64_t o_stride) {
  for (int64_t g = 0; g < heads; ++g) {
    float* og = o + g * o_stride;
    for (int64_t j = 0; j < keys; ++j) Axpy(p[g * p_stride + j], v + (rows ? rows[j] : j) * ld, og, n);
  }
}

void Scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

void Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void RmsNorm(const float* x, const float* w, float* out, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void Softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float OnlineSoftmax(float* s, int64_t n, float* m, float* l) {
  float mx = *m;
  for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, s[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = std::exp(s[i] - mx);
    sum += s[i];
  }
  const float c = std::isinf(*m) ? 0.0f : std::exp(*m - mx);
  *l = *l * c + sum;
  *m = mx;
  return c;
}

void Rope(float* x, const float* cs, int64_t n_pairs) {
  for (int64_t i = 0; i < n_pairs; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x0 * s + x1 * c;
  }
}

void RopeNeox(float* x, const float* cs, int64_t n_pairs) {
  for (int64_t i = 0; i < n_pairs; ++i) {
    const float c = cs[i], s = cs[n_pairs + i];
    const float x0 = x[i], x1 = x[i + n_pairs];
    x[i] = x0 * c - x1 * s;
    x[i + n_pairs] = x0 * s + x1 * c;
  }
}

void GeGlu(const float* gate, const float* up, float* out, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void QuantizeQ8_0(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(out);
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[blk].d = F32ToF16(d);
    for (int j = 0; j < 32; ++j) b[blk].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * inv));
  }
}

void GemmSmallF32(const float* w, int64_t ldw, int64_t rows, const float* x, int64_t n, int64_t k, float* y,
                  int64_t ldy) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r) y[i * ldy + r] = DotF32(w + r * ldw, x + i * k, k);
}

void F32ToF16Row(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToF16(x[i]);
}

}  // namespace

const Kernels& RefKernels() {
  static const Kernels k = [] {
    Kernels t{};
    t.isa = Isa::kRef;
    t.dot_f32 = DotF32;
    t.gemm_small_f32 = GemmSmallF32;
    t.gemm_small_max_rows = 0;  // the scalar twin is for tests; sgemm is faster
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
    t.quantize_q8_k = QuantizeQ8K;
    InstallDTypeRows(t, RefDTypeRows());
    return t;
  }();
  return k;
}

}  // namespace lazyllm::simd
