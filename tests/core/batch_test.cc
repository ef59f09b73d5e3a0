// Engine::Step over many sequences: each sequence's logits and greedy tokens in any batch equal
// its solo run (mixed prefill and decode, mixed schedules, sequences joining at different
// steps), on the sample model, a quantized file and gemma2's sliding windows and soft-caps, and
// under a synthetic 4-node NUMA topology. And the paged KV cache: a full pool refuses and later
// admits, its bytes follow the computed (token, layer) pairs, and f16 halves them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/test_paths.h"
#include "core/engine/costs.h"
#include "core/engine/engine_impl.h"
#include "lazyllm/engine.h"
#include "lazyllm/generate.h"
#include "threading/topology.h"

namespace lazyllm {
namespace {

struct Request {
  std::vector<int32_t> prompt;
  std::string schedule;
  int gen;   // tokens generated (greedy) after the prompt
  int join;  // step at which it enters the batch
};

// Per request: the logits after its prefill and after each decode step, and its tokens.
struct Trace {
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> tokens;
};

SequenceOptions Options(const Model& model, const std::string& schedule, uint64_t seed, bool exact = true) {
  auto p = PruningOptions::Parse(schedule, model.config().num_layers, seed);
  EXPECT_TRUE(p.ok()) << schedule;
  return {.max_context = 512, .pruning = p.ok() ? *p : PruningOptions(), .exact_activations = exact};
}

// Runs the requests through one engine, `width` at a time at most, each joining at its step
// (or when a slot frees up) and leaving when done. width 1 with joins 0 is the solo run.
std::vector<Trace> RunRequests(const Engine& engine, const std::vector<Request>& reqs, size_t width,
                               bool exact = true) {
  std::vector<Trace> out(reqs.size());
  std::vector<std::optional<Sequence>> seqs(reqs.size());
  std::vector<int32_t> last(reqs.size());
  size_t next = 0;
  std::vector<size_t> active;
  for (int step = 0; next < reqs.size() || !active.empty(); ++step) {
    while (next < reqs.size() && active.size() < width && reqs[next].join <= step) {
      auto s = engine.NewSequence(Options(engine.model(), reqs[next].schedule, next, exact));
      EXPECT_TRUE(s.ok()) << s.status().message();
      seqs[next].emplace(std::move(*s));
      active.push_back(next++);
    }
    std::vector<StepItem> items;
    for (size_t i : active) {
      StepItem it{.sequence = &*seqs[i]};
      if (out[i].tokens.empty()) {
        it.tokens = reqs[i].prompt;
        it.kind = StepItem::Kind::kPrefill;
      } else {
        it.tokens = {&last[i], 1};
      }
      items.push_back(it);
    }
    if (!items.empty()) {
      const Status st = engine.Step(items);
      EXPECT_TRUE(st.ok()) << st.message();
    }
    for (size_t j = 0; j < items.size(); ++j) {
      const size_t i = active[j];
      EXPECT_TRUE(items[j].status.ok()) << items[j].status.message();
      const auto lg = seqs[i]->logits();
      out[i].logits.emplace_back(lg.begin(), lg.end());
      last[i] = Argmax(lg);
      out[i].tokens.push_back(last[i]);
    }
    std::erase_if(active, [&](size_t i) {
      if (static_cast<int>(out[i].tokens.size()) < reqs[i].gen) return false;
      seqs[i].reset();
      return true;
    });
  }
  return out;
}

std::vector<Request> Requests(const Model& model, size_t n) {
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  const auto all = model.tokenizer().Encode(text, true).value();
  const std::vector<std::string> schedules = {"off",        "paper",       "static:2:0.5",
                                              "random:0.4", "1:0.5,3:0.6", "paper,revive:1"};
  std::vector<Request> reqs;
  for (size_t i = 0; i < n; ++i) {
    const auto len = std::min<size_t>(all.size(), 3 + (i * 37) % 300);
    reqs.push_back({{all.begin(), all.begin() + static_cast<std::ptrdiff_t>(len)},
                    schedules[i % schedules.size()],
                    static_cast<int>(4 + i % 7),
                    static_cast<int>(i % 4)});
  }
  return reqs;
}

void ExpectBatchEqualsSolo(const Engine& engine, const std::vector<Request>& reqs, size_t width) {
  auto solo_reqs = reqs;
  for (auto& r : solo_reqs) r.join = 0;
  const auto solo = RunRequests(engine, solo_reqs, 1);
  const auto batch = RunRequests(engine, reqs, width);
  double worst = 0;
  int identical = 0, total = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(batch[i].tokens, solo[i].tokens) << "request " << i << " (" << reqs[i].schedule << ")";
    ASSERT_EQ(batch[i].logits.size(), solo[i].logits.size());
    for (size_t t = 0; t < solo[i].logits.size(); ++t) {
      const double d = testing::MaxRelDiff(batch[i].logits[t], solo[i].logits[t]);
      worst = std::max(worst, d);
      identical += d == 0 ? 1 : 0;
      ++total;
    }
  }
  EXPECT_LE(worst, 1e-5) << "width " << width;
  ::testing::Test::RecordProperty("identical_steps_width_" + std::to_string(width),
                                  std::to_string(identical) + "/" + std::to_string(total));
}

// With 8-bit activations (the default on quantized weights) a decode step of one sequence runs
// the GEMV's int8 row dots and a step of many the int8 GEMM: the same rounded activations and
// exact integer sums, float steps in another order, so an activation on a rounding boundary may
// take the neighbouring level in the next matmul. Batch results stay within the int8 band of the
// solo run's (compared until the greedy tokens part, which the band allows).
void ExpectBatchNearSolo(const Engine& engine, const std::vector<Request>& reqs, size_t width, double band) {
  auto solo_reqs = reqs;
  for (auto& r : solo_reqs) r.join = 0;
  const auto solo = RunRequests(engine, solo_reqs, 1, /*exact=*/false);
  const auto batch = RunRequests(engine, reqs, width, /*exact=*/false);
  double worst = 0;
  size_t compared = 0, prefills_identical = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    prefills_identical += batch[i].logits[0] == solo[i].logits[0] ? 1 : 0;  // both prefills run the GEMM
    for (size_t t = 0; t < solo[i].logits.size(); ++t, ++compared) {
      worst = std::max(worst, testing::MaxRelDiff(batch[i].logits[t], solo[i].logits[t]));
      if (batch[i].tokens[t] != solo[i].tokens[t]) break;
    }
  }
  std::printf("  int8 batch vs solo: max relative difference %.2e over %zu steps; %zu/%zu prefills identical\n", worst,
              compared, prefills_identical, reqs.size());
  EXPECT_LE(worst, band);
}

TEST(BatchTest, BatchEqualsSoloOnTheSampleModel) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  const auto reqs = Requests(*model, 32);
  for (size_t width : {1, 2, 5, 8, 32}) ExpectBatchEqualsSolo(*engine, reqs, width);
}

// Steps of fewer than kGemvMaxRows rows run every matmul as the same GEMV as solo: bit-identical.
TEST(BatchTest, SmallBatchesAreBitIdentical) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  auto reqs = Requests(*model, 8);
  for (auto& r : reqs) r.prompt.resize(1);  // every step has one row per sequence
  for (auto& r : reqs) r.join = 0;
  const auto solo = RunRequests(*engine, reqs, 1);
  const auto batch = RunRequests(*engine, reqs, static_cast<size_t>(kGemvMaxRows - 1));
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(batch[i].logits, solo[i].logits) << "request " << i;
}

TEST(BatchTest, BatchEqualsSoloOnQuantizedSlidingWindowAndExpertModels) {
  LAZYLLM_REQUIRE_REFERENCE();
  for (const char* file : {"tiny-gqa-q4_k_m.gguf", "tiny-gemma2.gguf", "tiny-llama-moe.gguf", "tiny-qwen2moe.gguf",
                           "tiny-qwen3moe.gguf", "tiny-qwen2moe-q4_k_m.gguf"}) {
    SCOPED_TRACE(file);
    auto model = Model::Load((testing::ReferenceDir() / "models" / file).string());
    ASSERT_TRUE(model.ok()) << model.status().message();
    auto engine = Engine::Create(*model, {.threads = 2});
    ASSERT_TRUE(engine.ok());
    std::vector<Request> reqs;
    for (int i = 0; i < 12; ++i) {
      std::vector<int32_t> prompt;
      for (int t = 0; t < 20 + 23 * i; ++t) prompt.push_back((t * 7919 + i * 31) % model->config().vocab_size);
      reqs.push_back({prompt, i % 3 == 0 ? "off" : (i % 3 == 1 ? "paper" : "static:1:0.5"), 3 + i % 4, i % 3});
    }
    ExpectBatchEqualsSolo(*engine, reqs, 12);  // exact activations: within float rounding
    if (std::string(file).find("q4_k_m") != std::string::npos) ExpectBatchNearSolo(*engine, reqs, 12, 5e-2);
  }
}

// A pruned row skips its router and its experts: with pruning off every (token, layer) pair
// routes to expert_used_count experts, with LazyLLM only the computed pairs do.
TEST(BatchTest, PrunedRowsSkipTheirExperts) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  for (const char* file : {"tiny-llama-moe.gguf", "tiny-qwen2moe.gguf", "tiny-qwen3moe.gguf"}) {
    SCOPED_TRACE(file);
    auto model = Model::Load((testing::ReferenceDir() / "models" / file).string());
    ASSERT_TRUE(model.ok()) << model.status().message();
    auto engine = Engine::Create(*model, {.threads = 2});
    ASSERT_TRUE(engine.ok());
    const ModelConfig& c = model->config();
    auto prompt = model->tokenizer().Encode(text, true).value();
    prompt.resize(300);
    for (const std::string& schedule : {std::string("off"), std::string("static:1:0.3")}) {
      auto seq = engine->NewSequence(Options(*model, schedule, 1));
      ASSERT_TRUE(seq.ok());
      StepItem it{.sequence = &*seq, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
      ASSERT_TRUE(engine->Step({&it, 1}).ok() && it.status.ok());
      for (int t = 0; t < 4; ++t) {
        int32_t next = Argmax(seq->logits());
        StepItem d{.sequence = &*seq, .tokens = {&next, 1}};
        ASSERT_TRUE(engine->Step({&d, 1}).ok() && d.status.ok());
      }
      const PruningStats st = seq->pruning_stats();
      EXPECT_EQ(st.expert_rows_unpruned, (300 + 4) * c.num_layers * c.expert_used_count);
      EXPECT_EQ(st.expert_rows, st.computed_pairs * c.expert_used_count);
      if (schedule == "off")
        EXPECT_EQ(st.expert_rows, st.expert_rows_unpruned);
      else
        EXPECT_LT(st.expert_rows, st.expert_rows_unpruned) << "the pruned rows routed nowhere";
    }
  }
}

TEST(BatchTest, BatchEqualsSoloOnFourNumaNodes) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto topo = threading::Topology::Synthetic("pack:2 numa:2 core:4 pu:2");
  ASSERT_TRUE(topo.ok());
  auto engine = internal::CreateEngine(*model, {.threads = 8, .numa = true}, &*topo);
  ASSERT_TRUE(engine.ok());
  ASSERT_EQ(engine->thread_context().arenas(), 4);
  ExpectBatchEqualsSolo(*engine, Requests(*model, 16), 16);
}

// Bad items fail alone: the others' results are those of their solo runs.
TEST(BatchTest, ABadItemLeavesTheOthersIntact) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  const auto prompt = model->tokenizer().Encode("Once upon a time there was a cat.", true).value();
  auto good = engine->NewSequence(Options(*model, "paper", 0));
  auto solo = engine->NewSequence(Options(*model, "paper", 0));
  auto bad = engine->NewSequence(Options(*model, "off", 0));
  auto fresh = engine->NewSequence(Options(*model, "off", 0));
  ASSERT_TRUE(good.ok() && solo.ok() && bad.ok() && fresh.ok());
  const std::vector<int32_t> bad_tokens = {1, static_cast<int32_t>(model->config().vocab_size)};
  std::vector<StepItem> items = {
      {.sequence = &*good, .tokens = prompt, .kind = StepItem::Kind::kPrefill},
      {.sequence = &*bad, .tokens = bad_tokens, .kind = StepItem::Kind::kPrefill},
      {.sequence = &*fresh, .tokens = prompt, .kind = StepItem::Kind::kAppend},  // nothing to append to
  };
  ASSERT_TRUE(engine->Step(items).ok());
  EXPECT_TRUE(items[0].status.ok());
  EXPECT_EQ(items[1].status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(items[1].status.message().find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ(items[2].status.code(), StatusCode::kInvalidArgument);
  StepItem one{.sequence = &*solo, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&one, 1}).ok());
  EXPECT_TRUE(std::equal(good->logits().begin(), good->logits().end(), solo->logits().begin()));
  // The same sequence twice is refused as a whole.
  std::vector<StepItem> twice = {{.sequence = &*good, .tokens = prompt}, {.sequence = &*good, .tokens = prompt}};
  EXPECT_EQ(engine->Step(twice).code(), StatusCode::kInvalidArgument);
}

std::vector<float> ToVec(std::span<const float> s) { return {s.begin(), s.end()}; }

// on_layer reports every layer of an item's pass; returning false cancels that item alone, in a
// step shared with others (prefill and decode, pruned or not), whose results stay their solo
// runs'. The cancelled sequence is empty and runs normally afterwards.
TEST(BatchTest, LayerCallbackReportsProgressAndCancelsOneItem) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  const int64_t layers = model->config().num_layers;
  const auto prompt = model->tokenizer().Encode("Once upon a time there was a cat who liked the sun.", true).value();
  for (int64_t cancel_after = 1; cancel_after <= layers; ++cancel_after) {
    SCOPED_TRACE(cancel_after);
    auto a = engine->NewSequence(Options(*model, "paper", 0));
    auto b = engine->NewSequence(Options(*model, "off", 0));
    auto c = engine->NewSequence(Options(*model, "paper", 0));
    auto a_solo = engine->NewSequence(Options(*model, "paper", 0));
    auto c_solo = engine->NewSequence(Options(*model, "paper", 0));
    ASSERT_TRUE(a.ok() && b.ok() && c.ok() && a_solo.ok() && c_solo.ok());
    // c is mid-generation: its step is a decode token.
    for (Sequence* s : {&*c, &*c_solo}) {
      StepItem p{.sequence = s, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
      ASSERT_TRUE(engine->Step({&p, 1}).ok() && p.status.ok());
    }
    std::vector<int64_t> seen_a, seen_b;
    const int32_t next[1] = {42};
    std::vector<StepItem> items = {
        {.sequence = &*a,
         .tokens = prompt,
         .kind = StepItem::Kind::kPrefill,
         .on_layer =
             [&](int64_t done, int64_t of) {
               EXPECT_EQ(of, layers);
               seen_a.push_back(done);
               return true;
             }},
        {.sequence = &*b,
         .tokens = prompt,
         .kind = StepItem::Kind::kPrefill,
         .on_layer =
             [&](int64_t done, int64_t) {
               seen_b.push_back(done);
               return done < cancel_after;
             }},
        {.sequence = &*c, .tokens = next},
    };
    ASSERT_TRUE(engine->Step(items).ok());
    EXPECT_TRUE(items[0].status.ok());
    EXPECT_TRUE(items[2].status.ok());
    EXPECT_EQ(items[1].status.code(), StatusCode::kCancelled);
    EXPECT_NE(
        items[1].status.message().find("after layer " + std::to_string(cancel_after) + " of " + std::to_string(layers)),
        std::string::npos)
        << items[1].status;
    std::vector<int64_t> all(static_cast<size_t>(layers)), upto(static_cast<size_t>(cancel_after));
    std::iota(all.begin(), all.end(), 1);
    std::iota(upto.begin(), upto.end(), 1);
    EXPECT_EQ(seen_a, all);
    EXPECT_EQ(seen_b, upto);
    EXPECT_EQ(b->position(), 0);
    StepItem one{.sequence = &*a_solo, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
    StepItem dec{.sequence = &*c_solo, .tokens = next};
    ASSERT_TRUE(engine->Step({&one, 1}).ok());
    ASSERT_TRUE(engine->Step({&dec, 1}).ok());
    // Within float rounding: the step's matmuls see other row counts than the solo runs'.
    EXPECT_LE(testing::MaxRelDiff(ToVec(a->logits()), ToVec(a_solo->logits())), 1e-5);
    EXPECT_LE(testing::MaxRelDiff(ToVec(c->logits()), ToVec(c_solo->logits())), 1e-5);
    StepItem again{.sequence = &*b, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
    ASSERT_TRUE(engine->Step({&again, 1}).ok());
    EXPECT_TRUE(again.status.ok());
    EXPECT_EQ(b->position(), static_cast<int64_t>(prompt.size()));
  }
}

// Generate and GenerateBatch take on_prefill_layer: a cancelled request fails with kCancelled
// and leaves the other requests' results as they are alone.
TEST(GenerateBatchTest, PrefillProgressAndCancellation) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  const auto prompt = model->tokenizer().Encode("Once upon a time there was a dog.", true).value();
  GenerationOptions gen;
  gen.max_new_tokens = 6;
  gen.sampling.temperature = 0;
  auto session = Session::Create(*engine, {.pruning = *PruningOptions::Parse("paper", model->config().num_layers, 0)});
  ASSERT_TRUE(session.ok());
  int64_t calls = 0;
  gen.on_prefill_layer = [&](int64_t, int64_t) { return ++calls < 2; };
  auto cancelled = Generate(*session, prompt, gen);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(calls, 2);
  calls = 0;
  gen.on_prefill_layer = [&](int64_t, int64_t) { return ++calls > 0; };
  auto whole = Generate(*session, prompt, gen);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(calls, model->config().num_layers) << "the prefill only: decode steps are not reported";
  // The session's own callback sees every step but the prefill Generate's option stood in for,
  // and is in place again afterwards.
  int64_t session_calls = 0;
  session->SetLayerCallback([&](int64_t, int64_t) { return ++session_calls > 0; });
  calls = 0;
  ASSERT_TRUE(Generate(*session, prompt, gen).ok());
  EXPECT_EQ(calls, model->config().num_layers);
  EXPECT_EQ(session_calls, (gen.max_new_tokens - 1) * model->config().num_layers) << "one per decode step's layer";
  EXPECT_TRUE(session->SetLayerCallback(nullptr)) << "restored after Generate";

  std::vector<BatchRequest> reqs(3, BatchRequest{.prompt = prompt, .generation = gen});
  for (auto& r : reqs) r.generation.on_prefill_layer = nullptr;
  reqs[1].generation.on_prefill_layer = [](int64_t done, int64_t) { return done < 3; };
  const auto results = GenerateBatch(*engine, reqs);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1].status().code(), StatusCode::kCancelled);
  for (size_t i : {0u, 2u}) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    auto solo = Session::Create(*engine);
    ASSERT_TRUE(solo.ok());
    GenerationOptions g = gen;
    g.on_prefill_layer = nullptr;
    auto want = Generate(*solo, prompt, g);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(results[i]->tokens, want->tokens);
  }
}

// Σ_l ceil(rows_l / page_rows) pages: what a sequence's KV bytes must be.
int64_t ExpectedKvBytes(const Sequence& seq, const Engine& engine, const std::vector<int64_t>& rows_per_layer) {
  const auto pool = engine.kv_pool();
  int64_t pages = 0;
  for (int64_t r : rows_per_layer) pages += (r + pool.page_rows - 1) / pool.page_rows;
  (void)seq;
  return pages * pool.page_bytes;
}

TEST(BatchTest, KvBytesFollowComputedPairs) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const ModelConfig& c = model->config();
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  auto prompt = model->tokenizer().Encode(text, true).value();
  prompt.resize(std::min<size_t>(prompt.size(), 400));
  const auto n = static_cast<int64_t>(prompt.size());
  for (KvType type : {KvType::kF32, KvType::kF16}) {
    auto engine = Engine::Create(*model, {.threads = 2, .kv_type = type});
    ASSERT_TRUE(engine.ok());
    const int64_t pair_bytes = 2 * c.num_kv_heads * c.head_dim * (type == KvType::kF16 ? 2 : 4);
    auto off = engine->NewSequence(Options(*model, "off", 0));
    auto paper = engine->NewSequence(Options(*model, "paper", 0));
    ASSERT_TRUE(off.ok() && paper.ok());
    std::vector<StepItem> items = {{.sequence = &*off, .tokens = prompt, .kind = StepItem::Kind::kPrefill},
                                   {.sequence = &*paper, .tokens = prompt, .kind = StepItem::Kind::kPrefill}};
    ASSERT_TRUE(engine->Step(items).ok());
    ASSERT_TRUE(items[0].status.ok() && items[1].status.ok());
    // off: every (token, layer) pair; paper: the live rows entering each layer.
    EXPECT_EQ(off->kv_bytes(), ExpectedKvBytes(*off, *engine, std::vector<int64_t>(c.num_layers, n)));
    const PruningStats ps = paper->pruning_stats();
    EXPECT_EQ(paper->kv_bytes(), ExpectedKvBytes(*paper, *engine, ps.kept_per_layer));
    EXPECT_GE(paper->kv_bytes(), ps.computed_pairs * pair_bytes);
    EXPECT_LT(paper->kv_bytes(), ps.computed_pairs * pair_bytes + c.num_layers * engine->kv_pool().page_bytes);
    // paper computes under 3/4 of the pairs, and its KV takes fewer pages than off's (pages of this
    // model's 8-wide heads hold 128 rows, 256 in f16, of its 512).
    EXPECT_LT(ps.computed_pairs, c.num_layers * n * 3 / 4);
    EXPECT_LT(paper->kv_bytes(), off->kv_bytes());
    EXPECT_EQ(engine->kv_pool().held_bytes, off->kv_bytes() + paper->kv_bytes());
    // Decode steps (with revivals) keep the rule.
    int32_t tok = Argmax(paper->logits());
    for (int i = 0; i < 24; ++i) {
      StepItem d{.sequence = &*paper, .tokens = {&tok, 1}};
      ASSERT_TRUE(engine->Step({&d, 1}).ok());
      ASSERT_TRUE(d.status.ok()) << d.status.message();
      tok = Argmax(paper->logits());
    }
    const int64_t pairs = paper->pruning_stats().computed_pairs;
    EXPECT_GE(paper->kv_bytes(), pairs * pair_bytes);
    EXPECT_LT(paper->kv_bytes(), pairs * pair_bytes + c.num_layers * engine->kv_pool().page_bytes);
    off.value() = std::move(*paper);  // the old `off` sequence is destroyed: its pages return
    EXPECT_EQ(engine->kv_pool().held_bytes, off->kv_bytes());
  }
}

TEST(BatchTest, F16KvHalvesBytesAndStaysClose) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  auto prompt = model->tokenizer().Encode(text, true).value();
  prompt.resize(std::min<size_t>(prompt.size(), 400));
  std::vector<float> logits[2];
  int64_t bytes[2], page_bytes = 0;
  for (int i = 0; i < 2; ++i) {
    auto engine = Engine::Create(*model, {.threads = 2, .kv_type = i == 0 ? KvType::kF32 : KvType::kF16});
    ASSERT_TRUE(engine.ok());
    auto seq = engine->NewSequence(Options(*model, "off", 0));
    ASSERT_TRUE(seq.ok());
    StepItem item{.sequence = &*seq, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
    ASSERT_TRUE(engine->Step({&item, 1}).ok());
    logits[i].assign(seq->logits().begin(), seq->logits().end());
    bytes[i] = seq->kv_bytes();
    page_bytes = std::max(page_bytes, engine->kv_pool().page_bytes);
  }
  // Half the bytes per pair; pages round each layer up.
  EXPECT_NEAR(static_cast<double>(bytes[1] * 2), static_cast<double>(bytes[0]),
              static_cast<double>(model->config().num_layers * page_bytes));
  EXPECT_LT(bytes[1], bytes[0] * 3 / 4);
  const double d = testing::MaxRelDiff(logits[1], logits[0]);
  EXPECT_GT(d, 0.0);  // half rounding is visible
  EXPECT_LT(d, 1e-2);
  EXPECT_EQ(Argmax(logits[1]), Argmax(logits[0]));
}

// A pool that holds one prompt's KV: a second sequence is refused while the first holds it,
// and admitted after the first ends; a refused prefill leaves a decode in the same step intact.
TEST(BatchTest, FullKvPoolRefusesThenAdmits) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode("Once upon a time, a little girl named Lily found a shiny stone.", true).value();
  auto probe = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(probe.ok());
  auto p = probe->NewSequence(Options(*model, "off", 0));
  ASSERT_TRUE(p.ok());
  StepItem pi{.sequence = &*p, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(probe->Step({&pi, 1}).ok());
  const int64_t one = p->kv_bytes();  // one prompt's pages (with room for a few more tokens)

  auto engine = Engine::Create(*model, {.threads = 2, .kv_mem_bytes = one + one / 2});
  ASSERT_TRUE(engine.ok());
  auto a = engine->NewSequence(Options(*model, "off", 0));
  auto b = engine->NewSequence(Options(*model, "off", 0));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->ReserveKv(static_cast<int64_t>(prompt.size())).ok());
  const Status refused = b->ReserveKv(static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("KV memory pool is full"), std::string::npos) << refused.message();
  StepItem ai{.sequence = &*a, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&ai, 1}).ok());
  ASSERT_TRUE(ai.status.ok());
  a->ReleaseKvReserve();
  // b's prefill does not fit; a's decode in the same step goes on and matches the probe's.
  int32_t tok = Argmax(a->logits());
  std::vector<StepItem> items = {{.sequence = &*a, .tokens = {&tok, 1}},
                                 {.sequence = &*b, .tokens = prompt, .kind = StepItem::Kind::kPrefill}};
  ASSERT_TRUE(engine->Step(items).ok());
  EXPECT_TRUE(items[0].status.ok());
  EXPECT_EQ(items[1].status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(b->position(), 0);
  StepItem pd{.sequence = &*p, .tokens = {&tok, 1}};
  ASSERT_TRUE(probe->Step({&pd, 1}).ok());
  EXPECT_TRUE(std::equal(a->logits().begin(), a->logits().end(), p->logits().begin()));
  // a ends: b fits.
  a = engine->NewSequence(Options(*model, "off", 0));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(b->ReserveKv(static_cast<int64_t>(prompt.size())).ok());
  StepItem bi{.sequence = &*b, .tokens = prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&bi, 1}).ok());
  EXPECT_TRUE(bi.status.ok()) << bi.status.message();
}

// GenerateBatch: every request's greedy tokens equal Generate's on its own session; on_token
// can cancel one request without touching the others; results come back in input order.
TEST(GenerateBatchTest, MatchesGenerateAndCancels) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  const auto reqs = Requests(*model, 10);
  std::vector<BatchRequest> batch;
  for (size_t i = 0; i < reqs.size(); ++i) {
    BatchRequest b{.prompt = reqs[i].prompt, .sequence = Options(*model, reqs[i].schedule, i)};
    b.generation.max_new_tokens = 12;
    b.generation.sampling.temperature = 0;
    b.generation.stop_at_eos = false;
    batch.push_back(b);
  }
  int seen = 0;
  batch[3].generation.on_token = [&](int32_t) { return ++seen < 3; };  // cancel after 3 tokens
  std::vector<size_t> done_order;
  const auto results = GenerateBatch(*engine, batch, {.max_batch = 4, .on_done = [&](size_t i, const auto& r) {
                                                        EXPECT_TRUE(r.ok());
                                                        done_order.push_back(i);
                                                      }});
  ASSERT_EQ(results.size(), batch.size());
  EXPECT_EQ(done_order.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().message();
    auto session = Session::Create(*engine, {.max_context = 512, .pruning = batch[i].sequence.pruning});
    ASSERT_TRUE(session.ok());
    GenerationOptions g = batch[i].generation;
    g.on_token = nullptr;
    if (i == 3) g.max_new_tokens = 3;
    auto solo = Generate(*session, batch[i].prompt, g);
    ASSERT_TRUE(solo.ok());
    EXPECT_EQ(results[i]->tokens, solo->tokens) << "request " << i;
    EXPECT_EQ(results[i]->stats.pruning.prompt_tokens_computed_pct, solo->stats.pruning.prompt_tokens_computed_pct);
    EXPECT_GT(results[i]->stats.kv_bytes, 0);
  }
  EXPECT_EQ(results[3]->tokens.size(), 3u);
}

// Requests the KV pool cannot hold at once wait in the queue and all complete; the pool never
// holds more than its limit; pruned (paper) requests leave room for more of them at once than
// unpruned ones; a request too big for the pool alone fails with a message, the rest complete.
TEST(GenerateBatchTest, KvLimitQueuesRequestsAndPruningFitsMore) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  auto prompt = model->tokenizer().Encode(text, true).value();
  prompt.resize(std::min<size_t>(prompt.size(), 400));
  const int gen = 8;
  // One unpruned request's worst case: its prompt and tokens at every layer.
  auto probe = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(probe.ok());
  auto p = probe->NewSequence(Options(*model, "off", 0));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->ReserveKv(static_cast<int64_t>(prompt.size()) + gen).ok());
  const int64_t one = p->kv_reserved_bytes();
  int concurrency[2] = {0, 0};
  std::vector<int32_t> tokens[2][8];
  for (int m = 0; m < 2; ++m) {
    const char* schedule = m == 0 ? "off" : "paper";
    auto engine = Engine::Create(*model, {.threads = 2, .kv_mem_bytes = 3 * one + one / 4});
    ASSERT_TRUE(engine.ok());
    std::vector<BatchRequest> batch;
    int in_flight = 0;
    for (int i = 0; i < 8; ++i) {
      BatchRequest b{.prompt = prompt, .sequence = Options(*model, schedule, 0)};
      b.prompt.back() = (b.prompt.back() + i) % model->config().vocab_size;  // distinct requests
      b.generation.max_new_tokens = gen;
      b.generation.sampling.temperature = 0;
      b.generation.stop_at_eos = false;
      b.generation.on_token = [&, first = true](int32_t) mutable {
        if (first) concurrency[m] = std::max(concurrency[m], ++in_flight);
        first = false;
        EXPECT_LE(engine->kv_pool().held_bytes, engine->kv_pool().limit_bytes);
        return true;
      };
      batch.push_back(std::move(b));
    }
    const auto results = GenerateBatch(*engine, batch, {.on_done = [&](size_t, const auto&) { --in_flight; }});
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(results[i].ok()) << schedule << " request " << i << ": "
                                   << static_cast<int>(results[i].status().code()) << " "
                                   << results[i].status().message();
      tokens[m][i] = results[i]->tokens;
      EXPECT_EQ(static_cast<int>(tokens[m][i].size()), gen);
    }
    EXPECT_EQ(engine->kv_pool().held_bytes, 0);
  }
  EXPECT_EQ(concurrency[0], 3);
  EXPECT_GT(concurrency[1], concurrency[0]);

  auto small = Engine::Create(*model, {.threads = 2, .kv_mem_bytes = one / 2});
  ASSERT_TRUE(small.ok());
  std::vector<BatchRequest> two = {{.prompt = prompt}, {.prompt = {prompt.begin(), prompt.begin() + 20}}};
  for (auto& b : two) b.generation.max_new_tokens = 2;
  const auto r = GenerateBatch(*small, two);
  ASSERT_FALSE(r[0].ok());
  EXPECT_EQ(r[0].status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(r[1].ok()) << r[1].status().message();
}

// Concurrent use through the public API: engines of one shared Model driven from four threads
// at once, each batching its own requests, give exactly their solo results; sequences of an
// engine are destroyed on other threads while it steps (their pages go back to the shared pool).
// Single-worker engines, so that ThreadSanitizer (tools/test.sh) sees only these threads.
TEST(ConcurrencyTest, EnginesOnOneModelFromManyThreads) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto reqs = Requests(*model, 8);
  std::vector<Trace> solo;
  {
    auto engine = Engine::Create(*model, {.threads = 1});
    ASSERT_TRUE(engine.ok());
    solo = RunRequests(*engine, reqs, 1);
  }
  std::vector<std::vector<Trace>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto engine = Engine::Create(*model, {.threads = 1});
      ASSERT_TRUE(engine.ok());
      got[t] = RunRequests(*engine, reqs, 1 + t * 2);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t)
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got[t][i].tokens, solo[i].tokens) << "thread " << t << " request " << i;
      EXPECT_LE(testing::MaxRelDiff(got[t][i].logits.back(), solo[i].logits.back()), 1e-5);
    }

  auto engine = Engine::Create(*model, {.threads = 1, .kv_mem_bytes = int64_t{64} << 20});
  ASSERT_TRUE(engine.ok());
  std::vector<Sequence> doomed;
  for (int i = 0; i < 8; ++i) {
    auto s = engine->NewSequence(Options(*model, "paper", 0));
    ASSERT_TRUE(s.ok());
    StepItem it{.sequence = &*s, .tokens = reqs[i].prompt, .kind = StepItem::Kind::kPrefill};
    ASSERT_TRUE(engine->Step({&it, 1}).ok());
    doomed.push_back(std::move(*s));
  }
  std::thread destroyer([&] { doomed.clear(); });
  const auto more = RunRequests(*engine, reqs, 4);
  destroyer.join();
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(more[i].tokens, solo[i].tokens) << "request " << i;
  EXPECT_EQ(engine->kv_pool().held_bytes, 0);
}

// Issue 12: sessions driven from many threads at once, with multi-worker engines (oneTBB workers
// inside every step), give bit for bit the results of their solo runs: each thread with its own
// session on one Model, and several threads with sessions on one shared Engine (whose steps take
// turns). ThreadSanitizer runs this test (tools/test.sh).
TEST(ConcurrencyTest, SessionsWithWorkersFromManyThreadsMatchSoloRuns) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto reqs = Requests(*model, 6);
  // One request on a session: prefill, then greedy decode; the logits of every step.
  auto run = [&](Session& s, const Request& r) {
    Trace t;
    EXPECT_TRUE(s.Prefill(r.prompt).ok());
    t.logits.emplace_back(s.logits().begin(), s.logits().end());
    for (int i = 0; i < r.gen; ++i) {
      const auto next =
          static_cast<int32_t>(std::max_element(s.logits().begin(), s.logits().end()) - s.logits().begin());
      t.tokens.push_back(next);
      EXPECT_TRUE(s.DecodeStep(next).ok());
      t.logits.emplace_back(s.logits().begin(), s.logits().end());
    }
    return t;
  };
  auto session_options = [&](const Request& r, size_t i) {
    const SequenceOptions so = Options(*model, r.schedule, i);
    return SessionOptions{.threads = 2, .max_context = so.max_context, .pruning = so.pruning};
  };
  std::vector<Trace> solo;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto s = Session::Create(*model, session_options(reqs[i], i));
    ASSERT_TRUE(s.ok());
    solo.push_back(run(*s, reqs[i]));
  }
  auto shared = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(shared.ok());
  std::vector<Trace> own(reqs.size()), on_shared(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto s = Session::Create(*model, session_options(reqs[i], i));
      ASSERT_TRUE(s.ok());
      own[i] = run(*s, reqs[i]);
    });
    threads.emplace_back([&, i] {
      auto s = Session::Create(*shared, session_options(reqs[i], i));
      ASSERT_TRUE(s.ok());
      on_shared[i] = run(*s, reqs[i]);
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(own[i].tokens, solo[i].tokens) << "request " << i;
    EXPECT_EQ(own[i].logits, solo[i].logits) << "request " << i << ": not bit-identical to its solo run";
    EXPECT_EQ(on_shared[i].tokens, solo[i].tokens) << "request " << i;
    EXPECT_EQ(on_shared[i].logits, solo[i].logits) << "request " << i << " (shared engine)";
  }
}

// Issue 12: a Model's ownership is shared. Releasing the last Model handle while a session, an
// engine and a sequence still use it is safe; they keep the mapped file and weights alive.
TEST(ConcurrencyTest, SessionsOutliveTheirModelHandle) {
  const auto reqs = [] {
    auto m = Model::Load(testing::SampleModel().string());
    EXPECT_TRUE(m.ok());
    return Requests(*m, 2);
  }();
  std::optional<Session> session;
  std::optional<Engine> engine;
  std::optional<Sequence> seq;
  std::vector<float> expect;
  {
    auto model = Model::Load(testing::SampleModel().string());
    ASSERT_TRUE(model.ok());
    auto s = Session::Create(*model, {.threads = 2, .max_context = 512});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Prefill(reqs[1].prompt).ok());
    expect.assign(s->logits().begin(), s->logits().end());
    session.emplace(std::move(*s));
    auto e = Engine::Create(*model, {.threads = 2});
    ASSERT_TRUE(e.ok());
    engine.emplace(*e);
    auto q = engine->NewSequence({.max_context = 512});
    ASSERT_TRUE(q.ok());
    seq.emplace(std::move(*q));
  }  // the last Model handle goes here
  ASSERT_TRUE(session->Prefill(reqs[1].prompt).ok());
  EXPECT_EQ(std::vector<float>(session->logits().begin(), session->logits().end()), expect);
  StepItem item{.sequence = &*seq, .tokens = reqs[1].prompt, .kind = StepItem::Kind::kPrefill};
  ASSERT_TRUE(engine->Step({&item, 1}).ok());
  ASSERT_TRUE(item.status.ok());
  EXPECT_EQ(std::vector<float>(seq->logits().begin(), seq->logits().end()), expect);
  EXPECT_GT(engine->model().config().num_layers, 0);
}

// Issue 12 defect 2: a sequence that could need more memory than the limit (its KV cache with the
// whole context in every layer, a prefill's activations, its bookkeeping) is refused with the need
// and the limit named, before anything is allocated; the same sequence fits at exactly its need,
// and a pruned one needs more (its Aux Cache).
TEST(BatchTest, SequenceNeedRespectsTheMemoryLimit) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const ModelConfig& c = model->config();
  const int64_t ctx = 512;
  const int64_t kv_bytes = ctx * c.num_layers * 2 * c.num_kv_heads * c.head_dim * 4;  // f32 K and V
  auto small = Engine::Create(*model, {.threads = 1, .mem_limit_bytes = kv_bytes});
  ASSERT_TRUE(small.ok());
  auto refused = small->NewSequence(Options(*model, "off", 0));
  ASSERT_FALSE(refused.ok());
  const std::string msg = refused.status().message();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(msg.find("a sequence of 512 tokens needs up to "), std::string::npos) << msg;
  EXPECT_NE(msg.find("KV cache " + std::to_string(kv_bytes) + " for " + std::to_string(c.num_layers) + " layers"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("more than the " + std::to_string(kv_bytes) +
                     " bytes allowed (the memory limit: mem_limit_bytes, --mem-limit)"),
            std::string::npos)
      << msg;
  const size_t at = msg.find("needs up to ") + 12;
  const int64_t need = std::stoll(msg.substr(at, msg.find(' ', at) - at));
  EXPECT_GT(need, kv_bytes);
  auto exact = Engine::Create(*model, {.threads = 1, .mem_limit_bytes = need});
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->NewSequence(Options(*model, "off", 0)).ok());
  auto paper = exact->NewSequence(Options(*model, "paper", 0));  // 3 Aux layers × 512 × dim floats more
  ASSERT_FALSE(paper.ok());
  EXPECT_NE(paper.status().message().find("3 Aux Cache layers"), std::string::npos) << paper.status().message();
  auto roomy = Engine::Create(*model, {.threads = 1, .mem_limit_bytes = need + 3 * ctx * c.dim * 4});
  ASSERT_TRUE(roomy.ok());
  EXPECT_TRUE(roomy->NewSequence(Options(*model, "paper", 0)).ok());
  EXPECT_EQ(Engine::Create(*model, {.mem_limit_bytes = -1}).status().code(), StatusCode::kInvalidArgument);
}

// What a sequence's prefill and greedy decode produced: every logit, the pruning record, KV bytes.
struct PrefillRecord {
  std::vector<std::vector<float>> logits;
  std::vector<int64_t> kept_per_layer;
  std::vector<std::vector<int64_t>> kept_positions;
  int64_t revived = 0, computed_pairs = 0, kv_bytes = 0;
  int parts = 0;  // steps the prefill took
};

// How a prefill is cut: parts of at most `layers` layers and `flops` flops (0: no limit).
struct Cut {
  int layers = 0;
  double flops = 0;
};

// A cut prefill's record against the whole prefill's: the same kept sets, revivals, computed
// pairs, KV bytes, and every logit bit for bit.
void ExpectSameComputation(const PrefillRecord& split, const PrefillRecord& whole) {
  EXPECT_EQ(split.kept_per_layer, whole.kept_per_layer);
  EXPECT_EQ(split.kept_positions, whole.kept_positions);
  EXPECT_EQ(split.revived, whole.revived);
  EXPECT_EQ(split.computed_pairs, whole.computed_pairs);
  EXPECT_EQ(split.kv_bytes, whole.kv_bytes);
  ASSERT_EQ(split.logits.size(), whole.logits.size());
  for (size_t t = 0; t < whole.logits.size(); ++t)
    EXPECT_TRUE(split.logits[t] == whole.logits[t]) << "step " << t << " differs";
}

// The prompt's prefill cut into steps, another sequence's decode step run between the parts,
// then `decode` greedy tokens.
// exact_activations both ways where the file has quantized weights (8-bit activations or not);
// once on F32 and F16 files, where both are one computation.
std::vector<bool> ExactSettings(const Model& model) {
  if (model.matmul_activations(false) == "int8") return {true, false};
  return {true};
}

PrefillRecord RunCut(const Engine& engine, const std::vector<int32_t>& prompt, const std::string& schedule, Cut cut,
                     int decode, bool exact) {
  PrefillRecord r;
  SequenceOptions options = Options(engine.model(), schedule, 3, exact);
  options.max_context = std::max<int64_t>(options.max_context, static_cast<int64_t>(prompt.size()) + decode);
  auto seq = engine.NewSequence(options);
  auto other = engine.NewSequence(Options(engine.model(), "paper", 4, exact));
  EXPECT_TRUE(seq.ok() && other.ok());
  const int32_t other_prompt[] = {1, 5, 9, 14};
  StepItem o{.sequence = &*other, .tokens = other_prompt, .kind = StepItem::Kind::kPrefill};
  EXPECT_TRUE(engine.Step({&o, 1}).ok() && o.status.ok());
  StepItem it{.sequence = &*seq,
              .tokens = prompt,
              .kind = StepItem::Kind::kPrefill,
              .max_layers = cut.layers,
              .max_flops = cut.flops};
  for (;;) {
    EXPECT_TRUE(engine.Step({&it, 1}).ok());
    EXPECT_TRUE(it.status.ok()) << it.status;
    ++r.parts;
    if (!seq->prefill_pending()) break;
    EXPECT_EQ(seq->position(), 0);
    int32_t next = Argmax(other->logits());  // the other sequence decodes meanwhile (from its prompt again when full)
    StepItem d{.sequence = &*other, .tokens = {&next, 1}};
    if (other->position() == other->max_context()) d = o;
    EXPECT_TRUE(engine.Step({&d, 1}).ok() && d.status.ok());
    it = {.sequence = &*seq, .kind = StepItem::Kind::kResume, .max_layers = cut.layers, .max_flops = cut.flops};
  }
  for (int t = 0;; ++t) {
    const auto lg = seq->logits();
    r.logits.emplace_back(lg.begin(), lg.end());
    if (t == decode) break;
    int32_t next = Argmax(lg);
    StepItem d{.sequence = &*seq, .tokens = {&next, 1}};
    EXPECT_TRUE(engine.Step({&d, 1}).ok() && d.status.ok());
  }
  const PruningStats st = seq->pruning_stats();
  r.kept_per_layer = st.kept_per_layer;
  r.kept_positions = st.kept_positions;
  r.revived = st.revived_tokens;
  r.computed_pairs = st.computed_pairs;
  r.kv_bytes = seq->kv_bytes();
  return r;
}

// A prefill cut into layer ranges, with other work between its parts, computes exactly what the
// whole prefill does: the same kept sets, the same logits bit for bit, the same revivals after.
TEST(LayerSplitPrefillTest, CutsChangeNothingTheSequenceComputes) {
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  for (const std::string& file : {std::string(), std::string("gqa-q4_k_m.gguf"), std::string("gemma2.gguf")}) {
    const std::string path =
        file.empty() ? testing::SampleModel().string() : testing::ReferenceModelPath(file).string();
    if (!std::filesystem::exists(path)) {
      std::printf("  (skipping %s: ../shared/reference is not there)\n", file.c_str());
      continue;
    }
    auto model = Model::Load(path);
    ASSERT_TRUE(model.ok()) << model.status();
    auto engine = Engine::Create(*model, {.threads = 2});
    ASSERT_TRUE(engine.ok());
    auto all = model->tokenizer().Encode(text, true).value();
    all.resize(std::min<size_t>(all.size(), 200));
    const int64_t layers = model->config().num_layers;
    for (const std::string& schedule :
         {std::string("off"), std::string("paper"), std::string("random:0.4"), std::string("1:0.5")}) {
      for (bool exact : ExactSettings(*model)) {
        const PrefillRecord whole = RunCut(*engine, all, schedule, {}, 6, exact);
        EXPECT_EQ(whole.parts, 1);
        for (int cut : {1, 2, 3}) {
          SCOPED_TRACE(path + " " + schedule + " cut " + std::to_string(cut) + (exact ? " exact" : " int8"));
          const PrefillRecord split = RunCut(*engine, all, schedule, {.layers = cut}, 6, exact);
          EXPECT_EQ(split.parts, (layers + cut - 1) / cut);
          ExpectSameComputation(split, whole);
        }
      }
    }
  }
}

// Cut inside layers by a budget of flops (parts of 256-row ranges of a layer's q/K/V or of its
// output projection and MLP, and of query-block ranges of its attention, down to one range a
// part), a prefill still computes exactly what the whole prefill does: every matmul and
// attention call of a range is one the whole layer makes. The files cover the
// in-place F32 sgemm, converted panels (F16, Q4_K_M --exact), the int8 GEMM, sliding windows and
// a mixture of experts (whose expert part is never cut).
TEST(LayerSplitPrefillTest, CutsInsideLayersChangeNothing) {
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  for (const std::string& file :
       {std::string("gqa-f32.gguf"), std::string("gqa-q4_k_m.gguf"), std::string("gqa-f16.gguf"),
        std::string("gemma2.gguf"), std::string("qwen2moe-q4_k_m.gguf")}) {
    const std::string path = testing::ReferenceModelPath(file).string();
    if (!std::filesystem::exists(path)) {
      std::printf("  (skipping %s: ../shared/reference is not there)\n", file.c_str());
      continue;
    }
    auto model = Model::Load(path);
    ASSERT_TRUE(model.ok()) << model.status();
    auto engine = Engine::Create(*model, {.threads = 2});
    ASSERT_TRUE(engine.ok());
    auto all = model->tokenizer().Encode(text + text + text, true).value();
    all.resize(std::min<size_t>(all.size(), 1100));
    ASSERT_EQ(all.size(), 1100u);
    const int64_t layers = model->config().num_layers;
    const double row_layer = EstimateLayerFlops(model->config()).row();
    for (const std::string& schedule : {std::string("off"), std::string("paper"), std::string("random:0.4")}) {
      for (bool exact : ExactSettings(*model)) {
        const PrefillRecord whole = RunCut(*engine, all, schedule, {}, 4, exact);
        for (double budget : {20.0, 600.0, 1150.0}) {
          SCOPED_TRACE(path + " " + schedule + " budget " + std::to_string(budget) + (exact ? " exact" : " int8"));
          const PrefillRecord split = RunCut(*engine, all, schedule, {.flops = budget * row_layer}, 4, exact);
          EXPECT_GT(split.parts, budget < 1100 ? layers : 1) << "parts end inside layers";
          ExpectSameComputation(split, whole);
        }
      }
    }
  }
}

TEST(LayerSplitPrefillTest, ACutPrefillRunsAloneAndOnlyResumes) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  auto engine = Engine::Create(*model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  auto a = engine->NewSequence(), b = engine->NewSequence();
  ASSERT_TRUE(a.ok() && b.ok());
  const int32_t prompt[] = {1, 5, 9, 14, 20};
  StepItem two[2] = {{.sequence = &*a, .tokens = prompt, .kind = StepItem::Kind::kPrefill, .max_layers = 1},
                     {.sequence = &*b, .tokens = prompt, .kind = StepItem::Kind::kPrefill}};
  EXPECT_EQ(engine->Step(two).code(), StatusCode::kInvalidArgument);
  two[0].max_layers = 0;
  two[0].max_flops = 1e6;
  EXPECT_EQ(engine->Step(two).code(), StatusCode::kInvalidArgument) << "a prefill cut by flops runs alone too";
  for (double bad : {-1.0, std::nan(""), HUGE_VAL}) {
    StepItem odd{.sequence = &*a, .tokens = prompt, .kind = StepItem::Kind::kPrefill, .max_flops = bad};
    ASSERT_TRUE(engine->Step({&odd, 1}).ok());
    EXPECT_EQ(odd.status.code(), StatusCode::kInvalidArgument) << bad;
  }
  StepItem resume{.sequence = &*a, .kind = StepItem::Kind::kResume};
  ASSERT_TRUE(engine->Step({&resume, 1}).ok());
  EXPECT_EQ(resume.status.code(), StatusCode::kInvalidArgument) << "nothing to resume";
  StepItem cut{.sequence = &*a, .tokens = prompt, .kind = StepItem::Kind::kPrefill, .max_layers = 1};
  ASSERT_TRUE(engine->Step({&cut, 1}).ok());
  ASSERT_TRUE(cut.status.ok());
  EXPECT_EQ(a->prefill_layers_done(), 1);
  EXPECT_TRUE(a->prefill_pending());
  EXPECT_EQ(a->position(), 0);
  int32_t tok = 3;
  StepItem append{.sequence = &*a, .tokens = {&tok, 1}};
  ASSERT_TRUE(engine->Step({&append, 1}).ok());
  EXPECT_EQ(append.status.code(), StatusCode::kInvalidArgument) << "an append while the prefill waits";
  EXPECT_EQ(a->prefill_layers_done(), 1) << "a refused item leaves the sequence as it was";
  resume.max_layers = 0;  // all that remain
  ASSERT_TRUE(engine->Step({&resume, 1}).ok());
  ASSERT_TRUE(resume.status.ok());
  EXPECT_EQ(a->prefill_layers_done(), 0);
  EXPECT_EQ(a->position(), 5);
}

}  // namespace
}  // namespace lazyllm
