// Sampling: greedy, temperature, top-k and top-p draws from logits.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "lazyllm/sampling.h"

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

struct Sampler::State {
  SamplingOptions options;
  std::mt19937_64 rng;
  std::vector<std::pair<float, int32_t>> candidates;  // (logit, id), reused between draws
};

Sampler::Sampler(const SamplingOptions& options)
    : state_(std::make_unique<State>(State{options, std::mt19937_64(options.seed), {}})) {}
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;
Sampler::~Sampler() = default;

const SamplingOptions& Sampler::options() const { return state_->options; }

int32_t Sampler::Sample(std::span<const float> logits) {
  const SamplingOptions& o = state_->options;
  std::vector<std::pair<float, int32_t>>& cand = state_->candidates;
  if (o.temperature == 0.0f) return Argmax(logits);
  // Candidates sorted by logit (descending; ties by lower id), cut by top-k.
  cand.clear();
  for (size_t i = 0; i < logits.size(); ++i) cand.emplace_back(logits[i], static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = cand.size();
  if (o.top_k > 0) keep = std::min(keep, static_cast<size_t>(o.top_k));
  std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(keep), cand.end(), by_logit);
  cand.resize(keep);
  // Softmax at the temperature, in double.
  std::vector<double> probs(keep);
  const double mx = cand[0].first;
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((cand[i].first - mx) / o.temperature);
    sum += probs[i];
  }
  // Top-p: the shortest prefix whose mass reaches p.
  if (o.top_p < 1.0f) {
    double cum = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cum += probs[i] / sum;
      if (cum >= o.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    sum = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += probs[i];
  }
  const double r = std::uniform_real_distribution<double>(0.0, sum)(state_->rng);
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (r < acc) return cand[i].second;
  }
  return cand[keep - 1].second;
}

}  // namespace lazyllm
