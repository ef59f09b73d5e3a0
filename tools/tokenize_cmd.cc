// `lazyllm tokenize`: the token ids of a text.
#include <iostream>

#include "tools/cli.h"

namespace lazyllm::cli {

int Tokenize(int argc, char** argv) {
  const CommandSpec spec = {.name = "tokenize",
                            .summary = "Prints the token ids of a text (space-separated, or --json).",
                            .shared = {"-m", "-p", "-f", "--no-bos", "--json"}};
  Flags flags(spec, argc, argv);
  const std::string text = ReadPrompt(flags);
  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/true);
  const std::vector<int32_t> ids = Tokens(model.tokenizer(), text, "the text", !flags.Has("--no-bos"));
  if (flags.Has("--json")) {
    std::cout << Dump(json{{"tokens", ids}}) << "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace lazyllm::cli
