// What Generate and GenerateBatch share: when a generation ends, and its closing stats.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "lazyllm/generate.h"
#include "lazyllm/scheduler.h"

namespace lazyllm {

using Clock = std::chrono::steady_clock;
inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Why a generation ends after `token`, its `generated`-th, or nullopt when it goes on: the
// caller's on_token asks to stop (it is called once per token) or an end-of-generation token with
// stop_at_eos (kStop); max_new_tokens reached or no room in the context for another step (kLength).
inline std::optional<FinishReason> EndsAfter(const GenerationOptions& g, const Tokenizer& tok, int32_t token,
                                             int64_t generated, const Sequence& seq) {
  if (g.on_token && !g.on_token(token)) return FinishReason::kStop;
  if (g.stop_at_eos && tok.IsEndOfGeneration(token)) return FinishReason::kStop;
  if (generated >= g.max_new_tokens || seq.position() >= seq.max_context()) return FinishReason::kLength;
  return std::nullopt;
}

// The stats of a finished generation: its tokens, the decode rate over its decode steps, and
// what pruning did and the KV memory it held, as its sequence reports them.
inline void CloseStats(const Sequence& seq, int64_t generated, int decode_steps, double decode_ms, Stats& st) {
  st.generated_tokens = generated;
  st.decode_ms = decode_ms;
  st.decode_tokens_per_s = decode_steps > 0 ? decode_steps / (decode_ms / 1000.0) : 0.0;
  st.pruning = seq.pruning_stats();
  st.kv_bytes = seq.kv_bytes();
}

}  // namespace lazyllm
