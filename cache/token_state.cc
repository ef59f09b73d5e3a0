// TokenState storage and counters.
#include "cache/token_state.h"

#include <algorithm>

#include "simd/check.h"

namespace lazyllm::cache {

TokenState::TokenState(int64_t num_layers, int64_t max_slots, int64_t dim, const std::vector<bool>& aux_layers)
    : max_slots_(max_slots),
      dim_(dim),
      has_kv_(static_cast<size_t>(num_layers * max_slots)),
      has_aux_(static_cast<size_t>(num_layers * max_slots)),
      aux_offset_(static_cast<size_t>(num_layers), -1) {
  int64_t next = 0;
  for (int64_t l = 0; l < num_layers; ++l) {
    if (l < static_cast<int64_t>(aux_layers.size()) && aux_layers[l]) {
      aux_offset_[l] = next;
      next += max_slots * dim;
    }
  }
  aux_.resize(static_cast<size_t>(next));
}

void TokenState::Clear() {
  std::fill(has_kv_.begin(), has_kv_.end(), 0);
  std::fill(has_aux_.begin(), has_aux_.end(), 0);
  computed_pairs_ = 0;
}

void TokenState::MarkComputed(int64_t layer, int64_t slot) {
  uint8_t& flag = has_kv_[Index(layer, slot)];
  LAZYLLM_CHECK(flag == 0) << "token " << slot << " computed a second time at layer " << layer;
  flag = 1;
  ++computed_pairs_;
}

float* TokenState::Aux(int64_t layer, int64_t slot) {
  LAZYLLM_CHECK(IsAuxLayer(layer)) << "layer " << layer << " keeps no Aux Cache";
  return &aux_[aux_offset_[layer] + slot * dim_];
}

const float* TokenState::Aux(int64_t layer, int64_t slot) const {
  LAZYLLM_CHECK(IsAuxLayer(layer)) << "layer " << layer << " keeps no Aux Cache";
  return &aux_[aux_offset_[layer] + slot * dim_];
}

int64_t TokenState::CountKv(int64_t layer, int64_t n_slots) const {
  return std::count(has_kv_.begin() + static_cast<long>(Index(layer, 0)),
                    has_kv_.begin() + static_cast<long>(Index(layer, n_slots)), uint8_t{1});
}

}  // namespace lazyllm::cache
