// The prefill-then-decode generation loop over a session.
#include "lazyllm/generate.h"

#include "core/base/status_macros.h"
#include "core/engine/generation.h"

namespace lazyllm {

StatusOr<GenerationResult> Generate(Session& session, std::span<const int32_t> prompt,
                                    const GenerationOptions& options) {
  LAZYLLM_RETURN_IF_ERROR(Validate(options.sampling));
  if (options.max_new_tokens < 0)
    return InvalidArgumentError("max_new_tokens " + std::to_string(options.max_new_tokens) + " must be >= 0");
  GenerationResult result;
  Stats& st = result.stats;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  st.load_ms = session.model().load_ms();
  Sequence& seq = session.sequence();
  LAZYLLM_RETURN_IF_ERROR(seq.SetSampling(options.sampling));
  const Tokenizer& tok = session.model().tokenizer();

  const auto t0 = Clock::now();
  // options.on_prefill_layer stands in for the session's own layer callback during the prefill.
  std::function<bool(int64_t, int64_t)> saved;
  if (options.on_prefill_layer) saved = session.SetLayerCallback(options.on_prefill_layer);
  Status prefilled;
  if (options.append && session.position() > 0) {
    prefilled = options.prompt_logits != nullptr ? InvalidArgumentError("prompt_logits needs a prefill, not an append")
                                                 : session.Append(prompt);
  } else {
    prefilled = session.Prefill(prompt, options.prompt_logits);
  }
  if (options.on_prefill_layer) session.SetLayerCallback(std::move(saved));
  LAZYLLM_RETURN_IF_ERROR(prefilled);
  const auto t1 = Clock::now();
  st.prefill_ms = st.ttft_ms = Ms(t1 - t0);
  st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);

  // Sample a token; run it unless the generation ends there.
  int decode_steps = 0;
  const auto d0 = Clock::now();
  while (options.max_new_tokens > 0) {
    const int32_t next = seq.Sample();
    result.tokens.push_back(next);
    if (EndsAfter(options, tok, next, static_cast<int64_t>(result.tokens.size()), seq)) break;
    LAZYLLM_RETURN_IF_ERROR(session.DecodeStep(next));
    ++decode_steps;
  }
  CloseStats(seq, static_cast<int64_t>(result.tokens.size()), decode_steps, Ms(Clock::now() - d0), st);
  return result;
}

}  // namespace lazyllm
