// One step of an engine over its sequences: the rows of each layer planned, selected and run.
#include "core/engine/step.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/engine/costs.h"
#include "core/engine/sequence_impl.h"
#include "simd/check.h"

namespace lazyllm {
namespace {

// A prefill clears the sequence's context. KV pages for the step's rows at every layer are set
// aside (a prefill's worst case: nothing dropped), keeping those of its promised tokens; then
// its rows at layer 0.
void Begin(SeqStep& s) {
  Sequence::Impl& q = *s.seq;
  if (s.resume) {  // its rows where it stopped; its pages are still set aside
    s.rows = std::move(q.parked->rows);
    s.future = q.parked->future;
    s.at = q.parked->at;
    return;
  }
  const int64_t n = s.tokens;
  if (s.prefill) {
    q.parked.reset();
    q.pos = 0;
    q.prompt_len = n;
    q.pruning.Clear();
    q.kv.Clear();
  }
  s.future = std::max<int64_t>(q.kv_promised - n, 0);
  if (!q.kv.ReserveAtLeast(q.kv.PagesToAdd(n + s.future))) {
    s.failed = KvFullError(q.kv, n, 0);
    return;
  }
  BeginRows(q.pruning, s.prefill, q.pos, n, s.rows);
}

// Each active sequence's rows follow the previous one's; returns the rows in all.
int64_t Stack(std::span<SeqStep> seqs) {
  int64_t begin = 0;
  for (SeqStep& s : seqs) {
    if (!s.active()) continue;
    s.begin = begin;
    begin += static_cast<int64_t>(s.rows.rows.size());
  }
  return begin;
}

void Reserve(const Forward& f, int64_t rows, Activations& a) {
  const ModelConfig& c = f.m.config;
  a.Reserve(rows, c.dim, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim, c.max_ffn_dim());
}

// The selections at the input of layer l, and the rows restacked into x: a sequence that selects
// here contributes its selected rows (with revivals), the others their rows unchanged. An append
// that does not re-select attends to every cached key of the layer.
void SelectRows(const Forward& f, int64_t l, std::span<SeqStep> seqs, SelectScratch& scratch, Activations& a) {
  const StageTimer timer(f.profile, StepProfile::kSelect);
  const int64_t dim = f.m.config.dim;
  bool any = false;
  int64_t cap = 0;
  for (SeqStep& s : seqs) {
    if (!s.active()) continue;
    Sequence::Impl& q = *s.seq;
    if (!s.prefill && !q.pruning.Reselects()) KeysFromCache(q.pruning, l, q.pos, s.rows);
    const bool selects = q.pruning.SelectsAt(l, s.prefill);
    any = any || selects;
    cap += static_cast<int64_t>(selects ? s.rows.live.size() : s.rows.rows.size());
  }
  if (any) {
    Reserve(f, cap, a);
    int64_t cursor = 0;
    for (SeqStep& s : seqs) {
      if (!s.active()) continue;
      Sequence::Impl& q = *s.seq;
      float* dst = &a.xn[cursor * dim];
      const float* src = &a.x[s.begin * dim];
      if (q.pruning.SelectsAt(l, s.prefill)) {
        const SelectionAt at = {
            .layer = l, .decode = !s.prefill, .dim = dim, .future = s.future, .src = src, .dst = dst};
        s.failed = Select(q.pruning, q.kv, at, s.rows, scratch);
        if (!s.active()) continue;  // it left the step
        if (s.prefill) q.pruning.stats.kept_positions.push_back(s.rows.live);
      } else {
        std::memcpy(dst, src, s.rows.rows.size() * dim * sizeof(float));
      }
      s.begin = cursor;
      cursor += static_cast<int64_t>(s.rows.rows.size());
    }
    std::swap(a.x, a.xn);
  }
  for (SeqStep& s : seqs)
    if (s.active() && s.prefill)
      s.seq->pruning.stats.kept_per_layer.push_back(static_cast<int64_t>(s.rows.rows.size()));
}

// Each active sequence's segment of layer l: its rows and keys, a K/V row for each row (from the
// pages set aside, so one is there), and its scores when its next layer selects. `again`: a
// prefill resumed inside layer l, whose rows have their K/V rows and are marked computed there.
void PlanLayer(const Forward& f, int64_t l, std::span<SeqStep> seqs, LayerRows& rows, bool again) {
  const int64_t experts_used = f.m.layers[l].moe() ? f.m.config.expert_used_count : 0;
  rows.segments.clear();
  rows.pos.clear();
  rows.kv_row.clear();
  rows.segment.clear();
  for (SeqStep& s : seqs) {
    if (!s.active()) continue;
    Sequence::Impl& q = *s.seq;
    LAZYLLM_CHECK(s.begin == rows.num_rows()) << "segment at " << s.begin << " after " << rows.num_rows() << " rows";
    const bool scores = q.pruning.SelectsAt(l + 1, s.prefill);
    if (scores) s.rows.scores.resize(s.rows.live.size());
    rows.segments.push_back({s.begin, s.rows.rows, s.rows.live, &q.kv, scores ? s.rows.scores.data() : nullptr});
    for (int64_t t : s.rows.rows) {
      const int64_t kv_row = q.kv.Assign(l, t);
      LAZYLLM_CHECK(kv_row >= 0) << "the KV pages set aside for the step ran out at layer " << l;
      if (!again) q.pruning.tokens.MarkComputed(l, t);
      if (!again) q.pruning.stats.expert_rows += experts_used;
      rows.pos.push_back(t);
      rows.kv_row.push_back(kv_row);
      rows.segment.push_back(static_cast<int32_t>(rows.segments.size() - 1));
    }
  }
}

// The items' on_layer callbacks after `done` of `layers` layers; true when one cancelled its item.
bool ReportLayer(int64_t done, int64_t layers, std::span<SeqStep> seqs) {
  bool cancelled = false;
  for (SeqStep& s : seqs) {
    if (!s.active() || !s.item->on_layer || s.item->on_layer(done, layers)) continue;
    s.failed = CancelledError("cancelled by the on_layer callback after layer " + std::to_string(done) + " of " +
                              std::to_string(layers));
    cancelled = true;
  }
  return cancelled;
}

// Closes the gaps that sequences which left the step leave in x, keeping the others' order.
void Compact(int64_t dim, std::span<SeqStep> seqs, Activations& a) {
  int64_t cursor = 0;
  for (SeqStep& s : seqs) {
    if (!s.active()) continue;
    const auto n = static_cast<int64_t>(s.rows.rows.size());
    if (s.begin != cursor) std::memmove(&a.x[cursor * dim], &a.x[s.begin * dim], n * dim * sizeof(float));
    s.begin = cursor;
    cursor += n;
  }
}

// Each sequence's logits: the LM head over its last row (one matmul for all), or over every row
// of a prefill that asked for all of them (which needs every prompt row at the last layer).
void Logits(const Forward& f, std::span<SeqStep> seqs, Activations& a) {
  const int64_t dim = f.m.config.dim, vocab = f.m.config.vocab_size;
  std::vector<SeqStep*> last;
  for (SeqStep& s : seqs) {
    if (!s.active()) continue;
    const auto n = static_cast<int64_t>(s.rows.rows.size());
    if (s.item->all_logits == nullptr) {
      last.push_back(&s);
      continue;
    }
    if (n != static_cast<int64_t>(s.item->tokens.size())) {
      s.failed = InvalidArgumentError("logits at every prompt position need pruning off");
      continue;
    }
    std::vector<float>& all = *s.item->all_logits;
    all.resize(static_cast<size_t>(n * vocab));
    LmHead(f, &a.x[s.begin * dim], n, a.xn.data(), all.data(), a);
    std::copy_n(all.data() + (n - 1) * vocab, vocab, s.seq->logits.begin());
  }
  const auto b = static_cast<int64_t>(last.size());
  if (b == 0) return;
  for (int64_t i = 0; i < b; ++i) {
    const SeqStep& s = *last[i];
    const int64_t row = s.begin + static_cast<int64_t>(s.rows.rows.size()) - 1;
    std::memcpy(&a.xn[i * dim], &a.x[row * dim], dim * sizeof(float));
  }
  a.head_logits.resize(static_cast<size_t>(b * vocab));
  LmHead(f, a.xn.data(), b, a.xn.data(), a.head_logits.data(), a);
  for (int64_t i = 0; i < b; ++i) std::copy_n(&a.head_logits[i * vocab], vocab, last[i]->seq->logits.begin());
}

// The sequence moves past the step's tokens; its share of prompt pairs computed (and of expert
// rows) is updated.
void Finish(const Forward& f, SeqStep& s) {
  if (!s.active()) return;
  Sequence::Impl& q = *s.seq;
  q.parked.reset();
  q.pos += s.tokens;
  PruningStats& stats = q.pruning.stats;
  const ModelConfig& c = f.m.config;
  if (c.expert_count > 0) stats.expert_rows_unpruned += s.tokens * c.num_layers * c.expert_used_count;
  stats.prompt_tokens_computed_pct = q.pruning.ComputedPct(q.prompt_len);
  if (s.prefill) stats.prompt_tokens_computed_pct_prefill = stats.prompt_tokens_computed_pct;
}

bool AnyActive(std::span<const SeqStep> seqs) {
  return std::any_of(seqs.begin(), seqs.end(), [](const SeqStep& s) { return s.active(); });
}

// Exchanges an activation matrix with a parked one, keeping `size` floats in `a`'s.
void Exchange(std::vector<float>& a, std::vector<float>& parked, int64_t size) {
  a.swap(parked);
  if (static_cast<int64_t>(a.size()) < size) a.resize(static_cast<size_t>(size));
}

int64_t QDim(const Forward& f) { return f.m.config.num_heads * f.m.config.head_dim; }

// A prefill cut short, stopped at layer l (s.at into it): its rows and their activations (x;
// inside a layer q until its attention is done, and attn until its output is) wait in the
// sequence for the next step. Alone in its step, its rows are the first ones.
void Park(const Forward& f, int64_t l, SeqStep& s, Activations& a) {
  if (!s.active()) return;
  LAZYLLM_CHECK(s.begin == 0) << "a parked prefill's rows begin at " << s.begin;
  std::optional<Sequence::Impl::Parked>& p = s.seq->parked;
  if (!p) p = Sequence::Impl::Parked{};
  p->layers_done = l;
  p->at = s.at;
  p->tokens = s.tokens;
  p->future = s.future;
  p->rows = std::move(s.rows);
  Exchange(a.x, p->x, a.row_cap * f.m.config.dim);
  if (s.at.qkv > 0) Exchange(a.q, p->q, a.row_cap * QDim(f));
  if (s.at.attend > 0) Exchange(a.attn, p->attn, a.row_cap * QDim(f));
  s.parked = true;
}

// A resumed prefill's activations back from its sequence.
void Unpark(const Forward& f, SeqStep& s, Activations& a) {
  Sequence::Impl::Parked& p = *s.seq->parked;
  Exchange(a.x, p.x, a.row_cap * f.m.config.dim);
  if (s.at.qkv > 0) Exchange(a.q, p.q, a.row_cap * QDim(f));
  if (s.at.attend > 0) Exchange(a.attn, p.attn, a.row_cap * QDim(f));
}

// The three parts of a layer, in order, and how a prefill cut inside one covers its rows.
enum class Part { kQkv, kAttend, kOut };

// Rows a cut inside a layer's part comes after a multiple of, from its first row; a part's range
// is never fewer rows than this (the last one takes the rest), so its kernel calls are the whole
// layer's: the matmuls' row blocks (kRowBlock), the attention's query blocks; a mixture of
// experts' output part is not cut.
int64_t CutRows(const Forward& f, int64_t l, Part part, int64_t n) {
  if (part == Part::kAttend) return f.attention.query_block();
  // A mixture of experts groups the rows by expert: its matmuls are the whole layer's only whole.
  return part == Part::kOut && f.m.layers[l].moe() ? n : kRowBlock;
}

// Estimated flops of rows [r0, r1) of a prefill's layer in one part; a row's attention is over
// about as many keys as rows up to it.
double PartFlops(const LayerFlops& lf, Part part, int64_t r0, int64_t r1) {
  const auto b0 = static_cast<double>(r0), b1 = static_cast<double>(r1);
  switch (part) {
    case Part::kQkv:
      return (b1 - b0) * lf.qkv_row;
    case Part::kAttend:
      return lf.per_key * (b1 * (b1 + 1) - b0 * (b0 + 1)) / 2;
    case Part::kOut:
      return (b1 - b0) * lf.rest_row;
  }
  return 0;
}

// Layer l over the step's rows, from where a cut prefill stopped inside it (s.at, s being the
// step's first sequence). Each part runs its remaining rows at once while s.budget allows; a
// prefill with less budget left runs whole CutRows while it does (at least one range per step),
// then returns false, s.at saying where it stopped.
bool RunLayer(const Forward& f, int64_t l, SeqStep& s, const LayerRows& rows, Activations& a) {
  if (std::isinf(s.budget) && !s.at.begun) {  // the whole layer at once: every step but a cut prefill's
    Layer(f, l, rows, a);
    return true;
  }
  const int64_t n = rows.num_rows();
  const LayerFlops lf = EstimateLayerFlops(f.m.config);
  s.at.begun = true;
  while (s.at.out < n) {
    const Part part = s.at.qkv < n ? Part::kQkv : s.at.attend < n ? Part::kAttend : Part::kOut;
    int64_t& done = part == Part::kQkv ? s.at.qkv : part == Part::kAttend ? s.at.attend : s.at.out;
    const int64_t r0 = done, cut = CutRows(f, l, part, n);
    int64_t r1 = n;
    if (PartFlops(lf, part, r0, n) > s.budget) {
      r1 = r0;
      while (r1 + 2 * cut <= n && PartFlops(lf, part, r0, r1 + cut) <= s.budget) r1 += cut;
      if (r1 == r0 && s.ran) return false;
      if (r1 == r0) r1 = r0 + 2 * cut <= n ? r0 + cut : n;
    }
    const RowRange range = {r0, r1};
    if (part == Part::kQkv) LayerQkv(f, l, rows, range, a);
    if (part == Part::kAttend) LayerAttend(f, l, rows, range, a);
    if (part == Part::kOut) LayerOut(f, l, range, a);
    s.budget -= PartFlops(lf, part, r0, r1);
    s.ran = true;
    done = r1;
  }
  s.at = {};
  return true;
}

}  // namespace

void RunStep(const Forward& f, std::span<SeqStep> seqs, StepScratch& scratch, Activations& a) {
  const int64_t layers = f.m.config.num_layers, dim = f.m.config.dim;
  // Layers [first, last): all of them, unless a prefill cut short runs here alone.
  const int64_t first = seqs.front().first_layer, last = seqs.front().last_layer;
  LAZYLLM_CHECK(seqs.size() == 1 || (first == 0 && last == layers && std::isinf(seqs.front().budget)))
      << "a prefill cut short shares its step";
  for (SeqStep& s : seqs) Begin(s);  // rows at layer `first`; KV pages set aside
  Reserve(f, Stack(seqs), a);        // each sequence's rows after the previous one's
  for (SeqStep& s : seqs) {          // x = the rows' token embeddings, or a resumed prefill's rows
    if (!s.active()) continue;
    if (s.resume)
      Unpark(f, s, a);
    else
      EmbedRows(f, s.begin, s.rows.rows, s.item->tokens, s.prefill ? 0 : s.seq->pos, a.x.data());
  }
  for (int64_t l = first; l < last; ++l) {
    const bool inside = l == first && seqs.front().at.begun;  // resumed inside layer l: selected there
    if (!inside) SelectRows(f, l, seqs, scratch.select, a);   // LazyLLM's selections at the layer's input
    if (!AnyActive(seqs)) return;
    PlanLayer(f, l, seqs, scratch.layer, inside);  // each row's position, K/V row and keys
    if (!RunLayer(f, l, seqs.front(), scratch.layer, a)) return Park(f, l, seqs.front(), a);  // x = layer l (x)
    if (ReportLayer(l + 1, layers, seqs)) Compact(dim, seqs, a);
  }
  if (last < layers) return Park(f, last, seqs.front(), a);
  Logits(f, seqs, a);
  for (SeqStep& s : seqs) Finish(f, s);
}

}  // namespace lazyllm
