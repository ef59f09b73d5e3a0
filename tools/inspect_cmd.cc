// `lazyllm inspect`: a model's architecture, shapes, features, tokenizer and tensor types.
#include <cstdio>
#include <iostream>
#include <map>
#include <variant>

#include "tools/cli.h"

namespace lazyllm::cli {

namespace {

// What inspect reports beyond the config: parameters, tensors per dtype, the features.
struct Summary {
  int64_t params = 0;
  size_t tensors = 0;
  std::map<std::string, int> dtype_counts;
  json features = json::object();  // every feature of the architecture table with its value
  std::string feature_line;        // the features the model uses, named
};

Summary Summarize(const lazyllm::Model& model) {
  Summary s;
  const auto tensors = model.tensors();
  s.tensors = tensors.size();
  for (const auto& t : tensors) {
    ++s.dtype_counts[t.dtype];
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    s.params += n;
  }
  for (const lazyllm::ModelFeature& f : model.features()) {
    s.features[f.key] = std::visit([](const auto& v) { return json(v); }, f.value);
    if (!f.description.empty()) s.feature_line += (s.feature_line.empty() ? "" : ", ") + f.description;
  }
  return s;
}

json InspectJson(const std::string& path, const lazyllm::Model& model, const Summary& s) {
  const lazyllm::ModelConfig& c = model.config();
  const lazyllm::Tokenizer& tok = model.tokenizer();
  return {
      {"file", path},
      {"gguf_version", model.gguf_version()},
      {"file_bytes", model.file_bytes()},
      {"architecture", c.architecture},
      {"name", c.name},
      {"parameters", s.params},
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
      {"features", s.features},
      {"chat_template", std::string(lazyllm::ChatTemplateName(lazyllm::DetectChatTemplate(model.chat_template())))},
      {"tokenizer",
       {{"model", std::string(tok.kind_name())},
        {"pre", std::string(tok.pre_tokenizer())},
        {"bos_id", tok.bos_id()},
        {"eos_id", tok.eos_id()},
        {"add_bos", tok.add_bos()}}},
      {"tensor_count", s.tensors},
      {"dtypes", s.dtype_counts},
  };
}

void PrintInspect(const std::string& path, const lazyllm::Model& model, const Summary& s) {
  const lazyllm::ModelConfig& c = model.config();
  const lazyllm::Tokenizer& tok = model.tokenizer();
  const std::string chat = std::string(lazyllm::ChatTemplateName(lazyllm::DetectChatTemplate(model.chat_template())));
  std::printf("file            %s (GGUF v%u, %lld bytes)\n", path.c_str(), model.gguf_version(),
              static_cast<long long>(model.file_bytes()));
  std::printf("architecture    %s%s%s\n", c.architecture.c_str(), c.name.empty() ? "" : ", ", c.name.c_str());
  std::printf("features        %s\n", s.feature_line.c_str());
  std::printf("chat template   %s\n", model.chat_template().empty() ? "none" : chat.c_str());
  std::printf("parameters      %lld\n", static_cast<long long>(s.params));
  std::printf("layers          %lld\n", static_cast<long long>(c.num_layers));
  std::printf("dim / ffn       %lld / %lld\n", static_cast<long long>(c.dim), static_cast<long long>(c.ffn_dim));
  std::printf("heads / kv      %lld / %lld (head_dim %lld, rope dims %lld)\n", static_cast<long long>(c.num_heads),
              static_cast<long long>(c.num_kv_heads), static_cast<long long>(c.head_dim),
              static_cast<long long>(c.rope_dims));
  std::printf("rope theta      %g\nrms eps         %g\n", c.rope_theta, c.rms_eps);
  std::printf("context         %lld\n", static_cast<long long>(c.context_length));
  std::printf("vocab           %lld (%s, pre %s, bos %d, eos %d)\n", static_cast<long long>(c.vocab_size),
              std::string(tok.kind_name()).c_str(), std::string(tok.pre_tokenizer()).c_str(), tok.bos_id(),
              tok.eos_id());
  std::printf("output          %s\n", c.tied_output ? "tied to token_embd" : "output.weight");
  std::printf("tensors         %zu:", s.tensors);
  for (const auto& [name, count] : s.dtype_counts) std::printf(" %s×%d", name.c_str(), count);
  std::printf("\n");
}

}  // namespace

int Inspect(int argc, char** argv) {
  const CommandSpec spec = {.name = "inspect",
                            .summary = "Prints a model's architecture, shapes, features, tokenizer and tensor types.",
                            .shared = {"-m", "--json"}};
  Flags flags(spec, argc, argv);
  lazyllm::Model model = LoadModel(flags, /*vocab_only=*/false);
  const Summary summary = Summarize(model);
  if (flags.Has("--json"))
    std::cout << Dump(InspectJson(*flags.Get("-m"), model, summary)) << "\n";
  else
    PrintInspect(*flags.Get("-m"), model, summary);
  return 0;
}

}  // namespace lazyllm::cli
