// The needle model's vocabulary and weights (see needle.h and docs/needle.md).
#include "tools/synth/needle.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "core/base/status_macros.h"

namespace lazyllm::needle {
namespace {

// The function words of filler, facts and questions.
const std::vector<std::string> kFunctionWords = {"the", "a", "and", "then", "is", "."};

// The residual stream's dimensions. Every token embeds as kBias·b + (its code)·c with b = c, so
// that all embeddings have RMS 1; layer 0 adds the previous two tokens' key codes; the last
// layer adds the answer's value code at the question.
constexpr int64_t kBias = 0;                        // constant: drives the positional heads
constexpr int64_t kOther = 1;                       // the code of every token that is neither a key nor a value
constexpr int64_t kCurKey = 2;                      // 48: the token's own key code
constexpr int64_t kPrev1 = 50;                      // 48: the key code of the token before (layer 0, head 0)
constexpr int64_t kPrev2 = 98;                      // 48: the key code of the token two before (layer 0, head 1)
constexpr int64_t kValue = 146;                     // 64: the token's own value code; at a question, the answer
constexpr int64_t kNumKeys = 48;                    // = the head dimensions 16..63 of the 24 slowly turning RoPE pairs
constexpr int64_t kNumValues = kHeadDim;            // a value code passes through one head's 64 dimensions
constexpr int64_t kPositionalPairs = 8;             // RoPE pairs 0..7 address relative positions
constexpr int64_t kKeyDim0 = 2 * kPositionalPairs;  // head dimension of key 0 in the retrieval heads
static_assert(kValue + kNumValues <= kDim && kKeyDim0 + kNumKeys == kHeadDim);

// A word-level SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, "▁", the single
// characters, then every prefix "▁w…" of every word, so that the tokenizer's merges (which join
// two pieces only when the joined piece is in the vocabulary) build each word, one character at a
// time, into one token. No two-character piece without "▁" exists, so there is no other merge to
// compete with. Per token: its residual code dimension and, for values, which value it is.
struct BuiltVocab {
  SynthVocab vocab;
  std::vector<int64_t> code;   // the residual dimension of the token's code
  std::vector<int64_t> value;  // value index, or -1
};

const BuiltVocab& Built() {
  static const BuiltVocab built = [] {
    const Words& w = Vocabulary();
    BuiltVocab b;
    auto add = [&](const std::string& text, int32_t type, int64_t code, int64_t value) {
      b.vocab.tokens.push_back(text);
      b.vocab.scores.push_back(-static_cast<float>(b.vocab.tokens.size()));
      b.vocab.types.push_back(type);
      b.code.push_back(code);
      b.value.push_back(value);
    };
    add("<unk>", 2, kOther, -1);
    add("<s>", 3, kOther, -1);
    add("</s>", 3, kOther, -1);
    for (int i = 0; i < 256; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", i);
      add(buf, 6, kOther, -1);
    }
    const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's space
    // Words, with their codes; the order fixes token ids.
    std::vector<std::pair<std::string, int64_t>> words;  // (word, code)
    std::map<std::string, int64_t> value_index;
    for (size_t i = 0; i < w.keys.size(); ++i) words.emplace_back(w.keys[i], kCurKey + static_cast<int64_t>(i));
    for (size_t i = 0; i < w.values.size(); ++i) {
      words.emplace_back(w.values[i], kValue + static_cast<int64_t>(i));
      value_index[w.values[i]] = static_cast<int64_t>(i);
    }
    for (const auto* list : {&kFunctionWords, &w.adjectives, &w.nouns, &w.verbs, &w.prepositions})
      for (const std::string& s : *list) words.emplace_back(s, kOther);
    std::set<std::string> chars;
    for (const auto& [word, _] : words)
      for (char ch : word) chars.insert(std::string(1, ch));
    add(space, 1, kOther, -1);
    for (const std::string& ch : chars) add(ch, 1, kOther, -1);
    std::map<std::string, int64_t> piece_code;  // every "▁" prefix of every word
    for (const auto& [word, code] : words) {
      for (size_t n = 1; n < word.size(); ++n) piece_code.emplace(space + word.substr(0, n), kOther);
    }
    for (const auto& [word, code] : words) piece_code[space + word] = code;
    for (const auto& [piece, code] : piece_code) {
      const std::string word = piece.substr(space.size());
      const auto v = value_index.find(word);
      add(piece, 1, code, code >= kValue && v != value_index.end() ? v->second : -1);
    }
    return b;
  }();
  return built;
}

// The RoPE frequency of pair i, as the engine computes it (from the file's float base).
double Omega(int64_t i) { return std::pow(static_cast<double>(kRopeBase), -2.0 * static_cast<double>(i) / kHeadDim); }

// The positional heads' pair weights. A head that should attend δ tokens back has, in RoPE pair
// i < 8, query (1, 0)·s_i and key (cos δω_i, sin δω_i)·s_i, so its logit from position m to
// position n is Σ_i s_i² cos((m - n - δ)ω_i) / √64: largest at m - n = δ. The margin to any other
// offset j = m - n - δ ≠ 0 is λ·Σ_i a_i (1 - cos jω_i) with a_i = 1/(i+1) (fast pairs weigh more:
// they separate neighbours, the slow ones far offsets); λ is the smallest scale that makes it at
// least kPositionalMargin for every offset the context allows. s_i² = √64·λ·a_i.
StatusOr<std::vector<double>> PositionalAmplitudes(int64_t context) {
  double min_gap = 1e300;
  int64_t worst = 0;
  for (int64_t j = -2; j < context; ++j) {
    if (j == 0) continue;
    double gap = 0;
    for (int64_t i = 0; i < kPositionalPairs; ++i)
      gap += (1.0 - std::cos(static_cast<double>(j) * Omega(i))) / static_cast<double>(i + 1);
    if (gap < min_gap) min_gap = gap, worst = j;
  }
  const double lambda = kPositionalMargin / min_gap;
  if (!(lambda < 1000))
    return InternalError("needle: positional heads cannot separate offset " + std::to_string(worst) +
                         " from the previous token (gap " + std::to_string(min_gap) + ")");
  std::vector<double> s(kPositionalPairs);
  for (int64_t i = 0; i < kPositionalPairs; ++i)
    s[i] = std::sqrt(std::sqrt(static_cast<double>(kHeadDim)) * lambda / static_cast<double>(i + 1));
  return s;
}

}  // namespace

const Words& Vocabulary() {
  static const Words words = {
      .keys = {"badger", "beaver", "bison",  "camel", "cobra",  "condor", "coyote", "donkey", "eagle",   "falcon",
               "ferret", "gecko",  "gopher", "heron", "hyena",  "iguana", "jackal", "koala",  "lemur",   "lizard",
               "llama",  "lynx",   "marmot", "moose", "newt",   "otter",  "panda",  "parrot", "pelican", "python",
               "quail",  "rabbit", "raven",  "seal",  "shark",  "skunk",  "sloth",  "snail",  "spider",  "squid",
               "stork",  "swan",   "tapir",  "tiger", "toucan", "turtle", "walrus", "zebra"},
      .values = {"amber",   "azure",  "beige",   "black",   "blue",   "bronze", "brown", "coral",  "copper", "cream",
                 "crimson", "cyan",   "ebony",   "emerald", "gold",   "gray",   "green", "indigo", "ivory",  "jade",
                 "khaki",   "lilac",  "lime",    "magenta", "maroon", "mauve",  "mint",  "navy",   "ochre",  "olive",
                 "onyx",    "orange", "pearl",   "pink",    "plum",   "purple", "red",   "rose",   "ruby",   "rust",
                 "saffron", "sage",   "scarlet", "sepia",   "silver", "slate",  "steel", "tan",    "teal",   "topaz",
                 "umber",   "violet", "white",   "yellow",  "zinc",   "cobalt", "denim", "garnet", "opal",   "quartz",
                 "tin",     "iron",   "brass",   "chrome"},
      .adjectives = {"old",   "quiet",  "small",   "bright", "cold",   "warm",  "tall",  "slow",
                     "dark",  "gentle", "distant", "narrow", "wide",   "empty", "busy",  "calm",
                     "young", "heavy",  "soft",    "long",   "little", "happy", "tired", "early"},
      .nouns = {"river",   "hill",   "road",    "house",   "window", "garden",   "forest",   "table",
                "book",    "letter", "stone",   "cloud",   "field",  "town",     "bridge",   "door",
                "lamp",    "boat",   "tree",    "village", "market", "song",     "story",    "morning",
                "evening", "winter", "summer",  "ship",    "candle", "mountain", "valley",   "island",
                "farmer",  "child",  "teacher", "sailor",  "baker",  "painter",  "traveler", "king",
                "queen",   "wind",   "rain",    "fire",    "path",   "wall",     "bell",     "chair"},
      .verbs = {"walked",   "looked", "waited",   "rested", "sang",    "spoke",    "moved",
                "stood",    "slept",  "listened", "turned", "climbed", "wandered", "smiled",
                "returned", "stayed", "laughed",  "worked", "danced",  "paused"},
      .prepositions = {"near", "by", "under", "over", "behind", "across", "toward", "beside", "past", "into", "around",
                       "along"},
  };
  return words;
}

namespace {

// What the weights are made of (docs/needle.md): the residual scale c (b = c = √(dim/2), so every
// embedding has RMS 1 and RMSNorm leaves it as it is), the RMS √1.5 of a token after layer 0 (a
// token one or two places after a key carries that key's code too), the retrieval heads' weight u
// (a match's logit u²·(c/√1.5)²/√64 is kRetrievalLogit), the LM head's weight γ (the question's
// residual holds bias, its own code, the key one back and the answer, each c: RMS √2, and the
// answer's logit γ·c/√2 is kAnswerLogit), and the positional heads' per-pair amplitudes.
struct Scales {
  double c, rms1, u, gamma;
  std::vector<double> pos;
};

StatusOr<Scales> ComputeScales(int64_t context) {
  Scales s;
  s.c = std::sqrt(static_cast<double>(kDim) / 2);
  s.rms1 = std::sqrt(1.5);
  s.u = std::sqrt(kRetrievalLogit * std::sqrt(static_cast<double>(kHeadDim))) * s.rms1 / s.c;
  s.gamma = kAnswerLogit * std::sqrt(2.0) / s.c;
  LAZYLLM_ASSIGN_OR_RETURN(s.pos, PositionalAmplitudes(context));
  return s;
}

using Entry = std::pair<int64_t, double>;
constexpr int64_t kQDim = kHeads * kHeadDim;

// A matrix with at most one nonzero per row: row r has `value` at column `col` of entry(r) (col < 0:
// none).
std::function<void(int64_t, float*)> Sparse(int64_t cols, std::function<Entry(int64_t)> entry) {
  return [cols, entry = std::move(entry)](int64_t r, float* out) {
    std::fill(out, out + cols, 0.0f);
    const auto [col, value] = entry(r);
    if (col >= 0) out[col] = static_cast<float>(value);
  };
}

// The embedding (bias and the token's code, each c) and the LM head (γ from a value's code to its
// token; 0 for every other token).
void AddEmbeddingAndHead(SynthFile& file, simd::DType dtype, const BuiltVocab& bv, const Scales& s) {
  const auto vocab_size = static_cast<int64_t>(bv.vocab.tokens.size());
  const double c = s.c, gamma = s.gamma;
  file.tensors.push_back({"token_embd.weight", kDim, vocab_size, dtype, [&bv, c](int64_t r, float* out) {
                            std::fill(out, out + kDim, 0.0f);
                            out[kBias] = static_cast<float>(c);
                            out[bv.code[r]] = static_cast<float>(c);
                          }});
  file.tensors.push_back({"output_norm.weight", kDim, 1, simd::DType::kF32, ConstantRows(kDim, 1.0f)});
  file.tensors.push_back({"output.weight", kDim, vocab_size, dtype, Sparse(kDim, [&bv, gamma](int64_t r) {
                            return bv.value[r] < 0 ? Entry{-1, 0} : Entry{kValue + bv.value[r], gamma};
                          })});
}

// Layer 0's positional heads: head h attends δ = h + 1 tokens back, reading the bias dimension (b
// after the norm), and copies that token's key code into kPrev1 (h = 0) or kPrev2 (h = 1).
void AddPositionalAttention(SynthFile& file, const std::string& b, simd::DType dtype, const Scales& s) {
  const std::vector<double>& pos = s.pos;
  const double c = s.c;
  file.tensors.push_back({b + "attn_q.weight", kDim, kQDim, dtype, Sparse(kDim, [pos, c](int64_t r) {
                            const int64_t d = r % kHeadDim;
                            return d < 2 * kPositionalPairs && d % 2 == 0 ? Entry{kBias, pos[d / 2] / c} : Entry{-1, 0};
                          })});
  file.tensors.push_back({b + "attn_k.weight", kDim, kQDim, dtype, Sparse(kDim, [pos, c](int64_t r) {
                            const int64_t h = r / kHeadDim, d = r % kHeadDim;
                            if (d >= 2 * kPositionalPairs) return Entry{-1, 0};
                            const double angle = static_cast<double>(h + 1) * Omega(d / 2);
                            return Entry{kBias, pos[d / 2] * (d % 2 == 0 ? std::cos(angle) : std::sin(angle)) / c};
                          })});
  file.tensors.push_back({b + "attn_v.weight", kDim, kQDim, dtype, Sparse(kDim, [](int64_t r) {
                            const int64_t d = r % kHeadDim;
                            return d < kNumKeys ? Entry{kCurKey + d, 1.0} : Entry{-1, 0};
                          })});
  file.tensors.push_back({b + "attn_output.weight", kQDim, kDim, dtype, Sparse(kQDim, [](int64_t r) {
                            if (r >= kPrev1 && r < kPrev1 + kNumKeys) return Entry{r - kPrev1, 1.0};
                            if (r >= kPrev2 && r < kPrev2 + kNumKeys) return Entry{kHeadDim + r - kPrev2, 1.0};
                            return Entry{-1, 0};
                          })});
}

// The retrieval heads (both heads alike): the query is the key one back (kPrev1), the key of a
// token is the key two back (kPrev2), both in the slowly turning head dimensions 16..63. In the
// last layer (`answers`), head 0 copies the attended token's value code into kValue.
void AddRetrievalAttention(SynthFile& file, const std::string& b, simd::DType dtype, const Scales& s, bool answers) {
  const double u = s.u, rms1 = s.rms1;
  auto match = [u](int64_t from) {
    return [u, from](int64_t r) {
      const int64_t d = r % kHeadDim;
      return d >= kKeyDim0 ? Entry{from + d - kKeyDim0, u} : Entry{-1, 0};
    };
  };
  file.tensors.push_back({b + "attn_q.weight", kDim, kQDim, dtype, Sparse(kDim, match(kPrev1))});
  file.tensors.push_back({b + "attn_k.weight", kDim, kQDim, dtype, Sparse(kDim, match(kPrev2))});
  file.tensors.push_back({b + "attn_v.weight", kDim, kQDim, dtype, Sparse(kDim, [answers](int64_t r) {
                            return answers && r < kHeadDim ? Entry{kValue + r, 1.0} : Entry{-1, 0};
                          })});
  file.tensors.push_back(
      {b + "attn_output.weight", kQDim, kDim, dtype, Sparse(kQDim, [answers, rms1](int64_t r) {
         return answers && r >= kValue && r < kValue + kNumValues ? Entry{r - kValue, rms1} : Entry{-1, 0};
       })});
}

}  // namespace

Status Synthesize(const Options& options, const std::string& path) {
  LAZYLLM_ASSIGN_OR_RETURN(simd::DType dtype, ParseSynthDType(options.dtype));
  const int64_t layers = options.layers == 0 ? kDefaultLayers : options.layers;
  const int64_t context = options.context == 0 ? kDefaultContext : options.context;
  if (layers < 2 || layers > 1024)
    return InvalidArgumentError("--layers " + std::to_string(layers) +
                                " is out of range 2..1024 for preset needle (layer 0 reads positions, the last "
                                "answers)");
  if (context < 16 || context > kMaxContext)
    return InvalidArgumentError("--context " + std::to_string(context) + " is out of range 16.." +
                                std::to_string(kMaxContext) +
                                " for preset needle (beyond it the key dimensions' RoPE turns too far)");
  const Words& w = Vocabulary();
  if (static_cast<int64_t>(w.keys.size()) != kNumKeys || static_cast<int64_t>(w.values.size()) != kNumValues)
    return InternalError("needle: the vocabulary has " + std::to_string(w.keys.size()) + " keys and " +
                         std::to_string(w.values.size()) + " values");
  LAZYLLM_ASSIGN_OR_RETURN(const Scales scales, ComputeScales(context));
  const BuiltVocab& bv = Built();
  SynthFile file{.name = "lazyllm-synth needle (constructed key-value retrieval)",
                 .shape = {.name = "needle",
                           .layers = layers,
                           .dim = kDim,
                           .ffn_dim = kFfnDim,
                           .heads = kHeads,
                           .kv_heads = kHeads,
                           .context = context,
                           .rope_theta = kRopeBase,
                           .tied_output = false,
                           .head_dim = kHeadDim},
                 .file_type = dtype,
                 .vocab = &bv.vocab};
  AddEmbeddingAndHead(file, dtype, bv, scales);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    file.tensors.push_back({b + "attn_norm.weight", kDim, 1, simd::DType::kF32, ConstantRows(kDim, 1.0f)});
    if (l == 0)
      AddPositionalAttention(file, b, dtype, scales);
    else
      AddRetrievalAttention(file, b, dtype, scales, /*answers=*/l == layers - 1);
    // The feed-forward blocks are zero: SwiGLU(0) = 0, so they add nothing.
    file.tensors.push_back({b + "ffn_norm.weight", kDim, 1, simd::DType::kF32, ConstantRows(kDim, 1.0f)});
    file.tensors.push_back({b + "ffn_gate.weight", kDim, kFfnDim, dtype, ConstantRows(kDim, 0.0f)});
    file.tensors.push_back({b + "ffn_up.weight", kDim, kFfnDim, dtype, ConstantRows(kDim, 0.0f)});
    file.tensors.push_back({b + "ffn_down.weight", kFfnDim, kDim, dtype, ConstantRows(kFfnDim, 0.0f)});
  }
  return WriteSynthGguf(file, path);
}

}  // namespace lazyllm::needle
