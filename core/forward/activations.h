// The activations of one step: the stacked rows of every sequence in it (row i of each matrix
// belongs to the sequence whose segment holds i), grown on demand to the most rows computed at
// once and kept between steps, so the forward pass allocates only when a step is the largest yet.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/forward/attention.h"
#include "core/forward/matmul.h"
#include "threading/per_thread.h"

namespace lazyllm {

// Where an FFN's intermediate rows go: gate and up, [rows][width], and the matmuls' inputs.
struct FfnScratch {
  float* gate;
  float* up;
  GemvInputs& gemv;
};

struct Activations {
  static constexpr int64_t kFfnChunk = 512;  // rows per pass through the MLP block
  // A mixture of experts routes and sums blocks of kMoeBlock rows, and runs an expert over at most
  // kExpertRows of a block's rows at a time (on one thread, or on all).
  static constexpr int64_t kMoeBlock = kFfnChunk, kExpertRows = 64;
  std::vector<float> x, xn;                    // [rows][dim]: residual stream; normalised / block-output rows
  std::vector<float> q, attn;                  // [rows][heads·head_dim]: queries, attention output
  std::vector<float> k, v;                     // [rows][kv_heads·head_dim]: the rows' keys and values
  std::vector<float> gate, up;                 // [min(rows, kFfnChunk)][widest FFN]
  std::vector<int64_t> key_count;              // [rows]: the live keys each row attends to
  std::vector<int64_t> key_begin;              // [rows]: its first visible live key (sliding windows)
  std::vector<float> kc, vc;                   // [kv_heads][keys][head_dim]: live K/V gathered into fp32
  std::vector<std::vector<int64_t>> key_rows;  // per segment: its live keys' cache rows (read through, or gathered)
  std::vector<float> head_probs;               // [heads][keys]: scratch of the score reduction
  std::vector<float> probs;                    // [rows][heads][keys]: scratch of the direct attention
  std::vector<float> head_logits;              // [sequences][vocab]: LM head over each sequence's last row
  std::vector<Attention::DirectJob> direct;    // a layer's decode-attention jobs, run together
  // The scratch of one expert's FFN computed on one thread: gate and up [kExpertRows][expert width].
  struct ExpertScratch {
    std::vector<float> gate, up;
    GemvInputs gemv;
  };
  // A mixture of experts' scratch: router logits [rows][experts]; each row's experts and weights
  // [rows][used]; per block of kMoeBlock rows, its (row, expert) pairs grouped by expert into
  // slots (each slot's row and weight, each expert's first slot, each pair's slot), the slots'
  // rows gathered [slots][dim], the sum over experts [block rows][dim]; each thread's scratch.
  struct Moe {
    std::vector<float> logits;
    std::vector<int32_t> chosen;
    std::vector<float> weight;
    std::vector<int64_t> rows, first, slot_of;
    std::vector<float> row_weight;
    std::vector<float> in, sum;
    threading::PerThread<ExpertScratch> scratch;
  } moe;
  GemvInputs gemv;
  int64_t row_cap = 0;

  // The dense FFN's scratch (also the shared expert's, and a routed expert's when it runs over
  // all threads).
  FfnScratch Ffn() { return {gate.data(), up.data(), gemv}; }

  // Makes room for `rows` stacked rows, keeping the rows already there.
  void Reserve(int64_t rows, int64_t dim, int64_t q_dim, int64_t kv_dim, int64_t ffn_dim) {
    if (rows <= row_cap) return;
    row_cap = rows;
    const auto r = static_cast<size_t>(rows);
    for (auto* m : {&x, &xn}) m->resize(r * dim);
    for (auto* m : {&q, &attn}) m->resize(r * q_dim);
    for (auto* m : {&k, &v}) m->resize(r * kv_dim);
    for (auto* m : {&gate, &up}) m->resize(static_cast<size_t>(std::min(rows, kFfnChunk) * ffn_dim));
  }
};

}  // namespace lazyllm
