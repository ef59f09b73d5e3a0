// LazyLLM's selection within one step, per sequence: the rows the step starts with, the keys of
// each layer, and the selection at a pruning layer's input (the lowest-scored drop, computed rows
// that drop are stashed in the Aux Cache, and in an append selected tokens without K/V there are
// revived from it).
#pragma once

#include <cstdint>
#include <vector>

#include "cache/kv_cache.h"
#include "core/pruning/state.h"
#include "lazyllm/status.h"

namespace lazyllm {

// A sequence's rows through one step's layers.
struct StepRows {
  std::vector<int64_t> rows;  // positions computed at the current layer, ascending
  std::vector<int64_t> live;  // positions of their keys at the current layer, ascending (the rows among them)
  std::vector<float> scores;  // [live]: the last row's attention at the previous layer, averaged over heads
};

// The selection's scratch, shared by the sequences of a step (they select one after another).
struct SelectScratch {
  std::vector<int64_t> next_rows, order;
  std::vector<uint8_t> drop;  // per live key: dropped at this selection
};

// The rows a step of n tokens at positions pos..pos+n-1 computes at layer 0, and their keys: a
// prefill's prompt (the random baseline first drops its share, never the last token; the kept
// positions go to the stats); an append's new tokens, whose keys with LazyLLM are every cached
// token and the new ones.
void BeginRows(PruningState& p, bool prefill, int64_t pos, int64_t n, StepRows& r);

// The keys of layer l for an append that does not re-select: every token with K/V at l, and the
// rows computed now (positions >= pos).
void KeysFromCache(const PruningState& p, int64_t l, int64_t pos, StepRows& r);

// One selection: at the input of `layer`, the sequence's current rows at `src` (dim floats
// each, in row order) become its selected rows at `dst`.
struct SelectionAt {
  int64_t layer;
  bool decode;  // an append: revivals happen, within the KV pool
  int64_t dim;
  int64_t future;  // the sequence's promised tokens after this step's (their pages stay set aside)
  const float* src;
  float* dst;
};

// Selection at the input of layer l over the live keys of layer l-1 (r.scores aligned with
// r.live): drops floor(k·|live|) of the lowest-scored keys (never the last). Dropped rows that
// were computed are stashed in Aux[l-1]; in an append, selected keys without K/V at l are revived
// from Aux[l-1] into the rows, as many as the KV pool has pages for (the others stay dropped,
// counted in revivals_skipped). r.rows and r.live become the selected ones. ResourceExhausted,
// with nothing changed, when the pool cannot hold even the rows the sequence keeps computing.
Status Select(PruningState& p, cache::KvCache& kv, const SelectionAt& at, StepRows& r, SelectScratch& scratch);

// The error of a sequence whose rows from `layer` on find no KV pages in the pool.
Status KvFullError(const cache::KvCache& kv, int64_t rows, int64_t layer);

}  // namespace lazyllm
