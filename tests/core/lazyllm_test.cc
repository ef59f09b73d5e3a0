// LazyLLM pruning against the independent float64 implementation (../shared/reference/lazyllm)
// and the guarantees of DESIGN.md §3.
#include "lazyllm/lazyllm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "common/test_paths.h"
#include "core/engine/session_hooks.h"
#include "core/io/gguf.h"
#include "simd/kernels.h"

namespace lazyllm {
namespace {

namespace fs = std::filesystem;

// Exact activations: the references and the dequantized twins compute in fp32.
StatusOr<Session> MakeSession(const Model& model, const std::string& spec, uint64_t seed = 0) {
  auto p = PruningOptions::Parse(spec, model.config().num_layers, seed);
  if (!p.ok()) return p.status();
  return Session::Create(model, {.threads = 2, .exact_activations = true, .pruning = *p});
}

// Greedy generation of n tokens; returns the tokens.
std::vector<int32_t> Greedy(Session& s, const std::vector<int32_t>& prompt, int n) {
  GenerationOptions gen;
  gen.sampling.temperature = 0;
  gen.max_new_tokens = n;
  gen.stop_at_eos = false;
  auto r = Generate(s, prompt, gen);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->tokens : std::vector<int32_t>{};
}

TEST(LazyLlmTest, MatchesIndependentReference) {
  LAZYLLM_REQUIRE_REFERENCE();
  int files = 0;
  for (const auto& e : fs::directory_iterator(testing::ReferenceDir() / "lazyllm")) {
    SCOPED_TRACE(e.path().filename().string());
    const auto ref = testing::ReadJson(e.path());
    auto model = Model::Load(testing::ReferenceModelPath(ref["model"]).string());
    ASSERT_TRUE(model.ok()) << model.status().message();
    // The references follow DESIGN §3's rule without a revival bound (R = inf).
    auto s = MakeSession(*model, ref["schedule"].get<std::string>() + ",revive:inf");
    ASSERT_TRUE(s.ok()) << s.status().message();
    const auto prompt = ref["prompt_tokens"].get<std::vector<int32_t>>();
    const auto ref_greedy = ref["greedy_tokens"].get<std::vector<int32_t>>();
    const auto tokens = Greedy(*s, prompt, static_cast<int>(ref_greedy.size()));
    const PruningStats st = s->pruning_stats();
    EXPECT_EQ(st.kept_per_layer, ref["kept_per_layer"].get<std::vector<int64_t>>());
    EXPECT_NEAR(st.prompt_tokens_computed_pct_prefill, ref["prompt_tokens_computed_pct_prefill"].get<double>(), 1e-3);
    // Kept sets: equal up to selection-boundary near-ties (at most 2 positions differ).
    const auto& ref_kept = ref["kept_positions_prefill"];
    ASSERT_EQ(st.kept_positions.size(), ref_kept.size());
    bool all_equal = true;
    size_t step = 0;
    for (auto it = ref_kept.begin(); it != ref_kept.end(); ++it, ++step) {
      const auto want = it.value().get<std::vector<int64_t>>();
      const auto& got = st.kept_positions[step];
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got.back(), static_cast<int64_t>(prompt.size()) - 1) << "the last token must always be kept";
      std::vector<int64_t> diff;
      std::set_symmetric_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(diff));
      EXPECT_LE(diff.size(), 4u) << "pruning step " << step;  // 2 positions swapped = 4 in the symmetric difference
      all_equal = all_equal && diff.empty();
    }
    // Last-position logits where the kept sets are equal (re-run the prefill alone).
    if (all_equal) {
      ASSERT_TRUE(s->Prefill(prompt).ok());
      const auto ref_last = ref["last_logits"].get<std::vector<float>>();
      EXPECT_LE(testing::MaxRelDiff(s->logits(), ref_last), 1e-3);
    }
    ASSERT_GE(tokens.size(), 4u);
    EXPECT_EQ(std::vector<int32_t>(tokens.begin(), tokens.begin() + 4),
              std::vector<int32_t>(ref_greedy.begin(), ref_greedy.begin() + 4));
    size_t same = 0;
    while (same < tokens.size() && tokens[same] == ref_greedy[same]) ++same;
    std::printf("  %-36s kept sets %s, greedy prefix %zu/%zu, revived %lld (ref %lld), final %.2f%% (ref %.2f%%)\n",
                e.path().filename().c_str(), all_equal ? "equal" : "near", same, ref_greedy.size(),
                static_cast<long long>(st.revived_tokens), ref["revived_tokens"].get<long long>(),
                st.prompt_tokens_computed_pct, ref["prompt_tokens_computed_pct_final"].get<double>());
    ++files;
  }
  EXPECT_GE(files, 6);
}

// LazyLLM works on the quantized dtypes unchanged: a paper-schedule run on Q4_K_M selects the same
// tokens as on the same model with its weights dequantized to F32 (written here), and decodes the
// same tokens with the same revivals.
TEST(LazyLlmTest, QuantizedModelKeepsTheDequantizedModelsSets) {
  LAZYLLM_REQUIRE_REFERENCE();
  const fs::path q4km = testing::ReferenceDir() / "models/tiny-gqa-q4_k_m.gguf";
  const std::string f32_path =
      (fs::temp_directory_path() / ("lazyllm_deq_" + std::to_string(getpid()) + ".gguf")).string();
  {
    auto file = gguf::File::Open(q4km.string());
    ASSERT_TRUE(file.ok());
    gguf::Writer w;
    for (const auto& [key, value] : (*file)->metadata()) w.CopyValue(key, value);
    for (const gguf::TensorInfo& t : (*file)->tensors()) {
      w.AddTensor(t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), 0, t.num_elements * 4,
                  [&t](uint8_t* out, std::string*) {
                    const int64_t cols = t.ne[0], rows = t.num_elements / cols;
                    for (int64_t r = 0; r < rows; ++r)
                      simd::RefKernels()
                          .Row(static_cast<simd::DType>(t.type_id))
                          .to_f32(t.data + r * (t.num_bytes / rows), reinterpret_cast<float*>(out) + r * cols, cols);
                    return true;
                  });
    }
    ASSERT_TRUE(w.Write(f32_path).ok());
  }
  auto quantized = Model::Load(q4km.string());
  auto dequantized = Model::Load(f32_path);
  ASSERT_TRUE(quantized.ok() && dequantized.ok());
  const auto prompt =
      testing::ReadJson(testing::ReferenceDir() / "lazyllm/tiny-gqa-f32.long_x2.paper.json")["prompt_tokens"]
          .get<std::vector<int32_t>>();
  auto a = MakeSession(*quantized, "paper");
  auto b = MakeSession(*dequantized, "paper");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Greedy(*a, prompt, 16), Greedy(*b, prompt, 16));
  const PruningStats sa = a->pruning_stats(), sb = b->pruning_stats();
  EXPECT_EQ(sa.kept_per_layer, sb.kept_per_layer);
  EXPECT_EQ(sa.kept_positions, sb.kept_positions);
  EXPECT_EQ(sa.revived_tokens, sb.revived_tokens);
  std::printf("  Q4_K_M vs dequantized F32, paper schedule: kept %s, revived %lld\n",
              sa.kept_positions == sb.kept_positions ? "identical" : "different",
              static_cast<long long>(sa.revived_tokens));
  fs::remove(f32_path);
}

// LazyLLM runs unchanged on every architecture: the paper schedule's kept rows per layer follow
// DESIGN §3's arithmetic for the model's depth (floor(k·|S|) dropped at each selection layer),
// decode revives from the Aux Cache, and no (token, layer) pair is computed twice.
TEST(LazyLlmTest, PaperScheduleOnEveryArchitecture) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto prompt = testing::ReadJson(testing::ReferenceDir() / "float64/tiny-qwen2.long_x2.json")["prompt_tokens"]
                          .get<std::vector<int32_t>>();
  for (const char* arch :
       {"qwen2", "qwen3", "phi3", "gemma2", "gemma3", "llama-moe", "qwen2moe", "qwen3moe", "qwen2moe-q4_k_m"}) {
    SCOPED_TRACE(arch);
    auto model = Model::Load((testing::ReferenceDir() / "models" / ("tiny-" + std::string(arch) + ".gguf")).string());
    ASSERT_TRUE(model.ok()) << model.status().message();
    const int64_t layers = model->config().num_layers;
    auto p = PruningOptions::Parse("paper", layers, 0);
    ASSERT_TRUE(p.ok());
    std::vector<int64_t> want(static_cast<size_t>(layers));
    int64_t live = static_cast<int64_t>(prompt.size());
    for (int64_t l = 0; l < layers; ++l) {
      for (const auto& step : p->steps)
        if (step.layer == l) live -= static_cast<int64_t>(std::floor(step.k * static_cast<double>(live)));
      want[static_cast<size_t>(l)] = live;
    }
    auto s = MakeSession(*model, "paper");
    ASSERT_TRUE(s.ok());
    const auto tokens = Greedy(*s, prompt, 8);
    EXPECT_EQ(tokens.size(), 8u);
    const PruningStats st = s->pruning_stats();
    EXPECT_EQ(st.kept_per_layer, want);
    // Gemma's selection layers all follow sliding-window layers: keys outside the window score 0,
    // are the ones dropped, and score 0 again in decode, so nothing is revived there.
    const bool scored_in_windows = std::string(arch).rfind("gemma", 0) == 0;
    if (!scored_in_windows)
      EXPECT_GT(st.revived_tokens, 0);
    else
      EXPECT_EQ(st.revived_tokens, 0);
    std::printf("  %-7s %lld layers: kept in the last layer %lld of %zu, revived %lld\n", arch,
                static_cast<long long>(layers), static_cast<long long>(want.back()), prompt.size(),
                static_cast<long long>(st.revived_tokens));
  }
}

// Schedule off and any all-zero schedule: logits bit-identical to the baseline, prefill and decode.
TEST(LazyLlmTest, ZeroFractionsAreBitIdenticalToBaseline) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode("Tom and Sue went to the park. They played with a ball and a kite.", true).value();
  auto base = Session::Create(*model, {.threads = 2});
  auto zero = MakeSession(*model, "1:0,3:0,4:0");
  auto off = MakeSession(*model, "off");
  ASSERT_TRUE(base.ok() && zero.ok() && off.ok());
  for (Session* s : {&*base, &*zero, &*off}) ASSERT_TRUE(s->Prefill(prompt).ok());
  auto same = [](std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  EXPECT_TRUE(same(base->logits(), zero->logits()));
  EXPECT_TRUE(same(base->logits(), off->logits()));
  for (int i = 0; i < 16; ++i) {
    const int32_t next = Argmax(base->logits());
    for (Session* s : {&*base, &*zero, &*off}) ASSERT_TRUE(s->DecodeStep(next).ok());
    EXPECT_TRUE(same(base->logits(), zero->logits())) << "decode step " << i;
    EXPECT_TRUE(same(base->logits(), off->logits())) << "decode step " << i;
  }
  EXPECT_EQ(zero->pruning_stats().revived_tokens, 0);
  EXPECT_DOUBLE_EQ(zero->pruning_stats().prompt_tokens_computed_pct, 100.0);
}

// Append (a chat turn): without pruning, prefill A then append B gives the logits of one prefill
// of A+B (on gemma2 too, whose sliding windows then span the two chunks); an all-zero schedule
// stays bit-identical to pruning off.
TEST(LazyLlmTest, AppendEqualsOnePrefillWithoutPruning) {
  std::vector<std::string> models = {testing::SampleModel().string()};
  if (fs::exists(testing::ReferenceDir()))
    models.push_back((testing::ReferenceDir() / "models/tiny-gemma2.gguf").string());
  for (const std::string& path : models) {
    SCOPED_TRACE(path);
    auto model = Model::Load(path);
    ASSERT_TRUE(model.ok());
    const auto all =
        model->tokenizer()
            .Encode(
                "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
                "friends. One day, she saw a big red ball under a tree and ran to get it.",
                true)
            .value();
    const size_t split = all.size() / 3;
    auto whole = MakeSession(*model, "off");
    auto chunked = MakeSession(*model, "off");
    auto zero = MakeSession(*model, model->config().num_layers > 5 ? "3:0,5:0" : "1:0,3:0");
    ASSERT_TRUE(whole.ok() && chunked.ok() && zero.ok());
    ASSERT_TRUE(whole->Prefill(all).ok());
    for (Session* s : {&*chunked, &*zero}) {
      ASSERT_TRUE(s->Prefill(std::span(all).first(split)).ok());
      ASSERT_TRUE(s->Append(std::span(all).subspan(split, 5)).ok());
      ASSERT_TRUE(s->Append(std::span(all).subspan(split + 5)).ok());
      EXPECT_EQ(s->position(), static_cast<int64_t>(all.size()));
    }
    EXPECT_LE(testing::MaxRelDiff(chunked->logits(), whole->logits()), 1e-5);
    EXPECT_EQ(0,
              std::memcmp(chunked->logits().data(), zero->logits().data(), chunked->logits().size() * sizeof(float)));
  }
}

// Append with LazyLLM follows the decode-step rules with several new rows: new rows can be
// dropped (stashed in the Aux Cache), earlier tokens revived (their stashed state, exactly), no
// (token, layer) pair is computed twice, and the last new token always reaches the last layer.
TEST(LazyLlmTest, AppendDropsNewRowsAndRevivesOldOnes) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt = model->tokenizer()
                          .Encode(testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt"), true)
                          .value();
  const std::vector<std::vector<int32_t>> turns = {
      model->tokenizer()
          .Encode(" Where did the dog go? Tom called and called, and then he heard a bark.", false)
          .value(),
      model->tokenizer().Encode(" The bird sang a song. Lily smiled and said thank you to her mom.", false).value(),
      model->tokenizer().Encode(" Then they went home and had cake with the big red ball.", false).value()};
  auto s = MakeSession(*model, "2:0.9,4:0.5");  // harsh enough to drop some new rows too
  ASSERT_TRUE(s.ok());
  auto& hooks = internal::Hooks(*s);
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> stashed;
  int64_t new_rows_stashed = 0, revived = 0, mismatched = 0;
  const auto first_new = static_cast<int64_t>(prompt.size());
  hooks.on_stash = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    stashed[{layer, slot}] = std::vector<float>(row.begin(), row.end());
    new_rows_stashed += slot >= first_new;
  };
  hooks.on_revive = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    ++revived;
    const auto it = stashed.find({layer - 1, slot});
    mismatched += it == stashed.end() || it->second != std::vector<float>(row.begin(), row.end());
  };
  ASSERT_TRUE(s->Prefill(prompt).ok());
  int64_t total = static_cast<int64_t>(prompt.size());
  for (const auto& turn : turns) {
    ASSERT_TRUE(s->Append(turn).ok());
    total += static_cast<int64_t>(turn.size());
  }
  const PruningStats st = s->pruning_stats();
  EXPECT_GT(new_rows_stashed, 0);
  EXPECT_GT(revived, 0);
  EXPECT_EQ(mismatched, 0);
  const int64_t last = total - 1;
  for (int64_t l = 0; l < model->config().num_layers; ++l) EXPECT_TRUE(internal::HasKv(*s, l, last)) << l;
  for (float v : s->logits()) ASSERT_TRUE(std::isfinite(v));
}

// Over 64+ decode steps: tokens dropped in the prefill are revived; no (token, layer) pair is
// computed twice; the total work never exceeds the baseline's.
TEST(LazyLlmTest, DecodeRevivesWithoutRecomputation) {
  LAZYLLM_REQUIRE_REFERENCE();
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode(testing::ReadFile(testing::ReferenceDir() / "prompts/medium.txt"), true).value();
  auto s = MakeSession(*model, "paper");
  ASSERT_TRUE(s.ok());
  const int n = 72;
  Greedy(*s, prompt, n);
  const PruningStats st = s->pruning_stats();
  EXPECT_GT(st.revived_tokens, 0);
  const int64_t baseline_pairs = model->config().num_layers * (static_cast<int64_t>(prompt.size()) + n - 1);
  EXPECT_LE(st.computed_pairs, baseline_pairs);
  EXPECT_GT(st.prompt_tokens_computed_pct, st.prompt_tokens_computed_pct_prefill);
  EXPECT_LE(st.prompt_tokens_computed_pct, 100.0);
}

// Guarantee (3): a revived token's layer input is exactly the hidden state stored when it was
// dropped, and its new K/V land in its own slot.
TEST(LazyLlmTest, RevivedRowEqualsStashedHiddenStateAndFillsItsSlot) {
  LAZYLLM_REQUIRE_REFERENCE();
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode(testing::ReadFile(testing::ReferenceDir() / "prompts/medium.txt"), true).value();
  auto s = MakeSession(*model, "paper");
  ASSERT_TRUE(s.ok());
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> stashed;  // (layer, slot) -> row
  std::vector<std::pair<int64_t, int64_t>> revived;                   // (selection layer, slot)
  int mismatches = 0;
  auto& hooks = internal::Hooks(*s);
  hooks.on_stash = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    stashed[{layer, slot}].assign(row.begin(), row.end());
  };
  hooks.on_revive = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    EXPECT_FALSE(internal::HasKv(*s, layer, slot)) << "revived a token that already has K/V";
    auto it = stashed.find({layer - 1, slot});
    if (it == stashed.end() || !std::equal(row.begin(), row.end(), it->second.begin())) ++mismatches;
    revived.emplace_back(layer, slot);
  };
  Greedy(*s, prompt, 64);
  EXPECT_FALSE(revived.empty());
  EXPECT_EQ(mismatches, 0);
  for (const auto& [layer, slot] : revived) {
    EXPECT_TRUE(internal::HasKv(*s, layer, slot));
    const auto k = internal::CachedK(*s, layer, slot);
    EXPECT_TRUE(std::any_of(k.begin(), k.end(), [](float v) { return v != 0.0f; }));
  }
  EXPECT_EQ(static_cast<int64_t>(revived.size()), s->pruning_stats().revived_tokens);
}

// The revival bound (DESIGN §3): with R = 1 no decode step revives more than one token at a
// pruning layer; the tokens past the bound are deferred, keep no K/V there and stay in the Aux
// Cache: later steps revive them with exactly the stashed row; no pair is computed twice (an
// internal check) and the work stays within the baseline's.
TEST(LazyLlmTest, RevivalBoundDefersWithoutLosingTokens) {
  LAZYLLM_REQUIRE_REFERENCE();
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode(testing::ReadFile(testing::ReferenceDir() / "prompts/medium.txt"), true).value();
  auto s = MakeSession(*model, "paper,revive:1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pruning().revive_budget, 1);
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> stashed;  // (Aux layer, slot) -> row
  std::map<int64_t, int> revived_now;                                 // selection layer -> revivals this step
  std::set<std::pair<int64_t, int64_t>> deferred, revived_after_deferral;
  int mismatches = 0, over_budget = 0;
  int64_t deferrals = 0;
  auto& hooks = internal::Hooks(*s);
  hooks.on_stash = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    stashed[{layer, slot}].assign(row.begin(), row.end());
  };
  hooks.on_revive = [&](int64_t layer, int64_t slot, std::span<const float> row) {
    auto it = stashed.find({layer - 1, slot});
    if (it == stashed.end() || !std::equal(row.begin(), row.end(), it->second.begin())) ++mismatches;
    if (++revived_now[layer] > 1) ++over_budget;
    if (deferred.count({layer, slot}) != 0) revived_after_deferral.insert({layer, slot});
  };
  hooks.on_defer = [&](int64_t layer, int64_t slot) {
    EXPECT_FALSE(internal::HasKv(*s, layer, slot));
    EXPECT_TRUE(internal::HasKv(*s, layer - 1, slot));
    EXPECT_EQ(stashed.count({layer - 1, slot}), 1u) << "a deferred token must stay in the Aux Cache";
    deferred.insert({layer, slot});
    ++deferrals;
  };
  ASSERT_TRUE(s->Prefill(prompt).ok());
  const int steps = 96;
  for (int i = 0; i < steps; ++i) {
    revived_now.clear();
    ASSERT_TRUE(s->DecodeStep(Argmax(s->logits())).ok());
  }
  const PruningStats st = s->pruning_stats();
  EXPECT_EQ(over_budget, 0);
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(st.revived_tokens, 0);
  EXPECT_EQ(st.revivals_deferred, deferrals);
  EXPECT_GT(st.revivals_deferred, 0);
  EXPECT_FALSE(revived_after_deferral.empty()) << "deferred tokens are revived by later steps";
  const int64_t baseline_pairs = model->config().num_layers * (static_cast<int64_t>(prompt.size()) + steps);
  EXPECT_LE(st.computed_pairs, baseline_pairs);
  std::printf("  revive:1 over %d steps: %lld revived, %lld deferrals (%zu tokens), %zu revived after deferral\n",
              steps, static_cast<long long>(st.revived_tokens), static_cast<long long>(st.revivals_deferred),
              deferred.size(), revived_after_deferral.size());
}

TEST(LazyLlmTest, StaticAndRandomBaselines) {
  auto model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(model.ok());
  const auto prompt =
      model->tokenizer().Encode("Lily had a red ball. She played with it every day in the sun.", true).value();
  const auto n = static_cast<int64_t>(prompt.size());
  auto st = MakeSession(*model, "static:2:0.5");
  ASSERT_TRUE(st.ok());
  Greedy(*st, prompt, 16);
  const PruningStats ss = st->pruning_stats();
  const int64_t kept = n - n / 2;
  EXPECT_EQ(ss.kept_per_layer, (std::vector<int64_t>{n, n, kept, kept, kept}));
  EXPECT_EQ(ss.revived_tokens, 0);
  EXPECT_DOUBLE_EQ(ss.prompt_tokens_computed_pct, ss.prompt_tokens_computed_pct_prefill);  // never revived
  EXPECT_EQ(ss.kept_positions[0].back(), n - 1);

  auto r1 = MakeSession(*model, "random:0.4", 11), r2 = MakeSession(*model, "random:0.4", 11),
       r3 = MakeSession(*model, "random:0.4", 12);
  ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok());
  const auto t1 = Greedy(*r1, prompt, 8), t2 = Greedy(*r2, prompt, 8);
  Greedy(*r3, prompt, 8);
  EXPECT_EQ(t1, t2);  // seeded
  const PruningStats rs = r1->pruning_stats();
  const int64_t live = n - static_cast<int64_t>(std::floor(0.4 * n));
  EXPECT_EQ(rs.kept_per_layer, std::vector<int64_t>(5, live));
  EXPECT_NEAR(rs.prompt_tokens_computed_pct_prefill, 100.0 * live / n, 1e-9);
  EXPECT_EQ(rs.revived_tokens, 0);
}

}  // namespace
}  // namespace lazyllm
