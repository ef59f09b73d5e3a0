// `lazyllm synth`: write a random-weight model in a real model's shape.
#include <cstdio>

#include "tools/cli.h"

namespace lazyllm::cli {

int Synth(int argc, char** argv) {
  Flags flags(argc, argv, 2, {{"--preset", true}, {"--dtype", true}, {"-o", true}, {"--layers", true}, {"--seed", true}});
  SynthOptions opts;
  if (!flags.Has("--preset")) throw CliError{"missing --preset NAME"};
  if (!flags.Has("-o")) throw CliError{"missing -o OUT.gguf"};
  opts.preset = *flags.Get("--preset");
  opts.dtype = flags.Get("--dtype").value_or("f32");
  opts.layers = flags.Number<int64_t>("--layers", 0, 1, 1024);
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
