// Engine internals: the model, its thread context and placed weights, the KV page pool, the RoPE
// tables and the activations of one step; and the thread context's internals.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "core/forward/attention.h"
#include "core/forward/matmul.h"
#include "core/forward/placed_weights.h"
#include "core/model/model_impl.h"
#include "lazyllm/engine.h"
#include "simd/kernels.h"
#include "threading/context.h"
#include "threading/topology.h"

namespace lazyllm {

struct ThreadContext::Impl {
  threading::Context threads;

  Impl(const ThreadingOptions& o, const threading::Topology* topo) : threads(o.threads, o.numa, topo) {}
  // The model's weights placed on this context: those an engine of the model on this context
  // placed already while any such engine lives, else placed now.
  std::shared_ptr<const PlacedWeights> Place(const Model& model);

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<const PlacedWeights>> placed_;
};

// The activations of one forward pass over the stacked rows of every sequence in a step (row i
// of each matrix belongs to the sequence whose segment holds i), grown on demand to the most
// rows computed at once; gate/up hold at most kFfnChunk rows.
struct Activations {
  static constexpr int64_t kFfnChunk = 512;  // rows per pass through the MLP block
  int64_t row_cap = 0;
  std::vector<float> x, xn;        // [rows][dim]: residual stream, normalised / scratch rows
  std::vector<float> q, attn;      // [rows][heads·head_dim]
  std::vector<float> kbuf, vbuf;   // [rows][kv_heads·head_dim]
  std::vector<float> gate, up;     // [min(rows, kFfnChunk)][ffn_dim]
  std::vector<float> kc, vc;       // [keys][kv_dim]: a sequence's live K/V gathered into fp32
  std::vector<float> head_logits;  // [sequences][vocab]: LM head over each sequence's last row
  std::vector<int64_t> row_pos;    // [rows]: token position of each stacked row
  std::vector<int64_t> kv_row;     // [rows]: its K/V row in its sequence's cache at this layer
  std::vector<int32_t> row_seq;    // [rows]: index of its sequence in the step
  std::vector<float> head_probs;   // [heads][keys]: scratch of the score reduction
  GemvInputs gemv;
};

struct Engine::Impl {
  Model model;
  const simd::Kernels& k;
  ThreadContext context;
  const threading::Context& threads;
  std::shared_ptr<const PlacedWeights> placed;
  // KV storage type and the page pool its sequences share.
  bool kv_f16 = false;
  std::shared_ptr<cache::KvPool> kv_pool;
  // Per RoPE variant (Model::Impl::rope_variants): [rope_ctx][rope_dims] of cos, sin per pair,
  // interleaved (c0 s0 c1 s1 ...) for adjacent-pair RoPE, split (c0 c1 ... s0 s1 ...) for NEOX;
  // grown to the longest context of a sequence created on the engine.
  std::vector<std::vector<float>> rope_tables;
  int64_t rope_ctx = 0;
  // Bytes a sequence's up-front bookkeeping may take: EngineOptions::mem_limit_bytes, or the
  // machine's physical memory; and which of the two, for messages.
  int64_t mem_limit_bytes = 0;
  std::string mem_limit_source;
  Attention attention;
  Activations act;
  // Held by Step and NewSequence: the activations, the attention scratch and the RoPE tables are
  // the engine's, so calls from several threads (sessions sharing the engine) take turns.
  std::mutex step_mu;
  // A step estimated below this many flops runs on the calling thread (serial threading::Workers):
  // handing a layer's dozen loops to the workers costs more than it saves on such steps (the
  // sample model's 50-token prefills). LAZYLLM_SERIAL_STEP_FLOPS overrides it; 0 never.
  double serial_step_flops = kDefaultSerialStepFlops;
  static constexpr double kDefaultSerialStepFlops = 5e7;

  Impl(const Model& m, const ThreadContext& context, const EngineOptions& o);
  // Makes the RoPE tables cover positions [0, ctx).
  void EnsureRope(int64_t ctx);
};

namespace internal {
// A thread context, and an engine with its own, on a given machine topology (e.g. an hwloc
// synthetic one) instead of the detected one.
StatusOr<ThreadContext> CreateThreadContext(const ThreadingOptions& options, const threading::Topology* topo);
StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo);

struct EngineAccess {
  static Engine Make(std::shared_ptr<Engine::Impl> impl) { return Engine(std::move(impl)); }
  static const std::shared_ptr<Engine::Impl>& Get(const Engine& e) { return e.impl_; }
  static ThreadContext MakeContext(std::shared_ptr<ThreadContext::Impl> impl) { return ThreadContext(std::move(impl)); }
  static ThreadContext::Impl& Get(const ThreadContext& c) { return *c.impl_; }
};
}  // namespace internal

// The internals of an engine (the library's own code and its tests).
inline Engine::Impl& EngineImpl(const Engine& e) { return *internal::EngineAccess::Get(e); }

}  // namespace lazyllm
