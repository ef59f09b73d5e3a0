// Synthetic models: Llama-architecture GGUF files with random weights in a real model's shape,
// for benchmarks and tests. They carry a small real tokenizer (the 512-token SentencePiece
// vocabulary of the bundled stories260K model), so any GGUF reader can load them.
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
};

// The built-in random-weight presets: tiny-gqa, smollm2-135m, llama3.2-1b, llama2-7b. (`needle`,
// the constructed retrieval model of tools/synth/needle.h, is a preset of Synthesize too, not of this list.)
const std::vector<SynthShape>& SynthPresets();
StatusOr<SynthShape> FindSynthPreset(const std::string& name);

struct SynthOptions {
  std::string preset = "tiny-gqa";
  // Any dtype lazyllm can write (SynthDTypeNames(): those simd/quantize.cc encodes, from the
  // dtype registry). Norm weights stay F32; rows that the dtype's block does not divide fall back as llama.cpp's
  // quantizer does (Q4_K -> Q5_0, ...).
  std::string dtype = "f32";
  int64_t layers = 0;   // 0: the preset's
  int64_t context = 0;  // 0: the preset's
  uint64_t seed = 0;
};

// Writes the model to `path`. Weights are uniform with variance 1/fan_in (so activations stay
// near unit scale through RMSNorm); norm weights are 1. Preset `needle` writes the constructed
// retrieval model of tools/synth/needle.h instead (its weights are set, not drawn; `seed` is unused).
Status Synthesize(const SynthOptions& options, const std::string& path);

// The GGUF writer behind Synthesize, for any Llama-architecture file whose weights a function
// gives row by row.
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
};
struct SynthFile {
  std::string name;      // general.name
  SynthShape shape;      // layers, dims, heads, context, rope theta
  int64_t head_dim = 0;  // 0: dim / heads (else written as attention.key_length/value_length)
  simd::DType file_type = simd::DType::kF32;
  const SynthVocab* vocab = nullptr;
  std::vector<SynthTensor> tensors;  // in file order; dtypes a row length does not suit fall back
};
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

// The `--dtype` names Synthesize accepts, parsed; and all of them, comma-separated.
StatusOr<simd::DType> ParseSynthDType(const std::string& name);
std::string SynthDTypeNames();

}  // namespace lazyllm
