// The architecture table: what distinguishes each supported model family (GGUF
// general.architecture) for loading and for the one layer function of the forward pass, and the
// values a file gives those features.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/model.h"

namespace lazyllm {

enum class RopeStyle {
  kAdjacent,  // pairs (2i, 2i+1) of each head (llama)
  kNeox,      // pairs (i, i + rope_dims/2) (qwen2, qwen3, phi3, gemma2, gemma3)
};

enum class FfnActivation {
  kSilu,      // SwiGLU: silu(gate) ⊙ up
  kGeluTanh,  // GeGLU with the tanh form of GELU: gelu(gate) ⊙ up
};

// Which layers attend through a sliding window.
enum class SlidingLayers {
  kNone,
  kEven,       // layers 0, 2, 4, ... (gemma2)
  kFiveOfSix,  // every layer but each sixth: l % 6 != 5 (gemma3)
  kAll,        // every layer (phi3 when its sliding_window is set)
};

// Whether a family's files are mixtures of experts.
enum class Experts {
  kNone,      // dense; a file with expert_count > 0 is refused
  kOptional,  // dense, or experts when expert_count > 0 (llama: Mixtral's layout)
  kRequired,  // always experts (qwen2moe, qwen3moe)
};

// How a mixture of experts routes a row: the softmax of the router's logits over all experts,
// the expert_used_count largest (ties to the lower expert index), their probabilities as the
// weights, renormalised to sum 1 or not; and a shared expert every row goes through, scaled by
// sigmoid(ffn_gate_inp_shexp · h). Other rules (sigmoid gating with an expert bias, expert
// groups) are refused by name at load.
struct MoeRouting {
  bool renormalise = false;
  bool shared_expert = false;
};

// One family's row.
struct ArchDesc {
  std::string_view name;  // general.architecture
  RopeStyle rope = RopeStyle::kAdjacent;
  FfnActivation activation = FfnActivation::kSilu;
  bool qkv_bias = false;       // blk.N.attn_{q,k,v}.bias (required)
  bool qk_norm = false;        // blk.N.attn_{q,k}_norm.weight: per-head RMSNorm of Q and K before RoPE
  bool fused_qkv = false;      // blk.N.attn_qkv.weight: rows Q, then K, then V
  bool fused_gate_up = false;  // blk.N.ffn_up.weight holds 2·ffn rows: gate, then up (no ffn_gate)
  bool post_norms = false;     // blk.N.post_attention_norm / post_ffw_norm after each block
  bool embed_scale = false;    // embeddings × sqrt(dim)
  bool softcaps = false;       // {arch}.attn_logit_softcapping / final_logit_softcapping
  SlidingLayers sliding = SlidingLayers::kNone;  // with {arch}.attention.sliding_window > 0
  // Sliding layers use RoPE base 10000 without the file's scaling; the others use the file's
  // base and scaling (gemma3's local/global layers).
  bool sliding_local_rope = false;
  // The attention logits' scale for a model of this family; null: 1/sqrt(head_dim).
  float (*attn_scale)(const ModelConfig& c) = nullptr;
  Experts experts = Experts::kNone;
  MoeRouting routing;  // with experts
};

// The values one file gives its family's features (from its keys, or derived from its shape).
struct ArchValues {
  float rope_freq_scale = 1.0f;  // linear RoPE scaling: angles × this (1 / rope.scaling.factor)
  float embed_scale = 1.0f;      // embeddings × this
  float attn_scale = 0.0f;       // attention logits × this
  float attn_softcap = 0.0f;     // attention logits -> c·tanh(logit/c) when > 0
  float final_softcap = 0.0f;    // output logits -> c·tanh(logit/c) when > 0
  int64_t sliding_window = 0;    // on sliding layers, a key at distance >= this is masked (0: none)
};

// The row of `name`; nullptr for an architecture lazyllm does not run.
const ArchDesc* FindArch(std::string_view name);
// The supported names, comma-separated, in table order.
const std::string& SupportedArchNames();
// Whether layer l of a model of L layers attends through the sliding window (given one is set).
bool IsSlidingLayer(const ArchDesc& d, int64_t l);
// The model's features as `inspect` shows them: every feature of the table with its value, and
// a phrase for those the model uses.
std::vector<ModelFeature> DescribeFeatures(const ArchDesc& d, const ArchValues& v, const ModelConfig& c);

}  // namespace lazyllm
