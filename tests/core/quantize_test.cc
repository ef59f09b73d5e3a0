// `lazyllm quantize`: the per-tensor type plan against the types llama.cpp's llama-quantize chose
// for the same F32 model (../shared/reference), and quantized models that run close to the source.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_paths.h"
#include "core/io/gguf.h"
#include "lazyllm/lazyllm.h"
#include "simd/dtype.h"
#include "tools/synth/synth.h"

namespace lazyllm {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / ("lazyllm_quantize_" + std::to_string(getpid()) + "_" + name)).string();
}

// Quantizes `source` to `type` and expects the tensor types and file type of llama-quantize's
// `reference` file from the same source.
void ExpectLlamaQuantizePlan(const std::string& source, const std::string& reference, const std::string& type) {
  SCOPED_TRACE(reference);
  const fs::path models = testing::ReferenceDir() / "models";
  const std::string out = TempPath(type + ".gguf");
  auto report = QuantizeModel((models / source).string(), out, {.file_type = type});
  ASSERT_TRUE(report.ok()) << report.status().message();
  auto ours = gguf::File::Open(out);
  auto theirs = gguf::File::Open((models / reference).string());
  ASSERT_TRUE(ours.ok() && theirs.ok());
  ASSERT_EQ((*ours)->tensors().size(), (*theirs)->tensors().size());
  for (const gguf::TensorInfo& t : (*theirs)->tensors()) {
    const gguf::TensorInfo* mine = (*ours)->FindTensor(t.name);
    ASSERT_NE(mine, nullptr) << t.name;
    EXPECT_EQ(simd::FindDType(mine->type_id)->name, std::string(simd::FindDType(t.type_id)->name)) << t.name;
  }
  EXPECT_EQ(*(*ours)->GetInt("general.file_type"), *(*theirs)->GetInt("general.file_type"));
  fs::remove(out);
}

// The reference K-quant files were written by llama-quantize from tiny-gqa-f32.gguf, and
// tiny-qwen2moe-q4_k_m.gguf from tiny-qwen2moe.gguf (3-D expert tensors, the router left F32,
// ffn_down's layer taken from its name).
TEST(QuantizeTest, TensorTypesMatchLlamaQuantize) {
  LAZYLLM_REQUIRE_REFERENCE();
  for (const char* type : {"q4_k_m", "q5_k_m", "q6_k", "q3_k_m", "q2_k", "q4_k_s", "q5_k_s"})
    ExpectLlamaQuantizePlan("tiny-gqa-f32.gguf", "tiny-gqa-" + std::string(type) + ".gguf", type);
  ExpectLlamaQuantizePlan("tiny-qwen2moe.gguf", "tiny-qwen2moe-q4_k_m.gguf", "q4_k_m");
}

// Quantization error against llama-quantize's: both quantize tiny-gqa-f32; the float64 dumps
// give the exact last logits of the F32 model and of llama-quantize's file on the same prompt.
// Ours (simpler range-and-round encoders) must land within 1.5x of llama-quantize's distance.
TEST(QuantizeTest, QuantizationErrorComparableToLlamaQuantize) {
  LAZYLLM_REQUIRE_REFERENCE();
  const fs::path ref = testing::ReferenceDir();
  const nlohmann::json f32 = testing::ReadJson(ref / "float64/tiny-gqa-f32.medium.json");
  const std::vector<float> exact = f32["last_logits"].get<std::vector<float>>();
  const std::vector<int32_t> prompt = f32["prompt_tokens"].get<std::vector<int32_t>>();
  for (const char* type : {"q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"}) {
    SCOPED_TRACE(type);
    const auto theirs = testing::ReadJson(ref / ("float64/tiny-gqa-" + std::string(type) + ".medium.json"));
    const double their_distance = testing::MaxRelDiff(theirs["last_logits"].get<std::vector<float>>(), exact);
    const std::string out = TempPath(std::string(type) + ".gguf");
    ASSERT_TRUE(QuantizeModel((ref / "models/tiny-gqa-f32.gguf").string(), out, {.file_type = type}).ok());
    auto q = Model::Load(out);
    ASSERT_TRUE(q.ok()) << q.status().message();
    auto s = Session::Create(*q, {.threads = 2, .exact_activations = true});  // the weights' error alone
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Prefill(prompt).ok());
    const double our_distance = testing::MaxRelDiff(std::vector<float>(s->logits().begin(), s->logits().end()), exact);
    std::printf("  %-7s distance from F32: ours %.4f, llama-quantize %.4f\n", type, our_distance, their_distance);
    EXPECT_LT(our_distance, 1.5 * their_distance);
    fs::remove(out);
  }
}

TEST(QuantizeTest, BadInputsNameTheProblem) {
  const std::string src = TempPath("bad_src.gguf");
  ASSERT_TRUE(Synthesize({.preset = "tiny-gqa", .dtype = "q8_0", .layers = 1}, src).ok());
  auto r = QuantizeModel(src, TempPath("x.gguf"), {.file_type = "q4_k_m"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is Q8_0; quantize needs F32, F16 or BF16"), std::string::npos)
      << r.status().message();
  r = QuantizeModel(src, TempPath("x.gguf"), {.file_type = "q4_k_xl"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown file type 'q4_k_xl'"), std::string::npos);
  r = QuantizeModel("/nonexistent.gguf", TempPath("x.gguf"), {.file_type = "q6_k"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent.gguf"), std::string::npos);
  fs::remove(src);
}

}  // namespace
}  // namespace lazyllm
