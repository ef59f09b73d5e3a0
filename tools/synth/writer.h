// Writing synthetic Llama-architecture GGUF files: a file's shape, vocabulary and tensors (each
// row given by a function), written with the library's GGUF writer in the dtype asked for; and the
// random stream synthetic weights and eval sets draw from.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lazyllm/status.h"
#include "simd/dtype.h"

namespace lazyllm {

// The shape of a synthetic model.
struct SynthShape {
  std::string name;
  int64_t layers = 0;
  int64_t dim = 0;
  int64_t ffn_dim = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t context = 0;
  float rope_theta = 10000.0f;
  bool tied_output = true;  // no output.weight: the LM head reuses token_embd.weight
  // A mixture of experts (experts 0: dense): written as `arch` (llama: Mixtral's layout, the
  // experts' width as feed_forward_length; qwen3moe: per-head Q/K norms and
  // expert_feed_forward_length), experts_used per token, each of width ffn_dim.
  std::string arch = "llama";
  int64_t experts = 0, experts_used = 0;
  int64_t head_dim = 0;  // 0: dim / heads (else written as attention.key_length/value_length)

  int64_t HeadDim() const { return head_dim > 0 ? head_dim : dim / heads; }
};

struct SynthVocab {  // a SentencePiece ("llama") tokenizer: BOS 1, EOS 2, UNK 0
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte
};
struct SynthTensor {
  std::string name;
  int64_t cols = 0, rows = 1;  // ne[0], ne[1] (rows = 1 for vectors)
  simd::DType dtype = simd::DType::kF32;
  std::function<void(int64_t row, float* out)> fill;  // writes the row's `cols` values
  int64_t count = 1;  // ne[2] of a 3-D tensor (experts); fill's rows run over all rows × count
};
struct SynthFile {
  std::string name;  // general.name
  SynthShape shape;  // layers, dims, heads, context, rope theta
  simd::DType file_type = simd::DType::kF32;
  const SynthVocab* vocab = nullptr;
  std::vector<SynthTensor> tensors;  // in file order; dtypes a row length does not suit fall back
};
// The rows of a tensor of `cols` columns, every value v (norm weights of 1, zero matrices).
std::function<void(int64_t, float*)> ConstantRows(int64_t cols, float v);

// Writes the file; a tensor's rows that its dtype's block does not divide take llama.cpp's
// fallback type (Q4_K -> Q5_0, ...), and general.file_type is file_type's.
Status WriteSynthGguf(const SynthFile& file, const std::string& path);

// splitmix64: a fast, well-mixed stream that is the same on every platform (the standard
// library's distributions are not), for synthetic weights and eval sets.
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-a, a].
  float Uniform(float a) { return (static_cast<float>(Next() >> 40) * (2.0f / 16777216.0f) - 1.0f) * a; }
  // Uniform in [0, n), n > 0, by multiply-high.
  size_t Below(size_t n) { return static_cast<size_t>((static_cast<unsigned __int128>(Next()) * n) >> 64); }
};

// The dtypes synthetic weights can be written in (those simd/quantize.cc encodes): a --dtype name
// parsed, and all of them, comma-separated.
StatusOr<simd::DType> ParseSynthDType(const std::string& name);
std::string SynthDTypeNames();

}  // namespace lazyllm
