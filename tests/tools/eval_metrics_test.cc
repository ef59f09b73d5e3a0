// The eval metrics on cases computed by hand.
#include "tools/eval_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lazyllm::eval {
namespace {

TEST(EvalMetricsTest, LogProbAndKlDivergence) {
  const std::vector<float> uniform = {0.0f, 0.0f}, skewed = {0.0f, std::log(3.0f)};  // (1/4, 3/4)
  EXPECT_NEAR(LogProb(skewed, 1), std::log(0.75), 1e-7);
  EXPECT_NEAR(LogProb(skewed, 0), std::log(0.25), 1e-7);
  // KL((1/2, 1/2) || (1/4, 3/4)) = ½ln(2) + ½ln(2/3) = ½ln(4/3).
  EXPECT_NEAR(KlDivergence(uniform, skewed), 0.5 * std::log(4.0 / 3.0), 1e-7);
  // KL((1/4, 3/4) || (1/2, 1/2)) = ¼ln(1/2) + ¾ln(3/2).
  EXPECT_NEAR(KlDivergence(skewed, uniform), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_EQ(KlDivergence(skewed, skewed), 0.0);
  const std::vector<float> shifted = {5.0f, 5.0f + std::log(3.0f)};  // same distribution
  EXPECT_NEAR(KlDivergence(skewed, shifted), 0.0, 1e-6);
}

TEST(EvalMetricsTest, Perplexity) {
  const std::vector<double> lp = {std::log(0.5), std::log(0.25)};  // geometric mean prob 1/√8
  EXPECT_NEAR(Perplexity(lp), std::sqrt(8.0), 1e-12);
  const std::vector<double> certain = {0.0, 0.0, 0.0};
  EXPECT_EQ(Perplexity(certain), 1.0);
}

TEST(EvalMetricsTest, TokenAgreement) {
  const std::vector<int32_t> base = {1, 2, 3, 4};
  Agreement a = CompareTokens(base, std::vector<int32_t>{1, 2, 9, 4});
  EXPECT_EQ(a.common_prefix, 2);
  EXPECT_DOUBLE_EQ(a.equal_fraction, 0.75);
  a = CompareTokens(base, std::vector<int32_t>{1, 2});  // stopped early: missing positions differ
  EXPECT_EQ(a.common_prefix, 2);
  EXPECT_DOUBLE_EQ(a.equal_fraction, 0.5);
  a = CompareTokens(base, base);
  EXPECT_EQ(a.common_prefix, 4);
  EXPECT_DOUBLE_EQ(a.equal_fraction, 1.0);
  a = CompareTokens({}, std::vector<int32_t>{7});
  EXPECT_EQ(a.common_prefix, 0);
  EXPECT_DOUBLE_EQ(a.equal_fraction, 1.0);
}

TEST(EvalMetricsTest, TaskScores) {
  EXPECT_EQ(Normalize("  The Cat's  hat! "), "the cat s hat");
  EXPECT_EQ(ExactMatch("The cat.", {"dog", "the CAT"}), 1.0);
  EXPECT_EQ(ExactMatch("The cat sat", {"the cat"}), 0.0);
  EXPECT_EQ(Contains("A big red dog ran.", {"red dog"}), 1.0);
  EXPECT_EQ(Contains("A big red dog ran.", {"re"}), 0.0) << "whole words only";
  // {the, cat, sat} against {cat, sat, down}: 2 common, P = R = 2/3.
  EXPECT_NEAR(TokenF1("the cat sat", {"cat sat down"}), 2.0 / 3.0, 1e-12);
  // Multisets: {cat, cat} against {cat}: 1 common, P = 1/2, R = 1, F1 = 2/3.
  EXPECT_NEAR(TokenF1("cat cat", {"cat"}), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(TokenF1("Lily", {"Tom", "lily!"}), 1.0) << "best over the answers";
  EXPECT_EQ(TokenF1("nothing here", {"Tom"}), 0.0);
}

TEST(EvalMetricsTest, MeanCi95) {
  const std::vector<double> v = {1, 2, 3, 4, 5};
  const Interval i = MeanCi95(v);
  EXPECT_DOUBLE_EQ(i.mean, 3.0);
  // sd = √2.5, t(0.975, 4) = 2.776: 2.776·√2.5/√5 = 2.776/√2.
  EXPECT_NEAR(i.half_width, 2.776 / std::sqrt(2.0), 1e-9);
  EXPECT_EQ(i.n, 5);
  const std::vector<double> one = {0.4};
  EXPECT_EQ(MeanCi95(one).half_width, 0.0);
  EXPECT_EQ(MeanCi95(one).mean, 0.4);
  std::vector<double> many(200, 1.0);
  many[0] = 3.0;  // mean 1.01, sd = √(3.98/199) ≈ 0.1414, t ≈ 1.96
  const Interval m = MeanCi95(many);
  EXPECT_NEAR(m.mean, 1.01, 1e-12);
  EXPECT_NEAR(m.half_width, 1.96 * std::sqrt(3.98 / 199.0) / std::sqrt(200.0), 1e-9);
}

}  // namespace
}  // namespace lazyllm::eval
