// Sampler tests: greedy, top-k, top-p, temperature and seeding; the sampler a Sequence holds.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "common/test_paths.h"
#include "lazyllm/generate.h"

namespace lazyllm {
namespace {

TEST(SamplingTest, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler s({.temperature = 0});
  EXPECT_EQ(s.Sample(std::vector<float>{0.1f, 3.0f, -1.0f, 3.0f}), 1);
  EXPECT_EQ(Argmax(std::vector<float>{-5.0f}), 0);
}

TEST(SamplingTest, TopKOneIsGreedy) {
  Sampler s({.temperature = 5.0f, .top_k = 1, .top_p = 1.0f, .seed = 3});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(std::vector<float>{0.0f, 0.5f, 0.4f}), 1);
}

TEST(SamplingTest, TopPKeepsTheSmallestSufficientSet) {
  // probabilities ~ 0.6, 0.3, 0.1 at temperature 1: top_p 0.5 keeps only the first, 0.8 the first two.
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler one({.temperature = 1.0f, .top_k = 0, .top_p = 0.5f, .seed = 1});
  Sampler two({.temperature = 1.0f, .top_k = 0, .top_p = 0.8f, .seed = 1});
  std::map<int, int> seen;
  for (int i = 0; i < 400; ++i) {
    EXPECT_EQ(one.Sample(logits), 0);
    ++seen[two.Sample(logits)];
  }
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_GT(seen[1], 80);  // expected 400 · 1/3 ≈ 133
}

TEST(SamplingTest, FrequenciesFollowTheDistribution) {
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42});
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.Sample(logits) == 1;
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);  // > 6 standard deviations
}

TEST(SamplingTest, SameSeedSameSequence) {
  const std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  Sampler a({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 9});
  Sampler b({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 9});
  Sampler c({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 10});
  std::vector<int> sa, sb, sc;
  for (int i = 0; i < 64; ++i)
    sa.push_back(a.Sample(logits)), sb.push_back(b.Sample(logits)), sc.push_back(c.Sample(logits));
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(SamplingTest, ValidateNamesTheField) {
  Status st = Validate({.temperature = -1.0f});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("temperature"), std::string::npos);
  st = Validate({.temperature = 1.0f, .top_k = 0, .top_p = 1.5f});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("top_p"), std::string::npos);
}

// A sequence's sampler draws from its logits as a Sampler with the same options does, restarts
// from the seed at SetSampling, and keeps its state between draws.
TEST(SamplingTest, SequenceHoldsItsSampler) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 1});
  ASSERT_TRUE(engine.ok());
  auto seq = engine->NewSequence();
  ASSERT_TRUE(seq.ok());
  const std::vector<int32_t> prompt = model->tokenizer().Encode("Once upon a time", true).value();
  StepItem item{.sequence = &*seq, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&item, 1}).ok() && item.status.ok());
  const SamplingOptions hot = {.temperature = 2.0f, .top_k = 0, .top_p = 1.0f, .seed = 5};
  ASSERT_TRUE(seq->SetSampling(hot).ok());
  Sampler twin(hot);
  std::vector<int32_t> drawn, want;
  for (int i = 0; i < 32; ++i) drawn.push_back(seq->Sample()), want.push_back(twin.Sample(seq->logits()));
  EXPECT_EQ(drawn, want);
  EXPECT_GT(std::set<int32_t>(drawn.begin(), drawn.end()).size(), 1u);  // it samples, not argmax
  ASSERT_TRUE(seq->SetSampling(hot).ok());                              // the stream restarts
  EXPECT_EQ(seq->Sample(), want[0]);
  const Status bad = seq->SetSampling({.temperature = -1.0f});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("temperature"), std::string::npos);
}

}  // namespace
}  // namespace lazyllm
