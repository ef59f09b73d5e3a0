// The Llama forward pass with the LazyLLM scheduler: batched prefill over live rows only, with
// progressive pruning between layers, and decode steps that re-select and revive tokens.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sys/mman.h>
#include <unordered_map>

#include <oneapi/tbb/enumerable_thread_specific.h>

#include "cache/kv_cache.h"
#include "cache/token_state.h"
#include "core/attention.h"
#include "core/engine_impl.h"
#include "core/matmul.h"
#include "core/model_impl.h"
#include "core/session_hooks.h"
#include "lazyllm/session.h"
#include "simd/gemm.h"
#include "simd/kernels.h"
#include "simd/select.h"
#include "threading/thread_pool.h"
#include "threading/topology.h"

namespace lazyllm {
namespace {

// Rows per pass through the MLP block, which bounds the gate/up buffers (ffn_dim wide).
constexpr int64_t kFfnChunk = 512;

using Method = PruningOptions::Method;

// Layers whose output the Aux Cache keeps: l where l+1 is a LazyLLM selection layer.
std::vector<bool> AuxLayers(const PruningOptions& p, int64_t num_layers) {
  std::vector<bool> aux(static_cast<size_t>(num_layers), false);
  if (p.method == Method::kLazy)
    for (const auto& s : p.steps) aux[s.layer - 1] = true;
  return aux;
}

}  // namespace

struct Session::Impl {
  Model model;
  const Model::Impl& m;
  const ModelConfig& c;
  const simd::Kernels& k;
  std::shared_ptr<Engine::Impl> engine;  // workers and placed weights, shared with other sessions
  threading::ThreadPool& pool;
  const std::unordered_map<const WeightMatrix*, std::vector<WeightSlice>>& slices;  // the engine's
  int64_t max_ctx;
  int64_t q_dim, kv_dim;
  PruningOptions pruning;
  bool int8_activations;
  std::vector<double> step_k;  // per layer: the selection fraction, or -1 when not a selection layer
  cache::KvCache kv;
  cache::TokenState tokens;
  int64_t pos = 0;  // tokens in context
  int64_t prompt_len = 0;
  PruningStats stats;
  internal::SessionHooks hooks;

  // Computed rows of the current pass (positions, ascending; x row i holds rows[i]) and the
  // live key set of the current layer (positions, ascending).
  std::vector<int64_t> rows, live, next_rows, select_scratch;
  std::vector<uint8_t> drop;  // per live key: dropped at the current selection
  // Activations, grown on demand to the most rows computed at once (row_cap), at most max_ctx;
  // gate/up hold at most kFfnChunk rows.
  std::vector<float> x, xn, q, kbuf, vbuf, attn, gate, up, logits;
  std::vector<float> scores;         // [max_ctx]: importance of each live key for the next selection
  // Per RoPE variant (Model::Impl::rope_variants): [max_ctx][rope_dims] of cos, sin per pair,
  // interleaved (c0 s0 c1 s1 ...) for adjacent-pair RoPE, split (c0 c1 ... s0 s1 ...) for NEOX.
  std::vector<std::vector<float>> rope_tables;
  MatMulScratch panel_scratch;
  std::vector<int64_t> key_count;    // per computed row: live keys it attends to
  std::vector<int64_t> key_begin;    // per computed row: its first visible live key (sliding windows)
  std::vector<float> kc, vc;         // compacted live K/V when the live slots have gaps
  Attention attention;


  Impl(std::shared_ptr<Engine::Impl> engine_in, const SessionOptions& o, int64_t max_context)
      : model(engine_in->model),
        m(model.impl()),
        c(m.config),
        k(engine_in->k),
        engine(std::move(engine_in)),
        pool(*engine->pool),
        slices(engine->slices),
        max_ctx(max_context),
        q_dim(c.num_heads * c.head_dim),
        kv_dim(c.num_kv_heads * c.head_dim),
        pruning(o.pruning),
        int8_activations(o.int8_activations),
        step_k(static_cast<size_t>(c.num_layers), -1.0),
        kv(c.num_layers, max_context, kv_dim),
        tokens(c.num_layers, max_context, c.dim, AuxLayers(o.pruning, c.num_layers)),
        attention(k, {c.num_heads, c.num_kv_heads, c.head_dim, c.attn_scale, c.attn_softcap}) {
    if (pruning.method == Method::kLazy || pruning.method == Method::kStatic)
      for (const auto& s : pruning.steps) step_k[s.layer] = s.k;
    const auto n = static_cast<size_t>(max_ctx);
    for (auto* v : {&rows, &live, &next_rows}) v->reserve(n);
    select_scratch.resize(n);
    drop.resize(n);
    logits.resize(static_cast<size_t>(c.vocab_size));
    scores.resize(n);
    BuildRopeTable();
  }

  // cos/sin of pos·scale·θ_i with θ_i = base^(-2i/rope_dims) (divided by rope_freqs when
  // present), computed in double once per session for each RoPE variant.
  void BuildRopeTable() {
    const int64_t pairs = c.rope_dims / 2;
    for (const Model::Impl::RopeVariant& v : m.rope_variants) {
      std::vector<float>& t = rope_tables.emplace_back(static_cast<size_t>(max_ctx * c.rope_dims));
      for (int64_t i = 0; i < pairs; ++i) {
        double freq = std::pow(static_cast<double>(v.theta), -2.0 * static_cast<double>(i) / c.rope_dims);
        if (!m.rope_freq_factors.empty()) freq /= m.rope_freq_factors[i];
        freq *= v.freq_scale;
        const int64_t ci = c.rope_neox ? i : 2 * i, si = c.rope_neox ? pairs + i : 2 * i + 1;
        for (int64_t p = 0; p < max_ctx; ++p) {
          const double angle = static_cast<double>(p) * freq;
          t[p * c.rope_dims + ci] = static_cast<float>(std::cos(angle));
          t[p * c.rope_dims + si] = static_cast<float>(std::sin(angle));
        }
      }
    }
  }

  int64_t row_cap = 0;
  void EnsureRows(int64_t n) {
    if (n <= row_cap) return;
    row_cap = n;
    const auto r = static_cast<size_t>(n);
    for (auto* v : {&x, &xn}) v->resize(r * c.dim);
    for (auto* v : {&q, &attn}) v->resize(r * q_dim);
    for (auto* v : {&kbuf, &vbuf}) v->resize(r * kv_dim);
    for (auto* v : {&gate, &up}) v->resize(static_cast<size_t>(std::min(n, kFfnChunk) * c.ffn_dim));
  }

  bool IsSelectionLayer(int64_t l) const { return l < c.num_layers && step_k[l] >= 0.0; }

  void MatMul(const float* xin, int64_t n, const WeightMatrix& w, float* y) {
    lazyllm::MatMul(pool, k, w, slices.at(&w), xin, n, y, panel_scratch, int8_activations);
  }

  // x row i = embedding of ids[rows[i]].
  void Embed(std::span<const int32_t> ids, int64_t first_pos) {
    const simd::ToF32Fn convert = k.Row(m.token_embd.dtype).to_f32;
    for (size_t i = 0; i < rows.size(); ++i) {
      convert(m.token_embd.Row(ids[rows[i] - first_pos]), &x[i * c.dim], c.dim);
      if (c.embed_scale != 1.0f) k.scale(&x[i * c.dim], c.embed_scale, c.dim);
    }
  }

  void RmsNormRows(const float* in, const std::vector<float>& w, float* out, int64_t n) {
    pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.rms_norm(in + r * c.dim, w.data(), out + r * c.dim, c.dim, c.rms_eps);
    });
  }

  // The live keys of `layer` as K/V matrices: the cache itself when they are consecutive slots,
  // otherwise a compacted copy (live keys are ascending, so the copy keeps their order).
  KeyMatrix LiveKeys(int64_t layer) {
    const auto nk = static_cast<int64_t>(live.size());
    if (live.back() - live.front() + 1 == nk) return {kv.K(layer, live.front()), kv.V(layer, live.front()), kv_dim};
    if (static_cast<int64_t>(kc.size()) < nk * kv_dim) {
      kc.resize(static_cast<size_t>(nk * kv_dim));
      vc.resize(static_cast<size_t>(nk * kv_dim));
    }
    pool.ParallelFor(nk, 64, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        std::memcpy(&kc[j * kv_dim], kv.K(layer, live[j]), kv_dim * sizeof(float));
        std::memcpy(&vc[j * kv_dim], kv.V(layer, live[j]), kv_dim * sizeof(float));
      }
    });
    return {kc.data(), vc.data(), kv_dim};
  }

  // Causal attention of the computed rows over the live keys of `layer` (cached K/V by slot):
  // each query attends to the live keys at positions <= its own. With want_scores, the last
  // row's probabilities averaged over heads go to scores[] (aligned with `live`).
  void Attend(int64_t layer, bool want_scores) {
    const auto n = static_cast<int64_t>(rows.size());
    // Rows and live keys are both ascending: one merge gives each row's visible key count and,
    // on a sliding-window layer, its first visible key (keys at distance >= window are masked).
    const bool sliding = c.sliding_window > 0 && c.sliding_layers[layer];
    key_count.resize(static_cast<size_t>(n));
    key_begin.resize(static_cast<size_t>(n));
    size_t j = 0, b = 0;
    for (int64_t i = 0; i < n; ++i) {
      while (j < live.size() && live[j] <= rows[i]) ++j;
      while (sliding && b < live.size() && rows[i] - live[b] >= c.sliding_window) ++b;
      key_count[i] = static_cast<int64_t>(j);
      key_begin[i] = static_cast<int64_t>(b);
    }
    const KeyMatrix keys = LiveKeys(layer);
    attention.Run(pool, q.data(), n, key_count.data(), keys, attn.data(), sliding ? key_begin.data() : nullptr);
    // The last row is the newest position, so it sees every live key (within its window).
    if (want_scores)
      attention.MeanHeadProbs(pool, &q[(n - 1) * q_dim], key_count[n - 1], keys, scores.data(), key_begin[n - 1]);
  }

  // y[r] += bias for n rows of width `width` (no-op without a bias).
  void AddBias(float* y, const std::vector<float>& bias, int64_t n, int64_t width) {
    if (bias.empty()) return;
    pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.add(y + r * width, bias.data(), width);
    });
  }

  // One transformer layer over the computed rows. Architecture features switch on where the
  // file has them: Q/K/V biases, per-head Q/K norms, NEOX or adjacent-pair RoPE from the layer's
  // table, a sliding window, post-block norms, GeGLU.
  void Layer(int64_t l) {
    const LayerWeights& w = m.layers[l];
    const auto n = static_cast<int64_t>(rows.size());
    const int64_t pairs = c.rope_dims / 2;
    const std::vector<float>& rope = rope_tables[w.rope_table];
    const auto rotate = c.rope_neox ? k.rope_neox : k.rope;
    // Attention block: normalise, project (+ bias), normalise Q/K per head, rotate at original
    // positions, cache K/V by slot, attend over the live keys, project back, normalise, add.
    RmsNormRows(x.data(), w.attn_norm, xn.data(), n);
    MatMul(xn.data(), n, w.wq, q.data());
    MatMul(xn.data(), n, w.wk, kbuf.data());
    MatMul(xn.data(), n, w.wv, vbuf.data());
    AddBias(q.data(), w.bq, n, q_dim);
    AddBias(kbuf.data(), w.bk, n, kv_dim);
    AddBias(vbuf.data(), w.bv, n, kv_dim);
    pool.ParallelFor(n, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* cs = &rope[rows[r] * c.rope_dims];
        for (int64_t h = 0; h < c.num_heads; ++h) {
          float* qh = &q[r * q_dim + h * c.head_dim];
          if (!w.q_norm.empty()) k.rms_norm(qh, w.q_norm.data(), qh, c.head_dim, c.rms_eps);
          rotate(qh, cs, pairs);
        }
        for (int64_t h = 0; h < c.num_kv_heads; ++h) {
          float* kh = &kbuf[r * kv_dim + h * c.head_dim];
          if (!w.k_norm.empty()) k.rms_norm(kh, w.k_norm.data(), kh, c.head_dim, c.rms_eps);
          rotate(kh, cs, pairs);
        }
        std::memcpy(kv.K(l, rows[r]), &kbuf[r * kv_dim], kv_dim * sizeof(float));
        std::memcpy(kv.V(l, rows[r]), &vbuf[r * kv_dim], kv_dim * sizeof(float));
      }
    });
    for (int64_t r : rows) tokens.MarkComputed(l, r);
    Attend(l, IsSelectionLayer(l + 1));
    MatMul(attn.data(), n, w.wo, xn.data());
    if (!w.post_attn_norm.empty()) RmsNormRows(xn.data(), w.post_attn_norm, xn.data(), n);
    AddRows(xn.data(), n);
    // MLP block: normalise, gate and up projections, SwiGLU (or GeGLU), down projection,
    // normalise, add; in chunks of rows, each chunk's output overwriting its own (consumed)
    // normalised rows.
    RmsNormRows(x.data(), w.ffn_norm, xn.data(), n);
    const auto activate = c.gelu ? k.geglu : k.swiglu;
    for (int64_t c0 = 0; c0 < n; c0 += kFfnChunk) {
      const int64_t nc = std::min(kFfnChunk, n - c0);
      float* chunk = &xn[c0 * c.dim];
      MatMul(chunk, nc, w.w_gate, gate.data());
      MatMul(chunk, nc, w.w_up, up.data());
      pool.ParallelFor(nc, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) activate(&gate[r * c.ffn_dim], &up[r * c.ffn_dim], &gate[r * c.ffn_dim], c.ffn_dim);
      });
      MatMul(gate.data(), nc, w.w_down, chunk);
    }
    if (!w.post_ffn_norm.empty()) RmsNormRows(xn.data(), w.post_ffn_norm, xn.data(), n);
    AddRows(xn.data(), n);
  }

  // x[0:n] += delta[0:n] row-wise.
  void AddRows(const float* delta, int64_t n) {
    pool.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.add(&x[r * c.dim], delta + r * c.dim, c.dim);
    });
  }

  // Selection at the input of layer l over the live keys of layer l-1 (scores[] aligned with
  // `live`). Computed rows that are dropped are stashed in Aux[l-1]; in a decode step, selected
  // tokens without K/V at layer l are revived from Aux[l-1]. Rows are compacted into x.
  Status Select(int64_t l, bool decode) {
    const auto n_live = static_cast<int64_t>(live.size());
    const int64_t num_drop = PruningOptions::NumDropped(step_k[l], n_live);
    // A prefill selection that drops nothing leaves rows and live keys as they are.
    if (!decode && num_drop == 0 && rows.size() == live.size()) return OkStatus();
    EnsureRows(n_live);  // revivals can make more rows than the pass started with
    simd::SelectLowest(scores.data(), live.data(), n_live, num_drop, select_scratch.data(), drop.data());
    next_rows.clear();
    float* out = xn.data();  // the compacted rows are gathered here, then swapped into x
    size_t r = 0;            // cursor into the current rows (a subsequence of live)
    for (size_t j = 0; j < live.size(); ++j) {
      const int64_t t = live[j];
      const bool computed = r < rows.size() && rows[r] == t;
      const float* src = computed ? &x[r * c.dim] : nullptr;
      if (computed) ++r;
      if (drop[j]) {
        if (computed && tokens.IsAuxLayer(l - 1)) {
          std::memcpy(tokens.Aux(l - 1, t), src, c.dim * sizeof(float));
          tokens.MarkAux(l - 1, t);
          if (hooks.on_stash) hooks.on_stash(l - 1, t, {src, static_cast<size_t>(c.dim)});
        }
        continue;
      }
      if (!computed) {
        if (!decode || tokens.HasKv(l, t)) continue;  // attended through the cache
        if (!tokens.HasAux(l - 1, t))
          return InternalError("LazyLLM invariant broken: token " + std::to_string(t) + " has K/V at layer " +
                               std::to_string(l - 1) + " but neither K/V at layer " + std::to_string(l) +
                               " nor an Aux Cache entry");
        src = tokens.Aux(l - 1, t);  // revival: the stored output of layer l-1
        ++stats.revived_tokens;
      }
      float* dst = out + next_rows.size() * c.dim;
      std::memcpy(dst, src, c.dim * sizeof(float));
      if (!computed && hooks.on_revive) hooks.on_revive(l, t, {dst, static_cast<size_t>(c.dim)});
      next_rows.push_back(t);
    }
    std::swap(x, xn);
    rows.swap(next_rows);
    // The live set shrinks to the selected tokens.
    size_t w = 0;
    for (size_t j = 0; j < live.size(); ++j)
      if (!drop[j]) live[w++] = live[j];
    live.resize(w);
    return OkStatus();
  }

  // Live keys of layer l when there is no re-selection (static/random decode): every token
  // with K/V at l, plus the rows computed now.
  void LiveFromCache(int64_t l) {
    live.clear();
    for (int64_t t = 0; t < pos; ++t)
      if (tokens.HasKv(l, t)) live.push_back(t);
    for (int64_t t : rows)
      if (t >= pos) live.push_back(t);
  }

  double ComputedPct() const {
    if (prompt_len == 0) return 100.0;
    int64_t sum = 0;
    for (int64_t l = 0; l < c.num_layers; ++l) sum += tokens.CountKv(l, prompt_len);
    return 100.0 * static_cast<double>(sum) / static_cast<double>(c.num_layers * prompt_len);
  }

  // Final logit soft-capping (gemma2): l -> c·tanh(l/c).
  void SoftCapLogits(float* l, int64_t n) const {
    if (c.final_softcap <= 0) return;
    for (int64_t i = 0; i < n; ++i) l[i] = c.final_softcap * std::tanh(l[i] / c.final_softcap);
  }

  // LM head over the last computed row.
  void LastLogits() {
    const int64_t last = static_cast<int64_t>(rows.size()) - 1;
    RmsNormRows(&x[last * c.dim], m.output_norm, xn.data(), 1);
    MatMul(xn.data(), 1, m.output, logits.data());
    SoftCapLogits(logits.data(), c.vocab_size);
  }

  Status CheckTokens(std::span<const int32_t> ids) const {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= c.vocab_size)
        return InvalidArgumentError("token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                                    " is outside the vocabulary of " + std::to_string(c.vocab_size));
    }
    return OkStatus();
  }

  Status Prefill(std::span<const int32_t> ids, std::vector<float>* all_logits) {
    const auto n = static_cast<int64_t>(ids.size());
    pos = 0;
    prompt_len = n;
    tokens.Clear();
    stats = PruningStats();
    // Rows: every prompt token, less the random baseline's drops (never the last token).
    rows.resize(static_cast<size_t>(n));
    std::iota(rows.begin(), rows.end(), 0);
    if (pruning.method == Method::kRandom) {
      std::vector<int64_t> cand(rows.begin(), rows.end() - 1);
      std::mt19937_64 rng(pruning.seed);
      std::shuffle(cand.begin(), cand.end(), rng);
      cand.resize(static_cast<size_t>(PruningOptions::NumDropped(pruning.random_k, n)));
      std::vector<uint8_t> dropped(static_cast<size_t>(n), 0);
      for (int64_t t : cand) dropped[t] = 1;
      rows.erase(std::remove_if(rows.begin(), rows.end(), [&](int64_t t) { return dropped[t] != 0; }), rows.end());
    }
    live = rows;
    if (pruning.method == Method::kRandom) stats.kept_positions.push_back(live);
    EnsureRows(n);
    Embed(ids, 0);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (IsSelectionLayer(l)) {
        LAZYLLM_RETURN_IF_ERROR(Select(l, /*decode=*/false));
        stats.kept_positions.push_back(live);
      }
      stats.kept_per_layer.push_back(static_cast<int64_t>(rows.size()));
      Layer(l);
    }
    if (all_logits != nullptr) {
      // Logits at every prompt position need every row at the last layer: only without pruning.
      if (static_cast<int64_t>(rows.size()) != n)
        return InvalidArgumentError("logits at every prompt position need pruning off");
      all_logits->resize(static_cast<size_t>(n * c.vocab_size));
      RmsNormRows(x.data(), m.output_norm, xn.data(), n);
      MatMul(xn.data(), n, m.output, all_logits->data());
      SoftCapLogits(all_logits->data(), n * c.vocab_size);
      std::copy_n(all_logits->data() + (n - 1) * c.vocab_size, c.vocab_size, logits.begin());
    } else {
      LastLogits();
    }
    pos = n;
    stats.prompt_tokens_computed_pct_prefill = stats.prompt_tokens_computed_pct = ComputedPct();
    return OkStatus();
  }

  // Runs ids at positions pos.. as one step over the cached context: the decode step for n rows.
  // Layer 0 attends over the whole context; at each selection layer the candidates are every
  // token in context plus the new rows, scored from the last new row: earlier tokens that are
  // selected without K/V at that layer are revived from the Aux Cache, and new rows that are
  // dropped are stashed there (never the last one). With static or random pruning the live keys
  // are the cached ones and nothing is re-selected.
  Status Append(std::span<const int32_t> ids) {
    const auto n = static_cast<int64_t>(ids.size());
    EnsureRows(n);
    rows.resize(static_cast<size_t>(n));
    std::iota(rows.begin(), rows.end(), pos);
    Embed(ids, pos);
    const bool reselect = pruning.method == Method::kLazy;
    if (reselect) LiveFromCache(0);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (reselect && IsSelectionLayer(l)) LAZYLLM_RETURN_IF_ERROR(Select(l, /*decode=*/true));
      if (!reselect) LiveFromCache(l);
      Layer(l);
    }
    LastLogits();
    pos += n;
    stats.prompt_tokens_computed_pct = ComputedPct();
    return OkStatus();
  }
};

namespace internal {

struct SessionAccess {
  static Session::Impl& Get(const Session& s) { return *s.impl_; }
  static Session Make(std::unique_ptr<Session::Impl> impl) { return Session(std::move(impl)); }
};

}  // namespace internal

StatusOr<Session> Session::Create(const Model& model, const SessionOptions& options) {
  return internal::CreateSession(model, options, nullptr);
}

StatusOr<Session> Session::Create(const Engine& engine, const SessionOptions& options) {
  return internal::CreateSessionOn(engine, options);
}

namespace internal {
StatusOr<Session> CreateSession(const Model& model, const SessionOptions& options, const threading::Topology* topo) {
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  LAZYLLM_ASSIGN_OR_RETURN(Engine engine, CreateEngine(model, {.threads = options.threads, .numa = options.numa}, topo));
  return CreateSessionOn(engine, options);
}

StatusOr<Session> CreateSessionOn(const Engine& engine, const SessionOptions& options) {
  const Model& model = engine.model();
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; a session needs its weights");
  const int64_t trained = model.config().context_length;
  const int64_t ctx =
      options.max_context == 0 ? std::min(trained, SessionOptions::kDefaultMaxContext) : options.max_context;
  if (ctx < 1 || ctx > (int64_t{1} << 22))
    return InvalidArgumentError("max_context " + std::to_string(options.max_context) + " is out of range 1..4194304");
  for (const auto& s : options.pruning.steps) {
    if (s.layer < 1 || s.layer >= model.config().num_layers || !(s.k >= 0.0 && s.k < 1.0))
      return InvalidArgumentError("pruning step " + std::to_string(s.layer) + ":" + std::to_string(s.k) +
                                  " does not fit a model of " + std::to_string(model.config().num_layers) + " layers");
  }
  return SessionAccess::Make(std::make_unique<Session::Impl>(engine.impl(), options, ctx));
}
}  // namespace internal

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Status Session::Prefill(std::span<const int32_t> ids, std::vector<float>* all_logits) {
  Impl& s = *impl_;
  if (ids.empty()) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
  if (static_cast<int64_t>(ids.size()) > s.max_ctx)
    return OutOfRangeError("prompt of " + std::to_string(ids.size()) + " tokens exceeds the context of " +
                           std::to_string(s.max_ctx) + " tokens");
  LAZYLLM_RETURN_IF_ERROR(s.CheckTokens(ids));
  return s.Prefill(ids, all_logits);
}

Status Session::DecodeStep(int32_t token) {
  const int32_t tok[1] = {token};
  return Append(tok);
}

Status Session::Append(std::span<const int32_t> tokens) {
  Impl& s = *impl_;
  if (s.pos == 0) return InvalidArgumentError("Append/DecodeStep before Prefill: the context is empty");
  if (tokens.empty()) return InvalidArgumentError("Append of no tokens");
  if (s.pos + static_cast<int64_t>(tokens.size()) > s.max_ctx)
    return OutOfRangeError("context is full: " + std::to_string(s.pos) + " + " + std::to_string(tokens.size()) +
                           " tokens exceed the context of " + std::to_string(s.max_ctx));
  LAZYLLM_RETURN_IF_ERROR(s.CheckTokens(tokens));
  return s.Append(tokens);
}

std::span<const float> Session::logits() const { return impl_->logits; }
int64_t Session::position() const { return impl_->pos; }
int64_t Session::max_context() const { return impl_->max_ctx; }
int Session::threads() const { return impl_->pool.num_threads(); }
const Model& Session::model() const { return impl_->model; }
const PruningOptions& Session::pruning() const { return impl_->pruning; }

PruningStats Session::pruning_stats() const {
  PruningStats st = impl_->stats;
  st.computed_pairs = impl_->tokens.computed_pairs();
  st.recomputed_pairs = impl_->tokens.recomputed_pairs();
  return st;
}

namespace internal {

SessionHooks& Hooks(Session& session) { return SessionAccess::Get(session).hooks; }

bool HasKv(const Session& session, int64_t layer, int64_t slot) {
  return SessionAccess::Get(session).tokens.HasKv(layer, slot);
}

std::span<const float> CachedK(const Session& session, int64_t layer, int64_t slot) {
  const Session::Impl& s = SessionAccess::Get(session);
  return {s.kv.K(layer, slot), static_cast<size_t>(s.kv_dim)};
}

Placement WeightPlacement(const Session& session) {
  const Session::Impl& s = SessionAccess::Get(session);
  Placement p;
  for (int a = 0; a < s.pool.num_arenas(); ++a) p.arena_threads.push_back(s.pool.arena_threads(a));
  const auto& lw = s.m.layers[0];
  for (const WeightMatrix* w : {&lw.wq, &lw.w_down, &s.m.output}) {
    std::vector<Placement::Slice> out;
    for (const auto& sl : s.slices.at(w))
      out.push_back({sl.begin, sl.end, sl.data != w->data + sl.begin * w->row_bytes, sl.toucher,
                     std::memcmp(sl.data, w->data + sl.begin * w->row_bytes,
                                 static_cast<size_t>((sl.end - sl.begin) * w->row_bytes)) == 0});
    p.matrices.push_back(std::move(out));
  }
  return p;
}

}  // namespace internal
}  // namespace lazyllm
