// The architecture table: what distinguishes each supported model family (GGUF
// general.architecture) for loading and for the one layer function of the forward pass.
#pragma once

#include <string_view>

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
};

// The row of `name`; nullptr for an architecture lazyllm does not run.
const ArchDesc* FindArch(std::string_view name);
// The supported names, comma-separated.
const char* SupportedArchNames();

}  // namespace lazyllm
