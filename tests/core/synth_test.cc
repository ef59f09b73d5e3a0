// lazyllm synth: the files load, carry the preset's shape and the stories260K tokenizer, and the
// quantized files encode the same random weights as the F32 file within each format's step.
#include "tools/synth/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/test_paths.h"
#include "core/model/model_impl.h"
#include "lazyllm/lazyllm.h"
#include "simd/kernels.h"

namespace lazyllm {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("lazyllm_synth_test_" + name + ".gguf")).string();
}

Model Make(const std::string& preset, const std::string& dtype, int64_t layers, uint64_t seed = 3) {
  SynthOptions o{.preset = preset, .dtype = dtype, .layers = layers, .seed = seed};
  const std::string path = TempPath(preset + "_" + dtype);
  const Status st = Synthesize(o, path);
  EXPECT_TRUE(st.ok()) << st.message();
  auto m = Model::Load(path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

TEST(SynthTest, PresetsHaveTheRealModelsShapes) {
  // The shapes the issue lists (layers, dim, ffn, heads, kv heads, context, theta).
  struct Want {
    const char* name;
    int64_t layers, dim, ffn, heads, kv, ctx;
    float theta;
  };
  for (const Want& w : {Want{"smollm2-135m", 30, 576, 1536, 9, 3, 8192, 100000.0f},
                        Want{"llama3.2-1b", 16, 2048, 8192, 32, 8, 8192, 500000.0f},
                        Want{"llama2-7b", 32, 4096, 11008, 32, 32, 4096, 10000.0f}}) {
    auto p = FindSynthPreset(w.name);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->layers, w.layers);
    EXPECT_EQ(p->dim, w.dim);
    EXPECT_EQ(p->ffn_dim, w.ffn);
    EXPECT_EQ(p->heads, w.heads);
    EXPECT_EQ(p->kv_heads, w.kv);
    EXPECT_EQ(p->context, w.ctx);
    EXPECT_EQ(p->rope_theta, w.theta);
  }
  const Model m = Make("smollm2-135m", "f32", 2);
  const ModelConfig& c = m.config();
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.dim, 576);
  EXPECT_EQ(c.ffn_dim, 1536);
  EXPECT_EQ(c.num_heads, 9);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.context_length, 8192);
  EXPECT_EQ(c.rope_theta, 100000.0f);
  EXPECT_TRUE(c.tied_output);
}

// The mixture-of-experts presets: Qwen3-30B-A3B's shape (qwen3moe: 128 experts of width 768, 8
// per token, head_dim 128 with dim 2048 / 32 heads) and Mixtral's layout (llama with experts);
// their files load with that routing and run.
TEST(SynthTest, ExpertPresetsHaveTheirShapesAndRun) {
  struct Want {
    const char* name;
    const char* arch;
    int64_t dim, heads, kv, head_dim, experts, used, expert_ffn;
  };
  for (const Want& w : {Want{"qwen3-30b-a3b", "qwen3moe", 2048, 32, 4, 128, 128, 8, 768},
                        Want{"mixtral-tiny", "llama", 1024, 16, 4, 64, 8, 2, 1792}}) {
    SCOPED_TRACE(w.name);
    const Model m = Make(w.name, "q4_k", 1);
    const ModelConfig& c = m.config();
    EXPECT_EQ(c.architecture, w.arch);
    EXPECT_EQ(c.dim, w.dim);
    EXPECT_EQ(c.num_heads, w.heads);
    EXPECT_EQ(c.num_kv_heads, w.kv);
    EXPECT_EQ(c.head_dim, w.head_dim);
    EXPECT_EQ(c.expert_count, w.experts);
    EXPECT_EQ(c.expert_used_count, w.used);
    EXPECT_EQ(c.expert_ffn_dim, w.expert_ffn);
    auto s = Session::Create(m, {.threads = 2});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Prefill(m.tokenizer().Encode("Once upon a time", true).value()).ok());
    for (float v : s->logits()) ASSERT_TRUE(std::isfinite(v));
    std::filesystem::remove(TempPath(std::string(w.name) + "_q4_k"));  // 350 MB for qwen3-30b-a3b's layer
  }
}

TEST(SynthTest, CarriesTheSampleModelsTokenizer) {
  const Model m = Make("tiny-gqa", "f32", 1);
  auto sample = Model::Load(testing::SampleModel().string(), {.vocab_only = true});
  ASSERT_TRUE(sample.ok());
  for (const char* text : {"Once upon a time, there was a little dog.", "Lily said: \"Hi!\" 123"})
    EXPECT_EQ(m.tokenizer().Encode(text, true).value(), sample->tokenizer().Encode(text, true).value()) << text;
  EXPECT_EQ(m.config().vocab_size, sample->config().vocab_size);
}

TEST(SynthTest, WeightsHaveUnitFanInVarianceAndQuantizeWithinOneStep) {
  const Model f32 = Make("tiny-gqa", "f32", 1);
  const WeightMatrix& w = ModelImpl(f32).layers[0].w_gate;
  double ss = 0;
  const auto* v = reinterpret_cast<const float*>(w.data);
  for (int64_t i = 0; i < w.rows * w.cols; ++i) ss += static_cast<double>(v[i]) * v[i];
  EXPECT_NEAR(ss / static_cast<double>(w.rows * w.cols) * static_cast<double>(w.cols), 1.0, 0.03);
  const simd::Kernels& ref = simd::RefKernels();
  for (const char* dtype : {"f16", "bf16", "q8_0", "q4_0"}) {
    SCOPED_TRACE(dtype);
    const Model q = Make("tiny-gqa", dtype, 1);
    const WeightMatrix& wq = ModelImpl(q).layers[0].w_gate;
    ASSERT_EQ(wq.rows, w.rows);
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; r += 37) {
      ref.Row(wq.dtype).to_f32(wq.Row(r), row.data(), w.cols);
      const float* want = v + r * w.cols;
      for (int64_t b = 0; b < w.cols; b += 32) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(want[b + i]));
        // Q8_0: half a step d plus the fp16 rounding of d times the largest level
        // (127·2⁻¹¹·d ≈ 0.062·d). Q4_0: one step, since the extreme maps to -8 and values near
        // the opposite extreme clamp at +7. F16/BF16: the format's relative precision.
        const std::string d = dtype;
        const float tol = d == "q8_0"   ? amax / 127 * 0.57f
                          : d == "q4_0" ? amax / 8 * 1.01f
                          : d == "f16"  ? amax * 1e-3f
                                        : amax * 8e-3f;
        for (int i = 0; i < 32; ++i) ASSERT_NEAR(row[b + i], want[b + i], tol) << "row " << r << " col " << b + i;
      }
    }
  }
}

// Every weight dtype synthesizes a loadable model; rows that a 256-element block does not divide
// take llama.cpp's fallback type (smollm2's dim 576: Q4_K -> Q5_0, Q6_K -> Q8_0, Q2_K -> IQ4_NL).
TEST(SynthTest, EveryWeightDTypeWithLlamaCppFallbacks) {
  const struct {
    const char* dtype;
    simd::DType full, fallback;
  } cases[] = {
      {"q4_1", simd::DType::kQ4_1, simd::DType::kQ4_1},   {"q5_0", simd::DType::kQ5_0, simd::DType::kQ5_0},
      {"q5_1", simd::DType::kQ5_1, simd::DType::kQ5_1},   {"iq4_nl", simd::DType::kIQ4_NL, simd::DType::kIQ4_NL},
      {"q2_k", simd::DType::kQ2_K, simd::DType::kIQ4_NL}, {"q3_k", simd::DType::kQ3_K, simd::DType::kIQ4_NL},
      {"q4_k", simd::DType::kQ4_K, simd::DType::kQ5_0},   {"q5_k", simd::DType::kQ5_K, simd::DType::kQ5_1},
      {"q6_k", simd::DType::kQ6_K, simd::DType::kQ8_0},   {"iq4_xs", simd::DType::kIQ4_XS, simd::DType::kIQ4_NL}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dtype);
    const Model m = Make("smollm2-135m", c.dtype, 1);
    const LayerWeights& l = ModelImpl(m).layers[0];
    EXPECT_EQ(l.w_down.dtype, c.full);  // rows of ffn 1536 = 6·256
    EXPECT_EQ(l.wq.dtype, c.fallback);  // rows of dim 576
    EXPECT_EQ(l.w_gate.dtype, c.fallback);
    auto session = Session::Create(m, {});
    ASSERT_TRUE(session.ok());
    ASSERT_TRUE(session->Prefill(m.tokenizer().Encode("Once upon a time", true).value()).ok());
    for (float v : session->logits()) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(SynthTest, RejectsBadOptions) {
  EXPECT_NE(Synthesize({"gpt-5", "f32", 0, 0}, TempPath("bad")).message().find("unknown preset 'gpt-5'"),
            std::string::npos);
  EXPECT_NE(Synthesize({"tiny-gqa", "q7_k", 0, 0}, TempPath("bad")).message().find("unknown dtype 'q7_k'"),
            std::string::npos);
  EXPECT_NE(Synthesize({"tiny-gqa", "f32", 0, 0}, "/nonexistent-dir/x.gguf").message().find("cannot create"),
            std::string::npos);
}

// Issue 12 defect 3: output is created with mkstemp beside the target and renamed over it. A
// symbolic link, device node or folder at the output is refused and left as it was (a link's
// target is not written); no temporary is left behind, success or failure; the file is 0644.
TEST(SynthTest, OutputIsCreatedSafely) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(TempPath("safe_dir"));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path victim = dir / "victim.txt";
  std::ofstream(victim) << "keep me";
  const fs::path link = dir / "out.gguf";
  fs::create_symlink(victim, link);
  Status st = Synthesize({"tiny-gqa", "f32", 1, 0}, link.string());
  EXPECT_NE(st.message().find("exists and is not a regular file"), std::string::npos) << st.message();
  EXPECT_EQ(testing::ReadFile(victim), "keep me");
  EXPECT_TRUE(fs::is_symlink(link));
  st = Synthesize({"tiny-gqa", "f32", 1, 0}, "/dev/null");
  EXPECT_NE(st.message().find("exists and is not a regular file"), std::string::npos) << st.message();
  st = Synthesize({"tiny-gqa", "f32", 1, 0}, dir.string());
  EXPECT_NE(st.message().find("exists and is not a regular file"), std::string::npos) << st.message();
  // A regular file is replaced; nothing else appears in the folder.
  const fs::path out = dir / "model.gguf";
  std::ofstream(out) << "old";
  ASSERT_TRUE(Synthesize({"tiny-gqa", "f32", 1, 0}, out.string()).ok());
  EXPECT_TRUE(Model::Load(out.string()).ok());
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename() != "" ? 1 : 0;
  EXPECT_EQ(entries, 3u);  // victim.txt, out.gguf (the link), model.gguf
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lazyllm
