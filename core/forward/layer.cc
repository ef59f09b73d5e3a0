// One transformer layer over the stacked rows of a step's sequences, the embedding and the LM head.
#include "core/forward/layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "threading/deal.h"

namespace lazyllm {
namespace {

int64_t Bytes(const WeightMatrix& w) { return w.rows * w.row_bytes; }

// out[r] = RMSNorm(in[r]) ⊙ w for n rows of width dim; out may be in.
void NormRows(const Forward& f, const float* in, const std::vector<float>& w, float* out, int64_t n) {
  const StageTimer timer(f.profile, StepProfile::kNorms);
  const int64_t dim = f.m.config.dim;
  f.workers.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f.k.rms_norm(in + r * dim, w.data(), out + r * dim, dim, f.m.config.rms_eps);
  });
}

// y[r] += bias for n rows of width `width`, when the layer has one.
void AddBias(const Forward& f, const std::vector<float>& bias, float* y, int64_t n, int64_t width) {
  if (bias.empty()) return;
  f.workers.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f.k.add(y + r * width, bias.data(), width);
  });
}

// y[n][w.rows] = x[n][w.cols] · Wᵀ (+ bias on every row, when the layer has one): the attention's
// output projection.
void Project(const Forward& f, const float* x, int64_t n, const WeightMatrix& w, const std::vector<float>& bias,
             float* y, Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kOutput, Bytes(w));
  MatMul(f.workers, f.k, w, f.placed.Slices(w), x, n, y, a.gemv, f.int8_activations);
  AddBias(f, bias, y, n, w.rows);
}

// q, k, v = xn·Wqᵀ, xn·Wkᵀ, xn·Wvᵀ (+ their biases), in one MatMuls.
void ProjectQkv(const Forward& f, const LayerWeights& w, const float* xn, int64_t n, float* q, float* k, float* v,
                Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kQkv, Bytes(w.wq) + Bytes(w.wk) + Bytes(w.wv));
  const Product products[] = {
      {&w.wq, &f.placed.Slices(w.wq), q}, {&w.wk, &f.placed.Slices(w.wk), k}, {&w.wv, &f.placed.Slices(w.wv), v}};
  MatMuls(f.workers, f.k, products, xn, n, a.gemv, f.int8_activations);
  AddBias(f, w.bq, q, n, w.wq.rows);
  AddBias(f, w.bk, k, n, w.wk.rows);
  AddBias(f, w.bv, v, n, w.wv.rows);
}

// x[r] += delta[r] for n rows of width dim.
void AddRows(const Forward& f, const float* delta, float* x, int64_t n) {
  const StageTimer timer(f.profile, StepProfile::kNorms);
  const int64_t dim = f.m.config.dim;
  f.workers.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f.k.add(x + r * dim, delta + r * dim, dim);
  });
}

// Per row of the range: each head of q and k normalised (when the family has Q/K norms) and rotated by the
// row's own position; its k and v written to its K/V row in its sequence's cache at layer l.
void RotateAndCacheKv(const Forward& f, const LayerWeights& w, int64_t l, const LayerRows& rows, RowRange range,
                      Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kRopeKv);
  const ModelConfig& c = f.m.config;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim, pairs = c.rope_dims / 2;
  const auto rotate = f.m.arch->rope == RopeStyle::kNeox ? f.k.rope_neox : f.k.rope;
  f.workers.ParallelFor(range.size(), 8, [&](int64_t i0, int64_t i1) {
    for (int64_t r = range.begin + i0; r < range.begin + i1; ++r) {
      const float* cs = f.rope.At(w.rope_table, rows.pos[r], c.rope_dims);
      for (int64_t h = 0; h < c.num_heads; ++h) {
        float* qh = &a.q[r * q_dim + h * c.head_dim];
        if (!w.q_norm.empty()) f.k.rms_norm(qh, w.q_norm.data(), qh, c.head_dim, c.rms_eps);
        rotate(qh, cs, pairs);
      }
      for (int64_t h = 0; h < c.num_kv_heads; ++h) {
        float* kh = &a.k[r * kv_dim + h * c.head_dim];
        if (!w.k_norm.empty()) f.k.rms_norm(kh, w.k_norm.data(), kh, c.head_dim, c.rms_eps);
        rotate(kh, cs, pairs);
      }
      rows.segments[rows.segment[r]].kv->Write(l, rows.kv_row[r], &a.k[r * kv_dim], &a.v[r * kv_dim], f.k.f32_to_f16);
    }
  });
}

// A sequence's keys of layer l as fp32 K/V matrices (one per KV head), in position order: the cache
// itself when it is fp32 and their rows are consecutive; else, for `direct` attention (which reads
// keys through a list of rows) and an fp32 cache, the cache through `rows`, the keys' rows;
// otherwise a copy (converted from half) in a.kc/a.vc, each run of consecutive rows of a KV head
// copied at once.
KeyMatrix GatherKeys(const Forward& f, const Segment& s, int64_t l, bool direct, std::vector<int64_t>& rows,
                     Activations& a) {
  const cache::KvCache& kv = *s.kv;
  const int64_t kv_dim = kv.kv_dim();
  const auto nk = static_cast<int64_t>(s.keys.size());
  const int64_t r0 = kv.row_of(l, s.keys.front());
  bool consecutive = !kv.f16();
  for (int64_t j = 1; consecutive && j < nk; ++j) consecutive = kv.row_of(l, s.keys[j]) == r0 + j;
  const int64_t hd = f.m.config.head_dim;
  if (consecutive)
    return {static_cast<const float*>(kv.K(l, 0, r0)), static_cast<const float*>(kv.V(l, 0, r0)), hd, kv.head_stride()};
  rows.resize(static_cast<size_t>(nk));
  for (int64_t j = 0; j < nk; ++j) rows[j] = kv.row_of(l, s.keys[j]);
  if (direct && !kv.f16())
    return {static_cast<const float*>(kv.K(l, 0, 0)), static_cast<const float*>(kv.V(l, 0, 0)), hd, kv.head_stride(),
            rows.data()};
  if (static_cast<int64_t>(a.kc.size()) < nk * kv_dim) {
    a.kc.resize(static_cast<size_t>(nk * kv_dim));
    a.vc.resize(static_cast<size_t>(nk * kv_dim));
  }
  // Tasks (KV head, block of keys); head h's copy at h·nk·hd.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (nk + kBlock - 1) / kBlock;
  const simd::ToF32Fn half = f.k.Row(simd::DType::kF16).to_f32;
  f.workers.ParallelFor(kv.kv_heads() * blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / blocks, j1 = std::min(nk, (t % blocks + 1) * kBlock);
      for (int64_t j = t % blocks * kBlock; j < j1;) {
        int64_t e = j + 1;  // [j, e): keys in consecutive rows
        while (e < j1 && rows[e] == rows[j] + (e - j)) ++e;
        kv.ReadHead(l, h, rows[j], e - j, &a.kc[(h * nk + j) * hd], &a.vc[(h * nk + j) * hd], half);
        j = e;
      }
    }
  });
  return {a.kc.data(), a.vc.data(), hd, nk * hd};
}

// Causal attention of each sequence's rows in the range over its keys of layer l: a row attends
// to the keys at positions <= its own (within `window` of it, when the layer has one). A few rows
// over keys read in place (decode) are gathered into one parallel loop for all sequences; the
// others run at once. Where a sequence asks and the range holds its last row, that row's
// probabilities averaged over heads go to its scores.
void Attend(const Forward& f, int64_t l, int64_t window, const LayerRows& rows, RowRange range, Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kAttention);
  const int64_t q_dim = f.m.config.num_heads * f.m.config.head_dim;
  a.key_count.resize(static_cast<size_t>(rows.num_rows()));
  a.key_begin.resize(static_cast<size_t>(rows.num_rows()));
  a.direct.clear();
  a.key_rows.resize(std::max(a.key_rows.size(), rows.segments.size()));
  for (size_t segment = 0; segment < rows.segments.size(); ++segment) {
    const Segment& seg = rows.segments[segment];
    const auto rows_in = static_cast<int64_t>(seg.positions.size());
    // The segment's rows in the range: [lo, hi) of its own.
    const int64_t lo = std::max<int64_t>(range.begin - seg.begin, 0);
    const int64_t hi = std::min<int64_t>(range.end - seg.begin, rows_in);
    if (lo >= hi) continue;
    Segment s = seg;
    s.begin += lo;
    s.positions = seg.positions.subspan(static_cast<size_t>(lo), static_cast<size_t>(hi - lo));
    if (hi < rows_in) s.scores = nullptr;  // its last row is not in the range
    const int64_t n = hi - lo;
    int64_t* count = &a.key_count[s.begin];
    int64_t* begin = &a.key_begin[s.begin];
    // Rows and keys are both ascending: one merge gives each row's visible key count and its
    // first key inside the window.
    size_t j = 0, b = 0;
    for (int64_t i = 0; i < n; ++i) {
      while (j < s.keys.size() && s.keys[j] <= s.positions[i]) ++j;
      while (window > 0 && b < s.keys.size() && s.positions[i] - s.keys[b] >= window) ++b;
      count[i] = static_cast<int64_t>(j);
      begin[i] = static_cast<int64_t>(b);
    }
    const bool direct = n < Attention::kTiledMinRows;
    const KeyMatrix keys = GatherKeys(f, s, l, direct, a.key_rows[segment], a);
    const float* q = &a.q[s.begin * q_dim];
    const int64_t* visible_from = window > 0 ? begin : nullptr;
    float* out = &a.attn[s.begin * q_dim];
    // The last row is the newest position, so it sees every key (within its window): its scores
    // come from the direct pass's probabilities, or are computed here.
    if (direct && keys.k != a.kc.data()) {
      a.direct.push_back({q, n, count, visible_from, keys, out, s.scores});
      continue;
    }
    f.attention.Run(f.workers, q, n, count, keys, out, visible_from, a.probs);
    if (s.scores != nullptr) {
      a.head_probs.resize(std::max(a.head_probs.size(), static_cast<size_t>(f.m.config.num_heads * count[n - 1])));
      f.attention.MeanHeadProbs(f.workers, q + (n - 1) * q_dim, count[n - 1], keys, s.scores, a.head_probs.data(),
                                begin[n - 1]);
    }
  }
  if (!a.direct.empty()) f.attention.RunDirectMany(f.workers, a.direct, a.probs);
}

// rows[i] = down · act(rows[i]·gate) ⊙ (rows[i]·up) for n rows of width dim, in place, in chunks
// of kFfnChunk rows from the first; gate and up hold min(n, kFfnChunk) rows of the FFN's width.
void FfnRows(const Forward& f, const WeightMatrix& gate, const WeightMatrix& up, const WeightMatrix& down, float* rows,
             int64_t n, FfnScratch s) {
  const int64_t dim = f.m.config.dim, width = gate.rows;
  const auto activate = f.m.arch->activation == FfnActivation::kGeluTanh ? f.k.geglu : f.k.swiglu;
  for (int64_t c0 = 0; c0 < n; c0 += Activations::kFfnChunk) {
    const int64_t nc = std::min(Activations::kFfnChunk, n - c0);
    float* chunk = rows + c0 * dim;
    const Product gate_up[] = {{&gate, &f.placed.Slices(gate), s.gate}, {&up, &f.placed.Slices(up), s.up}};
    MatMuls(f.workers, f.k, gate_up, chunk, nc, s.gemv, f.int8_activations);
    f.workers.ParallelFor(nc, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) activate(&s.gate[r * width], &s.up[r * width], &s.gate[r * width], width);
    });
    MatMul(f.workers, f.k, down, f.placed.Slices(down), s.gate, nc, chunk, s.gemv, f.int8_activations);
  }
}

// xn[r] = the dense FFN of xn[r] for the rows r of the range, in chunks of the layer's rows
// (multiples of kFfnChunk from its first row, whatever the range, so that a range's matmuls are
// the whole layer's).
void Mlp(const Forward& f, const LayerWeights& w, RowRange range, Activations& a) {
  StageTimer timer(f.profile, StepProfile::kFfn);
  for (int64_t c0 = range.begin, c1 = 0; c0 < range.end; c0 = c1) {
    c1 = std::min(range.end, (c0 / Activations::kFfnChunk + 1) * Activations::kFfnChunk);
    FfnRows(f, w.w_gate, w.w_up, w.w_down, &a.xn[c0 * f.m.config.dim], c1 - c0, a.Ffn());
    timer.AddWeightBytes(Bytes(w.w_gate) + Bytes(w.w_up) + Bytes(w.w_down));
  }
}

// Each row's experts and their weights (the family's routing, arch.h): the softmax of its router
// logits, the `used` largest (ties to the lower index), renormalised to sum 1 when it says so.
void Route(const Forward& f, const float* logits, int64_t n, Activations::Moe& moe) {
  const int64_t experts = f.m.config.expert_count, used = f.m.config.expert_used_count;
  const bool renormalise = f.m.arch->routing.renormalise;
  moe.chosen.resize(static_cast<size_t>(n * used));
  moe.weight.resize(static_cast<size_t>(n * used));
  f.workers.ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> p(static_cast<size_t>(experts));
    std::vector<uint8_t> taken(static_cast<size_t>(experts));
    for (int64_t r = r0; r < r1; ++r) {
      std::copy_n(logits + r * experts, experts, p.begin());
      f.k.softmax(p.data(), experts);
      std::fill(taken.begin(), taken.end(), 0);
      float sum = 0;
      for (int64_t k = 0; k < used; ++k) {
        int64_t best = -1;  // the first untaken expert unless a later one is larger (NaN never is)
        for (int64_t e = 0; e < experts; ++e)
          if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
        taken[best] = 1;
        moe.chosen[r * used + k] = static_cast<int32_t>(best);
        moe.weight[r * used + k] = p[best];
        sum += p[best];
      }
      if (renormalise)
        for (int64_t k = 0; k < used; ++k) moe.weight[r * used + k] /= sum;
    }
  });
}

// One expert's FFN over a run of at most kExpertRows of its rows (slots [begin, end) of a block).
struct ExpertTask {
  int32_t expert;
  int64_t begin, end;
};

// A task's cost in rows, for dealing tasks to threads: its rows, plus reading its expert's
// weights, which costs about as much as this many rows of arithmetic (a decode step's one row is
// all reading).
constexpr int64_t kExpertReadRows = 16;

// The routed experts of one block's rows: each task's rows, gathered in moe.in, replaced by its
// expert's FFN of them. The tasks are dealt to threads, the next largest to the least loaded; if
// that keeps every thread within 1.25× of the mean and there is one arena, each thread computes
// its tasks whole (on its own scratch: no barrier inside an expert). Otherwise (few experts for
// many threads, or several NUMA nodes, whose weights are sliced per node) the tasks run one after
// another, each over all threads. A task computes the same bits either way.
void RunExperts(const Forward& f, const LayerWeights& w, const std::vector<ExpertTask>& tasks, Activations& a) {
  Activations::Moe& moe = a.moe;
  const int64_t dim = f.m.config.dim, threads = f.workers.num_threads();
  auto run = [&](const Forward& on, const ExpertTask& t, FfnScratch s) {
    FfnRows(on, w.gate_exps[t.expert], w.up_exps[t.expert], w.down_exps[t.expert], &moe.in[t.begin * dim],
            t.end - t.begin, s);
  };
  std::vector<int64_t> costs;
  for (const ExpertTask& t : tasks) costs.push_back(t.end - t.begin + kExpertReadRows);
  const threading::Dealt dealt = threading::DealLargestFirst(costs, threads);
  const bool balanced = 4 * threads * *std::max_element(dealt.load.begin(), dealt.load.end()) <= 5 * dealt.total;
  if (f.workers.num_arenas() > 1 || threads == 1 || !balanced) {
    for (const ExpertTask& t : tasks) run(f, t, a.Ffn());
    return;
  }
  const threading::Workers serial = f.workers.Serial();
  const Forward one = {f.m, f.placed, f.k, f.attention, f.rope, serial, f.int8_activations};
  const int64_t width = f.m.config.expert_ffn_dim;
  f.workers.ParallelFor(threads, 1, [&](int64_t p0, int64_t p1) {
    Activations::ExpertScratch& s = moe.scratch.local();
    s.gate.resize(static_cast<size_t>(Activations::kExpertRows * width));
    s.up.resize(static_cast<size_t>(Activations::kExpertRows * width));
    for (int64_t p = p0; p < p1; ++p)
      for (size_t i : dealt.items[p]) run(one, tasks[i], {s.gate.data(), s.up.data(), s.gemv});
  });
}

// xn[r] = Σ over its experts e of weight(r, e) · FFN_e(xn[r]) (+ sigmoid(g · xn[r]) · the shared
// expert's FFN of xn[r]) for the rows r of the range, in blocks of kMoeBlock rows from its first.
// In a block the rows are grouped by expert, each expert runs over its rows in runs of
// kExpertRows, and each row's sum adds its experts in expert order: nothing depends on the
// threads. The weights of an expert no row chose are not read.
void MoeFfn(const Forward& f, const LayerWeights& w, RowRange range, Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kFfn);
  const ModelConfig& c = f.m.config;
  const int64_t n = range.size(), dim = c.dim, experts = c.expert_count, used = c.expert_used_count;
  float* xn = &a.xn[range.begin * dim];
  Activations::Moe& moe = a.moe;
  moe.logits.resize(static_cast<size_t>(n * experts));
  MatMul(f.workers, f.k, w.router, f.placed.Slices(w.router), xn, n, moe.logits.data(), a.gemv, f.int8_activations);
  Route(f, moe.logits.data(), n, moe);
  for (int64_t b0 = 0; b0 < n; b0 += Activations::kMoeBlock) {
    const int64_t nb = std::min(Activations::kMoeBlock, n - b0);
    float* xb = xn + b0 * dim;
    const int32_t* chosen = &moe.chosen[b0 * used];
    // The block's (row, expert) pairs grouped by expert, rows ascending in each (a counting sort):
    // slot_of[r·used + k] is the slot of row r's k-th choice.
    moe.first.assign(static_cast<size_t>(experts + 1), 0);
    for (int64_t i = 0; i < nb * used; ++i) ++moe.first[chosen[i] + 1];
    for (int64_t e = 0; e < experts; ++e) moe.first[e + 1] += moe.first[e];
    moe.rows.resize(static_cast<size_t>(nb * used));
    moe.row_weight.resize(static_cast<size_t>(nb * used));
    moe.slot_of.resize(static_cast<size_t>(nb * used));
    std::vector<int64_t> next(moe.first.begin(), moe.first.end() - 1);
    for (int64_t r = 0; r < nb; ++r)
      for (int64_t k = 0; k < used; ++k) {
        const int64_t slot = next[chosen[r * used + k]]++;
        moe.rows[slot] = r;
        moe.row_weight[slot] = moe.weight[(b0 + r) * used + k];
        moe.slot_of[r * used + k] = slot;
      }
    moe.in.resize(static_cast<size_t>(nb * used * dim));
    f.workers.ParallelFor(nb * used, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) std::copy_n(xb + moe.rows[i] * dim, dim, &moe.in[i * dim]);
    });
    std::vector<ExpertTask> tasks;
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t t0 = moe.first[e]; t0 < moe.first[e + 1]; t0 += Activations::kExpertRows)
        tasks.push_back({static_cast<int32_t>(e), t0, std::min(moe.first[e + 1], t0 + Activations::kExpertRows)});
    RunExperts(f, w, tasks, a);
    // Each row's sum over its experts, in expert order (its slots ascending).
    moe.sum.assign(static_cast<size_t>(nb * dim), 0.0f);
    f.workers.ParallelFor(nb, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t* slots = &moe.slot_of[r * used];
        std::sort(slots, slots + used);
        for (int64_t k = 0; k < used; ++k)
          f.k.axpy(moe.row_weight[slots[k]], &moe.in[slots[k] * dim], &moe.sum[r * dim], dim);
      }
    });
    if (w.shared_gate.data != nullptr) {  // every row through the shared expert, scaled by its gate
      std::copy_n(xb, nb * dim, moe.in.data());
      FfnRows(f, w.shared_gate, w.shared_up, w.shared_down, moe.in.data(), nb, a.Ffn());
      f.workers.ParallelFor(nb, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float g = 1.0f / (1.0f + std::exp(-f.k.dot_f32(w.shared_gate_inp.data(), xb + r * dim, dim)));
          f.k.axpy(g, &moe.in[r * dim], &moe.sum[r * dim], dim);
        }
      });
    }
    std::copy_n(moe.sum.data(), nb * dim, xb);
  }
}

}  // namespace

Attention ModelAttention(const Model::Impl& m, const simd::Kernels& k) {
  const ModelConfig& c = m.config;
  return Attention(k, {c.num_heads, c.num_kv_heads, c.head_dim, m.arch_values.attn_scale, m.arch_values.attn_softcap});
}

void EmbedRows(const Forward& f, int64_t begin, std::span<const int64_t> positions, std::span<const int32_t> tokens,
               int64_t first, float* x) {
  const StageTimer timer(f.profile, StepProfile::kEmbed);
  const int64_t dim = f.m.config.dim;
  const simd::ToF32Fn convert = f.k.Row(f.m.token_embd.dtype).to_f32;
  const float scale = f.m.arch_values.embed_scale;
  f.workers.ParallelFor(static_cast<int64_t>(positions.size()), 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* row = x + (begin + i) * dim;
      convert(f.m.token_embd.Row(tokens[positions[i] - first]), row, dim);
      if (scale != 1.0f) f.k.scale(row, scale, dim);
    }
  });
}

void LayerQkv(const Forward& f, int64_t l, const LayerRows& rows, RowRange range, Activations& a) {
  const LayerWeights& w = f.m.layers[l];
  const ModelConfig& c = f.m.config;
  const int64_t n = range.size(), r = range.begin, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  float* xn = &a.xn[r * c.dim];
  NormRows(f, &a.x[r * c.dim], w.attn_norm, xn, n);  // xn = RMSNorm(x)               [n, dim]
  // q = xn·Wqᵀ (+ bq) [n, heads·head_dim]; k = xn·Wkᵀ (+ bk), v = xn·Wvᵀ (+ bv) [n, kv_heads·head_dim]
  ProjectQkv(f, w, xn, n, &a.q[r * q_dim], &a.k[r * kv_dim], &a.v[r * kv_dim], a);
  RotateAndCacheKv(f, w, l, rows, range, a);  // Q/K norms, RoPE at each row's position; K/V cached
}

void LayerAttend(const Forward& f, int64_t l, const LayerRows& rows, RowRange range, Activations& a) {
  Attend(f, l, f.m.layers[l].sliding_window, rows, range, a);  // attn: per sequence over its keys (+ scores)
}

void LayerOut(const Forward& f, int64_t l, RowRange range, Activations& a) {
  const LayerWeights& w = f.m.layers[l];
  const ModelConfig& c = f.m.config;
  const int64_t n = range.size(), r = range.begin, q_dim = c.num_heads * c.head_dim;
  float* x = &a.x[r * c.dim];
  float* xn = &a.xn[r * c.dim];
  // Attention block, after the attention.
  Project(f, &a.attn[r * q_dim], n, w.wo, {}, xn, a);  // xn = attn·Woᵀ                 [n, dim]
  if (!w.post_attn_norm.empty()) NormRows(f, xn, w.post_attn_norm, xn, n);
  AddRows(f, xn, x, n);  // x += xn
  // MLP block.
  NormRows(f, x, w.ffn_norm, xn, n);  // xn = RMSNorm(x)               [n, dim]
  if (w.moe())
    MoeFfn(f, w, range, a);  // xn = Σ routed experts' FFN(xn) (+ gated shared expert)
  else
    Mlp(f, w, range, a);  // xn = Wdown·act(xn·Wgate) ⊙ (xn·Wup)
  if (!w.post_ffn_norm.empty()) NormRows(f, xn, w.post_ffn_norm, xn, n);
  AddRows(f, xn, x, n);  // x += xn
}

void Layer(const Forward& f, int64_t l, const LayerRows& rows, Activations& a) {
  const RowRange all = {0, rows.num_rows()};
  LayerQkv(f, l, rows, all, a);     // q, and K/V of every row first: a row's attention reads its keys
  LayerAttend(f, l, rows, all, a);  // attn
  LayerOut(f, l, all, a);           // x += output projection; x += MLP
}

void LmHead(const Forward& f, const float* in, int64_t n, float* normed, float* logits, Activations& a) {
  NormRows(f, in, f.m.output_norm, normed, n);
  const StageTimer timer(f.profile, StepProfile::kLmHead, Bytes(f.m.output));
  MatMul(f.workers, f.k, f.m.output, f.placed.Slices(f.m.output), normed, n, logits, a.gemv, f.int8_activations);
  // Final soft-capping (gemma2): logit -> c·tanh(logit/c).
  const float cap = f.m.arch_values.final_softcap;
  if (cap <= 0) return;
  const int64_t total = n * f.m.config.vocab_size;
  for (int64_t i = 0; i < total; ++i) logits[i] = cap * std::tanh(logits[i] / cap);
}

}  // namespace lazyllm
