// Model: an immutable, shareable Llama-family model loaded from a memory-mapped GGUF file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lazyllm/status.h"
#include "lazyllm/tokenizer.h"

namespace lazyllm {

namespace internal {
struct ModelAccess;
}

// Hyperparameters read from GGUF metadata ({architecture}.* keys) and the tensor table.
struct ModelConfig {
  std::string architecture;  // general.architecture: llama, qwen2, qwen3, phi3, gemma2 or gemma3
  std::string name;          // general.name, may be empty
  int64_t num_layers = 0;
  int64_t dim = 0;  // embedding length
  int64_t ffn_dim = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t rope_dims = 0;  // rotated dimensions per head (even, <= head_dim)
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // trained context (llama.context_length)
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_output = false;  // no output.weight: the LM head reuses token_embd.weight
  // Architecture features (from lazyllm's architecture table and the file):
  bool rope_neox = false;            // RoPE pairs (i, i + rope_dims/2) instead of (2i, 2i+1)
  float rope_freq_scale = 1.0f;      // linear RoPE scaling: angles × this (1 / rope.scaling.factor)
  bool qkv_bias = false;             // biases on the Q, K, V projections
  bool qk_norm = false;              // per-head RMSNorm of Q and K before RoPE
  bool post_norms = false;           // RMSNorm of each block's output before the residual add
  bool gelu = false;                 // GeGLU (tanh GELU) instead of SwiGLU
  float embed_scale = 1.0f;          // embeddings are multiplied by this (sqrt(dim) for gemma)
  float attn_scale = 0.0f;           // attention logits × this (1/sqrt(head_dim) unless the family says otherwise)
  float attn_softcap = 0.0f;         // attention logits -> c·tanh(logit/c) when > 0
  float final_softcap = 0.0f;        // output logits -> c·tanh(logit/c) when > 0
  int64_t sliding_window = 0;        // on sliding layers, a key at distance >= this is masked (0: none)
  std::vector<bool> sliding_layers;  // per layer: attends through the sliding window
};

struct LoadOptions {
  // Read only the metadata and the tokenizer (for vocab-only files and `tokenize`).
  // Default: false, weights are mapped and checked.
  bool vocab_only = false;
};

// One tensor of the file, for `inspect`.
struct TensorSummary {
  std::string name;
  std::string dtype;           // "F32", "Q8_0", ...
  std::vector<int64_t> shape;  // GGUF order: shape[0] is the contiguous dimension
};

// Cheap to copy (a shared handle); immutable and safe to use from many sessions and threads.
// Ownership is shared: engines, sessions and sequences hold the model, so releasing the last
// Model handle while they run is safe, and references from config() and tokenizer() stay valid
// while any handle, engine or session on the model lives.
class LAZYLLM_API Model {
 public:
  // Maps `path` and validates it: GGUF structure, architecture, hyperparameters, every
  // tensor's presence, dtype and shape. Errors name the file and the offending item.
  static StatusOr<Model> Load(const std::string& path, const LoadOptions& options = {});

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  bool has_weights() const;
  uint32_t gguf_version() const;
  int64_t file_bytes() const;
  double load_ms() const;  // wall time of Load
  std::vector<TensorSummary> tensors() const;
  // tokenizer.chat_template (the Jinja text), empty when the file has none.
  std::string chat_template() const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::ModelAccess;
  LAZYLLM_LOCAL explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lazyllm
