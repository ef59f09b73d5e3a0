// Metrics of `lazyllm eval`: fidelity of a pruned run to the baseline, language-model quality,
// task scores, and means with 95% confidence intervals. Pure functions, computed in double.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lazyllm::eval {

// log softmax(logits)[token].
double LogProb(std::span<const float> logits, int32_t token);

// KL(P || Q) in nats between the distributions softmax(p_logits) (the baseline) and
// softmax(q_logits) (the method); both over the same vocabulary.
double KlDivergence(std::span<const float> p_logits, std::span<const float> q_logits);

// exp(-mean(log_probs)): the perplexity of a continuation from its tokens' log probabilities.
// Requires at least one value.
double Perplexity(std::span<const double> log_probs);

// Greedy-token agreement of a method's tokens with the baseline's: the common prefix length,
// and the fraction of the baseline's positions where both hold the same token (positions the
// method did not reach count as different). An empty baseline agrees fully.
struct Agreement {
  int64_t common_prefix = 0;
  double equal_fraction = 1.0;
};
Agreement CompareTokens(std::span<const int32_t> baseline, std::span<const int32_t> method);

// Task scores of a generated answer against the accepted answers (best over them). Text is
// normalised first: lower case, every run of non-alphanumeric bytes a single space, trimmed.
std::string Normalize(const std::string& text);
double ExactMatch(const std::string& prediction, const std::vector<std::string>& answers);
double Contains(const std::string& prediction, const std::vector<std::string>& answers);
// SQuAD-style token F1: harmonic mean of precision and recall of the normalised words, counted
// as multisets.
double TokenF1(const std::string& prediction, const std::vector<std::string>& answers);

// Mean with a two-sided 95% Student-t confidence interval (half-width 0 for fewer than 2 values).
struct Interval {
  double mean = 0, half_width = 0;
  int64_t n = 0;
};
Interval MeanCi95(std::span<const double> values);

}  // namespace lazyllm::eval
