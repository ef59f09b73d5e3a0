// Fuzz target: a GGUF model file from arbitrary bytes. Every file must either load or be refused
// with a Status; one that loads is tokenized, prefilled with two tokens and decoded one step in a
// 4-token context, and its tokenizer round-trips a short text.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "lazyllm/lazyllm.h"

namespace {

// The input as a file: a memfd, reused and resized for every input.
const std::string& InputPath(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("gguf_fuzz", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = lazyllm::Model::Load(InputPath(data, size));
  if (!model.ok()) {
    if (model.status().message().empty()) std::abort();  // a refusal must say why
    return 0;
  }
  const lazyllm::Tokenizer& tok = model->tokenizer();
  // A vocabulary may lack a byte of the text: then Encode refuses it, saying why.
  const auto encoded = tok.Encode("a b\nab <s>", /*add_special=*/true, /*parse_special=*/true);
  if (!encoded.ok() && encoded.status().message().empty()) std::abort();
  const std::vector<int32_t> ids = encoded.ok() ? *encoded : std::vector<int32_t>{};
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();  // Encode returned an id outside the vocabulary
  (void)tok.Decode(ids);
  for (int32_t id = 0; id < tok.vocab_size() && id < 64; ++id) (void)tok.TokenBytes(id);
  (void)model->tensors();
  (void)model->chat_template();

  lazyllm::SessionOptions opts;
  opts.threads = 1;
  opts.numa = false;
  opts.max_context = 4;
  // Odd-sized inputs also exercise the pruned path (Aux Cache, revival) where the depth allows.
  if (size % 2 == 1) {
    auto paper = lazyllm::PruningOptions::Parse("paper", model->config().num_layers);
    if (paper.ok()) opts.pruning = *paper;
  }
  auto session = lazyllm::Session::Create(*model, opts);
  if (!session.ok()) return 0;
  const int32_t vocab = tok.vocab_size();
  const std::vector<int32_t> prompt = {0, vocab > 1 ? 1 : 0};
  if (session->Prefill(prompt).ok()) (void)session->DecodeStep(vocab - 1);
  return 0;
}
