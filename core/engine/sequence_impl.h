// Sequence internals: one request's KV cache, LazyLLM token state, position, pruning schedule
// and stats, and the per-sequence lists one step works through (its computed rows and live keys).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cache/kv_cache.h"
#include "cache/token_state.h"
#include "core/engine/engine_impl.h"
#include "core/engine/session_hooks.h"
#include "lazyllm/engine.h"

namespace lazyllm {
namespace internal {
struct SequenceAccess {
  static Sequence Make(std::unique_ptr<Sequence::Impl> impl) { return Sequence(std::move(impl)); }
  static Sequence::Impl* Get(const Sequence& s) { return s.impl_.get(); }
};
}  // namespace internal

struct Sequence::Impl {
  std::shared_ptr<Engine::Impl> engine;
  const Model::Impl& m;
  const ModelConfig& c;
  int64_t max_ctx;
  PruningOptions pruning;
  bool int8_activations;
  std::vector<double> step_k;  // per layer: the selection fraction, or -1 when not a selection layer
  cache::KvCache kv;
  // Tokens whose KV pages at every layer are set aside (ReserveKv), less those run since: steps
  // keep the pages these need and take what else they compute (revivals) from the pool.
  int64_t kv_promised = 0;
  cache::TokenState tokens;
  int64_t pos = 0;  // tokens in context
  int64_t prompt_len = 0;
  PruningStats stats;
  internal::SessionHooks hooks;
  std::vector<float> logits;  // [vocab]: of the most recent position
  Sampler sampler{SamplingOptions{}};

  // Within a step: the computed rows (positions, ascending; stacked activation rows
  // [begin, begin + rows.size())) and the live key set of the current layer (positions,
  // ascending); scores[] are the live keys' importance for the next selection.
  int64_t begin = 0;
  std::vector<int64_t> rows, live, next_rows, select_scratch;
  std::vector<uint8_t> drop;  // per live key: dropped at the current selection
  std::vector<float> scores;
  std::vector<int64_t> key_count;  // per computed row: live keys it attends to
  std::vector<int64_t> key_begin;  // per computed row: its first visible live key (sliding windows)

  Impl(std::shared_ptr<Engine::Impl> e, const SequenceOptions& o, int64_t max_context);

  bool IsSelectionLayer(int64_t l) const { return l < c.num_layers && step_k[l] >= 0.0; }
  // 100 · Σ_l |has_kv[l] ∩ prompt| / (L · N_prompt).
  double ComputedPct() const;
};

}  // namespace lazyllm
