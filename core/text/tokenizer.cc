// SentencePiece-style and byte-level BPE tokenizers over a GGUF vocabulary.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lazyllm/tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/base/status_macros.h"
#include "core/io/gguf.h"
#include "core/text/tokenizer_gguf.h"

namespace lazyllm {
namespace {

// GGUF token types.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 1;  // a stray continuation or invalid byte stands alone
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Splits s into UTF-8 characters (invalid bytes become one-byte pieces).
std::vector<std::string_view> SplitUtf8(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = std::min(Utf8Length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// A compiled PCRE2 pattern (Unicode properties on) that splits text into pieces. Valid UTF-8
// is checked once per text (by the first match) and then matched without re-checking, so a split
// is linear in the text; text with invalid sequences goes through a second compilation that
// matches around them (PCRE2_MATCH_INVALID_UTF re-scans the rest of the subject on every call,
// which is quadratic, so it is kept for that case only).
class Regex {
 public:
  explicit Regex(const std::string& pattern) {
    int err;
    PCRE2_SIZE off;
    const auto* p = reinterpret_cast<PCRE2_SPTR>(pattern.c_str());
    valid_ = pcre2_compile(p, pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    any_ = pcre2_compile(p, pattern.size(), PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
  }
  ~Regex() {
    pcre2_code_free(valid_);
    pcre2_code_free(any_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  bool ok() const { return valid_ != nullptr && any_ != nullptr; }

  // Matches and the gaps between them, in order, covering all of text.
  void Split(std::string_view text, std::vector<std::string_view>* out) const {
    pcre2_match_data* md = ThreadMatchData();
    if (md == nullptr) {  // out of memory: the text as one piece
      if (!text.empty()) out->push_back(text);
      return;
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const pcre2_code* code = valid_;
    uint32_t options = 0;  // the first match validates the whole text
    size_t start = 0, gap = 0;
    while (start < text.size()) {
      int rc = pcre2_match(code, subject, text.size(), start, options, md, nullptr);
      if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) {  // invalid UTF-8 somewhere
        code = any_;
        options = 0;
        rc = pcre2_match(code, subject, text.size(), start, options, md, nullptr);
      } else if (code == valid_) {
        options = PCRE2_NO_UTF_CHECK;  // validated
      }
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[0] > gap) out->push_back(text.substr(gap, ov[0] - gap));
      if (ov[1] > ov[0]) out->push_back(text.substr(ov[0], ov[1] - ov[0]));
      gap = ov[1];
      start = ov[1] > ov[0] ? ov[1] : ov[0] + Utf8Length(static_cast<unsigned char>(text[ov[0]]));
    }
    if (gap < text.size()) out->push_back(text.substr(gap));
  }

 private:
  // One match data block per thread, reused by every pattern: PCRE2 keeps its backtracking
  // frames there between matches instead of allocating them for every call. The patterns have
  // no capturing groups; only the whole match (pair 0) is read.
  static pcre2_match_data* ThreadMatchData() {
    struct Holder {
      pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
      ~Holder() { pcre2_match_data_free(md); }
    };
    thread_local Holder holder;
    return holder.md;
  }

  pcre2_code* valid_ = nullptr;  // for valid UTF-8
  pcre2_code* any_ = nullptr;    // for text with invalid sequences
};

constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Pre-tokenizers by tokenizer.ggml.pre: the regexes each tokenizer's tokenizer.json defines (run
// in sequence: each splits the pieces of the previous one), with PCRE2 running the original
// patterns (case-insensitive groups included).
struct PreTokenizer {
  std::vector<std::string_view> names;
  std::vector<const char*> patterns;
  bool ignore_merges = false;  // a piece that is itself a token is taken whole (llama3, tekken)
  bool add_bos = false;        // BOS is added when tokenizer.ggml.add_bos_token is absent
};

constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekkenPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// OpenAI's o200k split, used by Phi-4-mini ("gpt-4o").
constexpr const char* kGpt4oPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek LLM: newlines, Latin/Greek/Cyrillic/... letter runs (the explicit ranges of its
// tokenizer.json), ASCII and full-width punctuation runs, trailing spaces, CJK runs, digit runs.
// clang-format does not settle on where to break these literals.
// clang-format off
constexpr const char* kDeepseekLlmPatterns[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-"
    "Ὅὐ-"
    "ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-"
    "Ｚａ-"
    "ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
};
// clang-format on

const std::vector<PreTokenizer>& PreTokenizers() {
  static const std::vector<PreTokenizer> table = {
      {{"default", "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe"}, {kGpt2Pattern}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva"}, {R"(\p{N})", kGpt2Pattern}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3Pattern}, true, true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {kLlama3Pattern}},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2"}, {kQwen2Pattern}},
      {{"tekken"}, {kTekkenPattern}, true, true},
      {{"gpt-4o"}, {kGpt4oPattern}},
      {{"deepseek-llm"}, {std::begin(kDeepseekLlmPatterns), std::end(kDeepseekLlmPatterns)}},
      {{"deepseek-coder"},
       {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", R"([\x{4e00}-\x{9fa5}\x{0800}-\x{4e00}\x{ac00}-\x{d7ff}]+)",
        R"(\p{N})"}},
      {{"falcon"},
       {R"([\p{P}\$\+<=>\^~\|`]+)", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
        "[0-9][0-9][0-9]"}},
  };
  return table;
}

// GPT-2's reversible byte <-> printable code point mapping.
struct ByteMap {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteMap() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      AppendUtf8(cp, &byte_to_utf8[b]);
      cp_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& Gpt2ByteMap() {
  static const ByteMap m;
  return m;
}

// One symbol of a word being merged: a byte range of the word, linked to its neighbours.
struct Symbol {
  int prev, next;
  size_t start, len;
};

// A candidate merge of symbols left and right (adjacent), ordered by priority then position.
struct Bigram {
  double priority;  // higher merges first
  int left, right;
  size_t len;  // combined length when queued: stale entries are detected by it
  bool operator<(const Bigram& o) const {
    if (priority != o.priority) return priority < o.priority;
    return left > o.left;  // ties: the leftmost pair first
  }
};

// Greedy pairwise merging shared by both tokenizers: symbols start as the UTF-8 characters of
// `word`; `priority(text)` returns the merge priority of a candidate (nullopt: not mergeable).
template <typename PriorityFn>
std::vector<std::string_view> MergeSymbols(std::string_view word, PriorityFn&& priority) {
  std::vector<Symbol> syms;
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::min(Utf8Length(static_cast<unsigned char>(word[i])), word.size() - i);
    syms.push_back({static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1, i, n});
    i += n;
  }
  if (!syms.empty()) syms.back().next = -1;
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const size_t len = syms[l].len + syms[r].len;
    double p;
    if (priority(word.substr(syms[l].start, syms[l].len), word.substr(syms[r].start, syms[r].len),
                 word.substr(syms[l].start, len), &p))
      queue.push({p, l, r, len});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  std::vector<std::string_view> out;
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) out.push_back(word.substr(syms[i].start, syms[i].len));
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  Kind kind = Kind::kSentencePiece;
  std::string model_name, pre = "default";
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::unordered_map<std::string, int32_t> token_to_id;
  std::unordered_map<std::string, int32_t> merge_rank;  // "left right" -> rank (byte-level BPE)
  std::array<int32_t, 256> byte_tokens{};               // <0xNN> ids, -1 when absent
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  std::vector<int32_t> end_of_generation;  // sorted: eos, eot, eom and the end-of-turn control tokens
  bool add_bos = false, add_eos = false, add_space_prefix = true, ignore_merges = false;
  std::vector<std::unique_ptr<Regex>> pre_regexes;

  int32_t Lookup(std::string_view s) const {
    auto it = token_to_id.find(std::string(s));
    return it == token_to_id.end() ? -1 : it->second;
  }

  void EncodeSentencePiece(std::string_view text, std::vector<int32_t>* out, bool space_prefix) const {
    std::string norm;
    if (space_prefix) norm = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space
    for (char ch : text) {
      if (ch == ' ')
        norm += "\xe2\x96\x81";
      else
        norm.push_back(ch);
    }
    auto priority = [&](std::string_view, std::string_view, std::string_view merged, double* p) {
      const int32_t id = Lookup(merged);
      if (id < 0) return false;
      *p = scores.empty() ? 0.0 : scores[id];
      return true;
    };
    for (std::string_view sym : MergeSymbols(norm, priority)) {
      const int32_t id = Lookup(sym);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      // Byte fallback: a character outside the vocabulary becomes its UTF-8 bytes.
      for (unsigned char b : sym) out->push_back(byte_tokens[b] >= 0 ? byte_tokens[b] : unk);
    }
  }

  void EncodeByteLevel(std::string_view text, std::vector<int32_t>* out) const {
    std::vector<std::string_view> pieces{text};
    for (const auto& re : pre_regexes) {
      std::vector<std::string_view> next;
      for (std::string_view p : pieces) re->Split(p, &next);
      pieces.swap(next);
    }
    const ByteMap& bm = Gpt2ByteMap();
    auto priority = [&](std::string_view a, std::string_view b, std::string_view, double* p) {
      std::string key;
      key.reserve(a.size() + b.size() + 1);
      key.append(a).push_back(' ');
      key.append(b);
      auto it = merge_rank.find(key);
      if (it == merge_rank.end()) return false;
      *p = -static_cast<double>(it->second);
      return true;
    };
    for (std::string_view piece : pieces) {
      std::string word;
      for (unsigned char b : piece) word += bm.byte_to_utf8[b];
      if (ignore_merges) {
        if (const int32_t id = Lookup(word); id >= 0) {
          out->push_back(id);
          continue;
        }
      }
      for (std::string_view sym : MergeSymbols(word, priority)) {
        const int32_t id = Lookup(sym);
        if (id >= 0) {
          out->push_back(id);
        } else {  // not in the vocabulary: fall back to one token per character
          for (std::string_view ch : SplitUtf8(sym)) {
            const int32_t cid = Lookup(ch);
            out->push_back(cid >= 0 ? cid : unk);
          }
        }
      }
    }
  }

  // Tokens matched in the text before the pre-tokenizer, longest first: user-defined tokens
  // always, control tokens when specials are parsed.
  std::vector<int32_t> user_defined, control;

  // One piece of partitioned text: raw text to encode, or a token matched whole.
  struct Fragment {
    std::string_view raw;
    int32_t token = -1;
  };

  // Splits the raw fragments at every occurrence of each token of `ids` (longest tokens first,
  // so a token's text is never cut by a shorter one inside it).
  void Partition(const std::vector<int32_t>& ids, std::vector<Fragment>* frags) const {
    for (int32_t id : ids) {
      const std::string& t = tokens[id];
      if (t.empty()) continue;
      std::vector<Fragment> next;
      for (const Fragment& f : *frags) {
        if (f.token >= 0) {
          next.push_back(f);
          continue;
        }
        size_t start = 0;
        for (size_t at; (at = f.raw.find(t, start)) != std::string_view::npos; start = at + t.size()) {
          if (at > start) next.push_back({f.raw.substr(start, at - start)});
          next.push_back({{}, id});
        }
        if (start < f.raw.size()) next.push_back({f.raw.substr(start)});
      }
      frags->swap(next);
    }
  }

  std::string Bytes(int32_t id) const {
    if (id < 0 || id >= static_cast<int32_t>(tokens.size())) return "";
    const int32_t type = types.empty() ? kNormal : types[id];
    if (type == kControl || type == kUnknown || type == kUnused) return "";
    const std::string& t = tokens[id];
    if (kind == Kind::kSentencePiece) {
      if (type == kByte) {
        for (int b = 0; b < 256; ++b)
          if (byte_tokens[b] == id) return std::string(1, static_cast<char>(b));
      }
      std::string s;
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, 3, "\xe2\x96\x81") == 0) {
          s.push_back(' ');
          i += 3;
        } else {
          s.push_back(t[i++]);
        }
      }
      return s;
    }
    if (type == kUserDefined) return t;
    std::string s;
    const ByteMap& bm = Gpt2ByteMap();
    for (size_t i = 0; i < t.size();) {
      const auto lead = static_cast<unsigned char>(t[i]);
      const size_t n = std::min(Utf8Length(lead), t.size() - i);
      uint32_t cp = n == 1 ? lead : lead & (0x7f >> n);
      for (size_t j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(t[i + j]) & 0x3f);
      auto it = bm.cp_to_byte.find(cp);
      if (it != bm.cp_to_byte.end())
        s.push_back(static_cast<char>(it->second));
      else
        s.append(t, i, n);
      i += n;
    }
    return s;
  }
};

StatusOr<Tokenizer> internal::TokenizerFromGguf(const gguf::File& f) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  const std::string& path = f.path();
  LAZYLLM_ASSIGN_OR_RETURN(std::string_view model, f.GetString("tokenizer.ggml.model"));
  impl->model_name = std::string(model);
  if (model == "llama") {
    impl->kind = Tokenizer::Kind::kSentencePiece;
  } else if (model == "gpt2") {
    impl->kind = Tokenizer::Kind::kByteLevelBpe;
  } else {
    return UnimplementedError(path + ": unsupported tokenizer.ggml.model '" + impl->model_name +
                              "' (supported: llama, gpt2)");
  }
  LAZYLLM_ASSIGN_OR_RETURN(const std::vector<std::string_view>* toks, f.GetStringArray("tokenizer.ggml.tokens"));
  if (toks->empty()) return InvalidArgumentError(path + ": tokenizer.ggml.tokens is empty");
  if (toks->size() > (1u << 24))
    return InvalidArgumentError(path + ": tokenizer.ggml.tokens has " + std::to_string(toks->size()) +
                                " entries, more than 2^24");
  const size_t n = toks->size();
  impl->tokens.assign(toks->begin(), toks->end());
  impl->token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) impl->token_to_id.emplace(impl->tokens[i], static_cast<int32_t>(i));
  if (f.Find("tokenizer.ggml.scores")) {
    LAZYLLM_ASSIGN_OR_RETURN(impl->scores, f.GetFloatArray("tokenizer.ggml.scores"));
    if (impl->scores.size() != n)
      return InvalidArgumentError(path + ": tokenizer.ggml.scores has " + std::to_string(impl->scores.size()) +
                                  " entries for " + std::to_string(n) + " tokens");
  }
  if (f.Find("tokenizer.ggml.token_type")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::vector<int64_t> types, f.GetIntArray("tokenizer.ggml.token_type"));
    if (types.size() != n)
      return InvalidArgumentError(path + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                                  " entries for " + std::to_string(n) + " tokens");
    impl->types.assign(types.begin(), types.end());
  }
  impl->byte_tokens.fill(-1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    impl->byte_tokens[b] = impl->Lookup(name);
  }

  const bool spm = impl->kind == Tokenizer::Kind::kSentencePiece;
  auto token_id = [&](const char* key, int64_t def, int32_t* out) -> Status {
    LAZYLLM_ASSIGN_OR_RETURN(int64_t id, f.GetIntOr(key, def));
    if (id >= static_cast<int64_t>(n) || id < -1)
      return InvalidArgumentError(path + ": " + key + " = " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(n));
    *out = static_cast<int32_t>(id);
    return OkStatus();
  };
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.bos_token_id", spm ? 1 : -1, &impl->bos));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eos_token_id", spm ? 2 : -1, &impl->eos));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eot_token_id", -1, &impl->eot));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eom_token_id", -1, &impl->eom));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1, &impl->unk));
  LAZYLLM_ASSIGN_OR_RETURN(impl->add_bos, f.GetBoolOr("tokenizer.ggml.add_bos_token", spm));
  LAZYLLM_ASSIGN_OR_RETURN(impl->add_eos, f.GetBoolOr("tokenizer.ggml.add_eos_token", false));
  LAZYLLM_ASSIGN_OR_RETURN(impl->add_space_prefix, f.GetBoolOr("tokenizer.ggml.add_space_prefix", spm));
  if (impl->add_bos && impl->bos < 0) impl->add_bos = false;
  if (impl->add_eos && impl->eos < 0) impl->add_eos = false;

  if (!spm) {
    LAZYLLM_ASSIGN_OR_RETURN(const std::vector<std::string_view>* merges, f.GetStringArray("tokenizer.ggml.merges"));
    impl->merge_rank.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i)
      impl->merge_rank.emplace(std::string((*merges)[i]), static_cast<int32_t>(i));
    if (f.Find("tokenizer.ggml.pre")) {
      LAZYLLM_ASSIGN_OR_RETURN(std::string_view pre, f.GetString("tokenizer.ggml.pre"));
      impl->pre = std::string(pre);
    }
    const std::string& pre = impl->pre;
    const PreTokenizer* found = nullptr;
    std::string names;
    for (const PreTokenizer& t : PreTokenizers()) {
      for (std::string_view n : t.names) {
        if (n == pre) found = &t;
        names += (names.empty() ? "" : ", ") + std::string(n);
      }
    }
    if (found == nullptr)
      return UnimplementedError(path + ": unsupported tokenizer.ggml.pre '" + pre + "' (supported: " + names + ")");
    const std::vector<std::string> patterns(found->patterns.begin(), found->patterns.end());
    impl->ignore_merges = found->ignore_merges;
    if (!f.Find("tokenizer.ggml.add_bos_token")) impl->add_bos = found->add_bos && impl->bos >= 0;
    for (const std::string& p : patterns) {
      impl->pre_regexes.push_back(std::make_unique<Regex>(p));
      if (!impl->pre_regexes.back()->ok()) return InternalError("pre-tokenizer regex failed to compile: " + p);
    }
  } else if (f.Find("tokenizer.ggml.pre")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view pre, f.GetString("tokenizer.ggml.pre"));
    impl->pre = std::string(pre);
  }
  for (int32_t id = 0; id < static_cast<int32_t>(impl->tokens.size()); ++id) {
    const int32_t type = impl->types.empty() ? kNormal : impl->types[id];
    if (type == kUserDefined) impl->user_defined.push_back(id);
    if (type == kControl) impl->control.push_back(id);
  }
  // End of generation: eos, eot, eom, and control tokens spelled as the usual end-of-turn marks.
  static constexpr std::string_view kEndOfTurn[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
      "<|eom_id|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>", "<|end_of_text|>"};
  for (int32_t id : {impl->eos, impl->eot, impl->eom})
    if (id >= 0) impl->end_of_generation.push_back(id);
  for (int32_t id : impl->control)
    for (std::string_view t : kEndOfTurn)
      if (impl->tokens[id] == t) impl->end_of_generation.push_back(id);
  std::sort(impl->end_of_generation.begin(), impl->end_of_generation.end());
  for (auto* ids : {&impl->user_defined, &impl->control})
    std::stable_sort(ids->begin(), ids->end(),
                     [&](int32_t a, int32_t b) { return impl->tokens[a].size() > impl->tokens[b].size(); });
  // Every byte must be encodable: as its byte token (SentencePiece <0xNN>, byte-level BPE's
  // mapped character) or, failing that, as the unknown token. Otherwise Encode would have no id
  // to give some input.
  if (impl->unk < 0) {
    const ByteMap& bm = Gpt2ByteMap();
    for (int b = 0; b < 256; ++b) {
      const bool covered = spm ? impl->byte_tokens[b] >= 0 : impl->Lookup(bm.byte_to_utf8[b]) >= 0;
      if (covered) continue;
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      return InvalidArgumentError(path + ": the vocabulary has no unknown token and no token for byte " + hex +
                                  ", so some text could not be encoded");
    }
  }
  return internal::TokenizerAccess::Make(std::move(impl));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && impl_->add_bos) out.push_back(impl_->bos);
  std::vector<Impl::Fragment> frags;
  if (!text.empty()) frags.push_back({text});
  if (parse_special) impl_->Partition(impl_->control, &frags);
  impl_->Partition(impl_->user_defined, &frags);
  // SentencePiece puts its space prefix before the text, and again after each matched token.
  bool after_token = true;
  for (const Impl::Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_token = true;
      continue;
    }
    if (impl_->kind == Kind::kSentencePiece)
      impl_->EncodeSentencePiece(f.raw, &out, impl_->add_space_prefix && after_token);
    else
      impl_->EncodeByteLevel(f.raw, &out);
    after_token = false;
  }
  if (add_special && impl_->add_eos) out.push_back(impl_->eos);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string s;
  bool first = true;
  for (int32_t id : ids) {
    std::string piece = impl_->Bytes(id);
    if (piece.empty()) continue;
    if (first && impl_->kind == Kind::kSentencePiece && impl_->add_space_prefix && piece[0] == ' ') piece.erase(0, 1);
    first = false;
    s += piece;
  }
  return s;
}

std::string Tokenizer::TokenBytes(int32_t id) const { return impl_->Bytes(id); }

namespace {

// Bytes at the end of `s` that start a UTF-8 character the string does not finish (0 when the
// last character is complete, or when the tail is not UTF-8 at all, which is passed on as is).
size_t IncompleteUtf8Tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

std::string StreamDecoder::Next(int32_t id) {
  std::string piece = tokenizer_.impl_->Bytes(id);
  if (piece.empty()) return "";
  const Tokenizer::Impl& t = *tokenizer_.impl_;
  if (first_ && t.kind == Tokenizer::Kind::kSentencePiece && t.add_space_prefix && piece[0] == ' ') piece.erase(0, 1);
  first_ = false;
  pending_ += piece;
  const size_t hold = IncompleteUtf8Tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::Flush() { return std::exchange(pending_, std::string()); }
Tokenizer::Kind Tokenizer::kind() const { return impl_->kind; }
std::string_view Tokenizer::kind_name() const { return impl_->model_name; }
std::string_view Tokenizer::pre_tokenizer() const { return impl_->pre; }
int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(impl_->end_of_generation.begin(), impl_->end_of_generation.end(), id);
}
std::string_view Tokenizer::TokenText(int32_t id) const {
  return id >= 0 && id < vocab_size() ? std::string_view(impl_->tokens[id]) : std::string_view();
}

}  // namespace lazyllm
