// The architecture table (see arch.h): llama, qwen2, qwen3, phi3, gemma2, gemma3, qwen2moe, qwen3moe.
#include "core/model/arch.h"

#include <cmath>
#include <cstdio>
#include <iterator>

namespace lazyllm {
namespace {

// Gemma 2 27B (46 layers) scales queries by 1/sqrt(dim/heads), as llama.cpp does; the other
// sizes by 1/sqrt(head_dim).
float Gemma2AttnScale(const ModelConfig& c) {
  const int64_t width = c.num_layers == 46 ? c.dim / c.num_heads : c.head_dim;
  return 1.0f / std::sqrt(static_cast<float>(width));
}

constexpr ArchDesc kArchs[] = {
    {.name = "llama", .experts = Experts::kOptional, .routing = {.renormalise = true}},
    {.name = "qwen2", .rope = RopeStyle::kNeox, .qkv_bias = true},
    {.name = "qwen3", .rope = RopeStyle::kNeox, .qk_norm = true},
    {.name = "phi3",
     .rope = RopeStyle::kNeox,
     .fused_qkv = true,
     .fused_gate_up = true,
     .sliding = SlidingLayers::kAll},
    {.name = "gemma2",
     .rope = RopeStyle::kNeox,
     .activation = FfnActivation::kGeluTanh,
     .post_norms = true,
     .embed_scale = true,
     .softcaps = true,
     .sliding = SlidingLayers::kEven,
     .attn_scale = Gemma2AttnScale},
    {.name = "gemma3",
     .rope = RopeStyle::kNeox,
     .activation = FfnActivation::kGeluTanh,
     .qk_norm = true,
     .post_norms = true,
     .embed_scale = true,
     .sliding = SlidingLayers::kFiveOfSix,
     .sliding_local_rope = true},
    {.name = "qwen2moe",
     .rope = RopeStyle::kNeox,
     .qkv_bias = true,
     .experts = Experts::kRequired,
     .routing = {.renormalise = false, .shared_expert = true}},
    {.name = "qwen3moe",
     .rope = RopeStyle::kNeox,
     .qk_norm = true,
     .experts = Experts::kRequired,
     .routing = {.renormalise = true}},
};

std::string Number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

const ArchDesc* FindArch(std::string_view name) {
  for (const ArchDesc& a : kArchs)
    if (a.name == name) return &a;
  return nullptr;
}

const std::string& SupportedArchNames() {
  static const std::string names = [] {
    std::string s;
    for (const ArchDesc& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
    return s;
  }();
  return names;
}

bool IsSlidingLayer(const ArchDesc& d, int64_t l) {
  switch (d.sliding) {
    case SlidingLayers::kNone:
      return false;
    case SlidingLayers::kEven:
      return l % 2 == 0;
    case SlidingLayers::kFiveOfSix:
      return l % 6 != 5;
    case SlidingLayers::kAll:
      return true;
  }
  return false;
}

std::vector<ModelFeature> DescribeFeatures(const ArchDesc& d, const ArchValues& v, const ModelConfig& c) {
  int64_t sliding = 0;
  for (int64_t l = 0; l < c.num_layers && v.sliding_window > 0; ++l) sliding += IsSlidingLayer(d, l);
  const bool neox = d.rope == RopeStyle::kNeox, gelu = d.activation == FfnActivation::kGeluTanh;
  auto when = [](bool on, std::string phrase) { return on ? phrase : std::string(); };
  return {
      {"rope", std::string(neox ? "neox" : "adjacent"), neox ? "NEOX RoPE" : "adjacent-pair RoPE"},
      {"rope_freq_scale", double{v.rope_freq_scale},
       when(v.rope_freq_scale != 1.0f, "linear RoPE scaling x" + Number(1.0 / v.rope_freq_scale))},
      {"qkv_bias", d.qkv_bias, when(d.qkv_bias, "QKV biases")},
      {"qk_norm", d.qk_norm, when(d.qk_norm, "Q/K norms")},
      {"post_norms", d.post_norms, when(d.post_norms, "post-block norms")},
      {"ffn", std::string(gelu ? "geglu" : "swiglu"), gelu ? "GeGLU" : "SwiGLU"},
      {"embed_scale", double{v.embed_scale}, when(v.embed_scale != 1.0f, "embeddings x sqrt(dim)")},
      {"attn_softcap", double{v.attn_softcap},
       when(v.attn_softcap > 0, "attention soft-cap " + Number(v.attn_softcap))},
      {"final_softcap", double{v.final_softcap},
       when(v.final_softcap > 0, "final soft-cap " + Number(v.final_softcap))},
      {"sliding_window", v.sliding_window,
       when(v.sliding_window > 0, "sliding window " + std::to_string(v.sliding_window) + " on " +
                                      std::to_string(sliding) + " of " + std::to_string(c.num_layers) + " layers")},
      {"sliding_layers", sliding, ""},
      {"experts", c.expert_count,
       when(c.expert_count > 0, std::to_string(c.expert_count) + " experts, " + std::to_string(c.expert_used_count) +
                                    " per token (" + (d.routing.renormalise ? "" : "not ") +
                                    "renormalised), expert width " + std::to_string(c.expert_ffn_dim))},
      {"shared_expert", c.shared_expert_ffn_dim,
       when(c.shared_expert_ffn_dim > 0, "a gated shared expert of width " + std::to_string(c.shared_expert_ffn_dim))},
  };
}

}  // namespace lazyllm
