// The internals of a Tokenizer: its vocabulary, special tokens and pre-tokenizer, and the
// encoders and decoder over them (text/tokenizer.cc); built from GGUF metadata by
// text/tokenizer_gguf.cc.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/text/pretokenizer.h"
#include "lazyllm/tokenizer.h"

namespace lazyllm {

// GGUF token types.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

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
  // Tokens matched in the text before the pre-tokenizer, longest first: user-defined tokens
  // always, control tokens when specials are parsed.
  std::vector<int32_t> user_defined, control;

  // One piece of partitioned text: raw text to encode, or a token matched whole.
  struct Fragment {
    std::string_view raw;
    int32_t token = -1;
  };

  int32_t Lookup(std::string_view s) const {
    auto it = token_to_id.find(std::string(s));
    return it == token_to_id.end() ? -1 : it->second;
  }
  int32_t TypeOf(int32_t id) const { return types.empty() ? kNormal : types[id]; }
  // The first byte of a text that no token stands for: a vocabulary without an unknown token
  // may lack a byte (Falcon's has no 0x03), and a text that needs it cannot be encoded.
  struct Unencodable {
    unsigned char byte;
    size_t offset;  // in the text given to the Encode* call
  };
  // SentencePiece: spaces become U+2581 (and one goes first with space_prefix), then the
  // highest-scored merges; characters outside the vocabulary fall back to their bytes.
  std::optional<Unencodable> EncodeSentencePiece(std::string_view text, std::vector<int32_t>* out,
                                                 bool space_prefix) const;
  // Byte-level BPE: the pre-tokenizer's pieces, their bytes mapped to printable characters, then
  // the lowest-ranked merges.
  std::optional<Unencodable> EncodeByteLevel(std::string_view text, std::vector<int32_t>* out) const;
  // Splits the raw fragments at every occurrence of each token of `ids` (longest tokens first,
  // so a token's text is never cut by a shorter one inside it).
  void Partition(const std::vector<int32_t>& ids, std::vector<Fragment>* frags) const;
  // The bytes token `id` stands for ("" for control, unknown and unused tokens).
  std::string Bytes(int32_t id) const;
};

}  // namespace lazyllm
