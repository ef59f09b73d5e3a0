// Model internals: the mapped file and typed views of every weight tensor.
#pragma once

#include <memory>
#include <vector>

#include "core/io/gguf.h"
#include "core/model/arch.h"
#include "lazyllm/model.h"
#include "simd/dtype.h"

namespace lazyllm {

// A weight matrix as stored: `rows` output rows of `cols` inputs each (GGUF ne = [cols, rows]).
struct WeightMatrix {
  simd::DType dtype = simd::DType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t row_bytes = 0;
  // Its place in Model::Impl::matrices (the matrices the forward pass multiplies by; -1 for the
  // others), by which placed weights index its slices.
  int32_t index = -1;
  const void* Row(int64_t r) const { return data + r * row_bytes; }
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // converted to fp32 at load (small)
  WeightMatrix wq, wk, wv, wo;             // wq: [q_dim rows, dim], wo: [dim rows, q_dim]
  WeightMatrix w_gate, w_up, w_down;       // gate/up: [ffn rows, dim], down: [dim rows, ffn]
  // Optional per architecture (empty when absent):
  std::vector<float> bq, bk, bv;                     // [q_dim], [kv_dim], [kv_dim]
  std::vector<float> q_norm, k_norm;                 // [head_dim]
  std::vector<float> post_attn_norm, post_ffn_norm;  // [dim]
  // A mixture of experts (router empty when dense): the router [experts rows, dim]; each expert's
  // gate and up [expert_ffn rows, dim] and down [dim rows, expert_ffn], row views of the file's
  // 3-D tensors; the shared expert (empty when none) and its gate vector [dim].
  WeightMatrix router;
  std::vector<WeightMatrix> gate_exps, up_exps, down_exps;
  WeightMatrix shared_gate, shared_up, shared_down;
  std::vector<float> shared_gate_inp;
  bool moe() const { return !gate_exps.empty(); }
  int rope_table = 0;          // which RoPE table the layer rotates with (gemma3: local or global)
  int64_t sliding_window = 0;  // a key at distance >= this is masked (0: the layer sees every earlier key)
};

struct Model::Impl {
  // The mapped file; for a split model, every part in order (metadata lives in the first).
  std::vector<std::unique_ptr<gguf::File>> files;
  const gguf::File& meta() const { return *files.front(); }
  ModelConfig config;
  const ArchDesc* arch = nullptr;  // the family's row of the architecture table (null: vocab-only)
  ArchValues arch_values;          // what the file gives its features
  std::vector<ModelFeature> features;
  Tokenizer tokenizer;
  bool has_weights = false;
  double load_ms = 0;
  WeightMatrix token_embd;  // [vocab rows, dim]
  WeightMatrix output;      // [vocab rows, dim]; token_embd when tied
  std::vector<float> output_norm;
  std::vector<float> rope_freq_factors;  // empty, or rope_dims/2 divisors of the frequencies
  // RoPE tables by index (LayerWeights::rope_table): base and angle scale.
  struct RopeVariant {
    float theta;
    float freq_scale;
  };
  std::vector<RopeVariant> rope_variants;
  std::vector<LayerWeights> layers;
  // Every matrix the forward pass multiplies by (the LM head and each layer's projections), at
  // its index.
  std::vector<const WeightMatrix*> matrices;

  explicit Impl(Tokenizer t) : tokenizer(std::move(t)) {}
};

namespace internal {
struct ModelAccess {
  static const Model::Impl& Get(const Model& m) { return *m.impl_; }
};
}  // namespace internal

// The internals of a model (the library's own code and its tests).
inline const Model::Impl& ModelImpl(const Model& m) { return internal::ModelAccess::Get(m); }

}  // namespace lazyllm
