// Sequence internals: one request's state across steps: its KV cache (and the pages promised to
// it), its LazyLLM state, its position, its sampler and the logits of its newest position.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cache/kv_cache.h"
#include "core/engine/engine_impl.h"
#include "core/forward/layer.h"
#include "core/pruning/selection.h"
#include "core/pruning/state.h"
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
  int64_t max_ctx;
  bool exact_activations;
  cache::KvCache kv;
  // Tokens whose KV pages at every layer are set aside (ReserveKv), less those run since: steps
  // keep the pages these need and take what else they compute (revivals) from the pool.
  int64_t kv_promised = 0;
  PruningState pruning;
  int64_t pos = 0;  // tokens in context
  int64_t prompt_len = 0;
  std::vector<float> logits;  // [vocab]: of the most recent position
  Sampler sampler{SamplingOptions{}};
  // A prefill cut short (by max_layers or max_flops), between its steps: the layer it stopped at,
  // how far into that layer (its rows with q and K/V done, and with the rest done), its prompt
  // length, the tokens it promised after the prompt, its rows at that layer, and their
  // activations: x (dim floats a row) and, inside a layer, q and attn. The vectors are exchanged
  // with the step's activations, never copied, and may be longer than the rows.
  struct Parked {
    int64_t layers_done = 0;
    LayerCut at;
    int64_t tokens = 0, future = 0;
    StepRows rows;
    std::vector<float> x, q, attn;
  };
  std::optional<Parked> parked;

  Impl(std::shared_ptr<Engine::Impl> e, const SequenceOptions& o, int64_t max_context);
  // After a failed step: the context is gone (the step may have written part of it).
  void Forget();
};

}  // namespace lazyllm
