// Session: an Engine and one Sequence on it: the simple interface for one request at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "lazyllm/engine.h"
#include "lazyllm/model.h"
#include "lazyllm/pruning.h"
#include "lazyllm/status.h"

namespace lazyllm {

namespace internal {
struct SessionAccess;
}

struct SessionOptions {
  // Worker threads; 0 (default) uses every hardware thread available to the process.
  // Larger values are capped at that number (oneTBB never runs more workers than it).
  int threads = 0;
  // NUMA placement (default on): on a machine with several NUMA nodes, one worker arena per
  // node with its threads pinned there, and each weight matrix split by output rows into
  // node-local slices that the node's arena computes. With one node (or off): one arena.
  bool numa = true;
  // Matmuls on quantized weights round each activation row to 8-bit blocks (Q8_K for the
  // K-quants and IQ4_XS, Q8_0 for the 32-element dtypes) and use integer dot products, in prefill
  // and decode, as llama.cpp computes them: each element moves by up to half a step of its
  // block, 1/254 of the block's largest magnitude. exact_activations keeps fp32 activations and
  // dequantizes the weights exactly (slower). F32, F16 and BF16 weights always compute in fp32.
  bool exact_activations = false;
  // Maximum tokens in context (prompt + generated); 0 (default) means the model's trained
  // context length, capped at kDefaultMaxContext (as llama.cpp's default context). The KV
  // cache and the activations are sized for it up front, so a model trained for 128K tokens
  // does not reserve tens of GB unless asked to.
  int64_t max_context = 0;
  static constexpr int64_t kDefaultMaxContext = SequenceOptions::kDefaultMaxContext;
  // Storage of cached keys and values (see KvType); a session's KV memory grows with the
  // (token, layer) pairs it computes.
  KvType kv_type = KvType::kF32;
  // Token pruning; default off (the baseline path). Build it with PruningOptions::Parse.
  PruningOptions pruning;
  // The memory the session may come to need (EngineOptions::mem_limit_bytes); 0: the machine's
  // physical memory. Create refuses a session that could need more, naming the need.
  int64_t mem_limit_bytes = 0;
  // Time the stages of the session's steps (EngineOptions::profile; read them with
  // engine().profile()). Unused by a session on a shared engine.
  bool profile = false;
};

// Not thread-safe: one thread drives a session at a time (its kernels run on its engine's
// workers). Sessions are independent: many threads may each drive their own, on one Model or on
// one shared Engine (whose steps then take turns). A session keeps its Model alive.
class LAZYLLM_API Session {
 public:
  // A session with its own engine (options.threads and options.numa).
  static StatusOr<Session> Create(const Model& model, const SessionOptions& options = {});
  // A session on a shared engine: its workers and placed weights (options.threads and
  // options.numa are the engine's, not these). Steps of sessions of one engine must not overlap.
  static StatusOr<Session> Create(const Engine& engine, const SessionOptions& options = {});
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // Clears the context and runs `tokens` (ids in [0, vocab_size)) at positions 0..n-1 in one
  // batched pass. Afterwards logits() holds the last position's logits. When all_logits is
  // given it receives n × vocab_size logits, row i for position i.
  Status Prefill(std::span<const int32_t> tokens, std::vector<float>* all_logits = nullptr);
  // Runs one token at the next position; logits() then holds its logits. Append of one token.
  Status DecodeStep(int32_t token);
  // Runs `tokens` at the next positions in one pass over the context already there (a chat
  // turn, without re-running the earlier tokens); logits() then holds the last one's logits.
  // With LazyLLM, every token in context and every new one is a selection candidate, scored from
  // the last new token: earlier tokens can be revived from the Aux Cache and new ones dropped
  // (never the last), under the same has_kv / Aux Cache rules as a decode step (docs/lazyllm.md).
  Status Append(std::span<const int32_t> tokens);

  // Progress and cancellation of every later Prefill, Append and DecodeStep: called on this
  // thread after each layer (layers done, of num_layers); returning false cancels the call,
  // which returns kCancelled with the context cleared. An empty function removes it. Returns the
  // callback it replaces (Generate's on_prefill_layer stands in for it during its prefill).
  std::function<bool(int64_t, int64_t)> SetLayerCallback(
      std::function<bool(int64_t layers_done, int64_t num_layers)> callback);

  // Engine::Warmup(tokens) on the session's engine (capped at the session's context); the
  // session's own context is untouched. Call it before timing a first Prefill.
  Status Warmup(int64_t tokens = 0);

  // Logits of the most recent position, vocab_size floats; valid until the next call.
  std::span<const float> logits() const;
  // Tokens in context.
  int64_t position() const;
  int64_t max_context() const;
  int threads() const;
  const PruningOptions& pruning() const;
  // Up to date after every Prefill, Append and DecodeStep.
  PruningStats pruning_stats() const;
  // Bytes of KV pages the session holds.
  int64_t kv_bytes() const;
  const Engine& engine() const;
  Sequence& sequence();
  const Model& model() const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::SessionAccess;
  LAZYLLM_LOCAL explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lazyllm
