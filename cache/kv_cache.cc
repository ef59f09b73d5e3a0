// KvCache storage.
#include "cache/kv_cache.h"

namespace lazyllm::cache {

KvCache::KvCache(int64_t num_layers, int64_t max_slots, int64_t kv_dim)
    : num_layers_(num_layers),
      max_slots_(max_slots),
      kv_dim_(kv_dim),
      k_(static_cast<size_t>(num_layers * max_slots * kv_dim)),
      v_(static_cast<size_t>(num_layers * max_slots * kv_dim)) {}

}  // namespace lazyllm::cache
