// The needle model: a Llama-architecture GGUF whose weights are set by hand, not trained, so that
// it retrieves exactly. Given a text that states facts "the otter is teal ." anywhere in filler
// and ends with a question "the otter is", it answers "teal", at any depth of any context up to
// its context length. It gives LazyLLM's schedules a long-context task with a known answer that
// needs no download; docs/needle.md explains the construction and what it can and cannot show.
//
//   layer 0      two positional heads: each token reads the key (if any) one and two tokens back
//   layers 1..   two retrieval heads each: the last token, if a key stands just before it,
//                attends to the token two after that key's statement, i.e. to its value
//   last layer   the retrieval head also copies the value into the residual; the LM head reads it
//
// The tokenizer is a word-level SentencePiece vocabulary: every word of Vocabulary() is one token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lazyllm/status.h"
#include "tools/synth/writer.h"

namespace lazyllm::needle {

// The words of the model's vocabulary, each one token (after SentencePiece's space).
struct Words {
  std::vector<std::string> keys;    // 48 animals: what facts are about and questions ask
  std::vector<std::string> values;  // 64 colours and materials: the answers
  // Filler, never a key or a value: sentences of "the", "a", adjectives, nouns, verbs,
  // prepositions, "and", "then" and ".". Facts are "the KEY is VALUE ."; questions "the KEY is".
  std::vector<std::string> adjectives, nouns, verbs, prepositions;
};
const Words& Vocabulary();

// The shape. Two heads of 64 dimensions (the query width is half the residual's); RoPE with a base
// of 1e22, so that dimension pairs 0-7 turn fast enough to address relative positions and pairs
// 8-31 turn by at most 0.1 rad over 32K positions and carry the keys' identities.
inline constexpr int64_t kDefaultLayers = 16;
inline constexpr int64_t kDefaultContext = 32768;
inline constexpr int64_t kMaxContext = 65536;
inline constexpr int64_t kDim = 256, kHeads = 2, kHeadDim = 64, kFfnDim = 256;
inline constexpr float kRopeBase = 1e22f;

// The attention-logit margins the construction guarantees (computed, and checked, for the
// context the file is written for): the positional heads' previous-token logit exceeds any other
// position's by kPositionalMargin, and a retrieval head's logit on the matching value exceeds any
// other's by at least kRetrievalMargin less the RoPE crosstalk of the key dimensions.
inline constexpr double kPositionalMargin = 30.0;
inline constexpr double kRetrievalLogit = 32.0;
inline constexpr double kAnswerLogit = 24.0;  // the answer's logit; every other token's is 0

struct Options {
  int64_t layers = 0;   // 0: kDefaultLayers; at least 2
  int64_t context = 0;  // 0: kDefaultContext; at most kMaxContext
  // Any dtype synthetic weights take (ParseSynthDType); the construction's rows have one or two
  // nonzero values, which every block format stores exactly or nearly so.
  std::string dtype = "f32";
};

// Writes the model.
Status Synthesize(const Options& options, const std::string& path);

}  // namespace lazyllm::needle
