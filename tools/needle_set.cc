#include "tools/needle_set.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tools/flags.h"
#include "tools/synth/needle.h"

namespace lazyllm::cli {
namespace {

// The set's random stream, with a pick from a word list.
struct Rng : SplitMix64 {
  const std::string& Pick(const std::vector<std::string>& v) { return v[Below(v.size())]; }
};

// One filler sentence, from a few templates over the filler words.
std::vector<std::string> Sentence(Rng& rng) {
  const needle::Words& w = needle::Vocabulary();
  auto adj = [&] { return rng.Pick(w.adjectives); };
  auto noun = [&] { return rng.Pick(w.nouns); };
  auto verb = [&] { return rng.Pick(w.verbs); };
  auto prep = [&] { return rng.Pick(w.prepositions); };
  switch (rng.Below(5)) {
    case 0:
      return {"the", adj(), noun(), verb(), prep(), "the", noun(), "."};
    case 1:
      return {"a", noun(), verb(), prep(), "the", adj(), noun(), "."};
    case 2:
      return {"the", noun(), "and", "the", noun(), verb(), "."};
    case 3:
      return {"then", "the", adj(), noun(), verb(), "."};
    default:
      return {"the", noun(), verb(), prep(), "the", adj(), noun(), "and", "a", noun(), verb(), "."};
  }
}

constexpr int64_t kFactWords = 5;      // the KEY is VALUE .
constexpr int64_t kQuestionWords = 3;  // the KEY is

NeedleRecord MakeRecord(const NeedleSetOptions& o, int64_t index) {
  const needle::Words& w = needle::Vocabulary();
  Rng rng{{o.seed * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(index) + 1) * 0xd1b54a32d192ed03ull}};
  // The facts: distinct keys (a partial shuffle), values drawn with repetition.
  std::vector<size_t> keys(w.keys.size());
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  for (int64_t i = 0; i < o.facts; ++i) std::swap(keys[i], keys[i + rng.Below(keys.size() - i)]);
  std::vector<NeedleFact> facts(static_cast<size_t>(o.facts));
  for (int64_t i = 0; i < o.facts; ++i) facts[i] = {w.keys[keys[i]], rng.Pick(w.values), 0};

  // Filler: whole sentences, the last one cut to fit the length exactly; facts go between
  // sentences at uniformly drawn boundaries (a fact may come first or right before the question).
  const int64_t filler_words = o.length - 1 - kFactWords * o.facts - kQuestionWords;
  std::vector<std::string> filler;
  std::vector<int64_t> boundaries = {0};
  while (static_cast<int64_t>(filler.size()) < filler_words) {
    for (std::string& word : Sentence(rng)) filler.push_back(std::move(word));
    boundaries.push_back(std::min<int64_t>(static_cast<int64_t>(filler.size()), filler_words));
  }
  filler.resize(static_cast<size_t>(filler_words));
  std::vector<std::pair<int64_t, size_t>> at;  // (boundary, fact)
  for (size_t f = 0; f < facts.size(); ++f) at.emplace_back(boundaries[rng.Below(boundaries.size())], f);
  std::sort(at.begin(), at.end());

  std::vector<std::string> words;
  size_t next = 0;
  for (int64_t i = 0; i <= filler_words; ++i) {
    for (; next < at.size() && at[next].first == i; ++next) {
      NeedleFact& f = facts[at[next].second];
      f.position = static_cast<int64_t>(words.size()) + 4;  // after BOS, "the", the key and "is"
      for (const std::string& word : {std::string("the"), f.key, std::string("is"), f.value, std::string(".")})
        words.push_back(word);
    }
    if (i < filler_words) words.push_back(filler[static_cast<size_t>(i)]);
  }

  // Questions: the facts in a random order, the first `questions` of them.
  std::vector<size_t> order(facts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = 0; i + 1 < order.size(); ++i) std::swap(order[i], order[i + rng.Below(order.size() - i)]);
  NeedleRecord r;
  r.id = "needle-" + std::to_string(o.length) + "-s" + std::to_string(o.seed) + "-" + std::to_string(index);
  for (const std::string& word : words) r.prompt += word + " ";
  r.prompt += "the " + facts[order[0]].key + " is";
  r.answer = facts[order[0]].value;
  for (int64_t q = 1; q < o.questions; ++q) {
    r.followup_texts.push_back(" " + facts[order[q - 1]].value + " . the " + facts[order[q]].key + " is");
    r.followup_answers.push_back(" " + facts[order[q]].value);
  }
  std::sort(facts.begin(), facts.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
  r.facts = std::move(facts);
  return r;
}

}  // namespace

std::vector<NeedleRecord> MakeNeedleSet(const NeedleSetOptions& o) {
  const auto max_keys = static_cast<int64_t>(needle::Vocabulary().keys.size());
  if (o.facts < 1 || o.facts > max_keys)
    throw CliError{"flag '--facts': " + std::to_string(o.facts) + " is out of range [1, " + std::to_string(max_keys) +
                   "] (the needle vocabulary has " + std::to_string(max_keys) + " keys)"};
  if (o.questions < 1 || o.questions > o.facts)
    throw CliError{"flag '--questions': " + std::to_string(o.questions) + " is out of range [1, " +
                   std::to_string(o.facts) + "] (one question per fact at most)"};
  const int64_t shortest = 1 + kFactWords * o.facts + kQuestionWords;
  if (o.length < shortest || o.length > needle::kMaxContext)
    throw CliError{"flag '--length': " + std::to_string(o.length) + " is out of range [" + std::to_string(shortest) +
                   ", " + std::to_string(needle::kMaxContext) + "] (BOS, " + std::to_string(o.facts) +
                   " facts of 5 tokens and a question of 3 need " + std::to_string(shortest) + ")"};
  if (o.records < 1) throw CliError{"flag '--records': " + std::to_string(o.records) + " is out of range"};
  std::vector<NeedleRecord> out;
  for (int64_t i = 0; i < o.records; ++i) out.push_back(MakeRecord(o, i));
  return out;
}

std::string NeedleRecordJson(const NeedleRecord& r) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["prompt"] = r.prompt;
  j["answers"] = nlohmann::json::array({r.answer});
  j["metric"] = "exact";
  if (!r.followup_texts.empty()) {
    j["followups"] = nlohmann::json::array();
    for (size_t i = 0; i < r.followup_texts.size(); ++i)
      j["followups"].push_back(
          nlohmann::ordered_json{{"text", r.followup_texts[i]}, {"answer", r.followup_answers[i]}});
  }
  j["facts"] = nlohmann::json::array();
  for (const NeedleFact& f : r.facts)
    j["facts"].push_back(nlohmann::ordered_json{{"key", f.key}, {"value", f.value}, {"position", f.position}});
  return j.dump();
}

}  // namespace lazyllm::cli
