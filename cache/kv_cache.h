// Per-layer key/value cache addressed by absolute token slot (slot = the token's position).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lazyllm::cache {

// K and V rows of every layer, fp32, shape [layers][max_slots][kv_dim] each, with K stored
// after RoPE. Slot s holds the token at position s. Not thread-safe for concurrent writes to
// the same slot; distinct slots and layers may be written in parallel.
class KvCache {
 public:
  KvCache(int64_t num_layers, int64_t max_slots, int64_t kv_dim);

  int64_t num_layers() const { return num_layers_; }
  int64_t max_slots() const { return max_slots_; }
  int64_t kv_dim() const { return kv_dim_; }

  float* K(int64_t layer, int64_t slot) { return &k_[Index(layer, slot)]; }
  float* V(int64_t layer, int64_t slot) { return &v_[Index(layer, slot)]; }
  const float* K(int64_t layer, int64_t slot) const { return &k_[Index(layer, slot)]; }
  const float* V(int64_t layer, int64_t slot) const { return &v_[Index(layer, slot)]; }

  // Bytes held by K and V together.
  int64_t bytes() const { return static_cast<int64_t>((k_.size() + v_.size()) * sizeof(float)); }

 private:
  size_t Index(int64_t layer, int64_t slot) const {
    return static_cast<size_t>((layer * max_slots_ + slot) * kv_dim_);
  }

  int64_t num_layers_, max_slots_, kv_dim_;
  std::vector<float> k_, v_;
};

}  // namespace lazyllm::cache
