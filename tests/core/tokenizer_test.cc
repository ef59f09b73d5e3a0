// Tokenizer tests against llama.cpp's vectors (../shared/reference/tokenizers) and round trips.
#include <gtest/gtest.h>

#include <sstream>

#include "common/test_paths.h"
#include "lazyllm/model.h"

namespace lazyllm {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> SplitInputs(const std::string& all) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = all.find(sep, start)) != std::string::npos; start = at + sep.size())
    out.push_back(all.substr(start, at - start));
  return out;
}

std::vector<std::vector<int32_t>> ReadOutputs(const std::string& all) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream lines(all);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    out.push_back(v);
  }
  return out;
}

class TokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerTest, MatchesLlamaCppVectorsAndRoundTrips) {
  LAZYLLM_REQUIRE_REFERENCE();
  const fs::path base = testing::ReferenceDir() / "tokenizers" / GetParam();
  auto model = Model::Load(base.string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Tokenizer& tok = model->tokenizer();
  const auto inputs = SplitInputs(testing::ReadFile(base.string() + ".inp"));
  const auto outputs = ReadOutputs(testing::ReadFile(base.string() + ".out"));
  ASSERT_EQ(inputs.size(), outputs.size());
  ASSERT_GT(inputs.size(), 10u);
  int round_trips = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t> ids = tok.Encode(inputs[i], /*add_special=*/false);
    EXPECT_EQ(ids, outputs[i]) << "input #" << i << ": '" << inputs[i] << "'";
    // Round trip wherever the vocabulary can represent the text (no unknown token produced).
    const bool has_unk = std::find(ids.begin(), ids.end(), 0) != ids.end() && tok.kind() == Tokenizer::Kind::kSentencePiece;
    if (!has_unk) {
      EXPECT_EQ(tok.Decode(ids), inputs[i]) << "round trip of input #" << i;
      ++round_trips;
    }
  }
  EXPECT_GT(round_trips, 10);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, TokenizerTest,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
                                           "ggml-vocab-starcoder.gguf"),
                         [](const auto& info) {
                           std::string n = info.param.substr(11, info.param.size() - 16);
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

TEST(SampleTokenizerTest, SpecialsAndBytes) {
  auto model = Model::Load(testing::SampleModel().string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok());
  const Tokenizer& tok = model->tokenizer();
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.Encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(tok.Encode("", false).empty());
  // A character outside the 512-token vocabulary falls back to its UTF-8 bytes.
  const std::string text = "a \xe2\x82\xac b";  // euro sign
  const auto ids = tok.Encode(text, false);
  EXPECT_EQ(tok.Decode(ids), text);
  EXPECT_EQ(tok.TokenText(1), "<s>");
  EXPECT_EQ(tok.TokenBytes(1), "");  // control token
}

}  // namespace
}  // namespace lazyllm
