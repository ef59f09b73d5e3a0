// A sequence's LazyLLM state across its steps: the schedule resolved per layer, which (token,
// layer) pairs have K/V and the Aux Cache of dropped tokens' hidden states, what pruning did, and
// observation points for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "cache/token_state.h"
#include "lazyllm/engine.h"
#include "lazyllm/pruning.h"

namespace lazyllm {

// Observation points of the selection (tests).
struct PruningHooks {
  // A computed row dropped at a selection layer, as it is stored in Aux[layer] (layer = selection
  // layer - 1): its output hidden state of that layer.
  std::function<void(int64_t layer, int64_t slot, std::span<const float> row)> on_stash;
  // A revived row at the input of selection layer `layer`, as it enters the computation.
  std::function<void(int64_t layer, int64_t slot, std::span<const float> row)> on_revive;
  // A selected token whose revival at selection layer `layer` the revival bound deferred.
  std::function<void(int64_t layer, int64_t slot)> on_defer;
};

// Layers whose output the Aux Cache keeps: l where l+1 is a LazyLLM selection layer.
std::vector<bool> AuxLayers(const PruningOptions& options, int64_t num_layers);

struct PruningState {
  PruningOptions options;
  std::vector<double> step_k;  // per layer: the fraction dropped at its input, or -1
  cache::TokenState tokens;    // has_kv per (layer, position) and the Aux Cache
  PruningStats stats;          // of the last prefill and the appends since
  PruningHooks hooks;

  PruningState(const PruningOptions& o, int64_t num_layers, int64_t max_positions, int64_t dim);

  int64_t num_layers() const { return static_cast<int64_t>(step_k.size()); }
  bool IsSelectionLayer(int64_t l) const { return l < num_layers() && step_k[l] >= 0.0; }
  // Appends re-select their keys at the selection layers (LazyLLM), rather than attend to every
  // cached key (static and random baselines, off).
  bool Reselects() const { return options.method == PruningOptions::Method::kLazy; }
  // Whether a step of this sequence selects at the input of layer l.
  bool SelectsAt(int64_t l, bool prefill) const { return IsSelectionLayer(l) && (prefill || Reselects()); }
  // A prefill starts over: no pairs computed, no stats.
  void Clear();
  // 100 · Σ_l |has_kv[l] ∩ prompt| / (L · N_prompt).
  double ComputedPct(int64_t prompt_len) const;
};

}  // namespace lazyllm
