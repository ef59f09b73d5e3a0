// The Llama forward pass: batched prefill (GEMMs over all prompt rows) and single-token decode.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cache/kv_cache.h"
#include "core/model_impl.h"
#include "lazyllm/session.h"
#include "simd/gemm.h"
#include "simd/kernels.h"
#include "threading/thread_pool.h"

namespace lazyllm {
namespace {

// Output rows of a weight matrix converted and multiplied per task in the prefill GEMM.
constexpr int64_t kPanelRows = 64;
// Query rows per attention task.
constexpr int64_t kAttnRowBlock = 16;

}  // namespace

struct Session::Impl {
  Model model;
  const Model::Impl& m;
  const ModelConfig& c;
  const simd::Kernels& k;
  threading::ThreadPool pool;
  int64_t max_ctx;
  int64_t q_dim, kv_dim;
  cache::KvCache kv;
  int64_t pos = 0;  // tokens in context

  // Activations, sized for max_ctx rows up front.
  std::vector<float> x, xn, q, kbuf, vbuf, attn, gate, up, logits;
  std::vector<float> rope_cs;        // [max_ctx][rope_dims]: cos, sin per pair
  std::vector<float> panel_scratch;  // [threads][kPanelRows * max_cols]
  std::vector<float> score_scratch;  // [threads][max_ctx]
  int64_t max_cols;

  Impl(const Model& model_in, int threads, int64_t max_context)
      : model(model_in),
        m(model.impl()),
        c(m.config),
        k(simd::KernelsFor(simd::SelectedIsa())),
        pool(threads),
        max_ctx(max_context),
        q_dim(c.num_heads * c.head_dim),
        kv_dim(c.num_kv_heads * c.head_dim),
        kv(c.num_layers, max_context, kv_dim) {
    const auto rows = static_cast<size_t>(max_ctx);
    x.resize(rows * c.dim);
    xn.resize(rows * c.dim);
    q.resize(rows * q_dim);
    kbuf.resize(rows * kv_dim);
    vbuf.resize(rows * kv_dim);
    attn.resize(rows * q_dim);
    gate.resize(rows * c.ffn_dim);
    up.resize(rows * c.ffn_dim);
    logits.resize(static_cast<size_t>(c.vocab_size));
    max_cols = std::max({c.dim, q_dim, c.ffn_dim});
    const auto nt = static_cast<size_t>(pool.num_threads());
    panel_scratch.resize(nt * kPanelRows * max_cols);
    score_scratch.resize(nt * rows);
    BuildRopeTable();
  }

  // cos/sin of pos·θ_i with θ_i = theta^(-2i/rope_dims) (divided by rope_freqs when present),
  // computed in double once per session.
  void BuildRopeTable() {
    const int64_t pairs = c.rope_dims / 2;
    rope_cs.resize(static_cast<size_t>(max_ctx * c.rope_dims));
    for (int64_t i = 0; i < pairs; ++i) {
      double freq = std::pow(static_cast<double>(c.rope_theta), -2.0 * static_cast<double>(i) / c.rope_dims);
      if (!m.rope_freq_factors.empty()) freq /= m.rope_freq_factors[i];
      for (int64_t p = 0; p < max_ctx; ++p) {
        const double angle = static_cast<double>(p) * freq;
        rope_cs[p * c.rope_dims + 2 * i] = static_cast<float>(std::cos(angle));
        rope_cs[p * c.rope_dims + 2 * i + 1] = static_cast<float>(std::sin(angle));
      }
    }
  }

  // y[n, w.rows] = x[n, w.cols] · wᵀ. One row: GEMV on the stored dtype. More rows: panels of
  // output rows converted to fp32 in per-thread scratch, then OpenBLAS sgemm.
  void MatMul(const float* xin, int64_t n, const WeightMatrix& w, float* y) {
    if (n == 1) {
      const simd::RowDotFn dot = k.RowDot(w.dtype);
      pool.ParallelFor(w.rows, 32, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) y[r] = dot(w.Row(r), xin, w.cols);
      });
      return;
    }
    const int64_t panels = (w.rows + kPanelRows - 1) / kPanelRows;
    const simd::ToF32Fn convert = k.ToF32(w.dtype);
    pool.ParallelFor(panels, 1, [&](int64_t p0, int64_t p1) {
      float* scratch = &panel_scratch[threading::ThreadPool::CurrentWorker() * kPanelRows * max_cols];
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t r0 = p * kPanelRows;
        const int64_t nr = std::min(kPanelRows, w.rows - r0);
        const float* panel;
        if (convert == nullptr) {
          panel = static_cast<const float*>(w.Row(r0));
        } else {
          for (int64_t r = 0; r < nr; ++r) convert(w.Row(r0 + r), scratch + r * w.cols, w.cols);
          panel = scratch;
        }
        simd::SgemmNT(n, nr, w.cols, xin, w.cols, panel, w.cols, y + r0, w.rows);
      }
    });
  }

  void Embed(std::span<const int32_t> tokens) {
    const simd::ToF32Fn convert = k.ToF32(m.token_embd.dtype);
    for (size_t i = 0; i < tokens.size(); ++i) {
      const void* row = m.token_embd.Row(tokens[i]);
      float* dst = &x[i * c.dim];
      if (convert == nullptr) std::memcpy(dst, row, static_cast<size_t>(c.dim) * sizeof(float));
      else convert(row, dst, c.dim);
    }
  }

  void RmsNormRows(const float* in, const std::vector<float>& w, float* out, int64_t n) {
    pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.rms_norm(in + r * c.dim, w.data(), out + r * c.dim, c.dim, c.rms_eps);
    });
  }

  // Causal attention of n query rows at positions start..start+n-1 over the layer's cached
  // keys and values at slots 0..position; parallel over (head, block of query rows).
  void Attention(int64_t layer, int64_t start, int64_t n) {
    const int64_t group = c.num_heads / c.num_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const int64_t blocks = (n + kAttnRowBlock - 1) / kAttnRowBlock;
    pool.ParallelFor(c.num_heads * blocks, 1, [&](int64_t t0, int64_t t1) {
      float* scores = &score_scratch[threading::ThreadPool::CurrentWorker() * max_ctx];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t h = t / blocks, b = t % blocks;
        const int64_t kvh = h / group;
        for (int64_t i = b * kAttnRowBlock; i < std::min(n, (b + 1) * kAttnRowBlock); ++i) {
          const int64_t p = start + i;
          const float* qi = &q[i * q_dim + h * c.head_dim];
          for (int64_t j = 0; j <= p; ++j) scores[j] = k.dot_f32(qi, kv.K(layer, j) + kvh * c.head_dim, c.head_dim) * scale;
          k.softmax(scores, p + 1);
          float* out = &attn[i * q_dim + h * c.head_dim];
          std::fill(out, out + c.head_dim, 0.0f);
          for (int64_t j = 0; j <= p; ++j) k.axpy(scores[j], kv.V(layer, j) + kvh * c.head_dim, out, c.head_dim);
        }
      }
    });
  }

  // Runs n rows (already embedded in x) at positions start..start+n-1 through every layer.
  void Forward(int64_t start, int64_t n) {
    const int64_t pairs = c.rope_dims / 2;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const LayerWeights& w = m.layers[l];
      // Attention block: normalise, project, rotate, cache K/V, attend, project back, add.
      RmsNormRows(x.data(), w.attn_norm, xn.data(), n);
      MatMul(xn.data(), n, w.wq, q.data());
      MatMul(xn.data(), n, w.wk, kbuf.data());
      MatMul(xn.data(), n, w.wv, vbuf.data());
      pool.ParallelFor(n, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* cs = &rope_cs[(start + r) * c.rope_dims];
          for (int64_t h = 0; h < c.num_heads; ++h) k.rope(&q[r * q_dim + h * c.head_dim], cs, pairs);
          for (int64_t h = 0; h < c.num_kv_heads; ++h) k.rope(&kbuf[r * kv_dim + h * c.head_dim], cs, pairs);
          std::memcpy(kv.K(l, start + r), &kbuf[r * kv_dim], kv_dim * sizeof(float));
          std::memcpy(kv.V(l, start + r), &vbuf[r * kv_dim], kv_dim * sizeof(float));
        }
      });
      Attention(l, start, n);
      MatMul(attn.data(), n, w.wo, xn.data());
      AddRows(xn.data(), n);
      // MLP block: normalise, gate and up projections, SwiGLU, down projection, add.
      RmsNormRows(x.data(), w.ffn_norm, xn.data(), n);
      MatMul(xn.data(), n, w.w_gate, gate.data());
      MatMul(xn.data(), n, w.w_up, up.data());
      pool.ParallelFor(n, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) k.swiglu(&gate[r * c.ffn_dim], &up[r * c.ffn_dim], &gate[r * c.ffn_dim], c.ffn_dim);
      });
      MatMul(gate.data(), n, w.w_down, xn.data());
      AddRows(xn.data(), n);
    }
  }

  // x[0:n] += delta[0:n] row-wise.
  void AddRows(const float* delta, int64_t n) {
    pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.add(&x[r * c.dim], delta + r * c.dim, c.dim);
    });
  }

  // LM head over `rows` rows of x starting at `first`, into out [rows, vocab].
  void Logits(int64_t first, int64_t rows, float* out) {
    RmsNormRows(&x[first * c.dim], m.output_norm, xn.data(), rows);
    MatMul(xn.data(), rows, m.output, out);
  }

  Status CheckTokens(std::span<const int32_t> tokens) const {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
        return InvalidArgumentError("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                    " is outside the vocabulary of " + std::to_string(c.vocab_size));
    }
    return OkStatus();
  }
};

StatusOr<Session> Session::Create(const Model& model, const SessionOptions& options) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; a session needs its weights");
  const int64_t trained = model.config().context_length;
  const int64_t ctx =
      options.max_context == 0 ? std::min(trained, SessionOptions::kDefaultMaxContext) : options.max_context;
  if (ctx < 1 || ctx > (int64_t{1} << 22))
    return InvalidArgumentError("max_context " + std::to_string(options.max_context) + " is out of range 1..4194304");
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  return Session(std::make_unique<Impl>(model, options.threads, ctx));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Status Session::Prefill(std::span<const int32_t> tokens, std::vector<float>* all_logits) {
  Impl& s = *impl_;
  if (tokens.empty()) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
  if (static_cast<int64_t>(tokens.size()) > s.max_ctx)
    return OutOfRangeError("prompt of " + std::to_string(tokens.size()) + " tokens exceeds the context of " +
                           std::to_string(s.max_ctx) + " tokens");
  LAZYLLM_RETURN_IF_ERROR(s.CheckTokens(tokens));
  const auto n = static_cast<int64_t>(tokens.size());
  s.pos = 0;
  s.Embed(tokens);
  s.Forward(0, n);
  if (all_logits != nullptr) {
    all_logits->resize(static_cast<size_t>(n * s.c.vocab_size));
    s.Logits(0, n, all_logits->data());
    std::copy_n(all_logits->data() + (n - 1) * s.c.vocab_size, s.c.vocab_size, s.logits.begin());
  } else {
    s.Logits(n - 1, 1, s.logits.data());
  }
  s.pos = n;
  return OkStatus();
}

Status Session::DecodeStep(int32_t token) {
  Impl& s = *impl_;
  if (s.pos == 0) return InvalidArgumentError("DecodeStep before Prefill: the context is empty");
  if (s.pos >= s.max_ctx)
    return OutOfRangeError("context is full: " + std::to_string(s.max_ctx) + " tokens");
  const int32_t tok[1] = {token};
  LAZYLLM_RETURN_IF_ERROR(s.CheckTokens(tok));
  s.Embed(tok);
  s.Forward(s.pos, 1);
  s.Logits(0, 1, s.logits.data());
  ++s.pos;
  return OkStatus();
}

std::span<const float> Session::logits() const { return impl_->logits; }
int64_t Session::position() const { return impl_->pos; }
int64_t Session::max_context() const { return impl_->max_ctx; }
int Session::threads() const { return impl_->pool.num_threads(); }
const Model& Session::model() const { return impl_->model; }

}  // namespace lazyllm
