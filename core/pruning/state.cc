// A sequence's LazyLLM state: the schedule per layer, the Aux Cache layers, the computed share.
#include "core/pruning/state.h"

namespace lazyllm {

std::vector<bool> AuxLayers(const PruningOptions& options, int64_t num_layers) {
  std::vector<bool> aux(static_cast<size_t>(num_layers), false);
  if (options.method == PruningOptions::Method::kLazy)
    for (const auto& s : options.steps) aux[s.layer - 1] = true;
  return aux;
}

PruningState::PruningState(const PruningOptions& o, int64_t num_layers, int64_t max_positions, int64_t dim)
    : options(o),
      step_k(static_cast<size_t>(num_layers), -1.0),
      tokens(num_layers, max_positions, dim, AuxLayers(o, num_layers)) {
  if (options.method == PruningOptions::Method::kLazy || options.method == PruningOptions::Method::kStatic)
    for (const auto& st : options.steps) step_k[st.layer] = st.k;
}

void PruningState::Clear() {
  tokens.Clear();
  stats = PruningStats();
}

double PruningState::ComputedPct(int64_t prompt_len) const {
  if (prompt_len == 0) return 100.0;
  int64_t sum = 0;
  for (int64_t l = 0; l < num_layers(); ++l) sum += tokens.CountKv(l, prompt_len);
  return 100.0 * static_cast<double>(sum) / static_cast<double>(num_layers() * prompt_len);
}

}  // namespace lazyllm
