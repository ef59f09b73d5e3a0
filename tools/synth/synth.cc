// `lazyllm synth`: random-weight Llama GGUF files in real models' shapes.
#include "tools/synth/synth.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "core/base/status_macros.h"
#include "tools/synth/needle.h"

namespace lazyllm {
namespace {

struct VocabEntry {
  const char* text;
  float score;
  int32_t type;
};
constexpr VocabEntry kVocab[] = {
#include "tools/synth/synth_vocab.inc"
};

const SynthVocab& Stories260KVocab() {
  static const SynthVocab vocab = [] {
    SynthVocab v;
    for (const VocabEntry& e : kVocab) {
      v.tokens.push_back(e.text);
      v.scores.push_back(e.score);
      v.types.push_back(e.type);
    }
    return v;
  }();
  return vocab;
}

}  // namespace

const std::vector<SynthShape>& SynthPresets() {
  static const std::vector<SynthShape> presets = {
      {"tiny-gqa", 4, 256, 768, 8, 2, 2048, 10000.0f, false},
      {"smollm2-135m", 30, 576, 1536, 9, 3, 8192, 100000.0f, true},
      {"llama3.2-1b", 16, 2048, 8192, 32, 8, 8192, 500000.0f, true},
      {"llama2-7b", 32, 4096, 11008, 32, 32, 4096, 10000.0f, false},
      // Qwen3-30B-A3B's shape (48 layers; --layers for fewer): 128 experts of width 768, 8 per token.
      {.name = "qwen3-30b-a3b",
       .layers = 48,
       .dim = 2048,
       .ffn_dim = 768,
       .heads = 32,
       .kv_heads = 4,
       .context = 32768,
       .rope_theta = 1000000.0f,
       .tied_output = false,
       .arch = "qwen3moe",
       .experts = 128,
       .experts_used = 8,
       .head_dim = 128},
      // Mixtral's layout in a small model: 8 experts of width 1792, 2 per token.
      {.name = "mixtral-tiny",
       .layers = 8,
       .dim = 1024,
       .ffn_dim = 1792,
       .heads = 16,
       .kv_heads = 4,
       .context = 8192,
       .rope_theta = 1000000.0f,
       .tied_output = false,
       .experts = 8,
       .experts_used = 2},
  };
  return presets;
}

StatusOr<SynthShape> FindSynthPreset(const std::string& name) {
  std::string names;
  for (const auto& p : SynthPresets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return InvalidArgumentError("unknown preset '" + name + "' (presets: " + names + ", needle)");
}

Status Synthesize(const SynthOptions& options, const std::string& path) {
  if (options.preset == "needle")
    return needle::Synthesize({.layers = options.layers, .context = options.context, .dtype = options.dtype}, path);
  LAZYLLM_ASSIGN_OR_RETURN(SynthShape shape, FindSynthPreset(options.preset));
  LAZYLLM_ASSIGN_OR_RETURN(simd::DType dtype, ParseSynthDType(options.dtype));
  if (options.layers < 0 || options.layers > 1024)
    return InvalidArgumentError("--layers " + std::to_string(options.layers) + " is out of range 1..1024");
  if (options.layers > 0) shape.layers = options.layers;
  if (options.context < 0 || options.context > (1 << 20))
    return InvalidArgumentError("--context " + std::to_string(options.context) + " is out of range 1..1048576");
  if (options.context > 0) shape.context = options.context;
  const int64_t head_dim = shape.HeadDim();
  const int64_t q_dim = shape.heads * head_dim, kv_dim = shape.kv_heads * head_dim;
  const SynthVocab& vocab = Stories260KVocab();
  const auto vocab_size = static_cast<int64_t>(vocab.tokens.size());

  // Tensor table, in llama.cpp's order. Each tensor draws from its own stream (seeded by the
  // seed and its index), uniform with variance 1/cols.
  SynthFile file{.name = "lazyllm-synth " + shape.name, .shape = shape, .file_type = dtype, .vocab = &vocab};
  const auto F32 = simd::DType::kF32;
  // The tensor is written in the file's dtype unless `type` says otherwise.
  auto add_random = [&](std::string name, int64_t cols, int64_t rows, int64_t count = 1,
                        std::optional<simd::DType> type = std::nullopt) {
    auto rng = std::make_shared<SplitMix64>(SplitMix64{options.seed * 0x100000001b3ull + file.tensors.size()});
    const float a = std::sqrt(3.0f / static_cast<float>(cols));
    file.tensors.push_back({std::move(name), cols, rows, type.value_or(dtype),
                            [rng, a, cols](int64_t, float* out) {
                              for (int64_t i = 0; i < cols; ++i) out[i] = rng->Uniform(a);
                            },
                            count});
  };
  add_random("token_embd.weight", shape.dim, vocab_size);
  file.tensors.push_back({"output_norm.weight", shape.dim, 1, F32, ConstantRows(shape.dim, 1.0f)});
  if (!shape.tied_output) add_random("output.weight", shape.dim, vocab_size);
  for (int64_t l = 0; l < shape.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    file.tensors.push_back({b + "attn_norm.weight", shape.dim, 1, F32, ConstantRows(shape.dim, 1.0f)});
    add_random(b + "attn_q.weight", shape.dim, q_dim);
    add_random(b + "attn_k.weight", shape.dim, kv_dim);
    add_random(b + "attn_v.weight", shape.dim, kv_dim);
    if (shape.arch == "qwen3moe") {  // per-head Q/K norms
      file.tensors.push_back({b + "attn_q_norm.weight", head_dim, 1, F32, ConstantRows(head_dim, 1.0f)});
      file.tensors.push_back({b + "attn_k_norm.weight", head_dim, 1, F32, ConstantRows(head_dim, 1.0f)});
    }
    add_random(b + "attn_output.weight", q_dim, shape.dim);
    file.tensors.push_back({b + "ffn_norm.weight", shape.dim, 1, F32, ConstantRows(shape.dim, 1.0f)});
    if (shape.experts > 0) {  // the router stays F32, as llama.cpp's quantizer leaves it
      add_random(b + "ffn_gate_inp.weight", shape.dim, shape.experts, 1, F32);
      add_random(b + "ffn_gate_exps.weight", shape.dim, shape.ffn_dim, shape.experts);
      add_random(b + "ffn_up_exps.weight", shape.dim, shape.ffn_dim, shape.experts);
      add_random(b + "ffn_down_exps.weight", shape.ffn_dim, shape.dim, shape.experts);
      continue;
    }
    add_random(b + "ffn_gate.weight", shape.dim, shape.ffn_dim);
    add_random(b + "ffn_up.weight", shape.dim, shape.ffn_dim);
    add_random(b + "ffn_down.weight", shape.ffn_dim, shape.dim);
  }
  return WriteSynthGguf(file, path);
}

}  // namespace lazyllm
