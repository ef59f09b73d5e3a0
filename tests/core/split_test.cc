// Split GGUF models (gguf-split's PREFIX-0000i-of-0000N.gguf): the parts load as one model with
// the same logits as the single file, and broken splits fail with messages naming the part.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_paths.h"
#include "core/io/gguf.h"
#include "lazyllm/lazyllm.h"

namespace lazyllm {
namespace {

namespace fs = std::filesystem;

// Writes `src` as `count` parts named PREFIX-0000i-of-0000N.gguf in dir; returns part 1's path.
// With skip_part >= 0 that part is not written.
std::string WriteSplit(const std::string& src, const fs::path& dir, int count, int skip_part = -1) {
  auto file = gguf::File::Open(src);
  EXPECT_TRUE(file.ok()) << file.status().message();
  const auto& tensors = (*file)->tensors();
  std::string first;
  for (int p = 0; p < count; ++p) {
    gguf::Writer w;
    if (p == 0) {
      for (const auto& [key, value] : (*file)->metadata()) w.CopyValue(key, value);
    }
    w.SetU32("split.no", static_cast<uint32_t>(p));
    w.SetU32("split.count", static_cast<uint32_t>(count));
    w.SetU32("split.tensors.count", static_cast<uint32_t>(tensors.size()));
    for (size_t i = tensors.size() * p / count; i < tensors.size() * (p + 1) / count; ++i) {
      const gguf::TensorInfo& t = tensors[i];
      w.AddTensor(t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.type_id, t.num_bytes,
                  [&t](uint8_t* out, std::string*) {
                    std::memcpy(out, t.data, static_cast<size_t>(t.num_bytes));
                    return true;
                  });
    }
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.gguf", p + 1, count);
    if (p == 0) first = (dir / name).string();
    if (p != skip_part) {
      EXPECT_TRUE(w.Write((dir / name).string()).ok());
    }
  }
  return first;
}

std::vector<float> LastLogits(const Model& model, const std::vector<int32_t>& prompt) {
  SessionOptions so;
  so.threads = 2;
  auto session = Session::Create(model, so);
  EXPECT_TRUE(session.ok());
  GenerationOptions gen;
  gen.max_new_tokens = 0;
  std::vector<float> logits;
  gen.prompt_logits = &logits;
  EXPECT_TRUE(Generate(*session, prompt, gen).ok());
  return std::vector<float>(logits.end() - model.config().vocab_size, logits.end());
}

class SplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lazyllm_split_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SplitTest, PartsLoadAsOneModelWithIdenticalLogits) {
  std::vector<std::string> models = {testing::SampleModel().string()};
  const fs::path q4km = testing::ReferenceDir() / "models/tiny-gqa-q4_k_m.gguf";
  if (fs::exists(q4km)) models.push_back(q4km.string());
  for (const std::string& src : models) {
    SCOPED_TRACE(src);
    const std::string first = WriteSplit(src, dir_, 3);
    auto whole = Model::Load(src);
    auto split = Model::Load(first);
    ASSERT_TRUE(whole.ok());
    ASSERT_TRUE(split.ok()) << split.status().message();
    EXPECT_EQ(split->tensors().size(), whole->tensors().size());
    EXPECT_GT(split->file_bytes(), whole->file_bytes() / 2);
    const std::vector<int32_t> prompt = whole->tokenizer().Encode("Once upon a time, a little fox", true).value();
    EXPECT_EQ(LastLogits(*split, prompt), LastLogits(*whole, prompt));
  }
}

TEST_F(SplitTest, BrokenSplitsNameTheProblem) {
  const std::string src = testing::SampleModel().string();
  // A missing part.
  std::string first = WriteSplit(src, dir_, 3, /*skip_part=*/2);
  auto m = Model::Load(first);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("model-00003-of-00003.gguf"), std::string::npos) << m.status().message();
  // Opening a later part.
  WriteSplit(src, dir_, 3);
  m = Model::Load((dir_ / "model-00002-of-00003.gguf").string());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("open the first part"), std::string::npos) << m.status().message();
  // A first part renamed away from the gguf-split pattern.
  fs::copy_file(first, dir_ / "renamed.gguf");
  m = Model::Load((dir_ / "renamed.gguf").string());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("-00001-of-00003.gguf"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace lazyllm
