// Sampling: greedy, temperature, top-k and top-p draws of a token id from logits.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "lazyllm/status.h"

namespace lazyllm {

struct SamplingOptions {
  // 0 means greedy (argmax; ties pick the lowest id). Default 0.8.
  float temperature = 0.8f;
  // Keep only the k most likely tokens; <= 0 disables. Default 40.
  int top_k = 40;
  // Keep the smallest set of most likely tokens whose probability reaches p; >= 1 disables.
  // Default 0.95.
  float top_p = 0.95f;
  // Random seed for non-greedy sampling. Default 0xFFFFFFFF.
  uint64_t seed = 0xFFFFFFFFu;
};

// Checks ranges (temperature >= 0, top_p in (0, 1]); names the field on error.
LAZYLLM_API Status Validate(const SamplingOptions& options);

// Draws token ids from logits. Deterministic for a given seed and sequence of calls. Move-only;
// one thread at a time. (A Sequence holds one: Sequence::SetSampling, Sequence::Sample.)
class LAZYLLM_API Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;
  ~Sampler();
  const SamplingOptions& options() const;
  int32_t Sample(std::span<const float> logits);

  struct LAZYLLM_LOCAL State;  // opaque: the random stream and the candidate scratch

 private:
  std::unique_ptr<State> state_;
};

// Index of the largest logit (lowest index on ties).
LAZYLLM_API int32_t Argmax(std::span<const float> logits);

}  // namespace lazyllm
