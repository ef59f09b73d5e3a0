// `lazyllm chat`: an interactive conversation with an instruct model. Each turn renders the whole
// conversation with the model's chat template and appends to the session only what extends the
// tokens already in context (Session::Append), so earlier turns are not run again.
#include <cstdio>
#include <iostream>

#include "tools/cli.h"

namespace lazyllm::cli {

int Chat(int argc, char** argv) {
  const CommandSpec spec = {
      .name = "chat",
      .summary = "An interactive chat: user turns on standard input, one per line (/exit ends); replies stream.",
      .shared = {"-m", "-t", "-c", "--temp", "--top-k", "--top-p", "--seed", "--prune", "--system", "--chat-template",
                 "--numa", "--mem-limit"},
      .own = {{"-n", "N", "tokens per reply at most (default 256)"}},
      .notes = R"(Every turn renders the whole conversation with the chat template and appends to the session only
the tokens that extend what it holds, so earlier turns are not run again (with LazyLLM, their
tokens stay candidates and can be revived); a line on stderr reports each turn.)"};
  Flags flags(spec, argc, argv);
  GenerationOptions gen;
  gen.max_new_tokens = flags.Number<int>("-n", 256, 1, 1 << 24);
  gen.sampling.temperature = flags.Number<float>("--temp", 0.8f, 0.0f, 1e6f);
  gen.sampling.top_k = flags.Number<int>("--top-k", 40, 0, 1 << 30);
  gen.sampling.top_p = flags.Number<float>("--top-p", 0.95f, 1e-6f, 1.0f);
  gen.sampling.seed = flags.Number<uint64_t>("--seed", 0xFFFFFFFFu, 0, UINT64_MAX);
  SessionOptions sopts;
  sopts.threads = flags.Number<int>("-t", 0, 0, 4096);
  sopts.max_context = flags.Number<int64_t>("-c", 0, 0, int64_t{1} << 22);
  sopts.numa = ParseOnOff(flags, "--numa", true);
  sopts.mem_limit_bytes = ParseMemLimit(flags);
  Model model = LoadModel(flags, /*vocab_only=*/false);
  WarnIfBeyondTrainedContext(model, sopts.max_context, "chat");
  const Tokenizer& tok = model.tokenizer();
  auto pruning =
      PruningOptions::Parse(flags.Get("--prune").value_or("paper"), model.config().num_layers, gen.sampling.seed);
  if (!pruning.ok()) throw CliError{pruning.status().message()};
  sopts.pruning = *pruning;
  const ChatTemplate family = ChooseChatTemplate(flags, model);
  auto session = Session::Create(model, sopts);
  if (!session.ok()) throw CliError{session.status().message()};

  std::vector<ChatMessage> messages;
  if (auto system = flags.Get("--system")) messages.push_back({"system", *system});
  std::vector<int32_t> context;  // the tokens the session holds, in order
  int turn = 0;
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "/exit") break;
    if (line.empty()) continue;
    ++turn;
    messages.push_back({"user", line});
    const std::vector<int32_t> full =
        Tokens(tok, FormatChat(family, messages, true), "the conversation", true, /*parse_special=*/true);
    // Append what extends the context; prefill again when the rendered history diverges from it.
    const bool extends =
        !context.empty() && full.size() > context.size() && std::equal(context.begin(), context.end(), full.begin());
    if (static_cast<int64_t>(full.size()) + 1 >= session->max_context())
      throw CliError{"the conversation (" + std::to_string(full.size()) + " tokens) no longer fits the context of " +
                     std::to_string(session->max_context()) + " tokens"};
    gen.append = extends;
    const std::span<const int32_t> prompt = extends ? std::span(full).subspan(context.size()) : std::span(full);
    StreamDecoder stream(tok);
    gen.on_token = [&](int32_t id) {
      if (!tok.IsEndOfGeneration(id)) WriteStdout(stream.Next(id));
      return session->position() + 1 < session->max_context();
    };
    auto result = Generate(*session, prompt, gen);
    if (!result.ok()) throw CliError{result.status().message()};
    WriteStdout(stream.Flush() + "\n");
    // The session now holds the prompt and every generated token but the last.
    context.assign(full.begin(), full.end());
    context.insert(context.end(), result->tokens.begin(), result->tokens.end() - 1);
    messages.push_back({"assistant", tok.Decode(result->tokens)});
    const Stats& st = result->stats;
    std::fprintf(
        stderr,
        "[turn %d: %s %zu tokens (%lld in context), TTFT %.1f ms, %lld generated at %.1f tok/s, %lld revived]\n", turn,
        extends ? "appended" : "prefilled", prompt.size(), static_cast<long long>(session->position()), st.ttft_ms,
        static_cast<long long>(st.generated_tokens), st.decode_tokens_per_s,
        static_cast<long long>(st.pruning.revived_tokens));
  }
  return 0;
}

}  // namespace lazyllm::cli
