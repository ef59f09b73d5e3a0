// `lazyllm quantize IN.gguf OUT.gguf TYPE`: rewrite a float model in a llama.cpp file type.
#include <cstdio>
#include <map>

#include "tools/cli.h"

namespace lazyllm::cli {

int Quantize(int argc, char** argv) {
  const CommandSpec spec = {
      .name = "quantize",
      .summary = "Rewrites an F32/F16/BF16 model as TYPE with llama.cpp's per-tensor mix.",
      .own = {{"-t", "N", "threads (default 0: one per core)"}, {"-v", "", "list every tensor's type on stderr"}},
      .notes = "TYPE: " + Join(QuantizeFileTypes()) + R"(.
output.weight (or a tied token_embd) becomes Q6_K; attn_v and ffn_down go one step up on the
"more bits" layers of *_m types; rows a 256-element block does not divide take fallback types.)",
      .positional = "IN.gguf OUT.gguf TYPE",
      .max_positional = 3};
  Flags flags(spec, argc, argv);
  const std::vector<std::string>& pos = flags.Positional();
  if (pos.size() != 3)
    throw CliError{
        "usage: lazyllm quantize IN.gguf OUT.gguf TYPE [-t THREADS] [-v] (TYPE: " + Join(QuantizeFileTypes()) + ")"};
  QuantizeOptions opts;
  opts.file_type = pos[2];
  opts.threads = flags.Number<int>("-t", 0, 0, 4096);
  if (pos[0] == pos[1]) throw CliError{"IN and OUT are the same file '" + pos[0] + "'"};
  auto report = QuantizeModel(pos[0], pos[1], opts);
  if (!report.ok()) throw CliError{report.status().message()};
  std::map<std::string, int> counts;
  for (const QuantizedTensor& t : report->tensors) {
    ++counts[t.to];
    if (flags.Has("-v")) std::fprintf(stderr, "  %-32s %-5s -> %s\n", t.name.c_str(), t.from.c_str(), t.to.c_str());
  }
  std::string mix;
  for (const auto& [type, n] : counts) mix += (mix.empty() ? "" : ", ") + std::to_string(n) + " " + type;
  std::fprintf(stderr, "wrote %s (%s): %s; %lld -> %lld bytes; %d fallback%s\n", pos[1].c_str(), pos[2].c_str(),
               mix.c_str(), static_cast<long long>(report->in_bytes), static_cast<long long>(report->out_bytes),
               report->fallbacks, report->fallbacks == 1 ? "" : "s");
  return 0;
}

}  // namespace lazyllm::cli
