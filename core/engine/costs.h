// Estimates from a model's shape: the memory a sequence can come to need (checked before
// anything is allocated) and the flops of a step's rows (a small step runs on the calling thread).
#pragma once

#include <cstdint>

#include "lazyllm/model.h"
#include "lazyllm/pruning.h"

namespace lazyllm {

// Bytes a sequence of `ctx` tokens can come to need.
struct SequenceNeed {
  // Allocated up front: position -> row maps and has_kv / has_aux bits per layer, the Aux Cache
  // rows of the layers before selections, a step's per-position lists (rows, keys, scores,
  // selection scratch) and the RoPE tables' growth.
  double bookkeeping = 0;
  double kv = 0;           // its KV cache when every layer holds the whole context
  double activations = 0;  // a prefill of the whole context: stacked rows, one MLP chunk, the LM head's row
  int64_t aux_layers = 0;
  double kv_per_token = 0;  // K/V values per token and layer
  double total() const { return bookkeeping + kv + activations; }
};

// grow_rope: the engine's RoPE tables must grow to ctx (by rope_variants tables).
SequenceNeed EstimateSequenceNeed(const ModelConfig& c, int64_t ctx, const PruningOptions& pruning, bool kv_f16,
                                  bool grow_rope, int64_t rope_variants);

// A layer's flops: per row, its q/K/V projections and the rest of its matmuls (output projection
// and MLP); per (row, key) pair, its attention. One row through a layer's matmuls is what a
// step budget of rows × layers counts.
struct LayerFlops {
  double qkv_row = 0, rest_row = 0, per_key = 0;
  double row() const { return qkv_row + rest_row; }
};
LayerFlops EstimateLayerFlops(const ModelConfig& c);

// Matmul and attention flops of n rows over `keys` keys each (at most), through every layer and
// the LM head of one row.
double EstimateStepFlops(const ModelConfig& c, int64_t n, int64_t keys);

}  // namespace lazyllm
