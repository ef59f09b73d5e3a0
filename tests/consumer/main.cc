// Uses the installed lazyllm library: load a model, greedy-generate, print the text.
#include <cstdio>

#include "lazyllm/lazyllm.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = lazyllm::Model::Load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return 1;
  }
  auto session = lazyllm::Session::Create(*model, {.threads = 1});
  if (!session.ok()) return 1;
  lazyllm::GenerationOptions gen;
  gen.max_new_tokens = 16;
  gen.sampling.temperature = 0;
  auto prompt = model->tokenizer().Encode("Once upon a time", true);
  if (!prompt.ok()) return 1;
  auto result = lazyllm::Generate(*session, *prompt, gen);
  if (!result.ok()) return 1;
  std::printf("%s\n", model->tokenizer().Decode(result->tokens).c_str());
  return 0;
}
