// LazyLLM's selection within a step: starting rows, keys per layer, drops, stashes and revivals.
#include "core/pruning/selection.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "simd/check.h"
#include "simd/select.h"

namespace lazyllm {
namespace {

using Method = PruningOptions::Method;

// The random baseline's prefill: drops floor(k·(n-1)) of the prompt's positions, never the last,
// uniformly at random (seeded).
void DropAtRandom(PruningState& p, StepRows& r) {
  const auto n = static_cast<int64_t>(r.rows.size());
  std::vector<int64_t> cand(r.rows.begin(), r.rows.end() - 1);
  std::mt19937_64 rng(p.options.seed);
  std::shuffle(cand.begin(), cand.end(), rng);
  cand.resize(static_cast<size_t>(PruningOptions::NumDropped(p.options.random_k, n)));
  std::vector<uint8_t> dropped(static_cast<size_t>(n), 0);
  for (int64_t t : cand) dropped[t] = 1;
  std::erase_if(r.rows, [&](int64_t t) { return dropped[t] != 0; });
  p.stats.kept_positions.push_back(r.rows);
}

// The revival bound: of the selected keys an append would revive at this layer (no K/V here, not
// computed in this step), keeps the budget's worth of highest score (ties: the later position)
// and defers the others: they are not selected at this layer in this step, and their Aux Cache
// entries stay for a later step.
void BoundRevivals(PruningState& p, const SelectionAt& at, const StepRows& r, SelectScratch& scratch) {
  const int64_t budget = p.options.revive_budget;
  std::vector<int64_t>& cand = scratch.order;  // SelectLowest is done with it
  cand.clear();
  size_t i = 0;
  for (size_t j = 0; j < r.live.size(); ++j) {
    const bool computed = i < r.rows.size() && r.rows[i] == r.live[j];
    if (computed) ++i;
    if (!scratch.drop[j] && !computed && !p.tokens.HasKv(at.layer, r.live[j])) cand.push_back(static_cast<int64_t>(j));
  }
  if (static_cast<int64_t>(cand.size()) <= budget) return;
  std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
    return r.scores[a] != r.scores[b] ? r.scores[a] > r.scores[b] : r.live[a] > r.live[b];
  });
  for (size_t c = static_cast<size_t>(budget); c < cand.size(); ++c) {
    scratch.drop[cand[c]] = 1;
    if (p.hooks.on_defer) p.hooks.on_defer(at.layer, r.live[cand[c]]);
  }
  p.stats.revivals_deferred += static_cast<int64_t>(cand.size()) - budget;
}

// Sets aside KV pages for the rows an append computes from layer l on: its selected rows and the
// tokens it revives (keeping those of its promised tokens). Under a pool limit, revivals that
// find no page are skipped: the first ones in position order are kept, the rest stay dropped at
// this step. ResourceExhausted when not even the selected rows fit.
Status FitRevivals(PruningState& p, cache::KvCache& kv, const SelectionAt& at, const StepRows& r,
                   std::vector<uint8_t>& drop) {
  int64_t rows = 0, revive = 0;
  size_t i = 0;
  for (size_t j = 0; j < r.live.size(); ++j) {
    const bool computed = i < r.rows.size() && r.rows[i] == r.live[j];
    if (computed) ++i;
    if (drop[j]) continue;
    if (computed)
      ++rows;
    else if (!p.tokens.HasKv(at.layer, r.live[j]))
      ++revive;
  }
  auto fits = [&](int64_t v) { return kv.ReserveAtLeast(kv.PagesToAdd(rows + v + at.future, at.layer, at.future)); };
  int64_t allowed = revive;
  if (!fits(revive)) {
    if (!fits(0)) return KvFullError(kv, rows, at.layer);
    int64_t lo = 0, hi = revive;  // fits(lo), !fits(hi)
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    allowed = lo;
    fits(allowed);
  }
  if (allowed == revive) return OkStatus();
  i = 0;
  for (size_t j = 0; j < r.live.size(); ++j) {
    const bool computed = i < r.rows.size() && r.rows[i] == r.live[j];
    if (computed) ++i;
    if (drop[j] || computed || p.tokens.HasKv(at.layer, r.live[j])) continue;
    if (allowed > 0) {
      --allowed;
    } else {
      drop[j] = 1;
      ++p.stats.revivals_skipped;
    }
  }
  return OkStatus();
}

}  // namespace

void BeginRows(PruningState& p, bool prefill, int64_t pos, int64_t n, StepRows& r) {
  r.rows.resize(static_cast<size_t>(n));
  std::iota(r.rows.begin(), r.rows.end(), pos);
  if (prefill) {
    if (p.options.method == Method::kRandom) DropAtRandom(p, r);
    r.live = r.rows;
  } else if (p.Reselects()) {
    KeysFromCache(p, 0, pos, r);
  }
}

void KeysFromCache(const PruningState& p, int64_t l, int64_t pos, StepRows& r) {
  r.live.clear();
  for (int64_t t = 0; t < pos; ++t)
    if (p.tokens.HasKv(l, t)) r.live.push_back(t);
  for (int64_t t : r.rows)
    if (t >= pos) r.live.push_back(t);
}

Status Select(PruningState& p, cache::KvCache& kv, const SelectionAt& at, StepRows& r, SelectScratch& scratch) {
  const int64_t l = at.layer;
  const auto n_live = static_cast<int64_t>(r.live.size());
  scratch.drop.resize(r.live.size());
  scratch.order.resize(r.live.size());
  const int64_t num_drop = PruningOptions::NumDropped(p.step_k[l], n_live);
  simd::SelectLowest(r.scores.data(), r.live.data(), n_live, num_drop, scratch.order.data(), scratch.drop.data());
  if (at.decode) {
    if (p.options.revive_budget >= 0) BoundRevivals(p, at, r, scratch);
    const Status fit = FitRevivals(p, kv, at, r, scratch.drop);
    if (!fit.ok()) return fit;
  }
  std::vector<int64_t>& next = scratch.next_rows;
  next.clear();
  size_t i = 0;  // cursor into the current rows (a subsequence of live)
  for (size_t j = 0; j < r.live.size(); ++j) {
    const int64_t t = r.live[j];
    const bool computed = i < r.rows.size() && r.rows[i] == t;
    const float* src = computed ? at.src + static_cast<int64_t>(i) * at.dim : nullptr;
    if (computed) ++i;
    if (scratch.drop[j]) {
      if (computed && p.tokens.IsAuxLayer(l - 1)) {
        std::memcpy(p.tokens.Aux(l - 1, t), src, static_cast<size_t>(at.dim) * sizeof(float));
        p.tokens.MarkAux(l - 1, t);
        if (p.hooks.on_stash) p.hooks.on_stash(l - 1, t, {src, static_cast<size_t>(at.dim)});
      }
      continue;
    }
    if (!computed) {
      if (!at.decode || p.tokens.HasKv(l, t)) continue;  // attended through the cache
      // The Aux Cache invariant: has_kv[l-1][t] and not has_kv[l][t] => has_aux[l-1][t].
      LAZYLLM_CHECK(p.tokens.HasAux(l - 1, t)) << "token " << t << " has K/V at layer " << l - 1
                                               << " but neither K/V at layer " << l << " nor an Aux Cache entry";
      src = p.tokens.Aux(l - 1, t);  // revival: the stored output of layer l-1
      ++p.stats.revived_tokens;
    }
    float* dst = at.dst + static_cast<int64_t>(next.size()) * at.dim;
    std::memcpy(dst, src, static_cast<size_t>(at.dim) * sizeof(float));
    if (!computed && p.hooks.on_revive) p.hooks.on_revive(l, t, {dst, static_cast<size_t>(at.dim)});
    next.push_back(t);
  }
  r.rows.swap(next);
  // The live set shrinks to the selected keys.
  size_t kept = 0;
  for (size_t j = 0; j < r.live.size(); ++j)
    if (!scratch.drop[j]) r.live[kept++] = r.live[j];
  r.live.resize(kept);
  return OkStatus();
}

Status KvFullError(const cache::KvCache& kv, int64_t rows, int64_t layer) {
  const cache::KvPool& pool = kv.pool();
  return ResourceExhaustedError("KV memory pool is full: " + std::to_string(rows) + " rows from layer " +
                                std::to_string(layer) + " on need more pages of " + std::to_string(pool.page_bytes()) +
                                " bytes than the limit of " + std::to_string(pool.limit_bytes()) + " bytes leaves (" +
                                std::to_string(pool.held_bytes()) + " held; this sequence holds " +
                                std::to_string(kv.bytes()) + ")");
}

}  // namespace lazyllm
