// Engine internals: the model, its thread context and placed weights, the KV page pool, the RoPE
// tables and the activations of one step; and the thread context's internals.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "core/engine/step.h"
#include "core/forward/activations.h"
#include "core/forward/attention.h"
#include "core/forward/placed_weights.h"
#include "core/forward/rope.h"
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

struct Engine::Impl {
  Model model;
  const simd::Kernels& k;
  ThreadContext context;
  const threading::Context& threads;
  std::shared_ptr<const PlacedWeights> placed;
  // KV storage type and the page pool its sequences share.
  bool kv_f16 = false;
  std::shared_ptr<cache::KvPool> kv_pool;
  // Grown to the longest context of a sequence created on the engine.
  RopeTables rope;
  // Bytes a sequence's up-front bookkeeping may take: EngineOptions::mem_limit_bytes, or the
  // machine's physical memory; and which of the two, for messages.
  int64_t mem_limit_bytes = 0;
  std::string mem_limit_source;
  Attention attention;
  // What a step works in: held by Step and NewSequence (the activations, the step's scratch and
  // the RoPE tables are the engine's), so calls from several threads take turns.
  Activations act;
  StepScratch scratch;
  // Whether steps time their stages (EngineOptions::profile, SetProfiling), and the stages' times
  // of the steps so far (both held by Step too).
  bool profiling = false;
  StepProfile profile;
  std::mutex step_mu;
  // A step estimated below this many flops runs on the calling thread (serial threading::Workers):
  // handing a layer's dozen loops to the workers costs more than it saves on such steps (the
  // sample model's 50-token prefills). LAZYLLM_SERIAL_STEP_FLOPS overrides it; 0 never.
  double serial_step_flops = kDefaultSerialStepFlops;
  static constexpr double kDefaultSerialStepFlops = 5e7;

  Impl(const Model& m, const ThreadContext& context, const EngineOptions& o);
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
