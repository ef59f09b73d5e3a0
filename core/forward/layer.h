// The layer math of one step over the stacked rows of its sequences: the embedding, one
// transformer layer as a list of named steps, and the LM head. Norms, matmuls and the MLP run over
// all rows at once; RoPE, the K/V writes and attention per sequence, each over its own keys.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cache/kv_cache.h"
#include "core/forward/activations.h"
#include "core/forward/attention.h"
#include "core/forward/placed_weights.h"
#include "core/forward/profile.h"
#include "core/forward/rope.h"
#include "core/model/model_impl.h"
#include "simd/kernels.h"
#include "threading/context.h"

namespace lazyllm {

// What the layer math of one step reads: the model, its placed weights, the kernels, the
// attention shape and RoPE tables, the workers, and whether quantized matmuls of few rows round
// their activations to 8 bits; and where its stages' times go (EngineOptions::profile), if
// anywhere.
struct Forward {
  const Model::Impl& m;
  const PlacedWeights& placed;
  const simd::Kernels& k;
  const Attention& attention;
  const RopeTables& rope;
  const threading::Workers& workers;
  bool int8_activations;
  StepProfile::Phase* profile = nullptr;
};

// One sequence's rows in a layer's stacked activations, and what they attend to.
struct Segment {
  int64_t begin = 0;                   // its first stacked row
  std::span<const int64_t> positions;  // its rows' positions, ascending
  std::span<const int64_t> keys;       // its keys' positions at this layer, ascending; each row's own among them
  cache::KvCache* kv = nullptr;        // its K/V: the rows' written, the keys' read
  float* scores = nullptr;             // out, [keys]: the last row's attention averaged over heads (null: unwanted)
};

// The rows a layer computes: every sequence's segment, and per stacked row its position, its K/V
// row in its sequence's cache at this layer (assigned before the layer runs) and its segment.
struct LayerRows {
  std::vector<Segment> segments;
  std::vector<int64_t> pos;      // [rows]
  std::vector<int64_t> kv_row;   // [rows]
  std::vector<int32_t> segment;  // [rows]
  int64_t num_rows() const { return static_cast<int64_t>(pos.size()); }
};

// The attention of the model's layers: its heads and the scale and soft-cap its family gives.
Attention ModelAttention(const Model::Impl& m, const simd::Kernels& k);

// x[begin + i] = embedding of tokens[positions[i] - first] (× the family's embedding scale).
void EmbedRows(const Forward& f, int64_t begin, std::span<const int64_t> positions, std::span<const int32_t> tokens,
               int64_t first, float* x);

// Stacked rows [begin, end) of a layer.
struct RowRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// How far a layer has run over its rows when a prefill stopped inside it: begun once its rows
// are selected and planned, then LayerQkv over rows [0, qkv), LayerAttend over [0, attend) and
// LayerOut over [0, out).
struct LayerCut {
  bool begun = false;
  int64_t qkv = 0, attend = 0, out = 0;
};

// Transformer layer l over the stacked rows, x → x (and each sequence's K/V at layer l, and its
// scores where asked): LayerQkv, LayerAttend and LayerOut, each over all rows.
void Layer(const Forward& f, int64_t l, const LayerRows& rows, Activations& a);

// The three parts of layer l over a range of the rows, so that a long prefill can stop inside a
// layer. LayerQkv: the rows' q (kept in a.q) and their K/V, written to their caches.
// LayerAttend: their attention (into a.attn, and the scores of a sequence whose last row is in
// the range); it reads each row's keys at this layer, so LayerQkv must have run over every row of
// the range's sequences. LayerOut: output projection and MLP, x → x. A range that starts on a
// multiple of kRowBlock (of the attention's query block, for LayerAttend) makes the same kernel
// calls for its rows as the whole layer does, so any such cut computes the same bits.
void LayerQkv(const Forward& f, int64_t l, const LayerRows& rows, RowRange range, Activations& a);
void LayerAttend(const Forward& f, int64_t l, const LayerRows& rows, RowRange range, Activations& a);
void LayerOut(const Forward& f, int64_t l, RowRange range, Activations& a);

// logits[n][vocab] = LMHead(RMSNorm(in[n][dim])) (soft-capped where the family says so); normed
// receives the normalised rows and may be `in` itself.
void LmHead(const Forward& f, const float* in, int64_t n, float* normed, float* logits, Activations& a);

}  // namespace lazyllm
