// Tokenizer tests against llama.cpp's vectors (../shared/reference/tokenizers) and round trips.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>

#include "common/gguf_builder.h"
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

// The vocabulary `base` (a GGUF file) encodes each of its .inp texts as its .out ids, and
// decodes them back wherever it has a token for every character.
void ExpectMatchesVectors(const fs::path& base) {
  SCOPED_TRACE(base.filename().string());
  auto model = Model::Load(base.string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Tokenizer& tok = model->tokenizer();
  const auto inputs = SplitInputs(testing::ReadFile(base.string() + ".inp"));
  const auto outputs = ReadOutputs(testing::ReadFile(base.string() + ".out"));
  ASSERT_EQ(inputs.size(), outputs.size());
  ASSERT_GT(inputs.size(), 10u);
  int round_trips = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = tok.Encode(inputs[i], /*add_special=*/false);
    ASSERT_TRUE(ids.ok()) << "input #" << i << ": " << ids.status().message();
    EXPECT_EQ(*ids, outputs[i]) << "input #" << i << ": '" << inputs[i] << "'";
    // Round trip wherever the vocabulary can represent the text (no unknown token produced).
    const bool has_unk =
        std::find(ids->begin(), ids->end(), 0) != ids->end() && tok.kind() == Tokenizer::Kind::kSentencePiece;
    if (!has_unk) {
      EXPECT_EQ(tok.Decode(*ids), inputs[i]) << "round trip of input #" << i;
      ++round_trips;
    }
  }
  EXPECT_GT(round_trips, 10);
}

TEST_P(TokenizerTest, MatchesLlamaCppVectorsAndRoundTrips) {
  LAZYLLM_REQUIRE_REFERENCE();
  ExpectMatchesVectors(testing::ReferenceDir() / "tokenizers" / GetParam());
}

// The vectors of llama.cpp's own models/ folder, which ../shared/reference does not carry, where
// LAZYLLM_LLAMA_CPP_MODELS names that folder: Falcon's vocabulary (no token for byte 0x03 and
// no unknown token) and every other vocabulary there with vectors, except bert-bge (WordPiece, a
// tokenizer lazyllm does not have).
TEST(LlamaCppModelsTest, VocabularyVectors) {
  const char* dir = std::getenv("LAZYLLM_LLAMA_CPP_MODELS");
  if (dir == nullptr) GTEST_SKIP() << "LAZYLLM_LLAMA_CPP_MODELS is not set (llama.cpp's models/ folder)";
  for (const char* name :
       {"falcon", "gpt-2", "llama-spm", "starcoder", "deepseek-llm", "deepseek-coder", "mpt", "refact", "phi-3"})
    ExpectMatchesVectors(fs::path(dir) / ("ggml-vocab-" + std::string(name) + ".gguf"));
}

// Whether `s` is well-formed UTF-8 (RFC 3629 lengths; what the stream decoder must not split).
bool IsUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// The stream decoder's pieces add up to Decode of the same ids (llama.cpp's test texts: accents,
// CJK, emoji, byte-fallback tokens; then random ids), and for valid text every piece is whole
// UTF-8.
TEST_P(TokenizerTest, StreamDecoderAddsUpToDecodeInWholeCharacters) {
  LAZYLLM_REQUIRE_REFERENCE();
  const fs::path base = testing::ReferenceDir() / "tokenizers" / GetParam();
  auto model = Model::Load(base.string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Tokenizer& tok = model->tokenizer();
  std::vector<std::vector<int32_t>> streams;
  for (const std::string& text : SplitInputs(testing::ReadFile(base.string() + ".inp")))
    streams.push_back(tok.Encode(text, /*add_special=*/true).value());
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any(0, tok.vocab_size() - 1);
  for (int i = 0; i < 50; ++i) {
    std::vector<int32_t> ids(1 + i % 17);
    for (int32_t& id : ids) id = any(rng);
    streams.push_back(ids);
  }
  int held_back = 0;
  for (const auto& ids : streams) {
    StreamDecoder stream(tok);
    std::string joined;
    const std::string want = tok.Decode(ids);
    for (int32_t id : ids) {
      const std::string piece = stream.Next(id);
      if (IsUtf8(want)) EXPECT_TRUE(IsUtf8(piece)) << "a split character in '" << want << "'";
      held_back += piece.empty() && !tok.TokenBytes(id).empty();
      joined += piece;
    }
    joined += stream.Flush();
    EXPECT_EQ(joined, want);
  }
  if (GetParam() == "ggml-vocab-llama-spm.gguf") EXPECT_GT(held_back, 0) << "byte-fallback characters were held back";
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, TokenizerTest,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
                                           "ggml-vocab-starcoder.gguf", "ggml-vocab-deepseek-llm.gguf"),
                         [](const auto& info) {
                           std::string n = info.param.substr(11, info.param.size() - 16);
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(SampleTokenizerTest, SpecialsAndBytes) {
  auto model = Model::Load(testing::SampleModel().string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok());
  const Tokenizer& tok = model->tokenizer();
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.Encode("", true).value(), std::vector<int32_t>{1});
  EXPECT_TRUE(tok.Encode("", false).value().empty());
  // A character outside the 512-token vocabulary falls back to its UTF-8 bytes.
  const std::string text = "a \xe2\x82\xac b";  // euro sign
  const auto ids = tok.Encode(text, false).value();
  EXPECT_EQ(tok.Decode(ids), text);
  EXPECT_EQ(tok.TokenText(1), "<s>");
  EXPECT_EQ(tok.TokenBytes(1), "");  // control token
}

// Control tokens are matched in the text only when specials are parsed; SentencePiece puts its
// space prefix again after a matched token (as llama.cpp does).
TEST(SampleTokenizerTest, ParseSpecialMatchesControlTokens) {
  auto model = Model::Load(testing::SampleModel().string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok());
  const Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> once = tok.Encode("Once", false).value();
  std::vector<int32_t> want = {1};
  want.insert(want.end(), once.begin(), once.end());
  EXPECT_EQ(tok.Encode("<s>Once", false, /*parse_special=*/true).value(), want);
  const std::vector<int32_t> literal = tok.Encode("<s>Once", false).value();
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 1), 0);  // "<s>" as characters
  EXPECT_GT(literal.size(), want.size());
}

// Pre-tokenizers without vector files here, checked by where they cut: a byte-level vocabulary
// whose only merges are "1 2" and "' S". A merge happens only when both characters fall in one
// pre-tokenizer piece, so the ids show the split.
std::vector<int32_t> EncodeWithPre(const std::string& pre, const std::string& text) {
  testing::GgufBuilder b;
  b.KvStr("general.architecture", "qwen2");
  b.KvStr("tokenizer.ggml.model", "gpt2");
  b.KvStr("tokenizer.ggml.pre", pre);
  b.KvStrArray("tokenizer.ggml.tokens", {"1", "2", "'", "S", "12", "'S", "a", "Ġ", "<unk>"});
  b.KvStrArray("tokenizer.ggml.merges", {"1 2", "' S"});
  b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, {1, 1, 1, 1, 1, 1, 1, 1, 2});
  b.KvU32("tokenizer.ggml.unknown_token_id", 8);
  const std::string path = ::testing::TempDir() + "/lazyllm_pre_" + pre + std::to_string(getpid()) + ".gguf";
  testing::WriteBytes(path, b.Build());
  auto model = Model::Load(path, {.vocab_only = true});
  EXPECT_TRUE(model.ok()) << model.status().message();
  std::remove(path.c_str());
  return model.ok() ? model->tokenizer().Encode(text, false).value() : std::vector<int32_t>{};
}

TEST(PreTokenizerTest, DigitsAndContractionsSplitAsEachTokenizerDefines) {
  const std::vector<int32_t> merged_digits = {4}, split_digits = {0, 1};
  // Digits: one by one for qwen2, tekken, deepseek-coder, starcoder/smollm; in runs for gpt-2,
  // llama3, gpt-4o (up to 3), dbrx, deepseek-llm.
  for (const char* pre : {"qwen2", "deepseek-r1-qwen", "tekken", "deepseek-coder", "smollm"})
    EXPECT_EQ(EncodeWithPre(pre, "12"), split_digits) << pre;
  for (const char* pre : {"gpt-2", "llama3", "gpt-4o", "dbrx", "deepseek-llm", "mpt", "falcon"})
    EXPECT_EQ(EncodeWithPre(pre, "12"), merged_digits) << pre;
  // "'S": qwen2's and gpt-4o's contractions are case-insensitive ((?i:'s)), gpt-2's are not.
  EXPECT_EQ(EncodeWithPre("qwen2", "a'S"), (std::vector<int32_t>{6, 5}));
  EXPECT_EQ(EncodeWithPre("gpt-4o", "a'S"), (std::vector<int32_t>{6, 5}));
  EXPECT_EQ(EncodeWithPre("gpt-2", "a'S"), (std::vector<int32_t>{6, 2, 3}));
  // An unknown pre-tokenizer is refused by name.
  testing::GgufBuilder b;
  b.KvStr("general.architecture", "qwen2");
  b.KvStr("tokenizer.ggml.model", "gpt2");
  b.KvStr("tokenizer.ggml.pre", "klingon");
  b.KvStrArray("tokenizer.ggml.tokens", {"a"});
  b.KvStrArray("tokenizer.ggml.merges", {});
  const std::string path = ::testing::TempDir() + "/lazyllm_pre_bad" + std::to_string(getpid()) + ".gguf";
  testing::WriteBytes(path, b.Build());
  auto model = Model::Load(path, {.vocab_only = true});
  std::remove(path.c_str());
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("unsupported tokenizer.ggml.pre 'klingon'"), std::string::npos);
}

// End of generation: eos, and control tokens spelled as end-of-turn marks; llama3 and tekken
// add BOS when the file does not say, qwen2 does not.
TEST(PreTokenizerTest, EndOfGenerationSetAndBosDefaults) {
  auto load = [](const std::string& pre) {
    testing::GgufBuilder b;
    b.KvStr("general.architecture", "qwen2");
    b.KvStr("tokenizer.ggml.model", "gpt2");
    b.KvStr("tokenizer.ggml.pre", pre);
    b.KvStrArray("tokenizer.ggml.tokens",
                 {"a", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_turn>", "<unk>"});
    b.KvStrArray("tokenizer.ggml.merges", {});
    b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, {1, 3, 3, 3, 3, 2});
    b.KvU32("tokenizer.ggml.unknown_token_id", 5);
    b.KvU32("tokenizer.ggml.bos_token_id", 1);
    b.KvU32("tokenizer.ggml.eos_token_id", 1);
    const std::string path = ::testing::TempDir() + "/lazyllm_eog_" + pre + std::to_string(getpid()) + ".gguf";
    testing::WriteBytes(path, b.Build());
    auto model = Model::Load(path, {.vocab_only = true});
    std::remove(path.c_str());
    EXPECT_TRUE(model.ok()) << model.status().message();
    return model;
  };
  auto qwen = load("qwen2");
  ASSERT_TRUE(qwen.ok());
  const Tokenizer& t = qwen->tokenizer();
  EXPECT_TRUE(t.IsEndOfGeneration(1));   // eos
  EXPECT_TRUE(t.IsEndOfGeneration(3));   // <|im_end|>
  EXPECT_TRUE(t.IsEndOfGeneration(4));   // <end_of_turn>
  EXPECT_FALSE(t.IsEndOfGeneration(2));  // <|im_start|>
  EXPECT_FALSE(t.IsEndOfGeneration(0));
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.Encode("<|im_start|>a<|im_end|>", false, true).value(), (std::vector<int32_t>{2, 0, 3}));
  auto llama3 = load("llama3");
  ASSERT_TRUE(llama3.ok());
  EXPECT_TRUE(llama3->tokenizer().add_bos());
  auto tekken = load("tekken");
  ASSERT_TRUE(tekken.ok());
  EXPECT_TRUE(tekken->tokenizer().add_bos());
}

}  // namespace
}  // namespace lazyllm

namespace lazyllm {
namespace {

// A vocabulary of `tokens` (model "gpt2" or "llama"), with tokens[unk] as its unknown token when
// unk >= 0, loaded from a temporary file.
StatusOr<Model> Vocabulary(const std::string& kind, const std::vector<std::string>& tokens, int unk) {
  testing::GgufBuilder b;
  b.KvStr("general.architecture", kind == "gpt2" ? "qwen2" : "llama");
  b.KvStr("tokenizer.ggml.model", kind);
  if (kind == "gpt2") {
    b.KvStr("tokenizer.ggml.pre", "qwen2");
    b.KvStrArray("tokenizer.ggml.merges", {});
  }
  b.KvStrArray("tokenizer.ggml.tokens", tokens);
  std::vector<int32_t> types(tokens.size(), 1);
  if (unk >= 0) {
    types[static_cast<size_t>(unk)] = 2;
    b.KvU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk));
  }
  b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, types);
  const std::string path =
      ::testing::TempDir() + "/lazyllm_vocab_" + kind + std::to_string(unk) + std::to_string(getpid()) + ".gguf";
  testing::WriteBytes(path, b.Build());
  auto model = Model::Load(path, {.vocab_only = true});
  std::remove(path.c_str());
  return model;
}

// A vocabulary may lack a byte and have no unknown token (Falcon's has no 0x03): it loads, texts
// that do not need the byte encode, and a text that does is refused, naming the byte and its
// offset in the text, never given an id of -1. With an unknown token the byte becomes it.
TEST(PreTokenizerTest, ATextWithAByteTheVocabularyLacksIsRefusedAtEncode) {
  auto expect_refused = [](const Tokenizer& tok, std::string_view text, const std::string& want) {
    const auto ids = tok.Encode(text, false);
    ASSERT_FALSE(ids.ok()) << "'" << text << "' encoded";
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find(want), std::string::npos) << ids.status().message();
  };
  // Byte-level BPE: the bytes map to characters ("Ġ" is the space); pieces are cut by the
  // pre-tokenizer, so the offset is counted across them.
  auto bpe = Vocabulary("gpt2", {"a", "b", "\xc4\xa0"}, -1);
  ASSERT_TRUE(bpe.ok()) << bpe.status().message();
  EXPECT_EQ(bpe->tokenizer().Encode("ab ba", false).value(), (std::vector<int32_t>{0, 1, 2, 1, 0}));
  expect_refused(bpe->tokenizer(),
                 "ab b\x03"
                 "a",
                 "byte 0x03 at offset 4");
  expect_refused(bpe->tokenizer(),
                 "\xff"
                 "ab",
                 "byte 0xFF at offset 0");
  // SentencePiece vocabularies always have an unknown token (id 0 unless the file names another,
  // as llama.cpp reads them): a byte without its <0xNN> token becomes it.
  auto spm = Vocabulary("llama", {"a", "b", "\xe2\x96\x81"}, -1);
  ASSERT_TRUE(spm.ok()) << spm.status().message();
  EXPECT_EQ(spm->tokenizer().Encode("b\x03 \xc3\xa9", false).value(), (std::vector<int32_t>{2, 1, 0, 2, 0, 0}));
  // With an unknown token every byte is encodable.
  auto with_unk = Vocabulary("gpt2", {"a", "b", "<unk>"}, 2);
  ASSERT_TRUE(with_unk.ok()) << with_unk.status().message();
  EXPECT_EQ(with_unk->tokenizer().Encode("ab\xff c", false).value(), (std::vector<int32_t>{0, 1, 2, 2, 2}));
}

// Byte-level BPE pre-tokenization is linear in the text: a 2.5 MB prompt of a repeated sentence
// tokenizes to the sentence's tokens repeated (a quadratic split would take over 20 minutes here, past the
// suite's timeout). Text with an invalid byte in the middle takes the invalid-UTF path: the
// byte is a piece of its own, and the text around it tokenizes as before.
TEST(PreTokenizerTest, LongTextTokenizesLinearlyAndInvalidBytesStayPieces) {
  LAZYLLM_REQUIRE_REFERENCE();
  auto model =
      Model::Load((testing::ReferenceDir() / "tokenizers/ggml-vocab-gpt-2.gguf").string(), {.vocab_only = true});
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Tokenizer& tok = model->tokenizer();
  const std::string unit = " The cat sat on the mat, and 42 dogs ran.";
  const auto unit_ids = tok.Encode(unit, false).value();
  ASSERT_FALSE(unit_ids.empty());
  std::string text;
  for (int i = 0; i < 60000; ++i) text += unit;  // ~2.5 MB
  const auto ids = tok.Encode(text, false).value();
  ASSERT_EQ(ids.size(), unit_ids.size() * 60000);
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], unit_ids[i % unit_ids.size()]) << "at " << i;

  std::string half;
  for (int i = 0; i < 500; ++i) half += unit;
  const std::string bad = "\xff";
  const auto bad_ids = tok.Encode(bad, false).value();
  ASSERT_FALSE(bad_ids.empty());
  const auto mixed = tok.Encode(half + bad + half, false).value();
  std::vector<int32_t> want;
  for (int i = 0; i < 500; ++i) want.insert(want.end(), unit_ids.begin(), unit_ids.end());
  want.insert(want.end(), bad_ids.begin(), bad_ids.end());
  for (int i = 0; i < 500; ++i) want.insert(want.end(), unit_ids.begin(), unit_ids.end());
  EXPECT_EQ(mixed, want);
  EXPECT_EQ(tok.Decode(mixed), half + bad + half);
}

}  // namespace
}  // namespace lazyllm
