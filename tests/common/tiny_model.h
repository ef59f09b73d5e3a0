// A hand-built tiny Llama model for tests (1 layer, dim 32, 2 heads, 1 KV head, ffn 64, vocab 4).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "common/gguf_builder.h"

namespace lazyllm::testing {

inline std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.2f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A complete tiny Llama model (`layers` layers, default 1; dim 32, 2 heads, 1 KV head, ffn 64,
// vocab 4).
inline GgufBuilder TinyLlama(uint32_t context_length = 64, uint32_t layers = 1) {
  GgufBuilder b;
  b.KvStr("general.architecture", "llama");
  b.KvU32("llama.block_count", layers);
  b.KvU32("llama.embedding_length", 32);
  b.KvU32("llama.feed_forward_length", 64);
  b.KvU32("llama.attention.head_count", 2);
  b.KvU32("llama.attention.head_count_kv", 1);
  b.KvU32("llama.context_length", context_length);
  b.KvF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  b.KvStr("tokenizer.ggml.model", "llama");
  b.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>",
                                         "\xe2\x96\x81"
                                         "a"});
  b.KvArray<float>("tokenizer.ggml.scores", 6, {0, 0, 0, -1});
  b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, {2, 3, 3, 1});
  uint32_t seed = 1;
  b.AddF32("token_embd.weight", {32, 4}, RandomFloats(128, seed++));
  b.AddF32("output_norm.weight", {32}, std::vector<float>(32, 1.0f));
  for (uint32_t l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.AddF32(p + "attn_norm.weight", {32}, std::vector<float>(32, 1.0f));
    b.AddF32(p + "attn_q.weight", {32, 32}, RandomFloats(1024, seed++));
    b.AddF32(p + "attn_k.weight", {32, 16}, RandomFloats(512, seed++));
    b.AddF32(p + "attn_v.weight", {32, 16}, RandomFloats(512, seed++));
    b.AddF32(p + "attn_output.weight", {32, 32}, RandomFloats(1024, seed++));
    b.AddF32(p + "ffn_norm.weight", {32}, std::vector<float>(32, 1.0f));
    b.AddF32(p + "ffn_gate.weight", {32, 64}, RandomFloats(2048, seed++));
    b.AddF32(p + "ffn_up.weight", {32, 64}, RandomFloats(2048, seed++));
    b.AddF32(p + "ffn_down.weight", {64, 32}, RandomFloats(2048, seed++));
  }
  return b;
}

}  // namespace lazyllm::testing
