// Building a Tokenizer from a GGUF file's tokenizer.ggml.* metadata, phase by phase.
#include "core/text/tokenizer_gguf.h"

#include <algorithm>
#include <cstdio>

#include "core/base/status_macros.h"
#include "core/text/tokenizer_impl.h"

namespace lazyllm {
namespace {

// tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE).
Status ReadKind(const gguf::File& f, Tokenizer::Impl* t) {
  LAZYLLM_ASSIGN_OR_RETURN(std::string_view model, f.GetString("tokenizer.ggml.model"));
  t->model_name = std::string(model);
  if (model == "llama") {
    t->kind = Tokenizer::Kind::kSentencePiece;
  } else if (model == "gpt2") {
    t->kind = Tokenizer::Kind::kByteLevelBpe;
  } else {
    return UnimplementedError(f.path() + ": unsupported tokenizer.ggml.model '" + t->model_name +
                              "' (supported: llama, gpt2)");
  }
  return OkStatus();
}

// The tokens (at most 2^24), their scores and types where given, and the <0xNN> byte tokens.
Status ReadVocabulary(const gguf::File& f, Tokenizer::Impl* t) {
  const std::string& path = f.path();
  LAZYLLM_ASSIGN_OR_RETURN(const std::vector<std::string_view>* toks, f.GetStringArray("tokenizer.ggml.tokens"));
  if (toks->empty()) return InvalidArgumentError(path + ": tokenizer.ggml.tokens is empty");
  if (toks->size() > (1u << 24))
    return InvalidArgumentError(path + ": tokenizer.ggml.tokens has " + std::to_string(toks->size()) +
                                " entries, more than 2^24");
  const size_t n = toks->size();
  t->tokens.assign(toks->begin(), toks->end());
  t->token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) t->token_to_id.emplace(t->tokens[i], static_cast<int32_t>(i));
  if (f.Find("tokenizer.ggml.scores")) {
    LAZYLLM_ASSIGN_OR_RETURN(t->scores, f.GetFloatArray("tokenizer.ggml.scores"));
    if (t->scores.size() != n)
      return InvalidArgumentError(path + ": tokenizer.ggml.scores has " + std::to_string(t->scores.size()) +
                                  " entries for " + std::to_string(n) + " tokens");
  }
  if (f.Find("tokenizer.ggml.token_type")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::vector<int64_t> types, f.GetIntArray("tokenizer.ggml.token_type"));
    if (types.size() != n)
      return InvalidArgumentError(path + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                                  " entries for " + std::to_string(n) + " tokens");
    t->types.assign(types.begin(), types.end());
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    t->byte_tokens[b] = t->Lookup(name);
  }
  return OkStatus();
}

// The special tokens' ids (each inside the vocabulary, or -1), and whether BOS, EOS and
// SentencePiece's space prefix are added; SentencePiece's defaults are llama's.
Status ReadSpecialTokens(const gguf::File& f, Tokenizer::Impl* t) {
  const bool spm = t->kind == Tokenizer::Kind::kSentencePiece;
  const auto n = static_cast<int64_t>(t->tokens.size());
  auto token_id = [&](const char* key, int64_t def, int32_t* out) -> Status {
    LAZYLLM_ASSIGN_OR_RETURN(int64_t id, f.GetIntOr(key, def));
    if (id >= n || id < -1)
      return InvalidArgumentError(f.path() + ": " + key + " = " + std::to_string(id) +
                                  " is outside the vocabulary of " + std::to_string(n));
    *out = static_cast<int32_t>(id);
    return OkStatus();
  };
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.bos_token_id", spm ? 1 : -1, &t->bos));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eos_token_id", spm ? 2 : -1, &t->eos));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eot_token_id", -1, &t->eot));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.eom_token_id", -1, &t->eom));
  LAZYLLM_RETURN_IF_ERROR(token_id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1, &t->unk));
  LAZYLLM_ASSIGN_OR_RETURN(t->add_bos, f.GetBoolOr("tokenizer.ggml.add_bos_token", spm));
  LAZYLLM_ASSIGN_OR_RETURN(t->add_eos, f.GetBoolOr("tokenizer.ggml.add_eos_token", false));
  LAZYLLM_ASSIGN_OR_RETURN(t->add_space_prefix, f.GetBoolOr("tokenizer.ggml.add_space_prefix", spm));
  if (t->add_bos && t->bos < 0) t->add_bos = false;
  if (t->add_eos && t->eos < 0) t->add_eos = false;
  return OkStatus();
}

// tokenizer.ggml.pre, and for byte-level BPE its merges and pre-tokenizer (whose regexes are
// compiled now; its BOS default applies when the file does not say).
Status ReadMergesAndPreTokenizer(const gguf::File& f, Tokenizer::Impl* t) {
  if (f.Find("tokenizer.ggml.pre")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view pre, f.GetString("tokenizer.ggml.pre"));
    t->pre = std::string(pre);
  }
  if (t->kind == Tokenizer::Kind::kSentencePiece) return OkStatus();
  LAZYLLM_ASSIGN_OR_RETURN(const std::vector<std::string_view>* merges, f.GetStringArray("tokenizer.ggml.merges"));
  t->merge_rank.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) t->merge_rank.emplace(std::string((*merges)[i]), static_cast<int32_t>(i));
  std::string known;
  const PreTokenizer* found = FindPreTokenizer(t->pre, &known);
  if (found == nullptr)
    return UnimplementedError(f.path() + ": unsupported tokenizer.ggml.pre '" + t->pre + "' (supported: " + known +
                              ")");
  t->ignore_merges = found->ignore_merges;
  if (!f.Find("tokenizer.ggml.add_bos_token")) t->add_bos = found->add_bos && t->bos >= 0;
  for (const std::string p : found->patterns) {
    t->pre_regexes.push_back(std::make_unique<Regex>(p));
    if (!t->pre_regexes.back()->ok()) return InternalError("pre-tokenizer regex failed to compile: " + p);
  }
  return OkStatus();
}

// The tokens matched in text before the pre-tokenizer (user-defined and control ones, longest
// first), and the end-of-generation set: eos, eot, eom, and control tokens spelled as the usual
// end-of-turn marks.
void IndexSpecialTokens(Tokenizer::Impl* t) {
  for (int32_t id = 0; id < static_cast<int32_t>(t->tokens.size()); ++id) {
    if (t->TypeOf(id) == kUserDefined) t->user_defined.push_back(id);
    if (t->TypeOf(id) == kControl) t->control.push_back(id);
  }
  static constexpr std::string_view kEndOfTurn[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
      "<|eom_id|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>", "<|end_of_text|>"};
  for (int32_t id : {t->eos, t->eot, t->eom})
    if (id >= 0) t->end_of_generation.push_back(id);
  for (int32_t id : t->control)
    for (std::string_view mark : kEndOfTurn)
      if (t->tokens[id] == mark) t->end_of_generation.push_back(id);
  std::sort(t->end_of_generation.begin(), t->end_of_generation.end());
  for (auto* ids : {&t->user_defined, &t->control})
    std::stable_sort(ids->begin(), ids->end(),
                     [&](int32_t a, int32_t b) { return t->tokens[a].size() > t->tokens[b].size(); });
}

}  // namespace

StatusOr<Tokenizer> internal::TokenizerFromGguf(const gguf::File& f) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  LAZYLLM_RETURN_IF_ERROR(ReadKind(f, impl.get()));
  LAZYLLM_RETURN_IF_ERROR(ReadVocabulary(f, impl.get()));
  LAZYLLM_RETURN_IF_ERROR(ReadSpecialTokens(f, impl.get()));
  LAZYLLM_RETURN_IF_ERROR(ReadMergesAndPreTokenizer(f, impl.get()));
  IndexSpecialTokens(impl.get());
  return TokenizerAccess::Make(std::move(impl));
}

}  // namespace lazyllm
