// Model: an immutable, shareable Llama-family model loaded from a memory-mapped GGUF file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "lazyllm/status.h"
#include "lazyllm/tokenizer.h"

namespace lazyllm {

namespace internal {
struct ModelAccess;
}

// Hyperparameters read from GGUF metadata ({architecture}.* keys) and the tensor table. What
// distinguishes an architecture (biases, norms, RoPE style, soft-caps, sliding windows, ...) is
// lazyllm's own business; Model::features() describes it.
struct ModelConfig {
  std::string architecture;  // general.architecture: llama, qwen2, qwen3, phi3, gemma2, gemma3, qwen2moe, qwen3moe
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
  // A mixture of experts (expert_count 0: dense): experts per layer, experts a token uses, an
  // expert's FFN width, and the shared expert's (0: none).
  int64_t expert_count = 0;
  int64_t expert_used_count = 0;
  int64_t expert_ffn_dim = 0;
  int64_t shared_expert_ffn_dim = 0;
  // The widest FFN a row goes through: the dense one, an expert or the shared expert.
  int64_t max_ffn_dim() const { return expert_count > 0 ? std::max(expert_ffn_dim, shared_expert_ffn_dim) : ffn_dim; }
};

// One architecture feature of a model, for display (`lazyllm inspect`): its key, its value, and
// a phrase naming it as the model uses it ("" when the model does without it).
struct ModelFeature {
  std::string key;                                         // e.g. "rope", "qkv_bias", "attn_softcap"
  std::variant<bool, int64_t, double, std::string> value;  // e.g. "neox", true, 50.0
  std::string description;                                 // e.g. "NEOX RoPE", "attention soft-cap 50"
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
  // Every feature of lazyllm's architecture table, with this model's values (empty when
  // vocab-only).
  const std::vector<ModelFeature>& features() const;
  const Tokenizer& tokenizer() const;
  bool has_weights() const;
  uint32_t gguf_version() const;
  int64_t file_bytes() const;
  double load_ms() const;  // wall time of Load
  std::vector<TensorSummary> tensors() const;
  // tokenizer.chat_template (the Jinja text), empty when the file has none.
  std::string chat_template() const;
  // How its matmuls treat activations (for stats and bench records): "int8" when some weight
  // matrix is quantized and `exact_activations` is off (see SessionOptions), "fp32-exact" when it
  // is on, "fp32" when every matrix is F32, F16 or BF16 (or the model is vocab-only).
  std::string matmul_activations(bool exact_activations) const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::ModelAccess;
  LAZYLLM_LOCAL explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lazyllm
