// Memory and flop estimates from a model's shape.
#include "core/engine/costs.h"

#include <algorithm>

#include "core/forward/activations.h"
#include "core/pruning/state.h"

namespace lazyllm {
namespace {

// The widths a model's matrices have, as doubles for estimates.
struct Widths {
  double layers, dim, q_dim, kv_dim, ffn, widest_ffn, vocab;
  explicit Widths(const ModelConfig& c)
      : layers(static_cast<double>(c.num_layers)),
        dim(static_cast<double>(c.dim)),
        q_dim(static_cast<double>(c.num_heads * c.head_dim)),
        kv_dim(static_cast<double>(c.num_kv_heads * c.head_dim)),
        // The FFN width a row computes: with experts, those it uses and the shared one.
        ffn(static_cast<double>(c.expert_count > 0 ? c.expert_used_count * c.expert_ffn_dim + c.shared_expert_ffn_dim
                                                   : c.ffn_dim)),
        widest_ffn(static_cast<double>(c.max_ffn_dim())),
        vocab(static_cast<double>(c.vocab_size)) {}
};

}  // namespace

SequenceNeed EstimateSequenceNeed(const ModelConfig& c, int64_t ctx, const PruningOptions& pruning, bool kv_f16,
                                  bool grow_rope, int64_t rope_variants) {
  const Widths w(c);
  const std::vector<bool> aux = AuxLayers(pruning, c.num_layers);
  SequenceNeed need;
  need.aux_layers = static_cast<int64_t>(std::count(aux.begin(), aux.end(), true));
  need.kv_per_token = w.kv_dim;
  const double n = static_cast<double>(ctx);
  // Per position: 6 bytes per layer (row map, has_kv, has_aux), the Aux Cache rows, 37 bytes of
  // step lists (rows, keys, next rows and the selection's order: 4 × 8; drop flags 1; scores 4).
  need.bookkeeping = n * (w.layers * 6 + static_cast<double>(need.aux_layers) * w.dim * 4 + 37 +
                          (grow_rope ? static_cast<double>(rope_variants * c.rope_dims) * 4 : 0));
  need.kv = n * w.layers * 2 * w.kv_dim * (kv_f16 ? 2 : 4);
  need.activations = 4 * (n * (2 * w.dim + 2 * w.q_dim + 4 * w.kv_dim) +
                          std::min(n, static_cast<double>(Activations::kFfnChunk)) * 2 * w.widest_ffn + w.vocab);
  if (c.expert_count > 0) {  // the router's logits and the routing; per block the slots, their rows and the sum
    const double used = static_cast<double>(c.expert_used_count);
    need.activations += 4 * n * (static_cast<double>(c.expert_count) + 2 * used) +
                        std::min(n, static_cast<double>(Activations::kMoeBlock)) * (4 * (used + 1) * w.dim + 20 * used);
  }
  return need;
}

LayerFlops EstimateLayerFlops(const ModelConfig& c) {
  const Widths w(c);
  return {.qkv_row = 2 * w.dim * (w.q_dim + 2 * w.kv_dim),
          .rest_row = 2 * (w.q_dim * w.dim + 3 * w.dim * w.ffn),
          .per_key = 4 * w.q_dim};
}

double EstimateStepFlops(const ModelConfig& c, int64_t n, int64_t keys) {
  const Widths w(c);
  const double per_row = 2 * (w.dim * (2 * w.q_dim + 2 * w.kv_dim) + 3 * w.dim * w.ffn);
  const auto rows = static_cast<double>(n);
  return w.layers * (rows * per_row + 4 * rows * static_cast<double>(keys) * w.q_dim) + 2 * w.dim * w.vocab;
}

}  // namespace lazyllm
