// EngineOptions::profile and Engine::SetProfiling: every step lands in its phase (decode: every item appends one
// token), every stage is counted once per layer and step, each matmul stage's weight bytes are those its matrices hold
// (worked out here from the model's shape), the stages' times fit inside the steps', profiling changes no logit, and an
// engine without it, or after ResetProfile, holds zeros.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "common/test_paths.h"
#include "lazyllm/engine.h"

namespace lazyllm {
namespace {

Model SampleModel() {
  auto model = Model::Load(testing::SampleModel().string());
  EXPECT_TRUE(model.ok()) << model.status().message();
  return std::move(*model);
}

std::vector<int32_t> Prompt(int64_t n) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(1 + (i * 37) % 500));
  return ids;
}

// One sequence: a prefill of `prompt` tokens, then `decodes` greedy steps; the logits of each.
std::vector<std::vector<float>> Generate(const Engine& engine, int64_t prompt, int decodes,
                                         const std::string& schedule = "off") {
  auto pruning = PruningOptions::Parse(schedule, engine.model().config().num_layers, 1);
  EXPECT_TRUE(pruning.ok());
  auto seq = engine.NewSequence({.max_context = 256, .pruning = *pruning});
  EXPECT_TRUE(seq.ok()) << seq.status().message();
  const std::vector<int32_t> ids = Prompt(prompt);
  StepItem item{.sequence = &*seq, .tokens = ids, .kind = StepItem::Kind::kPrefill};
  std::vector<std::vector<float>> logits;
  for (int step = 0; step <= decodes; ++step) {
    EXPECT_TRUE(engine.Step({&item, 1}).ok());
    EXPECT_TRUE(item.status.ok()) << item.status.message();
    logits.emplace_back(seq->logits().begin(), seq->logits().end());
    static thread_local int32_t next;
    next = Argmax(seq->logits());
    item = {.sequence = &*seq, .tokens = {&next, 1}};
  }
  return logits;
}

// The weight bytes of one layer's matrices in an F32 file, from the model's shape alone.
struct LayerBytes {
  int64_t qkv, output, ffn, lm_head;
};
LayerBytes F32Bytes(const ModelConfig& c) {
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  return {4 * c.dim * (q_dim + 2 * kv_dim), 4 * q_dim * c.dim, 4 * 3 * c.dim * c.ffn_dim, 4 * c.vocab_size * c.dim};
}

void ExpectPhase(const StepProfile::Phase& p, const ModelConfig& c, int64_t steps, int64_t rows) {
  const int64_t layers = c.num_layers;
  EXPECT_EQ(p.steps, steps);
  EXPECT_EQ(p.rows, rows);
  using S = StepProfile;
  for (S::Stage s : {S::kSelect, S::kQkv, S::kRopeKv, S::kAttention, S::kOutput, S::kFfn})
    EXPECT_EQ(p.stages[s].calls, layers * steps) << S::Name(s);
  EXPECT_EQ(p.stages[S::kEmbed].calls, steps);
  EXPECT_EQ(p.stages[S::kLmHead].calls, steps);
  // Per layer the attention norm, the FFN norm and two residual additions; the final norm.
  EXPECT_EQ(p.stages[S::kNorms].calls, (4 * layers + 1) * steps);
  const LayerBytes b = F32Bytes(c);
  EXPECT_EQ(p.stages[S::kQkv].weight_bytes, b.qkv * layers * steps);
  EXPECT_EQ(p.stages[S::kOutput].weight_bytes, b.output * layers * steps);
  EXPECT_EQ(p.stages[S::kFfn].weight_bytes, b.ffn * layers * steps);
  EXPECT_EQ(p.stages[S::kLmHead].weight_bytes, b.lm_head * steps);
  for (S::Stage s : {S::kEmbed, S::kSelect, S::kNorms, S::kRopeKv, S::kAttention})
    EXPECT_EQ(p.stages[s].weight_bytes, 0) << S::Name(s);
  double staged = 0;
  for (const S::Totals& t : p.stages) {
    EXPECT_GE(t.seconds, 0.0);
    staged += t.seconds;
  }
  EXPECT_GT(p.seconds, 0.0);
  EXPECT_LE(staged, p.seconds);
}

TEST(ProfileTest, CountsEveryStageOfEveryStepAndChangesNoLogit) {
  const Model model = SampleModel();
  auto profiled = Engine::Create(model, {.threads = 2, .profile = true});
  auto plain = Engine::Create(model, {.threads = 2});
  ASSERT_TRUE(profiled.ok() && plain.ok());
  const auto with = Generate(*profiled, 12, 5), without = Generate(*plain, 12, 5);
  EXPECT_EQ(with, without);  // bit for bit
  const StepProfile p = profiled->profile();
  ExpectPhase(p.prefill, model.config(), 1, 12);
  ExpectPhase(p.decode, model.config(), 5, 5);

  const StepProfile none = plain->profile();
  EXPECT_EQ(none.prefill.steps + none.decode.steps, 0);
  EXPECT_EQ(none.decode.stages[StepProfile::kQkv].calls, 0);
  profiled->ResetProfile();
  const StepProfile reset = profiled->profile();
  EXPECT_EQ(reset.prefill.steps + reset.decode.steps, 0);
  EXPECT_EQ(reset.decode.stages[StepProfile::kFfn].calls, 0);
  EXPECT_EQ(reset.prefill.seconds, 0.0);
}

// LazyLLM's decode steps stay decode steps (revived rows are not the step's tokens), and each
// layer still runs once per step.
TEST(ProfileTest, LazyLlmDecodeStepsAreDecode) {
  const Model model = SampleModel();
  auto engine = Engine::Create(model, {.threads = 2, .profile = true});
  ASSERT_TRUE(engine.ok());
  Generate(*engine, 40, 4, "paper");
  const StepProfile p = engine->profile();
  EXPECT_EQ(p.prefill.steps, 1);
  EXPECT_EQ(p.decode.steps, 4);
  EXPECT_EQ(p.decode.rows, 4);
  EXPECT_EQ(p.decode.stages[StepProfile::kAttention].calls, model.config().num_layers * 4);
  EXPECT_EQ(p.decode.stages[StepProfile::kSelect].calls, model.config().num_layers * 4);
}

// Two sequences decoding in one step are one decode step of two rows; a step that mixes a
// prefill with a decode counts as a prefill step.
TEST(ProfileTest, BatchedStepsCountOnceWithTheirRows) {
  const Model model = SampleModel();
  auto engine = Engine::Create(model, {.threads = 2, .profile = true});
  ASSERT_TRUE(engine.ok());
  auto a = engine->NewSequence({.max_context = 128}), b = engine->NewSequence({.max_context = 128});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<int32_t> pa = Prompt(9), pb = Prompt(7);
  StepItem prefill_a{.sequence = &*a, .tokens = pa, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&prefill_a, 1}).ok());
  const int32_t next_a = Argmax(a->logits());
  StepItem mixed[] = {{.sequence = &*a, .tokens = {&next_a, 1}},
                      {.sequence = &*b, .tokens = pb, .kind = StepItem::Kind::kPrefill}};
  ASSERT_TRUE(engine->Step(mixed).ok());
  const int32_t next[] = {Argmax(a->logits()), Argmax(b->logits())};
  StepItem both[] = {{.sequence = &*a, .tokens = {&next[0], 1}}, {.sequence = &*b, .tokens = {&next[1], 1}}};
  ASSERT_TRUE(engine->Step(both).ok());
  for (const StepItem& item : both) ASSERT_TRUE(item.status.ok()) << item.status.message();
  const StepProfile p = engine->profile();
  EXPECT_EQ(p.prefill.steps, 2);
  EXPECT_EQ(p.prefill.rows, 9 + 1 + 7);
  EXPECT_EQ(p.decode.steps, 1);
  EXPECT_EQ(p.decode.rows, 2);
  EXPECT_EQ(p.decode.stages[StepProfile::kLmHead].calls, 1);  // one LM head matmul for both
  EXPECT_EQ(p.decode.stages[StepProfile::kLmHead].weight_bytes, F32Bytes(model.config()).lm_head);
}

// SetProfiling turns the timers on and off for the steps that follow; what they gathered stays.
TEST(ProfileTest, SetProfilingTimesOnlyTheStepsBetween) {
  const Model model = SampleModel();
  auto engine = Engine::Create(model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  Generate(*engine, 8, 2);
  engine->SetProfiling(true);
  Generate(*engine, 10, 3);
  engine->SetProfiling(false);
  Generate(*engine, 12, 4);
  const StepProfile p = engine->profile();
  EXPECT_EQ(p.prefill.steps, 1);
  EXPECT_EQ(p.prefill.rows, 10);
  EXPECT_EQ(p.decode.steps, 3);
  EXPECT_EQ(p.decode.stages[StepProfile::kFfn].calls, model.config().num_layers * 3);
}

TEST(ProfileTest, StageNames) {
  EXPECT_STREQ(StepProfile::Name(StepProfile::kQkv), "qkv");
  EXPECT_STREQ(StepProfile::Name(StepProfile::kLmHead), "lm_head");
  EXPECT_STREQ(StepProfile::Name(StepProfile::kStages), "?");
}

}  // namespace
}  // namespace lazyllm
