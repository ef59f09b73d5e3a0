// Causal multi-head attention with grouped KV heads over a set of keys, in two forms:
//  - tiled (prefill): per (KV head, query block) task, the block's query rows of every head in
//    the group are packed into one matrix; key tiles stream through S = Q·Kᵀ and O += P·V as
//    sgemm calls with an online softmax between them, so the full n×n score matrix never
//    exists and key tiles past the block's causal limit are skipped;
//  - direct (decode, a few rows): per (head, row), dot products over the keys, softmax, and an
//    accumulation of value rows; over many keys, as three parallel loops that read each key and
//    value row once per KV head (RunDirectMany).
// Keys are given as K and V matrices (KeyMatrix: one per KV head, or all heads side by side),
// which the caller points at the KV cache when the live keys are consecutive slots and otherwise
// at a compacted copy. Query row i sees keys [key_begin[i], key_count[i]) (key_begin null: from 0);
// key_count and key_begin are non-decreasing. Logits are q·k·scale, soft-capped to
// softcap·tanh(logit/softcap) when softcap > 0, then softmaxed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "simd/kernels.h"
#include "threading/context.h"

namespace lazyllm {

struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 0.0f;    // 0: 1/sqrt(head_dim)
  float softcap = 0.0f;  // 0: none
};

// Keys and values: KV head h of key j at k + h·head_stride + r·ld and v + h·head_stride + r·ld,
// with r = rows[j], or r = j when rows is null (only the direct form and MeanHeadProbs read keys
// through rows). A row-major matrix of all heads has ld = kv_heads·hd and head_stride = hd; one
// matrix per KV head (the KV cache's layout) has ld = hd.
struct KeyMatrix {
  KeyMatrix(const float* k, const float* v, int64_t ld, int64_t head_stride, const int64_t* rows = nullptr)
      : k(k), v(v), ld(ld), head_stride(head_stride), rows(rows) {}
  const float* k;
  const float* v;
  int64_t ld;           // floats between a KV head's consecutive rows
  int64_t head_stride;  // floats between consecutive KV heads' rows
  const int64_t* rows;
};

// Stateless after construction (scratch comes from the workers' threads and the caller), so one
// object serves concurrent steps.
class Attention {
 public:
  Attention(const simd::Kernels& kernels, AttentionShape shape);

  // out[i, h·hd : (h+1)·hd] = softmax_j(logit(q_i,h, k_j)) · v_j over key_begin[i] <= j <
  // key_count[i] (key_begin null: from 0), for n query rows of q (row stride heads·hd) and every
  // head h. probs: the direct form's scratch (RunDirectMany), grown as needed and kept by the caller.
  void Run(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count, KeyMatrix keys,
           float* out, const int64_t* key_begin, std::vector<float>& probs) const;

  // One sequence's direct-form work in RunDirectMany.
  struct DirectJob {
    const float* q;
    int64_t n;
    const int64_t* key_count;
    const int64_t* key_begin;  // null: from 0
    KeyMatrix keys;
    float* out;
    float* mean_probs = nullptr;  // non-null: MeanHeadProbs of the last row, from this pass's probabilities
  };
  // Run's direct form for several sequences at once (a decode step of a batch). With at most
  // kKeyBlock keys per job, one parallel loop over (sequence, KV head, share of its query heads,
  // row). Otherwise three: scores over (sequence, KV head, block of keys), softmax over (sequence,
  // row, head), weighted sums over (sequence, KV head, chunk of columns); every (row, head)'s
  // probabilities are kept in probs between them. Either way each result has the bits of the
  // kernel calls of one head at a time.
  void RunDirectMany(const threading::Workers& workers, std::span<const DirectJob> jobs,
                     std::vector<float>& probs) const;

  // Attention probabilities of one query row (q_row: heads·hd) over keys [begin, nk), averaged
  // over heads into scores[0, nk) (keys before begin score 0): the importance used by LazyLLM's
  // selection. head_probs: scratch of heads·nk floats.
  void MeanHeadProbs(const threading::Workers& workers, const float* q_row, int64_t nk, KeyMatrix keys, float* scores,
                     float* head_probs, int64_t begin = 0) const;

  // Query rows per tiled task and keys per tile.
  int64_t query_block() const { return query_block_; }
  static constexpr int64_t kKeyTile = 256;
  // The most keys of the direct form's one-loop form.
  static constexpr int64_t kKeyBlock = 512;
  // Keys per scoring task of its three-loop form: 32 KiB of fp32 keys of a 64-wide head, which
  // every query head of the group, in every row of the step (a decode's revived rows), then reads
  // from L1. (Blocks of 512, in L2, took 8% longer with 5 rows in core_bench's
  // DecodeAttentionLayers, and no less with 1.)
  static constexpr int64_t kScoreBlock = 128;
  // Below this many query rows the direct form runs.
  static constexpr int64_t kTiledMinRows = 8;

 private:
  void Tiled(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count,
             const int64_t* key_begin, KeyMatrix keys, float* out) const;
  void Direct(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count,
              const int64_t* key_begin, KeyMatrix keys, float* out, std::vector<float>& probs) const;
  // Query heads [h0, h0 + heads) of row i of a direct job, all of one KV head's group: their
  // scores, probabilities (in s, scratch of heads · key_count[i] floats) and outputs, the keys and
  // values read once for all of them.
  void DirectHeads(const DirectJob& job, int64_t i, int64_t h0, int64_t heads, float* s) const;
  // scores[0, nk) = the mean over heads of head_probs[h·stride + j] for j in [begin, nk), 0 before.
  void AverageHeads(const float* head_probs, int64_t stride, int64_t begin, int64_t nk, float* scores) const;
  // Soft-caps n logits in place (no-op without a cap).
  void SoftCap(float* s, int64_t n) const;

  const simd::Kernels& k_;
  AttentionShape s_;
  int64_t group_, query_block_;
  float scale_, softcap_;
};

}  // namespace lazyllm
