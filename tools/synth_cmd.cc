// `lazyllm synth`: write a random-weight model in a real model's shape.
#include <cstdio>

#include "tools/cli.h"
#include "tools/synth/synth.h"

namespace lazyllm::cli {

int Synth(int argc, char** argv) {
  const CommandSpec spec = {
      .name = "synth",
      .summary =
          "Writes a Llama GGUF with random weights in a preset's shape and the stories260K vocabulary, or the "
          "constructed retrieval model (preset needle).",
      .own = {{"--preset", "NAME",
               "tiny-gqa, smollm2-135m, llama3.2-1b, llama2-7b, qwen3-30b-a3b or mixtral-tiny (random weights in that "
               "shape; the last two mixtures of experts), or needle (exact "
               "key-value retrieval, docs/needle.md)"},
              {"--dtype", "DTYPE", "weight dtype (default f32): " + SynthDTypeNames()},
              {"-o", "OUT.gguf", "the file to write"},
              {"--layers", "N", "layers (default: the preset's; needle: 16)"},
              {"--context", "N", "context length (default: the preset's; needle: 32768, at most 65536)"},
              {"--seed", "S", "seed of the random weights (default 0)"}},
      .notes =
          "Rows a dtype's block does not divide take llama.cpp's fallback type. The needle model's weights are "
          "set, not drawn: --seed does not change it; make its eval sets with `lazyllm eval --make-set needle`."};
  Flags flags(spec, argc, argv);
  SynthOptions opts;
  if (!flags.Has("--preset")) throw CliError{"missing --preset NAME"};
  if (!flags.Has("-o")) throw CliError{"missing -o OUT.gguf"};
  opts.preset = *flags.Get("--preset");
  opts.dtype = flags.Get("--dtype").value_or("f32");
  opts.layers = flags.Number<int64_t>("--layers", 0, 1, 1024);
  opts.context = flags.Number<int64_t>("--context", 0, 1, 1 << 20);
  opts.seed = flags.Number<uint64_t>("--seed", 0, 0, UINT64_MAX);
  const std::string out = *flags.Get("-o");
  if (auto st = Synthesize(opts, out); !st.ok()) throw CliError{st.message()};
  auto model = Model::Load(out);
  if (!model.ok()) throw CliError{"wrote '" + out + "' but it does not load: " + model.status().message()};
  const ModelConfig& c = model->config();
  std::fprintf(stderr, "wrote %s: %s %s, %lld layers, dim %lld, %lld bytes\n", out.c_str(), opts.preset.c_str(),
               opts.dtype.c_str(), static_cast<long long>(c.num_layers), static_cast<long long>(c.dim),
               static_cast<long long>(model->file_bytes()));
  return 0;
}

}  // namespace lazyllm::cli
