// Per-sequence LazyLLM bookkeeping: which (layer, token) pairs have K/V, and the Aux Cache of
// hidden states of tokens dropped before a pruning layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lazyllm::cache {

// Slots are token positions. Not thread-safe for concurrent writes to the same (layer, slot).
class TokenState {
 public:
  // aux_layers[l] is true when layer l's output must be kept for dropped tokens (that is,
  // when l+1 is a pruning layer); only those layers get Aux Cache storage.
  TokenState(int64_t num_layers, int64_t max_slots, int64_t dim, const std::vector<bool>& aux_layers);

  void Clear();

  bool HasKv(int64_t layer, int64_t slot) const { return has_kv_[Index(layer, slot)] != 0; }
  // Marks that (layer, slot) was computed now. LazyLLM computes each pair at most once per
  // generation: a pair computed a second time fails a LAZYLLM_CHECK.
  void MarkComputed(int64_t layer, int64_t slot);

  bool HasAux(int64_t layer, int64_t slot) const { return has_aux_[Index(layer, slot)] != 0; }
  // Output hidden state of `layer` for `slot`, dim floats. Only for aux layers (checked).
  float* Aux(int64_t layer, int64_t slot);
  const float* Aux(int64_t layer, int64_t slot) const;
  void MarkAux(int64_t layer, int64_t slot) { has_aux_[Index(layer, slot)] = 1; }
  bool IsAuxLayer(int64_t layer) const { return aux_offset_[layer] >= 0; }

  // Tokens in [0, n_slots) with K/V at `layer`.
  int64_t CountKv(int64_t layer, int64_t n_slots) const;
  // (layer, slot) pairs computed so far.
  int64_t computed_pairs() const { return computed_pairs_; }

 private:
  size_t Index(int64_t layer, int64_t slot) const { return static_cast<size_t>(layer * max_slots_ + slot); }

  int64_t max_slots_, dim_;
  std::vector<uint8_t> has_kv_, has_aux_;
  std::vector<int64_t> aux_offset_;  // per layer: first float of its Aux rows, or -1
  std::vector<float> aux_;
  int64_t computed_pairs_ = 0;
};

}  // namespace lazyllm::cache
