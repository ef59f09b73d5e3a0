// The needle model (tools/synth/needle.h) and its eval sets (tools/needle_set.h). The oracle is the set
// generator's own record of each fact: the value a question must be answered with is known
// without the model, and the model is asked through the public API, as `lazyllm eval` does.
#include "tools/synth/needle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lazyllm/lazyllm.h"
#include "tools/flags.h"
#include "tools/needle_set.h"

namespace lazyllm {
namespace {

using cli::MakeNeedleSet;
using cli::NeedleRecord;
using cli::NeedleSetOptions;

std::string TempModel(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("lazyllm_needle_test_" + name + "." + std::to_string(getpid()) + ".gguf"))
      .string();
}

// The 16-layer model for 2048 positions, written once per test process.
const Model& Needle() {
  static const Model model = [] {
    const std::string path = TempModel("16");
    const Status st = needle::Synthesize({.context = 2048}, path);
    EXPECT_TRUE(st.ok()) << st.message();
    auto m = Model::Load(path);
    EXPECT_TRUE(m.ok()) << m.status().message();
    std::filesystem::remove(path);
    return *m;
  }();
  return model;
}

TEST(NeedleTest, FilePassesTheLoadersValidationWithTheConstructedShape) {
  const ModelConfig& c = Needle().config();
  EXPECT_EQ(c.num_layers, needle::kDefaultLayers);
  EXPECT_EQ(c.dim, needle::kDim);
  EXPECT_EQ(c.num_heads, needle::kHeads);
  EXPECT_EQ(c.num_kv_heads, needle::kHeads);
  EXPECT_EQ(c.head_dim, needle::kHeadDim);
  EXPECT_EQ(c.rope_dims, needle::kHeadDim);
  EXPECT_EQ(c.context_length, 2048);
  EXPECT_FLOAT_EQ(c.rope_theta, needle::kRopeBase);
  EXPECT_EQ(c.architecture, "llama");
}

TEST(NeedleTest, OutOfRangeOptionsAreRefused) {
  const std::string path = TempModel("bad");
  const Status layers = needle::Synthesize({.layers = 1}, path);
  EXPECT_NE(layers.message().find("--layers 1 is out of range 2..1024"), std::string::npos) << layers.message();
  const Status ctx = needle::Synthesize({.context = needle::kMaxContext + 1}, path);
  EXPECT_NE(ctx.message().find("--context 65537 is out of range"), std::string::npos) << ctx.message();
  const Status dtype = needle::Synthesize({.dtype = "q9"}, path);
  EXPECT_NE(dtype.message().find("unknown dtype 'q9'"), std::string::npos) << dtype.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(NeedleTest, EveryWordIsOneTokenAndTheListsAreDisjoint) {
  const needle::Words& w = needle::Vocabulary();
  std::set<std::string> seen;
  const Tokenizer& tok = Needle().tokenizer();
  for (const auto* list : {&w.keys, &w.values, &w.adjectives, &w.nouns, &w.verbs, &w.prepositions}) {
    for (const std::string& word : *list) {
      EXPECT_TRUE(seen.insert(word).second) << word << " is in two lists";
      const std::vector<int32_t> ids = tok.Encode(word, false).value();  // SentencePiece adds the space
      ASSERT_EQ(ids.size(), 1u) << word;
      EXPECT_EQ(tok.Decode(ids), word);
    }
  }
  EXPECT_EQ(w.keys.size(), 48u);
  EXPECT_EQ(w.values.size(), static_cast<size_t>(needle::kHeadDim));
  EXPECT_EQ(tok.Encode("the otter is teal .", true).value().size(), 6u);  // BOS and five words
}

TEST(NeedleTest, SetsAreDeterministicPerSeedAndRecordsIndependentOfTheirCount) {
  const NeedleSetOptions o{.length = 300, .records = 4, .facts = 5, .questions = 3, .seed = 7};
  const std::vector<NeedleRecord> a = MakeNeedleSet(o), b = MakeNeedleSet(o);
  NeedleSetOptions more = o;
  more.records = 6;
  NeedleSetOptions other = o;
  other.seed = 8;
  const std::vector<NeedleRecord> c = MakeNeedleSet(more), d = MakeNeedleSet(other);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(c.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(cli::NeedleRecordJson(a[i]), cli::NeedleRecordJson(b[i]));
    EXPECT_EQ(cli::NeedleRecordJson(a[i]), cli::NeedleRecordJson(c[i]));
    EXPECT_NE(a[i].prompt, d[i].prompt);
  }
  EXPECT_NE(a[0].prompt, a[1].prompt);
  // The line is an eval-set record: prompt, answers, exact metric, followups of text and answer.
  const nlohmann::json j = nlohmann::json::parse(cli::NeedleRecordJson(a[0]));
  EXPECT_EQ(j["metric"], "exact");
  EXPECT_EQ(j["answers"], nlohmann::json::array({a[0].answer}));
  ASSERT_EQ(j["followups"].size(), 2u);
  EXPECT_EQ(j["followups"][0]["answer"], a[0].followup_answers[0]);
  EXPECT_EQ(j["facts"].size(), 5u);
}

TEST(NeedleTest, PromptsHaveTheExactLengthAndTheFactsWhereTheRecordSays) {
  const Tokenizer& tok = Needle().tokenizer();
  for (int64_t length : {40, 300, 1000}) {
    for (const NeedleRecord& r : MakeNeedleSet({.length = length, .records = 3, .facts = 4, .questions = 4})) {
      const std::vector<int32_t> ids = tok.Encode(r.prompt, true).value();
      auto word_at = [&](int64_t i) { return tok.Decode(std::vector<int32_t>{ids[static_cast<size_t>(i)]}); };
      ASSERT_EQ(static_cast<int64_t>(ids.size()), length) << r.prompt;
      std::set<std::string> keys;
      for (const cli::NeedleFact& f : r.facts) {
        EXPECT_EQ(word_at(f.position), f.value);  // (a token decoded alone loses its space)
        EXPECT_EQ(word_at(f.position - 2), f.key);
        EXPECT_EQ(word_at(f.position - 1), "is");
        EXPECT_TRUE(keys.insert(f.key).second) << "key " << f.key << " twice";
      }
      // The questions ask each fact once, the first in the prompt and the others as followups
      // (each followup text first gives the previous answer), and each answer is its fact's value.
      std::map<std::string, std::string> value_of;
      for (const cli::NeedleFact& f : r.facts) value_of[f.key] = f.value;
      auto last_words = [](const std::string& text, size_t n) {
        std::vector<std::string> words;
        std::istringstream in(text);
        for (std::string w; in >> w;) words.push_back(w);
        return std::vector<std::string>(words.end() - static_cast<std::ptrdiff_t>(n), words.end());
      };
      std::vector<std::string> question = last_words(r.prompt, 3);
      std::set<std::string> asked = {question[1]};
      EXPECT_EQ(question[0], "the");
      EXPECT_EQ(question[2], "is");
      EXPECT_EQ(r.answer, value_of[question[1]]);
      std::string previous = r.answer;
      ASSERT_EQ(r.followup_texts.size(), 3u);
      for (size_t q = 0; q < r.followup_texts.size(); ++q) {
        const std::vector<std::string> text = last_words(r.followup_texts[q], 5);
        EXPECT_EQ(text[0], previous);
        EXPECT_EQ(text[1], ".");
        asked.insert(text[3]);
        EXPECT_EQ(r.followup_answers[q], " " + value_of[text[3]]);
        previous = value_of[text[3]];
      }
      EXPECT_EQ(asked.size(), 4u);
    }
  }
}

TEST(NeedleTest, BadSetOptionsAreRefused) {
  EXPECT_THROW(MakeNeedleSet({.facts = 0}), cli::CliError);
  EXPECT_THROW(MakeNeedleSet({.facts = 49}), cli::CliError);
  EXPECT_THROW(MakeNeedleSet({.facts = 2, .questions = 3}), cli::CliError);
  EXPECT_THROW(MakeNeedleSet({.length = 23, .facts = 4}), cli::CliError);
  EXPECT_NO_THROW(MakeNeedleSet({.length = 24, .records = 1, .facts = 4}));
}

// The tokens of a text of vocabulary words, one per word.
std::vector<int32_t> WordTokens(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    const std::vector<int32_t> t = tok.Encode(word, false).value();  // SentencePiece adds the space
    EXPECT_EQ(t.size(), 1u) << word;
    ids.insert(ids.end(), t.begin(), t.end());
  }
  return ids;
}

// Asks the record's questions: the first after the prompt (the most likely next token must be
// the answer), the others teacher forced after it. Returns how many were answered; `revived`
// gets the session's revived-token count.
int Ask(Session& s, const Tokenizer& tok, const NeedleRecord& r, int64_t* revived = nullptr) {
  std::vector<int32_t> ids = tok.Encode(r.prompt, true).value();
  EXPECT_TRUE(s.Prefill(ids).ok());
  int right = Argmax(s.logits()) == WordTokens(tok, r.answer).at(0) ? 1 : 0;
  for (size_t q = 0; q < r.followup_texts.size(); ++q) {
    for (int32_t t : WordTokens(tok, r.followup_texts[q])) EXPECT_TRUE(s.DecodeStep(t).ok());
    const int32_t want = WordTokens(tok, r.followup_answers[q]).at(0);
    right += Argmax(s.logits()) == want ? 1 : 0;
    EXPECT_TRUE(s.DecodeStep(want).ok());
  }
  if (revived != nullptr) *revived = s.pruning_stats().revived_tokens;
  return right;
}

// The acceptance test in small: the baseline answers every question at a few hundred tokens,
// wherever the facts stand, and so does LazyLLM's `paper` schedule, reviving dropped values for
// the later questions; static pruning at a similar budget answers the first question (its value
// is what the last token attends to) but loses later ones whose values it dropped.
TEST(NeedleTest, RetrievesExactlyOnShortContexts) {
  const Model& model = Needle();
  auto engine = Engine::Create(model, {.threads = 2});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const std::vector<NeedleRecord> set =
      MakeNeedleSet({.length = 400, .records = 6, .facts = 8, .questions = 8, .seed = 3});
  auto session = [&](const std::string& prune) {
    auto p = PruningOptions::Parse(prune, model.config().num_layers, 1);
    EXPECT_TRUE(p.ok()) << p.status().message();
    auto s = Session::Create(*engine, {.max_context = 2048, .pruning = *p});
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  };
  Session base = session("off"), lazy = session("paper"), aggressive = session("5:0.8,10:0.8,14:0.8"),
          stat = session("static:5:0.8");
  int questions = 0, base_right = 0, lazy_right = 0, aggressive_right = 0, static_right = 0, static_first = 0;
  int64_t revived_total = 0;
  for (const NeedleRecord& r : set) {
    SCOPED_TRACE(r.id);
    questions += 1 + static_cast<int>(r.followup_texts.size());
    base_right += Ask(base, model.tokenizer(), r);
    int64_t revived = 0;
    lazy_right += Ask(lazy, model.tokenizer(), r);
    aggressive_right += Ask(aggressive, model.tokenizer(), r, &revived);
    revived_total += revived;
    NeedleRecord first_only = r;
    first_only.followup_texts.clear();
    first_only.followup_answers.clear();
    static_first += Ask(stat, model.tokenizer(), first_only);
    static_right += Ask(stat, model.tokenizer(), r);
  }
  EXPECT_EQ(questions, 48);
  EXPECT_EQ(base_right, questions);
  EXPECT_EQ(lazy_right, questions);
  EXPECT_EQ(aggressive_right, questions);
  EXPECT_GT(revived_total, 0);
  EXPECT_EQ(static_first, static_cast<int>(set.size()));
  EXPECT_LT(static_right, questions);
}

// Facts anywhere in a context of 2000 tokens, asked at its end.
TEST(NeedleTest, RetrievesAcrossALongerContext) {
  const Model& model = Needle();
  auto engine = Engine::Create(model, {.threads = 2});
  ASSERT_TRUE(engine.ok());
  auto s = Session::Create(*engine, {.max_context = 2048});
  ASSERT_TRUE(s.ok());
  int right = 0, n = 0;
  for (const NeedleRecord& r : MakeNeedleSet({.length = 2000, .records = 3, .facts = 2, .questions = 2, .seed = 11})) {
    right += Ask(*s, model.tokenizer(), r);
    n += 2;
  }
  EXPECT_EQ(right, n);
}

}  // namespace
}  // namespace lazyllm
