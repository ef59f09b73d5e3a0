// Thread contexts and engines: creation, the weights placed once per (model, context), RoPE tables.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/base/status_macros.h"
#include "core/engine/engine_impl.h"

namespace lazyllm {

std::shared_ptr<const PlacedWeights> ThreadContext::Impl::Place(const Model& model) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(placed_, [](const std::weak_ptr<const PlacedWeights>& p) { return p.expired(); });
  for (const auto& weak : placed_)
    if (auto p = weak.lock(); p != nullptr && &ModelImpl(p->model()) == &ModelImpl(model)) return p;
  auto p = std::make_shared<const PlacedWeights>(model, threads);
  placed_.push_back(p);
  return p;
}

StatusOr<ThreadContext> ThreadContext::Create(const ThreadingOptions& options) {
  return internal::CreateThreadContext(options, nullptr);
}

int ThreadContext::threads() const { return impl_->threads.pool().num_threads(); }
int ThreadContext::arenas() const { return impl_->threads.pool().num_arenas(); }

Engine::Impl::Impl(const Model& m, const ThreadContext& shared, const EngineOptions& o)
    : model(m),
      k(simd::KernelsFor(simd::SelectedIsa())),
      context(shared),
      threads(internal::EngineAccess::Get(shared).threads),
      placed(internal::EngineAccess::Get(shared).Place(m)),
      kv_f16(o.kv_type == KvType::kF16),
      attention(k, {m.config().num_heads, m.config().num_kv_heads, m.config().head_dim,
                    ModelImpl(m).arch_values.attn_scale, ModelImpl(m).arch_values.attn_softcap}) {
  const ModelConfig& c = m.config();
  const int64_t row_bytes = c.num_kv_heads * c.head_dim * (kv_f16 ? 2 : 4);
  const int64_t page_rows = cache::KvCache::PageRows(row_bytes);
  kv_pool = std::make_shared<cache::KvPool>(o.kv_mem_bytes, page_rows, 2 * page_rows * row_bytes);
  if (o.mem_limit_bytes > 0) {
    mem_limit_bytes = o.mem_limit_bytes;
    mem_limit_source = "the memory limit: mem_limit_bytes, --mem-limit";
  } else {
    mem_limit_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
    mem_limit_source = "the machine's physical memory";
  }
  if (const char* env = std::getenv("LAZYLLM_SERIAL_STEP_FLOPS")) serial_step_flops = std::strtod(env, nullptr);
}

// cos/sin of pos·scale·θ_i with θ_i = base^(-2i/rope_dims) (divided by rope_freqs when
// present), computed in double, so a position's entries do not depend on the table's length.
void Engine::Impl::EnsureRope(int64_t ctx) {
  if (ctx <= rope_ctx) return;
  const Model::Impl& m = ModelImpl(model);
  const ModelConfig& c = m.config;
  const int64_t pairs = c.rope_dims / 2;
  rope_tables.clear();
  for (const Model::Impl::RopeVariant& v : m.rope_variants) {
    std::vector<float>& t = rope_tables.emplace_back(static_cast<size_t>(ctx * c.rope_dims));
    for (int64_t i = 0; i < pairs; ++i) {
      double freq = std::pow(static_cast<double>(v.theta), -2.0 * static_cast<double>(i) / c.rope_dims);
      if (!m.rope_freq_factors.empty()) freq /= m.rope_freq_factors[i];
      freq *= v.freq_scale;
      const bool neox = m.arch->rope == RopeStyle::kNeox;
      const int64_t ci = neox ? i : 2 * i, si = neox ? pairs + i : 2 * i + 1;
      for (int64_t p = 0; p < ctx; ++p) {
        const double angle = static_cast<double>(p) * freq;
        t[p * c.rope_dims + ci] = static_cast<float>(std::cos(angle));
        t[p * c.rope_dims + si] = static_cast<float>(std::sin(angle));
      }
    }
  }
  rope_ctx = ctx;
}

StatusOr<Engine> Engine::Create(const Model& model, const EngineOptions& options) {
  return internal::CreateEngine(model, options, nullptr);
}

StatusOr<Engine> Engine::Create(const Model& model, const ThreadContext& context, const EngineOptions& options) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  if (options.kv_mem_bytes < 0)
    return InvalidArgumentError("kv_mem_bytes " + std::to_string(options.kv_mem_bytes) + " must be >= 0");
  if (options.mem_limit_bytes < 0)
    return InvalidArgumentError("mem_limit_bytes " + std::to_string(options.mem_limit_bytes) + " must be >= 0");
  return internal::EngineAccess::Make(std::make_shared<Engine::Impl>(model, context, options));
}

const Model& Engine::model() const { return impl_->model; }
const ThreadContext& Engine::thread_context() const { return impl_->context; }
int Engine::threads() const { return impl_->threads.pool().num_threads(); }
KvType Engine::kv_type() const { return impl_->kv_f16 ? KvType::kF16 : KvType::kF32; }

Engine::KvPoolInfo Engine::kv_pool() const {
  const cache::KvPool& p = *impl_->kv_pool;
  return {p.page_bytes(), p.page_rows(), p.limit_bytes(), p.held_bytes()};
}

namespace internal {
StatusOr<ThreadContext> CreateThreadContext(const ThreadingOptions& options, const threading::Topology* topo) {
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  return EngineAccess::MakeContext(std::make_shared<ThreadContext::Impl>(options, topo));
}

StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  LAZYLLM_ASSIGN_OR_RETURN(ThreadContext context,
                           CreateThreadContext({.threads = options.threads, .numa = options.numa}, topo));
  return Engine::Create(model, context, options);
}
}  // namespace internal

}  // namespace lazyllm
