// What byte-level BPE tokenizers split text with before merging: UTF-8 helpers, PCRE2 patterns,
// the table of pre-tokenizers by tokenizer.ggml.pre, and GPT-2's byte <-> code point mapping.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lazyllm {

// The length of the UTF-8 character that starts with `lead` (1 for a stray or invalid byte,
// which stands alone).
size_t Utf8Length(unsigned char lead);
void AppendUtf8(uint32_t cp, std::string* out);
// Splits s into UTF-8 characters (invalid bytes become one-byte pieces).
std::vector<std::string_view> SplitUtf8(std::string_view s);

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
  void Split(std::string_view text, std::vector<std::string_view>* out) const;

 private:
  static pcre2_match_data* ThreadMatchData();

  pcre2_code* valid_ = nullptr;  // for valid UTF-8
  pcre2_code* any_ = nullptr;    // for text with invalid sequences
};

// A pre-tokenizer: the regexes a tokenizer's tokenizer.json defines (run in sequence: each splits
// the pieces of the previous one), by the names tokenizer.ggml.pre gives it.
struct PreTokenizer {
  std::vector<std::string_view> names;
  std::vector<const char*> patterns;
  bool ignore_merges = false;  // a piece that is itself a token is taken whole (llama3, tekken)
  bool add_bos = false;        // BOS is added when tokenizer.ggml.add_bos_token is absent
};

// The pre-tokenizer named `name`; nullptr when none is, with every known name in *known.
const PreTokenizer* FindPreTokenizer(std::string_view name, std::string* known);

// GPT-2's reversible byte <-> printable code point mapping.
struct ByteMap {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteMap();
};
const ByteMap& Gpt2ByteMap();

}  // namespace lazyllm
