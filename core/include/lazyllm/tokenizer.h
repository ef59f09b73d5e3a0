// Tokenizer built from GGUF metadata: SentencePiece-style BPE ("llama") and byte-level BPE ("gpt2").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm {

namespace internal {
struct TokenizerAccess;
}

// Immutable after construction; every method is safe to call from several threads at once.
class LAZYLLM_API Tokenizer {
 public:
  enum class Kind { kSentencePiece, kByteLevelBpe };

  // Token ids of UTF-8 `text`. With add_special, BOS is prepended when the vocabulary asks for
  // it (tokenizer.ggml.add_bos_token) and EOS appended when it asks for that. User-defined
  // tokens (token_type 4) are always matched in the text as whole tokens; control tokens
  // ("<s>", "<|im_start|>") only with parse_special, otherwise "<s>" is the characters '<', 's', '>'.
  // A vocabulary may lack a byte and have no unknown token (Falcon's has no 0x03): a text that
  // needs such a byte is refused (InvalidArgument naming the byte and its offset in the text).
  StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special, bool parse_special = false) const;
  // The inverse of Encode: control tokens (BOS, EOS, ...) are skipped, and the space that
  // SentencePiece-style encoding put in front of the text is removed again.
  std::string Decode(std::span<const int32_t> ids) const;
  // The raw bytes one token stands for, for streaming output (control tokens give "").
  // Bytes of a multi-byte UTF-8 character may be split across byte-fallback tokens.
  std::string TokenBytes(int32_t id) const;

  Kind kind() const;
  std::string_view kind_name() const;      // "llama" or "gpt2", as in tokenizer.ggml.model
  std::string_view pre_tokenizer() const;  // tokenizer.ggml.pre ("default" when absent)
  int32_t vocab_size() const;
  int32_t bos_id() const;  // -1 when the vocabulary has none
  int32_t eos_id() const;  // -1 when the vocabulary has none
  bool add_bos() const;
  // eos, eot (tokenizer.ggml.eot_token_id), eom, and control tokens spelled as the usual
  // end-of-turn marks (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>, <|endoftext|>, ...):
  // generation stops at any of them.
  bool IsEndOfGeneration(int32_t id) const;
  // The vocabulary entry of `id` as stored (e.g. "▁Once", "<0x0A>").
  std::string_view TokenText(int32_t id) const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::TokenizerAccess;
  friend class StreamDecoder;
  LAZYLLM_LOCAL explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Text of generated tokens as they come, for streaming: the pieces of Next (then Flush) add up
// to exactly Decode of all the ids, and each piece ends on a whole UTF-8 character, so a
// character whose bytes span several tokens (byte-fallback tokens, byte-level BPE) is held back
// until it is complete. As in Decode, control tokens give nothing and SentencePiece's leading
// space of the first piece is removed. One decoder per stream; it keeps its Tokenizer alive.
class LAZYLLM_API StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer);
  // The text that became complete with token `id` (often the token's own text; "" while a
  // character is incomplete).
  std::string Next(int32_t id);
  // Whatever is held back (the bytes of an incomplete character at the end of the stream).
  std::string Flush();

 private:
  Tokenizer tokenizer_;
  std::string pending_;  // bytes not yet returned
  bool first_ = true;    // no non-empty piece yet
};

}  // namespace lazyllm
