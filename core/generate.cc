// Sampling (greedy, temperature, top-k, top-p) and the prefill-then-decode generation loop.
#include "lazyllm/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace lazyllm {

Status Validate(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
    return InvalidArgumentError("temperature " + std::to_string(o.temperature) + " must be a finite number >= 0");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
    return InvalidArgumentError("top_p " + std::to_string(o.top_p) + " must be in (0, 1]");
  return OkStatus();
}

int32_t Argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (options_.temperature == 0.0f) return Argmax(logits);
  // Candidates sorted by logit (descending; ties by lower id), cut by top-k.
  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = candidates_.size();
  if (options_.top_k > 0) keep = std::min(keep, static_cast<size_t>(options_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_logit);
  candidates_.resize(keep);
  // Softmax at the temperature, in double.
  std::vector<double> probs(keep);
  const double mx = candidates_[0].first;
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((candidates_[i].first - mx) / options_.temperature);
    sum += probs[i];
  }
  // Top-p: the shortest prefix whose mass reaches p.
  if (options_.top_p < 1.0f) {
    double cum = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cum += probs[i] / sum;
      if (cum >= options_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    sum = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += probs[i];
  }
  const double r = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (r < acc) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

StatusOr<GenerationResult> Generate(Session& session, std::span<const int32_t> prompt,
                                    const GenerationOptions& options) {
  LAZYLLM_RETURN_IF_ERROR(Validate(options.sampling));
  if (options.max_new_tokens < 0)
    return InvalidArgumentError("max_new_tokens " + std::to_string(options.max_new_tokens) + " must be >= 0");
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  GenerationResult result;
  Stats& st = result.stats;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  st.load_ms = session.model().load_ms();
  Sampler sampler(options.sampling);
  const Tokenizer& tok = session.model().tokenizer();

  const auto t0 = Clock::now();
  if (options.append && session.position() > 0) {
    if (options.prompt_logits != nullptr) return InvalidArgumentError("prompt_logits needs a prefill, not an append");
    LAZYLLM_RETURN_IF_ERROR(session.Append(prompt));
  } else {
    LAZYLLM_RETURN_IF_ERROR(session.Prefill(prompt, options.prompt_logits));
  }
  const auto t1 = Clock::now();
  st.prefill_ms = st.ttft_ms = ms(t1 - t0);
  st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);

  int decode_steps = 0;
  const auto d0 = Clock::now();
  for (int i = 0; i < options.max_new_tokens; ++i) {
    if (i > 0) {
      LAZYLLM_RETURN_IF_ERROR(session.DecodeStep(result.tokens.back()));
      ++decode_steps;
    }
    const int32_t next = sampler.Sample(session.logits());
    result.tokens.push_back(next);
    if (options.on_token && !options.on_token(next)) break;
    if (options.stop_at_eos && tok.IsEndOfGeneration(next)) break;
    if (session.position() >= session.max_context()) break;  // no room for another step
  }
  st.decode_ms = ms(Clock::now() - d0);
  st.generated_tokens = static_cast<int64_t>(result.tokens.size());
  st.decode_tokens_per_s = decode_steps > 0 ? decode_steps / (st.decode_ms / 1000.0) : 0.0;
  const PruningStats ps = session.pruning_stats();
  st.kept_per_layer = ps.kept_per_layer;
  st.revived_tokens = ps.revived_tokens;
  st.prompt_tokens_computed_pct_prefill = ps.prompt_tokens_computed_pct_prefill;
  st.prompt_tokens_computed_pct_final = ps.prompt_tokens_computed_pct;
  return result;
}

}  // namespace lazyllm
