// Sequences: their state, creation on an engine (with the memory they can come to need checked
// first), and their public accessors.
#include <algorithm>
#include <new>

#include "core/base/status_macros.h"
#include "core/engine/costs.h"
#include "core/engine/sequence_impl.h"

namespace lazyllm {

Sequence::Impl::Impl(std::shared_ptr<Engine::Impl> e, const SequenceOptions& o, int64_t max_context)
    : engine(std::move(e)),
      m(ModelImpl(engine->model)),
      max_ctx(max_context),
      exact_activations(o.exact_activations),
      kv(engine->kv_pool, m.config.num_layers, max_context, m.config.num_kv_heads, m.config.head_dim, engine->kv_f16),
      pruning(o.pruning, m.config.num_layers, max_context, m.config.dim),
      logits(static_cast<size_t>(m.config.vocab_size)) {}

void Sequence::Impl::Forget() {
  parked.reset();
  kv.Clear();
  kv.ReleaseReserve();
  kv_promised = 0;
  pruning.tokens.Clear();
  pos = 0;
}

StatusOr<Sequence> Engine::NewSequence(const SequenceOptions& options) const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  const Model& model = impl_->model;
  const int64_t trained = model.config().context_length;
  const int64_t ctx =
      options.max_context == 0 ? std::min(trained, SequenceOptions::kDefaultMaxContext) : options.max_context;
  if (ctx < 1 || ctx > (int64_t{1} << 22))
    return InvalidArgumentError("max_context " + std::to_string(options.max_context) + " is out of range 1..4194304");
  for (const auto& s : options.pruning.steps) {
    if (s.layer < 1 || s.layer >= model.config().num_layers || !(s.k >= 0.0 && s.k < 1.0))
      return InvalidArgumentError("pruning step " + std::to_string(s.layer) + ":" + std::to_string(s.k) +
                                  " does not fit a model of " + std::to_string(model.config().num_layers) + " layers");
  }
  // What the sequence can come to hold (costs.h), computed before anything is allocated, so that a
  // model whose shapes demand absurd memory (a crafted file) or a context too long for the
  // machine is refused with the need named instead of failing to allocate or being killed.
  const ModelConfig& c = model.config();
  const SequenceNeed need = EstimateSequenceNeed(c, ctx, options.pruning, impl_->kv_f16, ctx > impl_->rope.positions(),
                                                 static_cast<int64_t>(ModelImpl(model).rope_variants.size()));
  const int64_t limit = impl_->mem_limit_bytes;
  auto bytes = [](double b) { return std::to_string(static_cast<int64_t>(b)); };
  if (need.total() > static_cast<double>(limit))
    return ResourceExhaustedError(
        "a sequence of " + std::to_string(ctx) + " tokens needs up to " + bytes(need.total()) + " bytes (KV cache " +
        bytes(need.kv) + " for " + std::to_string(c.num_layers) + " layers × " + bytes(need.kv_per_token) +
        " K/V values per token, activations " + bytes(need.activations) + ", bookkeeping " + bytes(need.bookkeeping) +
        " with " + std::to_string(need.aux_layers) + " Aux Cache layers of " + std::to_string(c.dim) +
        "): more than the " + std::to_string(limit) + " bytes allowed (" + impl_->mem_limit_source +
        "); use a shorter context or a higher limit");
  try {
    impl_->rope.Ensure(ModelImpl(model), ctx);
    auto impl = std::make_unique<Sequence::Impl>(impl_, options, ctx);
    if (!impl->kv.ok())
      return ResourceExhaustedError("cannot reserve address space for a KV cache of " + std::to_string(ctx) +
                                    " tokens × " + std::to_string(c.num_layers) + " layers");
    return internal::SequenceAccess::Make(std::move(impl));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory creating a sequence of " + std::to_string(ctx) + " tokens (its " +
                                  bytes(need.bookkeeping) + " bytes of bookkeeping)");
  }
}

Sequence::Sequence(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sequence::Sequence(Sequence&&) noexcept = default;
Sequence& Sequence::operator=(Sequence&&) noexcept = default;
Sequence::~Sequence() = default;

std::span<const float> Sequence::logits() const { return impl_->logits; }

Status Sequence::SetSampling(const SamplingOptions& options) {
  LAZYLLM_RETURN_IF_ERROR(Validate(options));
  impl_->sampler = Sampler(options);
  return OkStatus();
}

int32_t Sequence::Sample() { return impl_->sampler.Sample(impl_->logits); }
int64_t Sequence::position() const { return impl_->pos; }
int64_t Sequence::prefill_layers_done() const { return impl_->parked ? impl_->parked->layers_done : 0; }
bool Sequence::prefill_pending() const { return impl_->parked.has_value(); }
int64_t Sequence::max_context() const { return impl_->max_ctx; }
const PruningOptions& Sequence::pruning() const { return impl_->pruning.options; }
int64_t Sequence::kv_bytes() const { return impl_->kv.bytes(); }
int64_t Sequence::kv_reserved_bytes() const { return impl_->kv.reserved_bytes(); }

PruningStats Sequence::pruning_stats() const {
  PruningStats st = impl_->pruning.stats;
  st.computed_pairs = impl_->pruning.tokens.computed_pairs();
  return st;
}

Status Sequence::ReserveKv(int64_t tokens) {
  if (tokens < 0) return InvalidArgumentError("ReserveKv of " + std::to_string(tokens) + " tokens");
  cache::KvCache& kv = impl_->kv;
  if (kv.ReserveAtLeast(kv.PagesToAdd(tokens))) {
    impl_->kv_promised = std::max(impl_->kv_promised, tokens);
    return OkStatus();
  }
  const cache::KvPool& p = kv.pool();
  return ResourceExhaustedError("KV memory pool is full: " + std::to_string(tokens) + " tokens need " +
                                std::to_string(kv.PagesToAdd(tokens) * p.page_bytes()) + " bytes; " +
                                std::to_string(p.held_bytes()) + " of the limit of " + std::to_string(p.limit_bytes()) +
                                " bytes are held");
}

void Sequence::ReleaseKvReserve() {
  impl_->kv_promised = 0;
  impl_->kv.ReleaseReserve();
}

}  // namespace lazyllm
