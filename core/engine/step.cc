// The forward pass over one step's work from many sequences, with the LazyLLM scheduler: rows
// of every sequence are stacked for the norms, matmuls and MLP; RoPE, K/V writes, attention and
// the selections (progressive pruning in a prefill, re-selection and revival in an append) run
// per sequence on its own rows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <numeric>
#include <random>
#include <unordered_set>

#include "core/base/status_macros.h"
#include "core/engine/engine_impl.h"
#include "core/engine/sequence_impl.h"
#include "simd/check.h"
#include "simd/select.h"

namespace lazyllm {
namespace {

using Method = PruningOptions::Method;
using Seq = Sequence::Impl;

// Layers whose output the Aux Cache keeps: l where l+1 is a LazyLLM selection layer.
std::vector<bool> AuxLayers(const PruningOptions& p, int64_t num_layers) {
  std::vector<bool> aux(static_cast<size_t>(num_layers), false);
  if (p.method == Method::kLazy)
    for (const auto& s : p.steps) aux[s.layer - 1] = true;
  return aux;
}

// One sequence's part of a step.
struct Work {
  Seq* s;
  StepItem* item;
  bool prefill;
  Status failed;       // set when its KV pages could not be had; its rows leave the step
  int64_t future = 0;  // the sequence's promised tokens after this step's
};

// One step: the engine's activations and kernels, and the sequences' work.
class StepRun {
 public:
  StepRun(Engine::Impl& e, const threading::Workers& workers, std::vector<Work>& work, bool int8)
      : e_(e),
        m_(ModelImpl(e.model)),
        c_(m_.config),
        k_(e.k),
        pool_(workers),
        a_(e.act),
        work_(work),
        int8_(int8),
        q_dim_(c_.num_heads * c_.head_dim),
        kv_dim_(c_.num_kv_heads * c_.head_dim) {}

  Status Run() {
    for (Work& w : work_) Begin(w);
    Stack();
    EmbedRows();
    for (int64_t l = 0; l < c_.num_layers; ++l) {
      LAZYLLM_RETURN_IF_ERROR(SelectAll(l));
      if (Active() == 0) return OkStatus();
      LAZYLLM_RETURN_IF_ERROR(Layer(l));
      if (ReportLayer(l + 1)) Compact();
    }
    Logits();
    for (Work& w : work_) Finish(w);
    return OkStatus();
  }

 private:
  int64_t Active() const {
    int64_t n = 0;
    for (const Work& w : work_) n += w.failed.ok() ? 1 : 0;
    return n;
  }
  int64_t TotalRows() const {
    int64_t n = 0;
    for (const Work& w : work_)
      if (w.failed.ok()) n += static_cast<int64_t>(w.s->rows.size());
    return n;
  }

  void EnsureRows(int64_t n) {
    if (n <= a_.row_cap) return;
    a_.row_cap = n;
    const auto r = static_cast<size_t>(n);
    for (auto* v : {&a_.x, &a_.xn}) v->resize(r * c_.dim);
    for (auto* v : {&a_.q, &a_.attn}) v->resize(r * q_dim_);
    for (auto* v : {&a_.kbuf, &a_.vbuf}) v->resize(r * kv_dim_);
    for (auto* v : {&a_.gate, &a_.up}) v->resize(static_cast<size_t>(std::min(n, Activations::kFfnChunk) * c_.ffn_dim));
  }

  void MatMul(const float* x, int64_t n, const WeightMatrix& w, float* y) {
    lazyllm::MatMul(pool_, k_, w, e_.placed->Slices(w), x, n, y, a_.gemv, int8_);
  }

  void RmsNormRows(const float* in, const std::vector<float>& w, float* out, int64_t n) {
    pool_.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k_.rms_norm(in + r * c_.dim, w.data(), out + r * c_.dim, c_.dim, c_.rms_eps);
    });
  }

  // y[r] += bias for n rows of width `width` (no-op without a bias).
  void AddBias(float* y, const std::vector<float>& bias, int64_t n, int64_t width) {
    if (bias.empty()) return;
    pool_.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k_.add(y + r * width, bias.data(), width);
    });
  }

  // x[0:n] += delta[0:n] row-wise.
  void AddRows(const float* delta, int64_t n) {
    pool_.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k_.add(&a_.x[r * c_.dim], delta + r * c_.dim, c_.dim);
    });
  }

  // The sequence's rows for this step, and KV pages set aside for them at every layer (a
  // prefill's worst case: nothing dropped). A prefill clears the context; the random baseline
  // drops its tokens (never the last) before layer 0. An append's rows are the new positions;
  // with LazyLLM its candidates at layer 0 are every cached token and the new ones.
  void Begin(Work& w) {
    Seq& s = *w.s;
    const auto n = static_cast<int64_t>(w.item->tokens.size());
    if (w.prefill) {
      s.pos = 0;
      s.prompt_len = n;
      s.tokens.Clear();
      s.kv.Clear();
      s.stats = PruningStats();
    }
    w.future = std::max<int64_t>(s.kv_promised - n, 0);
    if (!s.kv.ReserveAtLeast(s.kv.PagesToAdd(n + w.future))) {
      w.failed = KvFull(s, n, 0);
      return;
    }
    s.rows.resize(static_cast<size_t>(n));
    std::iota(s.rows.begin(), s.rows.end(), s.pos);
    if (w.prefill) {
      if (s.pruning.method == Method::kRandom) {
        std::vector<int64_t> cand(s.rows.begin(), s.rows.end() - 1);
        std::mt19937_64 rng(s.pruning.seed);
        std::shuffle(cand.begin(), cand.end(), rng);
        cand.resize(static_cast<size_t>(PruningOptions::NumDropped(s.pruning.random_k, n)));
        std::vector<uint8_t> dropped(static_cast<size_t>(n), 0);
        for (int64_t t : cand) dropped[t] = 1;
        std::erase_if(s.rows, [&](int64_t t) { return dropped[t] != 0; });
        s.stats.kept_positions.push_back(s.rows);
      }
      s.live = s.rows;
    } else if (s.pruning.method == Method::kLazy) {
      LiveFromCache(s, 0);
    }
  }

  Status KvFull(const Seq& s, int64_t rows, int64_t layer) const {
    const cache::KvPool& p = *e_.kv_pool;
    return ResourceExhaustedError("KV memory pool is full: " + std::to_string(rows) + " rows from layer " +
                                  std::to_string(layer) + " on need more pages of " + std::to_string(p.page_bytes()) +
                                  " bytes than the limit of " + std::to_string(p.limit_bytes()) + " bytes leaves (" +
                                  std::to_string(p.held_bytes()) + " held; this sequence holds " +
                                  std::to_string(s.kv.bytes()) + ")");
  }

  // Segments: each active sequence's rows follow the previous one's.
  void Stack() {
    int64_t begin = 0;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      w.s->begin = begin;
      begin += static_cast<int64_t>(w.s->rows.size());
    }
    EnsureRows(begin);
  }

  // x row of (sequence, position) = the embedding of its token.
  void EmbedRows() {
    const simd::ToF32Fn convert = k_.Row(m_.token_embd.dtype).to_f32;
    const float embed_scale = m_.arch_values.embed_scale;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      const Seq& s = *w.s;
      const int64_t first = w.prefill ? 0 : s.pos;
      pool_.ParallelFor(static_cast<int64_t>(s.rows.size()), 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
          float* row = &a_.x[(s.begin + i) * c_.dim];
          convert(m_.token_embd.Row(w.item->tokens[s.rows[i] - first]), row, c_.dim);
          if (embed_scale != 1.0f) k_.scale(row, embed_scale, c_.dim);
        }
      });
    }
  }

  // Live keys of layer l when there is no re-selection (static/random appends): every token
  // with K/V at l, plus the rows computed now.
  static void LiveFromCache(Seq& s, int64_t l) {
    s.live.clear();
    for (int64_t t = 0; t < s.pos; ++t)
      if (s.tokens.HasKv(l, t)) s.live.push_back(t);
    for (int64_t t : s.rows)
      if (t >= s.pos) s.live.push_back(t);
  }

  // The sequences' selections at the input of layer l, then the rows restacked into x: a
  // sequence that selects here contributes its selected rows (with revivals), the others
  // their rows unchanged.
  Status SelectAll(int64_t l) {
    bool any = false;
    int64_t cap = 0;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      Seq& s = *w.s;
      const bool reselect = s.pruning.method == Method::kLazy;
      if (!w.prefill && !reselect) LiveFromCache(s, l);
      const bool selects = s.IsSelectionLayer(l) && (w.prefill || reselect);
      any = any || selects;
      cap += static_cast<int64_t>(selects ? s.live.size() : s.rows.size());
    }
    if (!any) {
      RecordKept(l);
      return OkStatus();
    }
    EnsureRows(cap);
    int64_t cursor = 0;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      Seq& s = *w.s;
      float* dst = &a_.xn[cursor * c_.dim];
      const float* src = &a_.x[s.begin * c_.dim];
      if (s.IsSelectionLayer(l) && (w.prefill || s.pruning.method == Method::kLazy)) {
        LAZYLLM_RETURN_IF_ERROR(Select(w, l, src, dst));
        if (!w.failed.ok()) continue;  // left the step
        if (w.prefill) s.stats.kept_positions.push_back(s.live);
      } else {
        std::memcpy(dst, src, s.rows.size() * c_.dim * sizeof(float));
      }
      s.begin = cursor;
      cursor += static_cast<int64_t>(s.rows.size());
    }
    std::swap(a_.x, a_.xn);
    RecordKept(l);
    return OkStatus();
  }

  // The items' on_layer callbacks after `done` layers; true when one cancelled its item.
  bool ReportLayer(int64_t done) {
    bool cancelled = false;
    for (Work& w : work_) {
      if (!w.failed.ok() || !w.item->on_layer || w.item->on_layer(done, c_.num_layers)) continue;
      w.failed = CancelledError("cancelled by the on_layer callback after layer " + std::to_string(done) + " of " +
                                std::to_string(c_.num_layers));
      cancelled = true;
    }
    return cancelled;
  }

  // Closes the gaps that items which left the step leave in x, keeping the others' order.
  void Compact() {
    int64_t cursor = 0;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      Seq& s = *w.s;
      const auto n = static_cast<int64_t>(s.rows.size());
      if (s.begin != cursor) std::memmove(&a_.x[cursor * c_.dim], &a_.x[s.begin * c_.dim], n * c_.dim * sizeof(float));
      s.begin = cursor;
      cursor += n;
    }
  }

  void RecordKept(int64_t) {
    for (Work& w : work_)
      if (w.failed.ok() && w.prefill) w.s->stats.kept_per_layer.push_back(static_cast<int64_t>(w.s->rows.size()));
  }

  // Sets aside KV pages for the rows an append computes from layer l on: its selected rows and
  // the tokens it revives (keeping those of its promised tokens). Under a pool limit, revivals that find no page are
  // skipped (the token stays dropped at this step; PruningStats::revivals_skipped counts them).
  Status FitRevivals(Work& w, int64_t l) {
    Seq& s = *w.s;
    int64_t rows = 0, revive = 0;
    size_t r = 0;
    for (size_t j = 0; j < s.live.size(); ++j) {
      const bool computed = r < s.rows.size() && s.rows[r] == s.live[j];
      if (computed) ++r;
      if (s.drop[j]) continue;
      if (computed)
        ++rows;
      else if (!s.tokens.HasKv(l, s.live[j]))
        ++revive;
    }
    auto fits = [&](int64_t v) { return s.kv.ReserveAtLeast(s.kv.PagesToAdd(rows + v + w.future, l, w.future)); };
    int64_t allowed = revive;
    if (!fits(revive)) {
      if (!fits(0)) {
        w.failed = KvFull(s, rows, l);
        return OkStatus();
      }
      int64_t lo = 0, hi = revive;  // fits(lo), !fits(hi)
      while (hi - lo > 1) {
        const int64_t mid = (lo + hi) / 2;
        (fits(mid) ? lo : hi) = mid;
      }
      allowed = lo;
      fits(allowed);
    }
    if (allowed == revive) return OkStatus();
    // Revive the first `allowed` candidates in position order; the rest stay dropped.
    r = 0;
    for (size_t j = 0; j < s.live.size(); ++j) {
      const bool computed = r < s.rows.size() && s.rows[r] == s.live[j];
      if (computed) ++r;
      if (s.drop[j] || computed || s.tokens.HasKv(l, s.live[j])) continue;
      if (allowed > 0) {
        --allowed;
      } else {
        s.drop[j] = 1;
        ++s.stats.revivals_skipped;
      }
    }
    return OkStatus();
  }

  // Selection at the input of layer l over the live keys of layer l-1 (scores[] aligned with
  // `live`), from the sequence's rows at src into dst. Computed rows that are dropped are
  // stashed in Aux[l-1]; in an append, selected tokens without K/V at layer l are revived from
  // Aux[l-1] (within the pages FitRevivals could set aside).
  Status Select(Work& w, int64_t l, const float* src_rows, float* out) {
    Seq& s = *w.s;
    const bool decode = !w.prefill;
    const auto n_live = static_cast<int64_t>(s.live.size());
    const int64_t num_drop = PruningOptions::NumDropped(s.step_k[l], n_live);
    simd::SelectLowest(s.scores.data(), s.live.data(), n_live, num_drop, s.select_scratch.data(), s.drop.data());
    if (decode) LAZYLLM_RETURN_IF_ERROR(FitRevivals(w, l));
    if (!w.failed.ok()) return OkStatus();
    s.next_rows.clear();
    size_t r = 0;  // cursor into the current rows (a subsequence of live)
    for (size_t j = 0; j < s.live.size(); ++j) {
      const int64_t t = s.live[j];
      const bool computed = r < s.rows.size() && s.rows[r] == t;
      const float* src = computed ? src_rows + r * c_.dim : nullptr;
      if (computed) ++r;
      if (s.drop[j]) {
        if (computed && s.tokens.IsAuxLayer(l - 1)) {
          std::memcpy(s.tokens.Aux(l - 1, t), src, c_.dim * sizeof(float));
          s.tokens.MarkAux(l - 1, t);
          if (s.hooks.on_stash) s.hooks.on_stash(l - 1, t, {src, static_cast<size_t>(c_.dim)});
        }
        continue;
      }
      if (!computed) {
        if (!decode || s.tokens.HasKv(l, t)) continue;  // attended through the cache
        // The Aux Cache invariant: has_kv[l-1][t] and not has_kv[l][t] => has_aux[l-1][t].
        LAZYLLM_CHECK(s.tokens.HasAux(l - 1, t)) << "token " << t << " has K/V at layer " << l - 1
                                                 << " but neither K/V at layer " << l << " nor an Aux Cache entry";
        src = s.tokens.Aux(l - 1, t);  // revival: the stored output of layer l-1
        ++s.stats.revived_tokens;
      }
      float* dst = out + s.next_rows.size() * c_.dim;
      std::memcpy(dst, src, c_.dim * sizeof(float));
      if (!computed && s.hooks.on_revive) s.hooks.on_revive(l, t, {dst, static_cast<size_t>(c_.dim)});
      s.next_rows.push_back(t);
    }
    s.rows.swap(s.next_rows);
    // The live set shrinks to the selected tokens.
    size_t kept = 0;
    for (size_t j = 0; j < s.live.size(); ++j)
      if (!s.drop[j]) s.live[kept++] = s.live[j];
    s.live.resize(kept);
    return OkStatus();
  }

  // Per stacked row: its position, sequence, and K/V row at layer l (assigned now, in the
  // order the rows are computed; the pages were set aside before).
  Status AssignKvRows(int64_t l, int64_t n) {
    a_.row_pos.resize(static_cast<size_t>(n));
    a_.kv_row.resize(static_cast<size_t>(n));
    a_.row_seq.resize(static_cast<size_t>(n));
    for (size_t i = 0; i < work_.size(); ++i) {
      Seq& s = *work_[i].s;
      if (!work_[i].failed.ok()) continue;
      for (size_t r = 0; r < s.rows.size(); ++r) {
        const int64_t at = s.begin + static_cast<int64_t>(r);
        a_.row_pos[at] = s.rows[r];
        a_.row_seq[at] = static_cast<int32_t>(i);
        a_.kv_row[at] = s.kv.Assign(l, s.rows[r]);
        LAZYLLM_CHECK(a_.kv_row[at] >= 0) << "the KV pages set aside for the step ran out at layer " << l;
        s.tokens.MarkComputed(l, s.rows[r]);
      }
    }
    return OkStatus();
  }

  // One transformer layer over the stacked rows. Architecture features switch on where the
  // file has them: Q/K/V biases, per-head Q/K norms, NEOX or adjacent-pair RoPE from the
  // layer's table, a sliding window, post-block norms, GeGLU.
  Status Layer(int64_t l) {
    const LayerWeights& w = m_.layers[l];
    const int64_t n = TotalRows();
    const int64_t pairs = c_.rope_dims / 2;
    const std::vector<float>& rope = e_.rope_tables[w.rope_table];
    const auto rotate = m_.arch->rope == RopeStyle::kNeox ? k_.rope_neox : k_.rope;
    // Attention block: normalise, project (+ bias), normalise Q/K per head, rotate at each row's
    // position, cache K/V in its sequence, attend per sequence over its live keys, project
    // back, normalise, add.
    RmsNormRows(a_.x.data(), w.attn_norm, a_.xn.data(), n);
    MatMul(a_.xn.data(), n, w.wq, a_.q.data());
    MatMul(a_.xn.data(), n, w.wk, a_.kbuf.data());
    MatMul(a_.xn.data(), n, w.wv, a_.vbuf.data());
    AddBias(a_.q.data(), w.bq, n, q_dim_);
    AddBias(a_.kbuf.data(), w.bk, n, kv_dim_);
    AddBias(a_.vbuf.data(), w.bv, n, kv_dim_);
    LAZYLLM_RETURN_IF_ERROR(AssignKvRows(l, n));
    pool_.ParallelFor(n, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* cs = &rope[a_.row_pos[r] * c_.rope_dims];
        for (int64_t h = 0; h < c_.num_heads; ++h) {
          float* qh = &a_.q[r * q_dim_ + h * c_.head_dim];
          if (!w.q_norm.empty()) k_.rms_norm(qh, w.q_norm.data(), qh, c_.head_dim, c_.rms_eps);
          rotate(qh, cs, pairs);
        }
        for (int64_t h = 0; h < c_.num_kv_heads; ++h) {
          float* kh = &a_.kbuf[r * kv_dim_ + h * c_.head_dim];
          if (!w.k_norm.empty()) k_.rms_norm(kh, w.k_norm.data(), kh, c_.head_dim, c_.rms_eps);
          rotate(kh, cs, pairs);
        }
        work_[a_.row_seq[r]].s->kv.Write(l, a_.kv_row[r], &a_.kbuf[r * kv_dim_], &a_.vbuf[r * kv_dim_], k_.f32_to_f16);
      }
    });
    direct_.clear();
    for (Work& wk : work_)
      if (wk.failed.ok()) Attend(*wk.s, l, w.sliding_window, wk.s->IsSelectionLayer(l + 1));
    if (!direct_.empty()) e_.attention.RunDirectMany(pool_, direct_);
    MatMul(a_.attn.data(), n, w.wo, a_.xn.data());
    if (!w.post_attn_norm.empty()) RmsNormRows(a_.xn.data(), w.post_attn_norm, a_.xn.data(), n);
    AddRows(a_.xn.data(), n);
    // MLP block: normalise, gate and up projections, SwiGLU (or GeGLU), down projection,
    // normalise, add; in chunks of rows, each chunk's output overwriting its own (consumed)
    // normalised rows.
    RmsNormRows(a_.x.data(), w.ffn_norm, a_.xn.data(), n);
    const auto activate = m_.arch->activation == FfnActivation::kGeluTanh ? k_.geglu : k_.swiglu;
    for (int64_t c0 = 0; c0 < n; c0 += Activations::kFfnChunk) {
      const int64_t nc = std::min(Activations::kFfnChunk, n - c0);
      float* chunk = &a_.xn[c0 * c_.dim];
      MatMul(chunk, nc, w.w_gate, a_.gate.data());
      MatMul(chunk, nc, w.w_up, a_.up.data());
      pool_.ParallelFor(nc, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          activate(&a_.gate[r * c_.ffn_dim], &a_.up[r * c_.ffn_dim], &a_.gate[r * c_.ffn_dim], c_.ffn_dim);
      });
      MatMul(a_.gate.data(), nc, w.w_down, chunk);
    }
    if (!w.post_ffn_norm.empty()) RmsNormRows(a_.xn.data(), w.post_ffn_norm, a_.xn.data(), n);
    AddRows(a_.xn.data(), n);
    return OkStatus();
  }

  // The live keys of `layer` as fp32 K/V matrices: the cache itself when it is fp32 and their
  // rows are consecutive, otherwise a gathered (and converted) copy in position order.
  KeyMatrix LiveKeys(const Seq& s, int64_t layer) {
    const auto nk = static_cast<int64_t>(s.live.size());
    const int64_t r0 = s.kv.row_of(layer, s.live.front());
    bool consecutive = !s.kv.f16();
    for (int64_t j = 1; consecutive && j < nk; ++j) consecutive = s.kv.row_of(layer, s.live[j]) == r0 + j;
    if (consecutive)
      return {static_cast<const float*>(s.kv.K(layer, r0)), static_cast<const float*>(s.kv.V(layer, r0)), kv_dim_};
    if (static_cast<int64_t>(a_.kc.size()) < nk * kv_dim_) {
      a_.kc.resize(static_cast<size_t>(nk * kv_dim_));
      a_.vc.resize(static_cast<size_t>(nk * kv_dim_));
    }
    const simd::ToF32Fn half = k_.Row(simd::DType::kF16).to_f32;
    pool_.ParallelFor(nk, 64, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t r = s.kv.row_of(layer, s.live[j]);
        if (s.kv.f16()) {
          half(s.kv.K(layer, r), &a_.kc[j * kv_dim_], kv_dim_);
          half(s.kv.V(layer, r), &a_.vc[j * kv_dim_], kv_dim_);
        } else {
          std::memcpy(&a_.kc[j * kv_dim_], s.kv.K(layer, r), kv_dim_ * sizeof(float));
          std::memcpy(&a_.vc[j * kv_dim_], s.kv.V(layer, r), kv_dim_ * sizeof(float));
        }
      }
    });
    return {a_.kc.data(), a_.vc.data(), kv_dim_};
  }

  // Causal attention of the sequence's rows over its live keys of `layer`: each query attends
  // to the live keys at positions <= its own (within the window on a sliding layer). With
  // want_scores, the last row's probabilities averaged over heads go to scores[] (aligned with
  // `live`). A few rows over keys read in place (a decode step) join direct_, which runs for all
  // sequences in one parallel loop once every sequence has been through here.
  void Attend(Seq& s, int64_t layer, int64_t window, bool want_scores) {
    const auto n = static_cast<int64_t>(s.rows.size());
    // Rows and live keys are both ascending: one merge gives each row's visible key count and,
    // on a sliding-window layer, its first visible key (keys at distance >= window are masked).
    const bool sliding = window > 0;
    s.key_count.resize(static_cast<size_t>(n));
    s.key_begin.resize(static_cast<size_t>(n));
    size_t j = 0, b = 0;
    for (int64_t i = 0; i < n; ++i) {
      while (j < s.live.size() && s.live[j] <= s.rows[i]) ++j;
      while (sliding && b < s.live.size() && s.rows[i] - s.live[b] >= window) ++b;
      s.key_count[i] = static_cast<int64_t>(j);
      s.key_begin[i] = static_cast<int64_t>(b);
    }
    const KeyMatrix keys = LiveKeys(s, layer);
    const float* q = &a_.q[s.begin * q_dim_];
    const int64_t* begin = sliding ? s.key_begin.data() : nullptr;
    float* out = &a_.attn[s.begin * q_dim_];
    if (n < Attention::kTiledMinRows && keys.k != a_.kc.data())
      direct_.push_back({q, n, s.key_count.data(), begin, keys, out});
    else
      e_.attention.Run(pool_, q, n, s.key_count.data(), keys, out, begin);
    // The last row is the newest position, so it sees every live key (within its window).
    if (want_scores) {
      a_.head_probs.resize(std::max(a_.head_probs.size(), static_cast<size_t>(c_.num_heads * s.key_count[n - 1])));
      e_.attention.MeanHeadProbs(pool_, q + (n - 1) * q_dim_, s.key_count[n - 1], keys, s.scores.data(),
                                 a_.head_probs.data(), s.key_begin[n - 1]);
    }
  }

  // Final logit soft-capping (gemma2): l -> c·tanh(l/c).
  void SoftCapLogits(float* l, int64_t n) const {
    const float cap = m_.arch_values.final_softcap;
    if (cap <= 0) return;
    for (int64_t i = 0; i < n; ++i) l[i] = cap * std::tanh(l[i] / cap);
  }

  // The LM head over each sequence's last row (one matmul for all), or over every row of a
  // prefill that asked for all its logits.
  void Logits() {
    std::vector<Work*> last;
    for (Work& w : work_) {
      if (!w.failed.ok()) continue;
      Seq& s = *w.s;
      const auto n = static_cast<int64_t>(s.rows.size());
      if (w.item->all_logits == nullptr) {
        last.push_back(&w);
        continue;
      }
      // Logits at every prompt position need every row at the last layer: only without pruning.
      if (n != static_cast<int64_t>(w.item->tokens.size())) {
        w.failed = InvalidArgumentError("logits at every prompt position need pruning off");
        continue;
      }
      std::vector<float>& all = *w.item->all_logits;
      all.resize(static_cast<size_t>(n * c_.vocab_size));
      RmsNormRows(&a_.x[s.begin * c_.dim], m_.output_norm, a_.xn.data(), n);
      MatMul(a_.xn.data(), n, m_.output, all.data());
      SoftCapLogits(all.data(), n * c_.vocab_size);
      std::copy_n(all.data() + (n - 1) * c_.vocab_size, c_.vocab_size, s.logits.begin());
    }
    const auto b = static_cast<int64_t>(last.size());
    if (b == 0) return;
    for (int64_t i = 0; i < b; ++i) {
      const Seq& s = *last[i]->s;
      std::memcpy(&a_.xn[i * c_.dim], &a_.x[(s.begin + static_cast<int64_t>(s.rows.size()) - 1) * c_.dim],
                  c_.dim * sizeof(float));
    }
    a_.head_logits.resize(static_cast<size_t>(b * c_.vocab_size));
    RmsNormRows(a_.xn.data(), m_.output_norm, a_.xn.data(), b);
    MatMul(a_.xn.data(), b, m_.output, a_.head_logits.data());
    for (int64_t i = 0; i < b; ++i) {
      float* l = &a_.head_logits[i * c_.vocab_size];
      SoftCapLogits(l, c_.vocab_size);
      std::copy_n(l, c_.vocab_size, last[i]->s->logits.begin());
    }
  }

  void Finish(Work& w) {
    if (!w.failed.ok()) return;
    Seq& s = *w.s;
    s.pos += static_cast<int64_t>(w.item->tokens.size());
    s.stats.prompt_tokens_computed_pct = s.ComputedPct();
    if (w.prefill) s.stats.prompt_tokens_computed_pct_prefill = s.stats.prompt_tokens_computed_pct;
  }

  Engine::Impl& e_;
  const Model::Impl& m_;
  const ModelConfig& c_;
  const simd::Kernels& k_;
  const threading::Workers& pool_;
  Activations& a_;
  std::vector<Work>& work_;
  std::vector<Attention::DirectJob> direct_;  // this layer's deferred decode attention
  bool int8_;
  int64_t q_dim_, kv_dim_;
};

Status CheckItem(const Seq& s, const StepItem& item) {
  const auto n = static_cast<int64_t>(item.tokens.size());
  const bool prefill = item.kind == StepItem::Kind::kPrefill;
  if (prefill) {
    if (n == 0) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
    if (n > s.max_ctx)
      return OutOfRangeError("prompt of " + std::to_string(n) + " tokens exceeds the context of " +
                             std::to_string(s.max_ctx) + " tokens");
  } else {
    if (s.pos == 0) return InvalidArgumentError("Append/DecodeStep before Prefill: the context is empty");
    if (n == 0) return InvalidArgumentError("Append of no tokens");
    if (s.pos + n > s.max_ctx)
      return OutOfRangeError("context is full: " + std::to_string(s.pos) + " + " + std::to_string(n) +
                             " tokens exceed the context of " + std::to_string(s.max_ctx));
    if (item.all_logits != nullptr) return InvalidArgumentError("all_logits needs a prefill, not an append");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (item.tokens[i] < 0 || item.tokens[i] >= s.c.vocab_size)
      return InvalidArgumentError("token id " + std::to_string(item.tokens[i]) + " at index " + std::to_string(i) +
                                  " is outside the vocabulary of " + std::to_string(s.c.vocab_size));
  }
  return OkStatus();
}

}  // namespace

Sequence::Impl::Impl(std::shared_ptr<Engine::Impl> e, const SequenceOptions& o, int64_t max_context)
    : engine(std::move(e)),
      m(ModelImpl(engine->model)),
      c(m.config),
      max_ctx(max_context),
      pruning(o.pruning),
      int8_activations(o.int8_activations),
      step_k(static_cast<size_t>(c.num_layers), -1.0),
      kv(engine->kv_pool, c.num_layers, max_context, c.num_kv_heads * c.head_dim, engine->kv_f16),
      tokens(c.num_layers, max_context, c.dim, AuxLayers(o.pruning, c.num_layers)),
      logits(static_cast<size_t>(c.vocab_size)) {
  if (pruning.method == Method::kLazy || pruning.method == Method::kStatic)
    for (const auto& st : pruning.steps) step_k[st.layer] = st.k;
  const auto n = static_cast<size_t>(max_ctx);
  for (auto* v : {&rows, &live, &next_rows}) v->reserve(n);
  select_scratch.resize(n);
  drop.resize(n);
  scores.resize(n);
}

double Sequence::Impl::ComputedPct() const {
  if (prompt_len == 0) return 100.0;
  int64_t sum = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) sum += tokens.CountKv(l, prompt_len);
  return 100.0 * static_cast<double>(sum) / static_cast<double>(c.num_layers * prompt_len);
}

StatusOr<Sequence> Engine::NewSequence(const SequenceOptions& options) const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  const Model& model = impl_->model;
  const int64_t trained = model.config().context_length;
  const int64_t ctx =
      options.max_context == 0 ? std::min(trained, SequenceOptions::kDefaultMaxContext) : options.max_context;
  if (ctx < 1 || ctx > (int64_t{1} << 22))
    return InvalidArgumentError("max_context " + std::to_string(options.max_context) + " is out of range 1..4194304");
  for (const auto& s : options.pruning.steps) {
    if (s.layer < 1 || s.layer >= model.config().num_layers || !(s.k >= 0.0 && s.k < 1.0))
      return InvalidArgumentError("pruning step " + std::to_string(s.layer) + ":" + std::to_string(s.k) +
                                  " does not fit a model of " + std::to_string(model.config().num_layers) + " layers");
  }
  // What the sequence can come to hold, computed before anything is allocated, so that a model
  // whose shapes demand absurd memory (a crafted file) or a context too long for the machine is
  // refused with the need named instead of failing to allocate or being killed:
  //  - bookkeeping allocated up front: position->row maps and has_kv / has_aux bits per layer,
  //    the Aux Cache rows of the layers before selections, per-position lists and scores, and the
  //    RoPE tables' growth;
  //  - its KV cache when every layer holds the whole context (pages come as pairs are computed);
  //  - the engine's activations for a prefill of the whole context (stacked rows of the residual
  //    stream, Q, attention output, K and V; one MLP chunk; gathered K/V; the LM head's row).
  const ModelConfig& c = model.config();
  const std::vector<bool> aux = AuxLayers(options.pruning, c.num_layers);
  const auto aux_layers = static_cast<int64_t>(std::count(aux.begin(), aux.end(), true));
  const double n = static_cast<double>(ctx), layers = static_cast<double>(c.num_layers);
  const double q_dim = static_cast<double>(c.num_heads * c.head_dim),
               kv_dim = static_cast<double>(c.num_kv_heads * c.head_dim);
  const double bookkeeping =
      n * (layers * 6 + static_cast<double>(aux_layers * c.dim) * 4 + 37 +
           (ctx > impl_->rope_ctx ? static_cast<double>(ModelImpl(model).rope_variants.size() * c.rope_dims) * 4 : 0));
  const double kv = n * layers * 2 * kv_dim * (impl_->kv_f16 ? 2 : 4);
  const double activations =
      4 * (n * (2 * static_cast<double>(c.dim) + 2 * q_dim + 4 * kv_dim) +
           std::min(n, static_cast<double>(Activations::kFfnChunk)) * 2 * static_cast<double>(c.ffn_dim) +
           static_cast<double>(c.vocab_size));
  const double need = bookkeeping + kv + activations;
  const int64_t limit = impl_->mem_limit_bytes;
  auto bytes = [](double b) { return std::to_string(static_cast<int64_t>(b)); };
  if (need > static_cast<double>(limit))
    return ResourceExhaustedError("a sequence of " + std::to_string(ctx) + " tokens needs up to " + bytes(need) +
                                  " bytes (KV cache " + bytes(kv) + " for " + std::to_string(c.num_layers) +
                                  " layers × " + bytes(kv_dim) + " K/V values per token, activations " +
                                  bytes(activations) + ", bookkeeping " + bytes(bookkeeping) + " with " +
                                  std::to_string(aux_layers) + " Aux Cache layers of " + std::to_string(c.dim) +
                                  "): more than the " + std::to_string(limit) + " bytes allowed (" +
                                  impl_->mem_limit_source + "); use a shorter context or a higher limit");
  try {
    impl_->EnsureRope(ctx);
    auto impl = std::make_unique<Sequence::Impl>(impl_, options, ctx);
    if (!impl->kv.ok())
      return ResourceExhaustedError("cannot reserve address space for a KV cache of " + std::to_string(ctx) +
                                    " tokens × " + std::to_string(c.num_layers) + " layers");
    return internal::SequenceAccess::Make(std::move(impl));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory creating a sequence of " + std::to_string(ctx) + " tokens (its " +
                                  bytes(bookkeeping) + " bytes of bookkeeping)");
  }
}

Status Engine::Warmup(int64_t tokens) const {
  const int64_t ctx = impl_->model.config().context_length;
  if (tokens <= 0) tokens = 64;
  tokens = std::max<int64_t>(1, std::min(tokens, ctx - 1));
  LAZYLLM_ASSIGN_OR_RETURN(Sequence seq, NewSequence({.max_context = tokens + 1}));
  // Ids spread over the vocabulary, so that the embedding rows touched are not all one page.
  const int64_t vocab = impl_->model.config().vocab_size;
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  for (int64_t i = 0; i < tokens; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % vocab);
  StepItem item{.sequence = &seq, .tokens = ids, .kind = StepItem::Kind::kPrefill};
  LAZYLLM_RETURN_IF_ERROR(Step({&item, 1}));
  LAZYLLM_RETURN_IF_ERROR(item.status);
  const int32_t next[1] = {ids[0]};
  item = {.sequence = &seq, .tokens = next};
  LAZYLLM_RETURN_IF_ERROR(Step({&item, 1}));
  return item.status;
}

Status Engine::Step(std::span<StepItem> items) const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  std::vector<Work> work;
  std::unordered_set<const Seq*> seen;
  int int8 = -1;
  for (StepItem& item : items) {
    Seq* s = item.sequence == nullptr ? nullptr : internal::SequenceAccess::Get(*item.sequence);
    if (s == nullptr) return InvalidArgumentError("step item without a sequence");
    if (s->engine != impl_) return InvalidArgumentError("a sequence of another engine in this step");
    if (!seen.insert(s).second) return InvalidArgumentError("one sequence twice in a step");
    if (int8 >= 0 && int8 != static_cast<int>(s->int8_activations))
      return InvalidArgumentError("sequences with and without int8_activations in one step");
    int8 = s->int8_activations ? 1 : 0;
  }
  for (StepItem& item : items) {
    Seq* s = internal::SequenceAccess::Get(*item.sequence);
    item.status = CheckItem(*s, item);
    if (item.status.ok()) work.push_back({s, &item, item.kind == StepItem::Kind::kPrefill, OkStatus()});
  }
  if (work.empty()) return OkStatus();
  // The step's matmul and attention flops: a step this small runs on the calling thread.
  const ModelConfig& c = impl_->model.config();
  const double q_dim = static_cast<double>(c.num_heads * c.head_dim);
  const double kv_dim = static_cast<double>(c.num_kv_heads * c.head_dim);
  const double dim = static_cast<double>(c.dim), ffn = static_cast<double>(c.ffn_dim);
  const double per_row = 2 * (dim * (2 * q_dim + 2 * kv_dim) + 3 * dim * ffn);
  double flops = 0;
  for (const Work& w : work) {
    const auto n = static_cast<double>(w.item->tokens.size());
    const double keys = static_cast<double>(w.prefill ? 0 : w.s->pos) + n;
    flops += static_cast<double>(c.num_layers) * (n * per_row + 4 * n * keys * q_dim) +
             2 * dim * static_cast<double>(c.vocab_size);
  }
  const threading::Workers workers(impl_->threads, /*serial=*/flops < impl_->serial_step_flops);
  Status st;
  try {
    st = StepRun(*impl_, workers, work, int8 == 1).Run();
  } catch (const std::bad_alloc&) {
    st = ResourceExhaustedError("out of memory for the activations of a step of " + std::to_string(work.size()) +
                                " sequences");
  }
  for (Work& w : work) {
    Seq& s = *w.s;
    // Pages set aside for this step and not used go back; those of its promised tokens stay.
    s.kv_promised = w.future;
    s.kv.TrimReserve(s.kv.PagesToAdd(w.future));
    if (!st.ok()) w.failed = st;
    if (!w.failed.ok()) {
      // Its context is gone: the step may have written part of it.
      s.kv.Clear();
      s.kv.ReleaseReserve();
      s.kv_promised = 0;
      s.tokens.Clear();
      s.pos = 0;
      w.item->status = w.failed;
    }
  }
  return OkStatus();
}

Sequence::Sequence(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sequence::Sequence(Sequence&&) noexcept = default;
Sequence& Sequence::operator=(Sequence&&) noexcept = default;
Sequence::~Sequence() = default;

std::span<const float> Sequence::logits() const { return impl_->logits; }

Status Sequence::SetSampling(const SamplingOptions& options) {
  LAZYLLM_RETURN_IF_ERROR(Validate(options));
  impl_->sampler = Sampler(options);
  return OkStatus();
}

int32_t Sequence::Sample() { return impl_->sampler.Sample(impl_->logits); }
int64_t Sequence::position() const { return impl_->pos; }
int64_t Sequence::max_context() const { return impl_->max_ctx; }
const PruningOptions& Sequence::pruning() const { return impl_->pruning; }
int64_t Sequence::kv_bytes() const { return impl_->kv.bytes(); }
int64_t Sequence::kv_reserved_bytes() const { return impl_->kv.reserved_bytes(); }

PruningStats Sequence::pruning_stats() const {
  PruningStats st = impl_->stats;
  st.computed_pairs = impl_->tokens.computed_pairs();
  return st;
}

Status Sequence::ReserveKv(int64_t tokens) {
  if (tokens < 0) return InvalidArgumentError("ReserveKv of " + std::to_string(tokens) + " tokens");
  cache::KvCache& kv = impl_->kv;
  if (kv.ReserveAtLeast(kv.PagesToAdd(tokens))) {
    impl_->kv_promised = std::max(impl_->kv_promised, tokens);
    return OkStatus();
  }
  const cache::KvPool& p = *impl_->engine->kv_pool;
  return ResourceExhaustedError("KV memory pool is full: " + std::to_string(tokens) + " tokens need " +
                                std::to_string(kv.PagesToAdd(tokens) * p.page_bytes()) + " bytes; " +
                                std::to_string(p.held_bytes()) + " of the limit of " + std::to_string(p.limit_bytes()) +
                                " bytes are held");
}

void Sequence::ReleaseKvReserve() {
  impl_->kv_promised = 0;
  impl_->kv.ReleaseReserve();
}

}  // namespace lazyllm
