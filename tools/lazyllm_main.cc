// The lazyllm command-line tool: run, tokenize and inspect GGUF models (public API only).
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "lazyllm/lazyllm.h"

namespace {

using nlohmann::json;

constexpr const char* kUsage = R"(usage: lazyllm COMMAND [flags]

commands:
  run       -m MODEL (-p TEXT | -f FILE) [-n N] [-t THREADS] [-c CTX] [--temp T] [--top-k K]
            [--top-p P] [--seed S] [--no-bos] [--json] [--logits]
  tokenize  -m MODEL (-p TEXT | -f FILE) [--no-bos] [--json]
  inspect   -m MODEL [--json]

run prints the generated text (or, with --json, one JSON object with the prompt and generated
ids, the text and timing stats; --logits adds the last prompt position's logits and the argmax
at every prompt position). -n 0 stops after the prefill. --temp 0 is greedy decoding.
)";

// A user-facing error: printed as one line on stderr, exit status 1.
struct CliError {
  std::string message;
};

// Flags of one command: "--name" -> value ("" for switches), checked against the allowed set.
class Flags {
 public:
  Flags(int argc, char** argv, int first, const std::map<std::string, bool>& allowed) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      auto it = allowed.find(a);
      if (it == allowed.end()) throw CliError{"unknown flag '" + a + "'"};
      if (values_.count(a)) throw CliError{"flag '" + a + "' given twice"};
      if (it->second) {
        if (i + 1 >= argc) throw CliError{"flag '" + a + "' needs a value"};
        values_[a] = argv[++i];
      } else {
        values_[a] = "";
      }
    }
  }

  bool Has(const std::string& f) const { return values_.count(f) > 0; }
  std::optional<std::string> Get(const std::string& f) const {
    auto it = values_.find(f);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  template <typename T>
  T Number(const std::string& f, T def, T lo, T hi) const {
    auto v = Get(f);
    if (!v) return def;
    T out{};
    const char* b = v->data();
    const char* e = b + v->size();
    auto [p, ec] = std::from_chars(b, e, out);
    if (ec != std::errc() || p != e || v->empty()) throw CliError{"flag '" + f + "': '" + *v + "' is not a valid number"};
    if (out < lo || out > hi)
      throw CliError{"flag '" + f + "': " + *v + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"};
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

std::string ReadPrompt(const Flags& flags) {
  const bool has_p = flags.Has("-p"), has_f = flags.Has("-f");
  if (has_p == has_f) throw CliError{"give exactly one of -p TEXT or -f FILE"};
  if (has_p) return *flags.Get("-p");
  const std::string path = *flags.Get("-f");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError{"cannot read prompt file '" + path + "'"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

lazyllm::Model LoadModel(const Flags& flags, bool vocab_only) {
  auto path = flags.Get("-m");
  if (!path) throw CliError{"missing -m MODEL"};
  lazyllm::LoadOptions opts;
  opts.vocab_only = vocab_only;
  auto model = lazyllm::Model::Load(*path, opts);
  if (!model.ok()) throw CliError{model.status().message()};
  return std::move(model).value();
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int Tokenize(int argc, char** argv) {
  Flags flags(argc, argv, 2, {{"-m", true}, {"-p", true}, {"-f", true}, {"--no-bos", false}, {"--json", false}});
  const std::string text = ReadPrompt(flags);
  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/true);
  const std::vector<int32_t> ids = model.tokenizer().Encode(text, !flags.Has("--no-bos"));
  if (flags.Has("--json")) {
    std::cout << Dump(json{{"tokens", ids}}) << "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

int Inspect(int argc, char** argv) {
  Flags flags(argc, argv, 2, {{"-m", true}, {"--json", false}});
  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/false);
  const lazyllm::ModelConfig& c = model.config();
  const lazyllm::Tokenizer& tok = model.tokenizer();
  std::map<std::string, int> dtype_counts;
  const auto tensors = model.tensors();
  for (const auto& t : tensors) ++dtype_counts[t.dtype];
  int64_t params = 0;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
  }
  json j = {
      {"file", *flags.Get("-m")},
      {"gguf_version", model.gguf_version()},
      {"file_bytes", model.file_bytes()},
      {"architecture", c.architecture},
      {"name", c.name},
      {"parameters", params},
      {"num_layers", c.num_layers},
      {"dim", c.dim},
      {"ffn_dim", c.ffn_dim},
      {"num_heads", c.num_heads},
      {"num_kv_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"rope_dims", c.rope_dims},
      {"rope_theta", c.rope_theta},
      {"rms_eps", c.rms_eps},
      {"context_length", c.context_length},
      {"vocab_size", c.vocab_size},
      {"tied_output", c.tied_output},
      {"tokenizer", {{"model", std::string(tok.kind_name())}, {"pre", std::string(tok.pre_tokenizer())},
                     {"bos_id", tok.bos_id()}, {"eos_id", tok.eos_id()}, {"add_bos", tok.add_bos()}}},
      {"tensor_count", tensors.size()},
      {"dtypes", dtype_counts},
  };
  if (flags.Has("--json")) {
    std::cout << Dump(j) << "\n";
    return 0;
  }
  std::printf("file            %s (GGUF v%u, %lld bytes)\n", flags.Get("-m")->c_str(), model.gguf_version(),
              static_cast<long long>(model.file_bytes()));
  std::printf("architecture    %s%s%s\n", c.architecture.c_str(), c.name.empty() ? "" : ", ", c.name.c_str());
  std::printf("parameters      %lld\n", static_cast<long long>(params));
  std::printf("layers          %lld\n", static_cast<long long>(c.num_layers));
  std::printf("dim / ffn       %lld / %lld\n", static_cast<long long>(c.dim), static_cast<long long>(c.ffn_dim));
  std::printf("heads / kv      %lld / %lld (head_dim %lld, rope dims %lld)\n", static_cast<long long>(c.num_heads),
              static_cast<long long>(c.num_kv_heads), static_cast<long long>(c.head_dim),
              static_cast<long long>(c.rope_dims));
  std::printf("rope theta      %g\nrms eps         %g\n", c.rope_theta, c.rms_eps);
  std::printf("context         %lld\n", static_cast<long long>(c.context_length));
  std::printf("vocab           %lld (%s, pre %s, bos %d, eos %d)\n", static_cast<long long>(c.vocab_size),
              std::string(tok.kind_name()).c_str(), std::string(tok.pre_tokenizer()).c_str(), tok.bos_id(), tok.eos_id());
  std::printf("output          %s\n", c.tied_output ? "tied to token_embd" : "output.weight");
  std::printf("tensors         %zu:", tensors.size());
  for (const auto& [name, count] : dtype_counts) std::printf(" %s×%d", name.c_str(), count);
  std::printf("\n");
  return 0;
}

int Run(int argc, char** argv) {
  Flags flags(argc, argv, 2,
              {{"-m", true}, {"-p", true}, {"-f", true}, {"-n", true}, {"-t", true}, {"-c", true},
               {"--temp", true}, {"--top-k", true}, {"--top-p", true}, {"--seed", true}, {"--no-bos", false},
               {"--json", false}, {"--logits", false}});
  const std::string text = ReadPrompt(flags);
  lazyllm::GenerationOptions gen;
  gen.max_new_tokens = flags.Number<int>("-n", 64, 0, 1 << 24);
  gen.sampling.temperature = flags.Number<float>("--temp", 0.8f, 0.0f, 1e6f);
  gen.sampling.top_k = flags.Number<int>("--top-k", 40, 0, 1 << 30);
  gen.sampling.top_p = flags.Number<float>("--top-p", 0.95f, 1e-6f, 1.0f);
  gen.sampling.seed = flags.Number<uint64_t>("--seed", 0xFFFFFFFFu, 0, UINT64_MAX);
  lazyllm::SessionOptions sopts;
  sopts.threads = flags.Number<int>("-t", 0, 0, 4096);
  sopts.max_context = flags.Number<int64_t>("-c", 0, 0, int64_t{1} << 22);
  const bool as_json = flags.Has("--json");
  if (flags.Has("--logits") && !as_json) throw CliError{"--logits needs --json"};

  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/false);
  const lazyllm::Tokenizer& tok = model.tokenizer();
  const std::vector<int32_t> prompt = tok.Encode(text, !flags.Has("--no-bos"));
  if (prompt.empty()) throw CliError{"the prompt tokenizes to nothing (empty text with --no-bos)"};
  auto session = lazyllm::Session::Create(model, sopts);
  if (!session.ok()) throw CliError{session.status().message()};
  if (static_cast<int64_t>(prompt.size()) > session->max_context())
    throw CliError{"prompt of " + std::to_string(prompt.size()) + " tokens exceeds the context of " +
                   std::to_string(session->max_context()) + " tokens (-c)"};

  std::vector<float> prompt_logits;
  if (flags.Has("--logits")) gen.prompt_logits = &prompt_logits;
  if (!as_json) {
    gen.on_token = [&](int32_t id) {
      if (!tok.IsEndOfGeneration(id)) {
        const std::string piece = tok.TokenBytes(id);
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
      return true;
    };
  }
  auto result = lazyllm::Generate(*session, prompt, gen);
  if (!result.ok()) throw CliError{result.status().message()};
  const lazyllm::Stats& st = result->stats;
  if (!as_json) {
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "prompt %lld tokens, generated %lld; load %.1f ms, TTFT %.1f ms, prefill %.1f tok/s, decode %.1f tok/s\n",
                 static_cast<long long>(st.prompt_tokens), static_cast<long long>(st.generated_tokens), st.load_ms,
                 st.ttft_ms, st.prefill_tokens_per_s, st.decode_tokens_per_s);
    return 0;
  }
  std::vector<int32_t> shown;
  for (int32_t id : result->tokens)
    if (!tok.IsEndOfGeneration(id)) shown.push_back(id);
  std::string out_text;
  for (int32_t id : shown) out_text += tok.TokenBytes(id);
  json j = {
      {"prompt_tokens", prompt},
      {"tokens", result->tokens},
      {"text", out_text},
      {"stats", {{"prompt_tokens", st.prompt_tokens}, {"generated_tokens", st.generated_tokens},
                 {"load_ms", st.load_ms}, {"ttft_ms", st.ttft_ms}, {"prefill_tokens_per_s", st.prefill_tokens_per_s},
                 {"decode_tokens_per_s", st.decode_tokens_per_s}, {"threads", session->threads()}}},
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    if (cmd == "run") return Run(argc, argv);
    if (cmd == "tokenize") return Tokenize(argc, argv);
    if (cmd == "inspect") return Inspect(argc, argv);
    std::fprintf(stderr, "lazyllm: error: unknown command '%s' (run, tokenize, inspect; see lazyllm --help)\n", cmd.c_str());
    return 2;
  } catch (const CliError& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.message.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
