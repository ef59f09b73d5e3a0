// ThreadContext, Engine and Sequence. A thread context holds the worker threads (one pinned
// arena per NUMA node) that engines may share; an engine holds what the sequences of one model
// share (the weights placed on the context's NUMA nodes, the activations of one forward pass,
// the KV page pool); a sequence is one request's state (its KV cache, LazyLLM token state,
// position, sampler, stats). Engine::Step runs one forward pass over work from many sequences.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "lazyllm/model.h"
#include "lazyllm/pruning.h"
#include "lazyllm/sampling.h"
#include "lazyllm/status.h"

namespace lazyllm {
namespace internal {
struct EngineAccess;
struct SequenceAccess;
}  // namespace internal

// Storage of cached keys and values: fp32 (exact, the default) or IEEE half (half the bytes;
// keys and values are rounded to 11 significant bits when written).
enum class KvType { kF32, kF16 };

struct ThreadingOptions {
  // Worker threads; 0 (default) uses every hardware thread the process may use (more are capped
  // at that number).
  int threads = 0;
  // With several NUMA nodes (hwloc), one arena per node with its workers pinned there, and each
  // engine's weight matrices split by output rows into node-local slices that the node's arena
  // computes (default on); results are identical either way.
  bool numa = true;
};

// The worker threads of a process's engines: the machine's topology, the worker arenas and
// their per-thread scratch. Engines created on one context share its workers and, for one
// model, one placement of its weights (one node-local copy per NUMA node, not one per engine).
// Their steps may run at the same time; each waits for workers the others hold. A shared handle,
// cheap to copy and thread-safe; it lives while any engine on it does.
class LAZYLLM_API ThreadContext {
 public:
  static StatusOr<ThreadContext> Create(const ThreadingOptions& options = {});

  int threads() const;
  // Worker arenas: one per NUMA node with NUMA placement, else 1.
  int arenas() const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::EngineAccess;
  LAZYLLM_LOCAL explicit ThreadContext(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

struct EngineOptions {
  // Worker threads and NUMA placement of the engine's own thread context (ThreadingOptions);
  // unused by an engine created on a shared context.
  int threads = 0;
  bool numa = true;
  KvType kv_type = KvType::kF32;
  // Bytes of KV pages all sequences together may hold; 0 (default) means no limit. A sequence
  // that needs a page when the pool is full gets a ResourceExhausted error (GenerateBatch waits
  // instead: a request is admitted only when its prefill and its tokens fit).
  int64_t kv_mem_bytes = 0;
  // Bytes one sequence may come to need: its KV cache with every layer holding its whole context,
  // the activations of a prefill of that length, and its bookkeeping (per-layer maps and bits,
  // the Aux Cache, RoPE tables); 0 (default) means the machine's physical memory. NewSequence
  // refuses a sequence that needs more, naming the need, before allocating anything.
  int64_t mem_limit_bytes = 0;
  // Time the stages of every step (Engine::profile): two clock reads around each of a layer's
  // named steps, a few hundred a step; results do not change. Off by default.
  bool profile = false;
};

// Where an engine's steps spent their wall time (EngineOptions::profile), summed since it was
// created or Engine::ResetProfile: per stage of the forward pass, for decode steps (every item
// appends one token, LazyLLM's revived rows included) and for the others (prefills, and steps
// that mix both). The stages are timed on the stepping thread around each stage's parallel
// loops, so a stage's time includes waiting for its slowest worker; the step time they leave
// over is the step's bookkeeping (planning the layer's rows, copying logits).
struct LAZYLLM_API StepProfile {
  enum Stage {
    kEmbed,      // token embeddings
    kSelect,     // LazyLLM's selections (and revivals) at the layers' inputs
    kNorms,      // RMS norms (the final one included) and residual additions
    kQkv,        // q, k and v projections
    kRopeKv,     // Q/K norms, RoPE, K/V writes to the cache
    kAttention,  // attention over each sequence's keys
    kOutput,     // attention output projection
    kFfn,        // the MLP (or the mixture of experts, router included)
    kLmHead,     // the LM head's matmul (and the final soft-cap)
    kStages
  };
  // A stage's short name ("qkv", "attention", ...) for tables and JSON.
  static const char* Name(Stage stage);
  struct Totals {
    double seconds = 0;
    int64_t calls = 0;
    // Weight bytes its matmuls read (0 for stages without weights and for mixtures of experts).
    int64_t weight_bytes = 0;
  };
  struct Phase {
    int64_t steps = 0;
    int64_t rows = 0;    // tokens the steps took in (a decode step: one per sequence)
    double seconds = 0;  // the steps' wall time
    std::array<Totals, kStages> stages;
  };
  Phase prefill, decode;
};

// What pruning did in a sequence (all zero-drop / 100% with pruning off).
struct PruningStats {
  // Live rows entering each layer in the last prefill.
  std::vector<int64_t> kept_per_layer;
  // For each selection step of the last prefill: the positions kept at its input (for the
  // random baseline: one entry, the positions kept before layer 0).
  std::vector<std::vector<int64_t>> kept_positions;
  // Revivals from the Aux Cache since the last prefill (one per token and layer revived at).
  int64_t revived_tokens = 0;
  // Revivals skipped because the engine's KV pool (kv_mem_bytes) had no page for them: the
  // token stayed dropped at that step. Always 0 without a pool limit; while it is 0 a sequence's
  // results are those of its solo run.
  int64_t revivals_skipped = 0;
  // Revivals deferred by the revival bound (PruningOptions::revive_budget): selected tokens past
  // the budget at a layer, left in the Aux Cache for a later step (one per token and layer).
  int64_t revivals_deferred = 0;
  // 100 · Σ_l |has_kv[l] ∩ prompt| / (L · N_prompt), after the prefill and now.
  double prompt_tokens_computed_pct_prefill = 100.0;
  double prompt_tokens_computed_pct = 100.0;
  // (token, layer) pairs computed since the prefill began (LazyLLM computes each at most once:
  // an internal check ends the process if a pair were computed twice).
  int64_t computed_pairs = 0;
  // Mixtures of experts: (row, expert) pairs computed since the prefill began, and as many as
  // every token at every layer would have taken (tokens × layers × experts used); a pruned row
  // skips its router and its experts.
  int64_t expert_rows = 0;
  int64_t expert_rows_unpruned = 0;
};

struct SequenceOptions {
  // Maximum tokens in context; 0 (default) means the model's trained context length, capped at
  // kDefaultMaxContext. KV memory is taken as rows are computed, not for the whole context.
  int64_t max_context = 0;
  static constexpr int64_t kDefaultMaxContext = 4096;
  // Token pruning; default off. Build it with PruningOptions::Parse.
  PruningOptions pruning;
  // Matmuls on quantized weights with fp32 activations and exactly dequantized weights instead
  // of 8-bit activations (see SessionOptions). Every sequence of one step must agree.
  bool exact_activations = false;
};

class Engine;

// One request's state; move-only. Create it with Engine::NewSequence and drive it with
// Engine::Step. Its KV pages return to the engine's pool when it is destroyed.
class LAZYLLM_API Sequence {
 public:
  Sequence(Sequence&&) noexcept;
  Sequence& operator=(Sequence&&) noexcept;
  ~Sequence();

  // Logits of the most recent position, vocab_size floats; valid until its next step.
  std::span<const float> logits() const;
  // The sequence's sampler: SetSampling replaces it (the random stream restarts from the seed;
  // a new sequence has SamplingOptions' defaults); Sample draws the next token from logits().
  Status SetSampling(const SamplingOptions& options);
  int32_t Sample();
  // Tokens in context.
  int64_t position() const;
  // Whether a prefill cut short (StepItem::max_layers or max_flops) waits for kResume items, and
  // the layers it has run whole (0 when none waits, or it stopped inside its first layer).
  bool prefill_pending() const;
  int64_t prefill_layers_done() const;
  int64_t max_context() const;
  const PruningOptions& pruning() const;
  PruningStats pruning_stats() const;
  // Bytes of KV pages it holds in use, and set aside for its coming tokens.
  int64_t kv_bytes() const;
  int64_t kv_reserved_bytes() const;
  // Promises KV pages for the next `tokens` tokens it runs (a prefill's prompt counts), at every
  // layer: the steps that run them cannot find the pool full. ResourceExhausted when the pool
  // cannot hold them. Each step keeps only what its remaining promised tokens need (what
  // pruning left unused goes back); tokens it revives take pages from the pool.
  Status ReserveKv(int64_t tokens);
  void ReleaseKvReserve();

  struct LAZYLLM_LOCAL Impl;

 private:
  friend struct internal::SequenceAccess;
  LAZYLLM_LOCAL explicit Sequence(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One sequence's work in a step.
struct StepItem {
  enum class Kind {
    kPrefill,  // clear the context and run `tokens` at positions 0..n-1
    kAppend,   // run `tokens` at the next positions over the context (a decode step when n = 1)
    kResume,   // run on the sequence's prefill that max_layers or max_flops cut short (no tokens)
  };
  Sequence* sequence = nullptr;
  std::span<const int32_t> tokens;
  Kind kind = Kind::kAppend;
  // Prefill only: receives n × vocab_size logits, row i for position i (needs pruning off).
  std::vector<float>* all_logits = nullptr;
  // Prefill and resume: run at most this many layers now (0: all that remain), and stop once
  // about max_flops (estimated matmul and attention flops; 0: no limit) are spent, which may be
  // inside a layer: after a range of its rows through one of the layer's three parts (q/K/V and
  // output projection with MLP in 256-row ranges, attention in ranges of its 8-64-row query
  // blocks; a mixture of experts' output part is never cut). A part always makes progress. A
  // prefill cut short keeps its rows in the
  // sequence (Sequence::prefill_pending) and has no logits yet; kResume items continue it, and
  // the one that runs its last layer gives its logits. Cutting a prefill changes nothing it
  // computes: its selections, revivals, K/V and logits are those of the unsplit prefill, bit for
  // bit. Such an item runs alone in its step.
  int64_t max_layers = 0;
  double max_flops = 0;
  // Progress and cancellation: called on the stepping thread after each layer of this item's
  // pass (layers_done = 1..num_layers). Returning false cancels the item: it fails with
  // kCancelled and its context is cleared; the step's other items go on unchanged.
  std::function<bool(int64_t layers_done, int64_t num_layers)> on_layer;
  // Set by Step: this item's outcome. Items that fail leave the others' results intact.
  Status status;
};

// A shared handle (cheap to copy); it keeps its Model alive. Thread-safe: Step and NewSequence
// may be called from several threads (e.g. sessions sharing the engine), but they take turns:
// an engine runs one forward pass at a time, on its own workers. For throughput, put the
// sequences into one Step (GenerateBatch does) or give each thread its own engine. Sequences may
// be destroyed from any thread; one Sequence is used by one thread at a time.
class LAZYLLM_API Engine {
 public:
  // An engine with its own thread context (options.threads, options.numa).
  static StatusOr<Engine> Create(const Model& model, const EngineOptions& options = {});
  // An engine on a shared thread context (options.threads and options.numa are unused).
  static StatusOr<Engine> Create(const Model& model, const ThreadContext& context, const EngineOptions& options = {});

  const Model& model() const;
  const ThreadContext& thread_context() const;
  int threads() const;
  KvType kv_type() const;

  StatusOr<Sequence> NewSequence(const SequenceOptions& options = {}) const;

  // Pays a process's one-time costs before anything is timed: a throwaway sequence (pruning off)
  // prefills `tokens` tokens (0: 64; capped at the model's context) and decodes one, which starts
  // every worker, pages in every weight of the lazily mapped model, touches the activation rows a
  // prefill of that length uses and lets OpenBLAS set up its buffers. Without it the first timed
  // prefill of a process is several times slower than the next ones. Results of later steps do
  // not change. Pass the longest prompt about to be timed; run --compare, bench and eval do.
  Status Warmup(int64_t tokens = 0) const;

  // One forward pass over every item: norms, matmuls and the MLP run over the stacked rows of
  // all items; RoPE, K/V writes, attention and LazyLLM's selections per sequence. A sequence's
  // results do not depend on what else is in the step (bit-identical when each matmul computes
  // its rows with the same call shape; otherwise within float rounding, and with 8-bit
  // activations on quantized weights within their band: a step of few rows runs row dots (under
  // 16 rows for the dtypes with multi-row dots, else under 4), a larger one the int8 GEMM, and
  // an activation on a rounding boundary may take the neighbouring level). Each item's status is
  // set; the returned status is not OK only when the items themselves are inconsistent (one
  // sequence twice, sequences of another engine, mixed exact_activations).
  Status Step(std::span<StepItem> items) const;

  // KV page pool: bytes per page, rows per page, limit (0: none), and bytes held by sequences.
  struct KvPoolInfo {
    int64_t page_bytes = 0, page_rows = 0, limit_bytes = 0, held_bytes = 0;
  };
  KvPoolInfo kv_pool() const;

  // The stages' times of the steps since creation or the last ResetProfile (all zero unless
  // EngineOptions::profile or SetProfiling turned the timers on). SetProfiling turns them on or
  // off for the steps that follow, e.g. for a window of a long-running server's steps.
  StepProfile profile() const;
  void ResetProfile() const;
  void SetProfiling(bool on) const;

  struct LAZYLLM_LOCAL Impl;  // opaque

 private:
  friend struct internal::EngineAccess;
  LAZYLLM_LOCAL explicit Engine(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace lazyllm
