// Synthetic models: Llama-architecture GGUF files with random weights in a real model's shape,
// for benchmarks and tests. They carry a small real tokenizer (the 512-token SentencePiece
// vocabulary of the bundled stories260K model), so any GGUF reader can load them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lazyllm/status.h"
#include "tools/synth/writer.h"

namespace lazyllm {

// The built-in random-weight presets: tiny-gqa, smollm2-135m, llama3.2-1b, llama2-7b, and the
// mixtures of experts qwen3-30b-a3b (qwen3moe) and mixtral-tiny (llama with experts). (`needle`,
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

}  // namespace lazyllm
