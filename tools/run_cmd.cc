// `lazyllm run`: generate from a prompt (or a JSONL batch of prompts); --compare measures LazyLLM.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/cli.h"
#include "tools/records.h"

namespace lazyllm::cli {
namespace {

const CommandSpec kRunSpec = {
    .name = "run",
    .summary = "Generates from a prompt with LazyLLM token pruning (default --prune paper).",
    .shared = {"-m", "-p", "-f", "-n", "-t", "-c", "--temp", "--top-k", "--top-p", "--seed", "--no-bos", "--json",
               "--prune", "--numa", "--int8-act", "--kv-type", "--mem-limit", "--system", "--chat-template"},
    .own =
        {{"--logits", "",
          "with --json: the last prompt position's logits and the argmax at every prompt position (needs --prune off)"},
         {"--compare", "",
          "run the prompt with pruning off and with --prune; print both outputs, each TTFT, the speedup, its ideal and "
          "how far the outputs agree"},
         {"-r", "N", "with --compare: TTFT is the median of N interleaved prefills per side (default 5)"},
         {"--chat", "",
          "treat the prompt as a user message (after --system) rendered with the chat template; stop at end-of-turn "
          "tokens"},
         {"--batch-file", "FILE",
          "many prompts at once: JSONL lines {\"prompt\": TEXT} with optional \"max_tokens\" and \"prune\", run with "
          "continuous batching"},
         {"--max-batch", "N", "with --batch-file: requests in flight at once (default 32)"},
         {"--kv-mem", "BYTES",
          "with --batch-file: the KV memory pool (e.g. 512MiB, 4GiB; default: no limit); requests wait until they "
          "fit"}},
    .notes = R"(run prints the generated text as it comes (or, with --json, one JSON object with the prompt and
generated ids, the text and timing stats). Timing lines go to stderr.

--prune SPEC: off | paper (the paper's schedule for the model's depth) | LAYER:FRACTION,...
  (e.g. 8:0.5,15:0.5,23:0.5: before layer L keep the FRACTION of prompt tokens the last token
  attends to most) | static:LAYER:FRACTION (prune once in the prefill, never revive) |
  random:FRACTION (drop prompt tokens at random before layer 0, seeded by --seed).

--batch-file outputs in input order: the texts, or with --json one `run --json` object per line;
LazyLLM's pruned (token, layer) pairs take no KV memory, so more pruned requests fit in --kv-mem.
--compare warms up both sides first, then interleaves their prefills.)",
};

json StatsJson(const lazyllm::Stats& st, int threads) {
  return {{"prompt_tokens", st.prompt_tokens},
          {"generated_tokens", st.generated_tokens},
          {"load_ms", st.load_ms},
          {"ttft_ms", st.ttft_ms},
          {"prefill_tokens_per_s", st.prefill_tokens_per_s},
          {"decode_tokens_per_s", st.decode_tokens_per_s},
          {"threads", threads},
          {"kept_per_layer", st.pruning.kept_per_layer},
          {"revived_tokens", st.pruning.revived_tokens},
          {"revivals_skipped", st.pruning.revivals_skipped},
          {"prompt_tokens_computed_pct_prefill", st.pruning.prompt_tokens_computed_pct_prefill},
          {"prompt_tokens_computed_pct_final", st.pruning.prompt_tokens_computed_pct},
          {"kv_bytes", st.kv_bytes},
          {"queue_ms", st.queue_ms}};
}

// `run --compare`: the same prompt with pruning off and with the chosen schedule.
int Compare(const lazyllm::Model& model, const lazyllm::SessionOptions& sopts, const std::vector<int32_t>& prompt,
            const lazyllm::GenerationOptions& gen, bool as_json, int reps) {
  lazyllm::SessionOptions base_opts = sopts;
  base_opts.pruning = lazyllm::PruningOptions();
  struct Side {
    lazyllm::SessionOptions opts;
    lazyllm::GenerationResult result;
  } sides[2] = {{base_opts, {}}, {sopts, {}}};
  // Both sides on one engine, warmed up first (workers started, weights paged in, BLAS set up),
  // each side's first prefill untimed (its KV pages); then TTFT is the median of `reps` prefills
  // per side, interleaved so that both sides see the same machine noise.
  auto engine = lazyllm::Engine::Create(model, {.threads = sopts.threads,
                                                .numa = sopts.numa,
                                                .kv_type = sopts.kv_type,
                                                .mem_limit_bytes = sopts.mem_limit_bytes});
  if (!engine.ok()) throw CliError{engine.status().message()};
  if (auto st = engine->Warmup(static_cast<int64_t>(prompt.size())); !st.ok()) throw CliError{st.message()};
  std::vector<lazyllm::Session> sessions;
  for (Side& side : sides) {
    auto session = lazyllm::Session::Create(*engine, side.opts);
    if (!session.ok()) throw CliError{session.status().message()};
    if (auto st = session->Prefill(prompt); !st.ok()) throw CliError{st.message()};
    sessions.push_back(std::move(session).value());
  }
  std::vector<double> ttft[2];
  for (int rep = 0; rep < reps; ++rep) {
    for (int i = 0; i < 2; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = sessions[i].Prefill(prompt); !st.ok()) throw CliError{st.message()};
      ttft[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  for (int i = 0; i < 2; ++i) {
    auto r = lazyllm::Generate(sessions[i], prompt, gen);
    if (!r.ok()) throw CliError{r.status().message()};
    sides[i].result = std::move(r).value();
    std::sort(ttft[i].begin(), ttft[i].end());
    sides[i].result.stats.ttft_ms = ttft[i][ttft[i].size() / 2];
  }
  const auto& a = sides[0].result;
  const auto& b = sides[1].result;
  size_t agree = 0;
  while (agree < a.tokens.size() && agree < b.tokens.size() && a.tokens[agree] == b.tokens[agree]) ++agree;
  const bool all_agree = a.tokens == b.tokens;
  const double speedup = a.stats.ttft_ms / b.stats.ttft_ms;
  const double ideal =
      1.0 / sopts.pruning.PrefillWorkFraction(model.config().num_layers, static_cast<int64_t>(prompt.size()));
  const lazyllm::Tokenizer& tok = model.tokenizer();
  if (as_json) {
    json j = {{"prompt_tokens", prompt},
              {"baseline",
               {{"prune", "off"},
                {"tokens", a.tokens},
                {"text", GeneratedText(tok, a.tokens)},
                {"stats", StatsJson(a.stats, 0)}}},
              {"pruned",
               {{"prune", sopts.pruning.ToString()},
                {"tokens", b.tokens},
                {"text", GeneratedText(tok, b.tokens)},
                {"stats", StatsJson(b.stats, 0)}}},
              {"ttft_speedup", speedup},
              {"ideal_speedup", ideal},
              {"agreeing_prefix_tokens", agree},
              {"outputs_agree", all_agree}};
    std::cout << Dump(j) << "\n";
    return 0;
  }
  std::printf("prompt: %zu tokens\n\n", prompt.size());
  std::printf("--- baseline (prune off) ---\n%s\n\n", GeneratedText(tok, a.tokens).c_str());
  std::printf("--- LazyLLM (prune %s) ---\n%s\n\n", sopts.pruning.ToString().c_str(),
              GeneratedText(tok, b.tokens).c_str());
  std::printf("TTFT            %.2f ms baseline, %.2f ms pruned: %.2fx speedup (ideal from work fraction %.2fx)\n",
              a.stats.ttft_ms, b.stats.ttft_ms, speedup, ideal);
  std::printf("prompt tokens   %.1f%% computed in the prefill, %.1f%% by the end (%lld revived)\n",
              b.stats.pruning.prompt_tokens_computed_pct_prefill, b.stats.pruning.prompt_tokens_computed_pct,
              static_cast<long long>(b.stats.pruning.revived_tokens));
  std::printf("kept per layer ");
  for (int64_t k : b.stats.pruning.kept_per_layer) std::printf(" %lld", static_cast<long long>(k));
  std::printf("\ngreedy outputs  %s (first %zu of %zu tokens agree)\n", all_agree ? "agree" : "differ", agree,
              a.tokens.size());
  std::fflush(stdout);
  WarnIfBlasBelowCpu("run");
  return 0;
}

std::vector<BatchLine> ReadBatchFile(const std::string& path, int default_max, const std::string& default_prune) {
  std::istringstream in(ReadTextFile(path, "batch file"));
  std::vector<BatchLine> out;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(ParseBatchLine(line, path + ":" + std::to_string(no) + ": ", default_max, default_prune));
  }
  if (out.empty()) throw CliError{"batch file '" + path + "' has no requests"};
  return out;
}

// `run --batch-file`: every line's request on one engine with continuous batching; outputs in
// input order (one `run --json` object per line with --json), a summary on stderr.
int RunBatch(const Flags& flags, const lazyllm::Model& model, const lazyllm::EngineOptions& eopts,
             const lazyllm::SessionOptions& sopts, const lazyllm::GenerationOptions& gen,
             const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  const std::string default_prune = flags.Get("--prune").value_or("paper");
  const auto lines = ReadBatchFile(*flags.Get("--batch-file"), gen.max_new_tokens, default_prune);
  std::vector<lazyllm::BatchRequest> reqs;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto pruning = lazyllm::PruningOptions::Parse(lines[i].prune, model.config().num_layers, gen.sampling.seed);
    if (!pruning.ok()) throw CliError{"request " + std::to_string(i + 1) + ": " + pruning.status().message()};
    lazyllm::BatchRequest r{.prompt = encode(lines[i].prompt), .generation = gen};
    r.generation.max_new_tokens = lines[i].max_tokens;
    r.sequence = {.max_context = sopts.max_context, .pruning = *pruning, .int8_activations = sopts.int8_activations};
    reqs.push_back(std::move(r));
  }
  auto engine = lazyllm::Engine::Create(model, eopts);
  if (!engine.ok()) throw CliError{engine.status().message()};
  // Requests in flight (first token out, not done) and KV pool use, at their peaks.
  int in_flight = 0, peak_in_flight = 0;
  int64_t peak_pool = 0;
  for (auto& r : reqs) {
    r.generation.on_token = [&, first = true](int32_t) mutable {
      if (first) peak_in_flight = std::max(peak_in_flight, ++in_flight);
      first = false;
      peak_pool = std::max(peak_pool, engine->kv_pool().held_bytes);
      return true;
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = lazyllm::GenerateBatch(
      *engine, reqs,
      {.max_batch = flags.Number<int>("--max-batch", 32, 1, 4096), .on_done = [&](size_t i, const auto&) {
         if (reqs[i].generation.max_new_tokens > 0) --in_flight;
       }});
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const lazyllm::Tokenizer& tok = model.tokenizer();
  int64_t generated = 0, prompt_tokens = 0, kv_bytes = 0, skipped = 0;
  int failed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (!r.ok()) {
      ++failed;
      if (flags.Has("--json"))
        std::cout << Dump(json{{"error", r.status().message()}, {"prompt_tokens", reqs[i].prompt}}) << "\n";
      else
        std::printf("--- request %zu: error: %s\n", i + 1, r.status().message().c_str());
      continue;
    }
    generated += r->stats.generated_tokens;
    prompt_tokens += r->stats.prompt_tokens;
    kv_bytes += r->stats.kv_bytes;
    skipped += r->stats.pruning.revivals_skipped;
    if (flags.Has("--json")) {
      std::cout << Dump(json{{"prompt_tokens", reqs[i].prompt},
                             {"tokens", r->tokens},
                             {"text", GeneratedText(tok, r->tokens)},
                             {"prune", reqs[i].sequence.pruning.ToString()},
                             {"stats", StatsJson(r->stats, engine->threads())}})
                << "\n";
    } else {
      std::printf("--- request %zu ---\n%s\n", i + 1, GeneratedText(tok, r->tokens).c_str());
    }
  }
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "%zu requests (%d failed), %lld prompt and %lld generated tokens in %.2f s: %.1f generated tok/s; "
      "KV %.1f MiB at the end over all requests (%s); at most %d requests generating at once, KV pool peak "
      "%.1f MiB%s; %lld revivals skipped for want of KV pages\n",
      results.size(), failed, static_cast<long long>(prompt_tokens), static_cast<long long>(generated), wall_s,
      generated / wall_s, kv_bytes / 1048576.0, engine->kv_type() == lazyllm::KvType::kF16 ? "f16" : "f32",
      peak_in_flight, peak_pool / 1048576.0,
      eopts.kv_mem_bytes > 0 ? (" of " + std::to_string(eopts.kv_mem_bytes / 1024) + " KiB (--kv-mem)").c_str() : "",
      static_cast<long long>(skipped));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int Run(int argc, char** argv) {
  Flags flags(kRunSpec, argc, argv);
  const bool batch = flags.Has("--batch-file");
  if (batch && (flags.Has("-p") || flags.Has("-f"))) throw CliError{"--batch-file replaces -p and -f"};
  if (batch && (flags.Has("--compare") || flags.Has("--logits")))
    throw CliError{"--compare and --logits run one prompt: not with --batch-file"};
  if (flags.Has("--max-batch") && !batch) throw CliError{"--max-batch is a flag of --batch-file"};
  const std::string text = batch ? std::string() : ReadPrompt(flags);
  if ((flags.Has("--system") || flags.Has("--chat-template")) && !flags.Has("--chat"))
    throw CliError{"--system and --chat-template are flags of --chat"};
  lazyllm::GenerationOptions gen;
  gen.max_new_tokens = flags.Number<int>("-n", 64, 0, 1 << 24);
  gen.sampling.temperature = flags.Number<float>("--temp", 0.8f, 0.0f, 1e6f);
  gen.sampling.top_k = flags.Number<int>("--top-k", 40, 0, 1 << 30);
  gen.sampling.top_p = flags.Number<float>("--top-p", 0.95f, 1e-6f, 1.0f);
  gen.sampling.seed = flags.Number<uint64_t>("--seed", 0xFFFFFFFFu, 0, UINT64_MAX);
  lazyllm::SessionOptions sopts;
  sopts.threads = flags.Number<int>("-t", 0, 0, 4096);
  sopts.max_context = flags.Number<int64_t>("-c", 0, 0, int64_t{1} << 22);
  sopts.numa = ParseOnOff(flags, "--numa", true);
  sopts.int8_activations = flags.Has("--int8-act");
  sopts.kv_type = ParseKvType(flags);
  sopts.mem_limit_bytes = ParseMemLimit(flags);
  const int64_t kv_mem = flags.Has("--kv-mem") ? ParseBytes("--kv-mem", *flags.Get("--kv-mem")) : 0;
  const bool as_json = flags.Has("--json");
  if (flags.Has("--logits") && !as_json) throw CliError{"--logits needs --json"};

  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/false);
  WarnIfBeyondTrainedContext(model, sopts.max_context, "run");
  const lazyllm::Tokenizer& tok = model.tokenizer();
  auto pruning = lazyllm::PruningOptions::Parse(flags.Get("--prune").value_or("paper"), model.config().num_layers,
                                                gen.sampling.seed);
  if (!pruning.ok()) throw CliError{pruning.status().message()};
  sopts.pruning = *pruning;
  if (flags.Has("--logits") && pruning->method != lazyllm::PruningOptions::Method::kOff)
    throw CliError{"--logits needs --prune off (pruned prompt positions have no logits)"};
  // --chat: the prompt is the user's message, rendered with the model's chat template family
  // (or --chat-template NAME), special-token strings parsed as tokens.
  const std::optional<lazyllm::ChatTemplate> family =
      flags.Has("--chat") ? std::optional(ChooseChatTemplate(flags, model)) : std::nullopt;
  auto encode = [&](const std::string& user_text) {
    std::vector<int32_t> ids;
    if (family) {
      std::vector<lazyllm::ChatMessage> messages;
      if (auto system = flags.Get("--system")) messages.push_back({"system", *system});
      messages.push_back({"user", user_text});
      ids = tok.Encode(lazyllm::FormatChat(*family, messages, true), !flags.Has("--no-bos"), /*parse_special=*/true);
    } else {
      ids = tok.Encode(user_text, !flags.Has("--no-bos"));
    }
    if (ids.empty()) throw CliError{"the prompt tokenizes to nothing (empty text with --no-bos)"};
    return ids;
  };
  if (batch)
    return RunBatch(flags, model,
                    {.threads = sopts.threads,
                     .numa = sopts.numa,
                     .kv_type = sopts.kv_type,
                     .kv_mem_bytes = kv_mem,
                     .mem_limit_bytes = sopts.mem_limit_bytes},
                    sopts, gen, encode);
  if (kv_mem != 0) throw CliError{"--kv-mem bounds the KV pool of --batch-file"};
  const std::vector<int32_t> prompt = encode(text);
  auto session = lazyllm::Session::Create(model, sopts);
  if (!session.ok()) throw CliError{session.status().message()};
  if (static_cast<int64_t>(prompt.size()) > session->max_context())
    throw CliError{"prompt of " + std::to_string(prompt.size()) + " tokens exceeds the context of " +
                   std::to_string(session->max_context()) + " tokens (-c)"};
  if (flags.Has("--compare")) return Compare(model, sopts, prompt, gen, as_json, flags.Number<int>("-r", 5, 1, 1000));
  if (flags.Has("-r")) throw CliError{"-r is a flag of --compare"};

  std::vector<float> prompt_logits;
  if (flags.Has("--logits")) gen.prompt_logits = &prompt_logits;
  lazyllm::StreamDecoder stream(tok);  // the same text as the JSON's, in whole UTF-8 characters
  if (!as_json) {
    gen.on_token = [&](int32_t id) {
      if (!tok.IsEndOfGeneration(id)) WriteStdout(stream.Next(id));
      return true;
    };
  }
  auto result = lazyllm::Generate(*session, prompt, gen);
  if (!result.ok()) throw CliError{result.status().message()};
  const lazyllm::Stats& st = result->stats;
  if (!as_json) {
    WriteStdout(stream.Flush());
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(
        stderr,
        "prompt %lld tokens, generated %lld; load %.1f ms, TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s; "
        "prune %s: %.1f%% of prompt tokens computed (%.1f%% at the end), %lld revived\n",
        static_cast<long long>(st.prompt_tokens), static_cast<long long>(st.generated_tokens), st.load_ms, st.ttft_ms,
        st.prefill_tokens_per_s, st.decode_tokens_per_s, sopts.pruning.ToString().c_str(),
        st.pruning.prompt_tokens_computed_pct_prefill, st.pruning.prompt_tokens_computed_pct,
        static_cast<long long>(st.pruning.revived_tokens));
    WarnIfBlasBelowCpu("run");
    return 0;
  }
  const std::string out_text = GeneratedText(tok, result->tokens);
  json j = {
      {"prompt_tokens", prompt},
      {"tokens", result->tokens},
      {"text", out_text},
      {"prune", sopts.pruning.ToString()},
      {"stats", StatsJson(st, session->threads())},
  };
  if (flags.Has("--logits")) {
    const int64_t vocab = model.config().vocab_size;
    const auto n = static_cast<int64_t>(prompt.size());
    std::vector<int32_t> argmax(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      argmax[i] = lazyllm::Argmax(std::span<const float>(prompt_logits.data() + i * vocab, vocab));
    j["last_logits"] = std::vector<float>(prompt_logits.end() - vocab, prompt_logits.end());
    j["argmax_per_position"] = argmax;
  }
  std::cout << Dump(j) << "\n";
  return 0;
}

}  // namespace lazyllm::cli
