// Fuzz target: the request bodies `lazyllm serve` parses (completions, chat, tokenize,
// detokenize) against the sample model's vocabulary. The first byte chooses the endpoint; the
// rest is the body. A body is either refused with a 400 or 413 error that has a message, or
// parsed into a request the scheduler can run: a non-empty prompt of token ids in the
// vocabulary that leaves room for max_tokens in the context.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lazyllm/lazyllm.h"
#include "tools/server/openai.h"

namespace {

const lazyllm::Model& SampleModel() {
  static const lazyllm::Model model = [] {
    auto m = lazyllm::Model::Load(LAZYLLM_SOURCE_DIR "/models/stories260K/stories260K-f32-gguf-v3.gguf");
    if (!m.ok()) std::abort();
    return std::move(*m);
  }();
  return model;
}

void CheckError(const lazyllm::server::ApiError& e) {
  if ((e.status != 400 && e.status != 413) || e.message.empty()) std::abort();
  (void)lazyllm::server::ErrorBody(e).dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lazyllm::server;
  if (size == 0) return 0;
  const lazyllm::Model& model = SampleModel();
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  ServedModel served{.id = "stories", .model = &model, .context = 256};
  if (data[0] & 4) served.chat_template = lazyllm::ChatTemplate::kChatml;
  switch (data[0] % 4) {
    case 0:
    case 1: {
      auto r = data[0] % 4 == 0 ? ParseCompletion(body, served) : ParseChat(body, served);
      if (auto* e = std::get_if<ApiError>(&r)) {
        CheckError(*e);
        return 0;
      }
      const GenerationRequest& g = std::get<GenerationRequest>(r);
      const auto n = static_cast<int64_t>(g.prompt.size());
      if (n == 0 || g.max_tokens < 1 || n + g.max_tokens > served.context) std::abort();
      for (int32_t id : g.prompt)
        if (id < 0 || id >= model.tokenizer().vocab_size()) std::abort();
      if (!lazyllm::Validate(g.sampling).ok()) std::abort();
      for (const std::string& s : g.stop)
        if (s.empty()) std::abort();
      return 0;
    }
    default: {
      auto r = data[0] % 4 == 2 ? Tokenize(body, model.tokenizer()) : Detokenize(body, model.tokenizer());
      if (auto* e = std::get_if<ApiError>(&r)) CheckError(*e);
      return 0;
    }
  }
}
