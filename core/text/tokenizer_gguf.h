// Building a Tokenizer from a GGUF file's tokenizer.ggml.* metadata (internal: the public API
// gets tokenizers from Model::Load).
#pragma once

#include "core/io/gguf.h"
#include "lazyllm/tokenizer.h"

namespace lazyllm::internal {

// Reads tokenizer.ggml.* metadata. Errors name the key and the problem.
StatusOr<Tokenizer> TokenizerFromGguf(const gguf::File& file);

struct TokenizerAccess {
  static Tokenizer Make(std::shared_ptr<const Tokenizer::Impl> impl) { return Tokenizer(std::move(impl)); }
};

}  // namespace lazyllm::internal
