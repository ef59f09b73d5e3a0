// The architecture table (see arch.h): llama, qwen2, qwen3, phi3, gemma2, gemma3.
#include "core/model/arch.h"

#include <iterator>

namespace lazyllm {
namespace {

ArchDesc Llama() { return {.name = "llama"}; }

ArchDesc Qwen2() { return {.name = "qwen2", .rope = RopeStyle::kNeox, .qkv_bias = true}; }

ArchDesc Qwen3() { return {.name = "qwen3", .rope = RopeStyle::kNeox, .qk_norm = true}; }

ArchDesc Phi3() {
  return {.name = "phi3",
          .rope = RopeStyle::kNeox,
          .fused_qkv = true,
          .fused_gate_up = true,
          .sliding = SlidingLayers::kAll};
}

ArchDesc Gemma2() {
  return {.name = "gemma2",
          .rope = RopeStyle::kNeox,
          .activation = FfnActivation::kGeluTanh,
          .post_norms = true,
          .embed_scale = true,
          .softcaps = true,
          .sliding = SlidingLayers::kEven};
}

ArchDesc Gemma3() {
  return {.name = "gemma3",
          .rope = RopeStyle::kNeox,
          .activation = FfnActivation::kGeluTanh,
          .qk_norm = true,
          .post_norms = true,
          .embed_scale = true,
          .sliding = SlidingLayers::kFiveOfSix,
          .sliding_local_rope = true};
}

const ArchDesc kArchs[] = {Llama(), Qwen2(), Qwen3(), Phi3(), Gemma2(), Gemma3()};

}  // namespace

const ArchDesc* FindArch(std::string_view name) {
  for (const ArchDesc& a : kArchs)
    if (a.name == name) return &a;
  return nullptr;
}

const char* SupportedArchNames() { return "llama, qwen2, qwen3, phi3, gemma2, gemma3"; }

}  // namespace lazyllm
