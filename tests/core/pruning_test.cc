// Pruning schedule parsing, `paper` resolution and work-fraction arithmetic.
#include "lazyllm/pruning.h"

#include <gtest/gtest.h>

#include "common/test_paths.h"

namespace lazyllm {
namespace {

std::vector<int64_t> Layers(const PruningOptions& o) {
  std::vector<int64_t> v;
  for (const auto& s : o.steps) v.push_back(s.layer);
  return v;
}

TEST(PruningTest, PaperPresetPerDepth) {
  // DESIGN.md §3: Llama 2 7B (32 layers) -> 9, 19, 28; 30 layers -> 8, 18, 26.
  EXPECT_EQ(Layers(*PruningOptions::Parse("paper", 32)), (std::vector<int64_t>{9, 19, 28}));
  EXPECT_EQ(Layers(*PruningOptions::Parse("paper", 30)), (std::vector<int64_t>{8, 18, 26}));
  // ../shared/reference/README.md: 5 layers -> 1, 3, 4; 2 layers -> 1.
  EXPECT_EQ(Layers(*PruningOptions::Parse("paper", 5)), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(Layers(*PruningOptions::Parse("paper", 2)), (std::vector<int64_t>{1}));
  EXPECT_EQ(PruningOptions::Parse("paper", 32)->ToString(), "9:0.3,19:0.3,28:0.3,revive:2");
  EXPECT_EQ(PruningOptions::Parse("paper,revive:inf", 32)->ToString(), "9:0.3,19:0.3,28:0.3");
  // "computes about 68% of the baseline's token-layer work" for Llama 2 7B.
  EXPECT_NEAR(PruningOptions::Parse("paper", 32)->PrefillWorkFraction(32, 100000), 0.68, 0.01);
}

// Schedules print exactly: the printed form parses back to the same fractions (so bench and eval
// never merge two schedules whose %g forms coincide), in the shortest such text.
TEST(PruningTest, PrintsFractionsExactly) {
  for (const std::string spec :
       {"3:0.9999999", "3:0.99999999", "1:1e-07,2:0.1", "static:2:0.30000000000000004", "random:0.123456789012345"}) {
    auto o = PruningOptions::Parse(spec, 5);
    ASSERT_TRUE(o.ok()) << spec << ": " << o.status().message();
    EXPECT_EQ(o->ToString(), spec);
    auto back = PruningOptions::Parse(o->ToString(), 5);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->steps.size(), o->steps.size());
    for (size_t i = 0; i < o->steps.size(); ++i) EXPECT_EQ(back->steps[i].k, o->steps[i].k);
    EXPECT_EQ(back->random_k, o->random_k);
  }
  EXPECT_NE(PruningOptions::Parse("3:0.9999999", 5)->ToString(), PruningOptions::Parse("3:0.99999999", 5)->ToString());
}

TEST(PruningTest, ParsesListsAndBaselines) {
  auto o = PruningOptions::Parse("19:0.5,8:0.25", 32);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->method, PruningOptions::Method::kLazy);
  EXPECT_EQ(Layers(*o), (std::vector<int64_t>{8, 19}));
  EXPECT_EQ(o->steps[0].k, 0.25);
  EXPECT_EQ(PruningOptions::Parse("off", 32)->method, PruningOptions::Method::kOff);
  auto s = PruningOptions::Parse("static:3:0.5", 5);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->method, PruningOptions::Method::kStatic);
  EXPECT_EQ(s->steps[0].layer, 3);
  auto r = PruningOptions::Parse("random:0.4", 5, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->method, PruningOptions::Method::kRandom);
  EXPECT_EQ(r->random_k, 0.4);
  EXPECT_EQ(r->seed, 7u);
}

TEST(PruningTest, ParsesTheRevivalBound) {
  auto o = PruningOptions::Parse("paper,revive:2", 32);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->revive_budget, 2);
  EXPECT_EQ(Layers(*o), Layers(*PruningOptions::Parse("paper", 32)));
  EXPECT_EQ(o->ToString(), "9:0.3,19:0.3,28:0.3,revive:2");
  EXPECT_EQ(PruningOptions::Parse(o->ToString(), 32)->ToString(), o->ToString());
  EXPECT_EQ(PruningOptions::Parse("3:0.5,revive:0", 5)->revive_budget, 0);
  EXPECT_EQ(PruningOptions::Parse("3:0.5", 5)->revive_budget, -1);
  EXPECT_EQ(PruningOptions::Parse("paper,revive:inf", 5)->revive_budget, -1);
  EXPECT_EQ(PruningOptions::Parse("paper", 32)->revive_budget, PruningOptions::kPaperReviveBudget);
}

TEST(PruningTest, ErrorsNameTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0:0.3", "layer 0 is outside 1..4"},
      {"5:0.3", "layer 5 is outside 1..4"},
      {"2:1.0", "fraction 1.0 is outside [0, 1)"},
      {"2:-0.1", "outside [0, 1)"},
      {"2:0.3,2:0.1", "layer 2 appears twice"},
      {"banana", "is not LAYER:FRACTION"},
      {"x:0.3", "layer 'x' is not an integer"},
      {"2:abc", "fraction 'abc' is not a number"},
      {"", "empty"},
      {"2:0.3,", "is not LAYER:FRACTION"},
      {"random:1.5", "outside [0, 1)"},
      {"static:9:0.5", "layer 9 is outside"},
      {"paper,revive:-1", "revival bound '-1' is not a count >= 0 or inf"},
      {"paper,revive:x", "revival bound 'x' is not a count"},
      {"static:3:0.5,revive:2", "static, random and off never revive"},
      {"2:0.3,revive:1,3:0.2", "revival bound '1,3:0.2' is not a count"},
  };
  for (const auto& [spec, expect] : cases) {
    auto o = PruningOptions::Parse(spec, 5);
    ASSERT_FALSE(o.ok()) << spec;
    EXPECT_NE(o.status().message().find(expect), std::string::npos) << spec << ": " << o.status().message();
  }
}

TEST(PruningTest, WorkFractionMatchesIndependentReference) {
  LAZYLLM_REQUIRE_REFERENCE();
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(testing::ReferenceDir() / "lazyllm")) {
    SCOPED_TRACE(e.path().filename().string());
    const auto ref = testing::ReadJson(e.path());
    const auto kept = ref["kept_per_layer"].get<std::vector<int64_t>>();
    const auto n = static_cast<int64_t>(ref["prompt_tokens"].size());
    auto o = PruningOptions::Parse(ref["schedule"].get<std::string>(), static_cast<int64_t>(kept.size()));
    ASSERT_TRUE(o.ok()) << o.status().message();
    EXPECT_EQ(o->steps.size(), ref["pruning_layers"].size());
    for (const auto& s : o->steps) EXPECT_DOUBLE_EQ(ref["pruning_layers"][std::to_string(s.layer)].get<double>(), s.k);
    EXPECT_NEAR(100.0 * o->PrefillWorkFraction(static_cast<int64_t>(kept.size()), n),
                ref["prompt_tokens_computed_pct_prefill"].get<double>(), 1e-3);
    ++files;
  }
  EXPECT_GE(files, 6);
}

}  // namespace
}  // namespace lazyllm
