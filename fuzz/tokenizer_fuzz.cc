// Fuzz target: tokenizer encode/decode of arbitrary bytes, for every tokenizer family: the
// SentencePiece vocabularies (LLaMA's, the sample model's) and GPT-2's byte-level vocabulary
// under each pre-tokenizer lazyllm knows, plus DeepSeek's and StarCoder's own files.
// Byte 0 picks the tokenizer, byte 1 the flags; the rest is the text. Ids must lie in the
// vocabulary, and GPT-2's byte-level BPE must decode back to the exact input bytes. (Not every
// byte-level vocabulary can: DeepSeek's spells some bytes' symbols only as user-defined tokens,
// which decode as their UTF-8 text, as in llama.cpp.)
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/gguf.h"
#include "lazyllm/lazyllm.h"

namespace {

#ifndef LAZYLLM_SHARED_DIR
#define LAZYLLM_SHARED_DIR LAZYLLM_SOURCE_DIR "/../shared"
#endif

// One representative name per pre-tokenizer of core/text/tokenizer.cc's table.
constexpr size_t kFirstGpt2 = 4;  // Vocabs()[kFirstGpt2...] are GPT-2's vocabulary
constexpr const char* kPreTokenizers[] = {"default", "starcoder", "llama3",       "dbrx",           "qwen2",
                                          "tekken",  "gpt-4o",    "deepseek-llm", "deepseek-coder", "falcon"};

lazyllm::Model LoadVocab(const std::string& path) {
  lazyllm::LoadOptions opts;
  opts.vocab_only = true;
  auto m = lazyllm::Model::Load(path, opts);
  if (!m.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", m.status().message().c_str());
    std::abort();
  }
  return *m;
}

const std::vector<lazyllm::Model>& Vocabs() {
  static const std::vector<lazyllm::Model>* v = [] {
    const std::string dir = std::string(LAZYLLM_SHARED_DIR) + "/reference/tokenizers/";
    auto* out = new std::vector<lazyllm::Model>;
    out->push_back(LoadVocab(dir + "ggml-vocab-llama-spm.gguf"));
    out->push_back(LoadVocab(LAZYLLM_SOURCE_DIR "/models/stories260K/stories260K-f32-gguf-v3.gguf"));
    out->push_back(LoadVocab(dir + "ggml-vocab-deepseek-llm.gguf"));
    out->push_back(LoadVocab(dir + "ggml-vocab-starcoder.gguf"));
    // GPT-2's vocabulary under every pre-tokenizer: copies with tokenizer.ggml.pre replaced.
    auto gpt2 = lazyllm::gguf::File::Open(dir + "ggml-vocab-gpt-2.gguf");
    if (!gpt2.ok()) std::abort();
    char tmp[] = "/tmp/tokenizer_fuzz.XXXXXX";
    if (mkdtemp(tmp) == nullptr) std::abort();
    for (const char* pre : kPreTokenizers) {
      lazyllm::gguf::Writer w;
      for (const auto& [key, value] : (*gpt2)->metadata())
        if (key != "tokenizer.ggml.pre") w.CopyValue(key, value);
      w.SetString("tokenizer.ggml.pre", pre);
      const std::string path = std::string(tmp) + "/" + pre + ".gguf";
      if (!w.Write(path).ok()) std::abort();
      out->push_back(LoadVocab(path));
      unlink(path.c_str());
    }
    rmdir(tmp);
    return out;
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& vocabs = Vocabs();
  const size_t which = data[0] % vocabs.size();
  const lazyllm::Tokenizer& tok = vocabs[which].tokenizer();
  const bool add_special = data[1] & 1, parse_special = data[1] & 2;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto encoded = tok.Encode(text, add_special, parse_special);
  if (!encoded.ok()) std::abort();  // every vocabulary here has a token for every byte
  const std::vector<int32_t>& ids = *encoded;
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();
  const std::string decoded = tok.Decode(ids);
  if (which >= kFirstGpt2 && !parse_special && decoded != text) std::abort();
  std::string streamed;
  for (int32_t id : ids) streamed += tok.TokenBytes(id);
  return 0;
}
