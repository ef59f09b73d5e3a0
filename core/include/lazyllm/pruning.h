// LazyLLM pruning schedules: parsing and resolution of `--prune` specs against a model's depth.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm {

struct LAZYLLM_API PruningOptions {
  enum class Method {
    kOff,     // no pruning: the baseline path
    kLazy,    // LazyLLM: progressive prefill pruning, decode re-selection, Aux Cache revival
    kStatic,  // prune once in the prefill at one layer, never revive
    kRandom,  // drop a fraction of prompt tokens uniformly at random before layer 0 (seeded)
  };
  struct Step {
    int64_t layer;  // selection happens at this layer's input, from layer-1's scores
    double k;       // fraction of the current candidates dropped there, in [0, 1)
  };

  Method method = Method::kOff;
  std::vector<Step> steps;  // kLazy: sorted by layer, unique; kStatic: one step; else empty
  double random_k = 0.0;    // kRandom only
  uint64_t seed = 0;        // kRandom only
  // kLazy: the revival bound R (DESIGN §3). A decode step revives at most R tokens at each
  // pruning layer, the selected ones of highest score (ties: the later position); the others are
  // treated as not selected there in this step and stay revivable from the Aux Cache. -1: no
  // bound. `paper` sets kPaperReviveBudget (measured in docs/performance.md: it keeps the needle
  // sets' and the sample model's accuracy and decode at the baseline's speed); a spec sets it
  // with a `revive:R` item.
  int64_t revive_budget = -1;
  static constexpr int64_t kPaperReviveBudget = 2;

  // Parses `spec` for a model of num_layers layers:
  //   off | paper[,revive:R] | L:k[,L:k...][,revive:R] | static:L:k | random:k
  // (R a count, or inf for no bound)
  // `paper` places k = 0.3 at floor(f·L + 0.5) for f = 9/32, 19/32, 28/32, clamped to 1..L-1,
  // duplicates merged. Errors name the offending part: a layer outside 1..L-1, k outside
  // [0, 1), a duplicate layer, or text that is not a schedule.
  static StatusOr<PruningOptions> Parse(std::string_view spec, int64_t num_layers, uint64_t seed = 0);

  // The schedule written back in the `L:k,...` form (e.g. "9:0.3,19:0.3,28:0.3"), with
  // ",revive:R" when the revival bound is set.
  std::string ToString() const;

  // Tokens dropped from a candidate set of `candidates` tokens at fraction k: floor(k·|S|),
  // never the last token.
  static int64_t NumDropped(double k, int64_t candidates);

  // Fraction of the baseline's prompt token-layer work this schedule computes in the prefill
  // for a prompt of n tokens (the drop arithmetic is exact: floor(k·|S|) per step).
  double PrefillWorkFraction(int64_t num_layers, int64_t n) const;
};

}  // namespace lazyllm
