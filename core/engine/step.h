// One step of an engine: its sequences' rows planned layer by layer and run through the layer
// math. A step begins each sequence's rows (a prefill's prompt, an append's new tokens), embeds
// them, and at each layer applies the LazyLLM selections of the sequences that select there,
// gives every row its K/V row, runs the layer, and reports progress (a cancelled item's rows
// leave); at the end the LM head computes each sequence's logits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/forward/activations.h"
#include "core/forward/layer.h"
#include "core/pruning/selection.h"
#include "lazyllm/engine.h"
#include "lazyllm/status.h"

namespace lazyllm {

// One sequence's part of a step.
struct SeqStep {
  Sequence::Impl* seq = nullptr;
  StepItem* item = nullptr;
  bool prefill = false;  // a prefill or its resumption
  bool resume = false;   // rows from the sequence's parked prefill, not from tokens
  int64_t tokens = 0;    // the tokens it adds to the context (a resumed prefill's prompt)
  // Layers it runs in this step: [first_layer, last_layer), beginning `at` into the first. A
  // prefill cut by max_layers or max_flops runs alone in its step: it stops at last_layer, or
  // inside a layer once it has spent its `budget` of flops; parked is set when it stopped early.
  int64_t first_layer = 0, last_layer = 0;
  LayerCut at;
  double budget = 0;  // flops it may still spend in this step (infinite: no limit)
  bool ran = false;   // it has run a range of rows in this step
  bool parked = false;
  Status failed;       // its rows left the step (the KV pool is full, its item was cancelled, ...)
  int64_t future = 0;  // the sequence's promised tokens after this step's
  int64_t begin = 0;   // its first row in the stacked activations
  StepRows rows;       // its rows and keys at the current layer

  bool active() const { return failed.ok(); }
};

// What a step works in besides the activations, kept by the engine between steps.
struct StepScratch {
  std::vector<SeqStep> seqs;  // one per item (their vectors keep their capacity)
  LayerRows layer;
  SelectScratch select;
};

// Runs one step over `seqs` (checked items of distinct sequences of the engine). A sequence that
// fails sets its `failed`; the others' results do not depend on it.
void RunStep(const Forward& f, std::span<SeqStep> seqs, StepScratch& scratch, Activations& a);

}  // namespace lazyllm
