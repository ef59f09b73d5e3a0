// `lazyllm run`: generate from a prompt (or a JSONL batch of prompts); --compare measures LazyLLM.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/cli.h"
#include "tools/ranks.h"
#include "tools/records.h"

namespace lazyllm::cli {
namespace {

// A prompt's text to its tokens.
using PromptEncoder = std::function<std::vector<int32_t>(const std::string&)>;

const CommandSpec kRunSpec = {
    .name = "run",
    .summary = "Generates from a prompt with LazyLLM token pruning (default --prune paper).",
    .shared = {"-m",      "-p",      "-f",        "-n",          "-t",        "-c",       "--temp",
               "--top-k", "--top-p", "--seed",    "--no-bos",    "--json",    "--prune",  "--revive-budget",
               "--numa",  "--exact", "--kv-type", "--mem-limit", "--profile", "--system", "--chat-template"},
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
  random:FRACTION (drop prompt tokens at random before layer 0, seeded by --seed). A LazyLLM
  schedule may end with ,revive:R: a decode step revives at most R dropped tokens per pruning
  layer (the highest-scored; the rest stay revivable), so no step costs much more than the
  baseline's; --revive-budget R|inf sets it for every schedule.

--batch-file outputs in input order: the texts, or with --json one `run --json` object per line;
LazyLLM's pruned (token, layer) pairs take no KV memory, so more pruned requests fit in --kv-mem.
--compare warms up both sides first, then interleaves their prefills.)",
};

json StatsJson(const lazyllm::Stats& st, int threads, const std::string& activations) {
  json j = {{"prompt_tokens", st.prompt_tokens},
            {"generated_tokens", st.generated_tokens},
            {"load_ms", st.load_ms},
            {"ttft_ms", st.ttft_ms},
            {"prefill_tokens_per_s", st.prefill_tokens_per_s},
            {"decode_tokens_per_s", st.decode_tokens_per_s},
            {"threads", threads},
            {"activations", activations},
            {"kept_per_layer", st.pruning.kept_per_layer},
            {"revived_tokens", st.pruning.revived_tokens},
            {"revivals_skipped", st.pruning.revivals_skipped},
            {"revivals_deferred", st.pruning.revivals_deferred},
            {"prompt_tokens_computed_pct_prefill", st.pruning.prompt_tokens_computed_pct_prefill},
            {"prompt_tokens_computed_pct_final", st.pruning.prompt_tokens_computed_pct},
            {"kv_bytes", st.kv_bytes},
            {"queue_ms", st.queue_ms}};
  if (st.pruning.expert_rows_unpruned > 0) {  // a mixture of experts
    j["expert_rows"] = st.pruning.expert_rows;
    j["expert_rows_unpruned"] = st.pruning.expert_rows_unpruned;
  }
  return j;
}

// `run --compare`'s two sides, pruning off and the chosen schedule, on one engine warmed up
// first (workers started, weights paged in, BLAS set up), each side's first prefill untimed (its
// KV pages); TTFT is the median of `reps` prefills per side, interleaved so that both sides see
// the same machine noise, then each side generates.
std::array<lazyllm::GenerationResult, 2> CompareSides(const lazyllm::Model& model, const lazyllm::SessionOptions& sopts,
                                                      const std::vector<int32_t>& prompt,
                                                      const lazyllm::GenerationOptions& gen, int reps) {
  auto engine = lazyllm::Engine::Create(model, {.threads = sopts.threads,
                                                .numa = sopts.numa,
                                                .kv_type = sopts.kv_type,
                                                .mem_limit_bytes = sopts.mem_limit_bytes});
  if (!engine.ok()) throw CliError{engine.status().message()};
  if (auto st = engine->Warmup(static_cast<int64_t>(prompt.size())); !st.ok()) throw CliError{st.message()};
  lazyllm::SessionOptions base = sopts;
  base.pruning = lazyllm::PruningOptions();
  std::vector<lazyllm::Session> sessions;
  for (const lazyllm::SessionOptions& opts : {base, sopts}) {
    auto session = lazyllm::Session::Create(*engine, opts);
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
  std::array<lazyllm::GenerationResult, 2> sides;
  for (int i = 0; i < 2; ++i) {
    auto r = lazyllm::Generate(sessions[i], prompt, gen);
    if (!r.ok()) throw CliError{r.status().message()};
    sides[i] = std::move(r).value();
    std::sort(ttft[i].begin(), ttft[i].end());
    sides[i].stats.ttft_ms = ttft[i][ttft[i].size() / 2];
  }
  return sides;
}

// `run --compare`: the same prompt with pruning off (a) and with the chosen schedule (b).
int Compare(const lazyllm::Model& model, const lazyllm::SessionOptions& sopts, const std::vector<int32_t>& prompt,
            const lazyllm::GenerationOptions& gen, bool as_json, int reps) {
  const auto [a, b] = CompareSides(model, sopts, prompt, gen, reps);
  size_t agree = 0;
  while (agree < a.tokens.size() && agree < b.tokens.size() && a.tokens[agree] == b.tokens[agree]) ++agree;
  const bool all_agree = a.tokens == b.tokens;
  const double speedup = a.stats.ttft_ms / b.stats.ttft_ms;
  const double ideal =
      1.0 / sopts.pruning.PrefillWorkFraction(model.config().num_layers, static_cast<int64_t>(prompt.size()));
  const lazyllm::Tokenizer& tok = model.tokenizer();
  if (as_json) {
    auto side = [&](const std::string& prune, const lazyllm::GenerationResult& r) {
      return json{{"prune", prune},
                  {"tokens", r.tokens},
                  {"text", GeneratedText(tok, r.tokens)},
                  {"stats", StatsJson(r.stats, 0, model.matmul_activations(sopts.exact_activations))}};
    };
    std::cout << Dump({{"prompt_tokens", prompt},
                       {"baseline", side("off", a)},
                       {"pruned", side(sopts.pruning.ToString(), b)},
                       {"ttft_speedup", speedup},
                       {"ideal_speedup", ideal},
                       {"agreeing_prefix_tokens", agree},
                       {"outputs_agree", all_agree}})
              << "\n";
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

// The batch file's requests: each line's prompt encoded, its max_tokens and schedule.
std::vector<lazyllm::BatchRequest> BatchRequests(const Flags& flags, const lazyllm::Model& model,
                                                 const lazyllm::SessionOptions& sopts,
                                                 const lazyllm::GenerationOptions& gen, const PromptEncoder& encode) {
  const std::string default_prune = flags.Get("--prune").value_or("paper");
  const auto lines = ReadBatchFile(*flags.Get("--batch-file"), gen.max_new_tokens, default_prune);
  std::vector<lazyllm::BatchRequest> reqs;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto pruning = lazyllm::PruningOptions::Parse(lines[i].prune, model.config().num_layers, gen.sampling.seed);
    if (!pruning.ok()) throw CliError{"request " + std::to_string(i + 1) + ": " + pruning.status().message()};
    ApplyReviveBudget(flags, &*pruning);
    lazyllm::BatchRequest r{.generation = gen};
    try {
      r.prompt = encode(lines[i].prompt);
    } catch (const CliError& e) {  // a text the vocabulary cannot encode: say which line
      throw CliError{"request " + std::to_string(i + 1) + ": " + e.message};
    }
    r.generation.max_new_tokens = lines[i].max_tokens;
    r.sequence = {.max_context = sopts.max_context, .pruning = *pruning, .exact_activations = sopts.exact_activations};
    reqs.push_back(std::move(r));
  }
  return reqs;
}

// What a batch did in all, for its summary line.
struct BatchTotals {
  int64_t generated = 0, prompt_tokens = 0, kv_bytes = 0, skipped = 0;
  int failed = 0;
  int peak_in_flight = 0;  // requests generating (first token out, not done) at once
  int64_t peak_pool = 0;   // KV pool bytes held
};

// Request `item`'s output (0-based, in the batch file's order): its text, or with --json one
// `run --json` object; its numbers added to totals.
std::string BatchOutput(const Flags& flags, const lazyllm::Model& model, const lazyllm::Engine& engine,
                        const lazyllm::BatchRequest& req, const lazyllm::StatusOr<lazyllm::GenerationResult>& r,
                        size_t item, BatchTotals& totals) {
  const lazyllm::Tokenizer& tok = model.tokenizer();
  if (!r.ok()) {
    ++totals.failed;
    if (flags.Has("--json")) return Dump(json{{"error", r.status().message()}, {"prompt_tokens", req.prompt}}) + "\n";
    return "--- request " + std::to_string(item + 1) + ": error: " + r.status().message() + "\n";
  }
  totals.generated += r->stats.generated_tokens;
  totals.prompt_tokens += r->stats.prompt_tokens;
  totals.kv_bytes += r->stats.kv_bytes;
  totals.skipped += r->stats.pruning.revivals_skipped;
  if (flags.Has("--json"))
    return Dump(json{{"prompt_tokens", req.prompt},
                     {"tokens", r->tokens},
                     {"text", GeneratedText(tok, r->tokens)},
                     {"prune", req.sequence.pruning.ToString()},
                     {"stats", StatsJson(r->stats, engine.threads(),
                                         model.matmul_activations(req.sequence.exact_activations))}}) +
           "\n";
  return "--- request " + std::to_string(item + 1) + " ---\n" + GeneratedText(tok, r->tokens) + "\n";
}

// `run --batch-file`: every line's request on one engine with continuous batching; outputs in
// input order, a summary on stderr. Under mpirun each rank runs a share of the lines balanced by
// their tokens (Ranks::Mine) on its own engine, and rank 0 writes every output in input order and
// the summary of all.
int RunBatch(const Flags& flags, const lazyllm::Model& model, const lazyllm::EngineOptions& eopts,
             const lazyllm::SessionOptions& sopts, const lazyllm::GenerationOptions& gen, const PromptEncoder& encode) {
  const Ranks& ranks = Ranks::Job();
  std::vector<lazyllm::BatchRequest> all = BatchRequests(flags, model, sopts, gen, encode);
  std::vector<int64_t> costs;  // a line's tokens to compute: its prompt and what it may generate
  for (const auto& r : all) costs.push_back(static_cast<int64_t>(r.prompt.size()) + r.generation.max_new_tokens);
  const std::vector<size_t> items = ranks.Mine(costs);  // the batch file's lines this rank runs
  std::vector<lazyllm::BatchRequest> reqs;
  for (size_t i : items) reqs.push_back(std::move(all[i]));
  auto engine = lazyllm::Engine::Create(model, eopts);
  if (!engine.ok()) throw CliError{engine.status().message()};
  BatchTotals totals;
  int in_flight = 0;
  for (auto& r : reqs) {
    r.generation.on_token = [&, first = true](int32_t) mutable {
      if (first) totals.peak_in_flight = std::max(totals.peak_in_flight, ++in_flight);
      first = false;
      totals.peak_pool = std::max(totals.peak_pool, engine->kv_pool().held_bytes);
      return true;
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = lazyllm::GenerateBatch(
      *engine, reqs,
      {.max_batch = flags.Number<int>("--max-batch", 32, 1, 4096), .on_done = [&](size_t i, const auto&) {
         if (reqs[i].generation.max_new_tokens > 0) --in_flight;
       }});
  std::vector<std::pair<int64_t, std::string>> outputs;
  for (size_t k = 0; k < reqs.size(); ++k)
    outputs.emplace_back(items[k], BatchOutput(flags, model, *engine, reqs[k], results[k], items[k], totals));
  outputs = ranks.Gather(outputs);
  const double wall_s = ranks.Max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& [item, text] : outputs) std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  const std::vector<int64_t> sums =
      ranks.Sum({totals.generated, totals.prompt_tokens, totals.kv_bytes, totals.skipped, totals.failed});
  const auto peak_in_flight = static_cast<int>(ranks.Max(totals.peak_in_flight));
  const double peak_pool = ranks.Max(static_cast<double>(totals.peak_pool));
  if (!ranks.writes()) return sums[4] == 0 ? 0 : 1;
  std::fprintf(
      stderr,
      "%zu requests (%lld failed), %lld prompt and %lld generated tokens in %.2f s: %.1f generated tok/s; "
      "KV %.1f MiB at the end over all requests (%s); at most %d requests generating at once%s, KV pool peak "
      "%.1f MiB%s; %lld revivals skipped for want of KV pages\n",
      all.size(), static_cast<long long>(sums[4]), static_cast<long long>(sums[1]), static_cast<long long>(sums[0]),
      wall_s, static_cast<double>(sums[0]) / wall_s, static_cast<double>(sums[2]) / 1048576.0,
      KvName(engine->kv_type()).c_str(), peak_in_flight,
      ranks.size() > 1 ? (" on a rank of " + std::to_string(ranks.size())).c_str() : "", peak_pool / 1048576.0,
      eopts.kv_mem_bytes > 0 ? (" of " + std::to_string(eopts.kv_mem_bytes / 1024) + " KiB (--kv-mem)").c_str() : "",
      static_cast<long long>(sums[3]));
  if (eopts.profile) std::fprintf(stderr, "%s", ProfileTables(engine->profile()).c_str());  // this rank's
  return sums[4] == 0 ? 0 : 1;
}

// What `run` was asked for one prompt or a batch: the generation and session options.
struct RunOptions {
  lazyllm::GenerationOptions gen;
  lazyllm::SessionOptions session;
  int64_t kv_mem = 0;  // --kv-mem: the KV pool of --batch-file
};

// The flags checked for combinations that make no sense, and read.
RunOptions ReadRunOptions(const Flags& flags) {
  const bool batch = flags.Has("--batch-file");
  if (batch && (flags.Has("-p") || flags.Has("-f"))) throw CliError{"--batch-file replaces -p and -f"};
  if (batch && (flags.Has("--compare") || flags.Has("--logits")))
    throw CliError{"--compare and --logits run one prompt: not with --batch-file"};
  if (flags.Has("--max-batch") && !batch) throw CliError{"--max-batch is a flag of --batch-file"};
  if ((flags.Has("--system") || flags.Has("--chat-template")) && !flags.Has("--chat"))
    throw CliError{"--system and --chat-template are flags of --chat"};
  RunOptions o;
  o.gen.max_new_tokens = flags.Number<int>("-n", 64, 0, 1 << 24);
  o.gen.sampling.temperature = flags.Number<float>("--temp", 0.8f, 0.0f, 1e6f);
  o.gen.sampling.top_k = flags.Number<int>("--top-k", 40, 0, 1 << 30);
  o.gen.sampling.top_p = flags.Number<float>("--top-p", 0.95f, 1e-6f, 1.0f);
  o.gen.sampling.seed = flags.Number<uint64_t>("--seed", 0xFFFFFFFFu, 0, UINT64_MAX);
  o.session.threads = flags.Number<int>("-t", 0, 0, 4096);
  o.session.max_context = flags.Number<int64_t>("-c", 0, 0, int64_t{1} << 22);
  o.session.numa = ParseOnOff(flags, "--numa", true);
  o.session.exact_activations = flags.Has("--exact");
  o.session.profile = flags.Has("--profile");
  if (o.session.profile && flags.Has("--compare")) throw CliError{"--profile times one run: not with --compare"};
  o.session.kv_type = ParseKvType(flags);
  o.session.mem_limit_bytes = ParseMemLimit(flags);
  o.kv_mem = flags.Has("--kv-mem") ? ParseBytes("--kv-mem", *flags.Get("--kv-mem")) : 0;
  if (flags.Has("--logits") && !flags.Has("--json")) throw CliError{"--logits needs --json"};
  return o;
}

// The prompt's tokens: the text as it is, or with --chat the user's message rendered with the
// model's chat template family (or --chat-template NAME), special-token strings parsed as tokens.
PromptEncoder MakePromptEncoder(const Flags& flags, const lazyllm::Model& model) {
  const std::optional<lazyllm::ChatTemplate> family =
      flags.Has("--chat") ? std::optional(ChooseChatTemplate(flags, model)) : std::nullopt;
  const std::optional<std::string> system = flags.Get("--system");
  const bool bos = !flags.Has("--no-bos");
  return [&model, family, system, bos](const std::string& user_text) {
    const lazyllm::Tokenizer& tok = model.tokenizer();
    std::vector<int32_t> ids;
    if (family) {
      std::vector<lazyllm::ChatMessage> messages;
      if (system) messages.push_back({"system", *system});
      messages.push_back({"user", user_text});
      ids = Tokens(tok, lazyllm::FormatChat(*family, messages, true), "the prompt", bos, /*parse_special=*/true);
    } else {
      ids = Tokens(tok, user_text, "the prompt", bos);
    }
    if (ids.empty()) throw CliError{"the prompt tokenizes to nothing (empty text with --no-bos)"};
    return ids;
  };
}

// One prompt: its text streamed as it comes (a stats line on stderr), or one `run --json`
// object (with --logits, every position's argmax and the last position's logits).
int RunOne(const Flags& flags, const lazyllm::Model& model, lazyllm::Session& session, const std::string& prune,
           const std::vector<int32_t>& prompt, lazyllm::GenerationOptions gen) {
  const lazyllm::Tokenizer& tok = model.tokenizer();
  const bool as_json = flags.Has("--json");
  std::vector<float> prompt_logits;
  if (flags.Has("--logits")) gen.prompt_logits = &prompt_logits;
  lazyllm::StreamDecoder stream(tok);  // the same text as the JSON's, in whole UTF-8 characters
  if (!as_json) {
    gen.on_token = [&](int32_t id) {
      if (!tok.IsEndOfGeneration(id)) WriteStdout(stream.Next(id));
      return true;
    };
  }
  auto result = lazyllm::Generate(session, prompt, gen);
  if (!result.ok()) throw CliError{result.status().message()};
  const lazyllm::Stats& st = result->stats;
  const std::string activations = model.matmul_activations(flags.Has("--exact"));
  if (!as_json) {
    WriteStdout(stream.Flush());
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(
        stderr,
        "prompt %lld tokens, generated %lld; load %.1f ms, TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s "
        "(%s activations); prune %s: %.1f%% of prompt tokens computed (%.1f%% at the end), %lld revived\n",
        static_cast<long long>(st.prompt_tokens), static_cast<long long>(st.generated_tokens), st.load_ms, st.ttft_ms,
        st.prefill_tokens_per_s, st.decode_tokens_per_s, activations.c_str(), prune.c_str(),
        st.pruning.prompt_tokens_computed_pct_prefill, st.pruning.prompt_tokens_computed_pct,
        static_cast<long long>(st.pruning.revived_tokens));
    if (flags.Has("--profile")) std::fprintf(stderr, "%s", ProfileTables(session.engine().profile()).c_str());
    WarnIfBlasBelowCpu("run");
    return 0;
  }
  json j = {{"prompt_tokens", prompt},
            {"tokens", result->tokens},
            {"text", GeneratedText(tok, result->tokens)},
            {"prune", prune},
            {"stats", StatsJson(st, session.threads(), activations)}};
  if (flags.Has("--profile")) j["profile"] = ProfileJson(session.engine().profile());
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

}  // namespace

int Run(int argc, char** argv) {
  Flags flags(kRunSpec, argc, argv);
  RunOptions o = ReadRunOptions(flags);
  const bool batch = flags.Has("--batch-file");
  const std::string text = batch ? std::string() : ReadPrompt(flags);
  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/false);
  WarnIfBeyondTrainedContext(model, o.session.max_context, "run");
  auto pruning = lazyllm::PruningOptions::Parse(flags.Get("--prune").value_or("paper"), model.config().num_layers,
                                                o.gen.sampling.seed);
  if (!pruning.ok()) throw CliError{pruning.status().message()};
  ApplyReviveBudget(flags, &*pruning);
  o.session.pruning = *pruning;
  if (flags.Has("--logits") && pruning->method != lazyllm::PruningOptions::Method::kOff)
    throw CliError{"--logits needs --prune off (pruned prompt positions have no logits)"};
  const PromptEncoder encode = MakePromptEncoder(flags, model);
  if (batch)
    return RunBatch(flags, model,
                    {.threads = o.session.threads,
                     .numa = o.session.numa,
                     .kv_type = o.session.kv_type,
                     .kv_mem_bytes = o.kv_mem,
                     .mem_limit_bytes = o.session.mem_limit_bytes,
                     .profile = o.session.profile},
                    o.session, o.gen, encode);
  if (o.kv_mem != 0) throw CliError{"--kv-mem bounds the KV pool of --batch-file"};
  const std::vector<int32_t> prompt = encode(text);
  auto session = lazyllm::Session::Create(model, o.session);
  if (!session.ok()) throw CliError{session.status().message()};
  if (static_cast<int64_t>(prompt.size()) > session->max_context())
    throw CliError{"prompt of " + std::to_string(prompt.size()) + " tokens exceeds the context of " +
                   std::to_string(session->max_context()) + " tokens (-c)"};
  if (flags.Has("--compare"))
    return Compare(model, o.session, prompt, o.gen, flags.Has("--json"), flags.Number<int>("-r", 5, 1, 1000));
  if (flags.Has("-r")) throw CliError{"-r is a flag of --compare"};
  return RunOne(flags, model, *session, o.session.pruning.ToString(), prompt, o.gen);
}

}  // namespace lazyllm::cli
