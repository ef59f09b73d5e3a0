// Engine: the worker pool and the NUMA-placed weight slices shared by its sessions.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/engine/engine_impl.h"

namespace lazyllm {
NodeBuffer::NodeBuffer(size_t n) : bytes(std::max<size_t>(n, 1)) {
  p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NodeBuffer::~NodeBuffer() {
  if (p != MAP_FAILED) munmap(p, bytes);
}

Engine::Impl::Impl(const Model& m, const EngineOptions& o, const threading::Topology* topo)
    : model(m),
      k(simd::KernelsFor(simd::SelectedIsa())),
      threads(std::make_unique<threading::Context>(o.threads, o.numa, topo)),
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
  PlaceWeights();
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

// Splits every projection matrix by output rows into one slice per arena. With several
// arenas, each slice is copied into memory first written by that arena's pinned workers, so
// it lives on their node, and the mapped file's pages are released; with one arena the slice
// is the whole mapped matrix.
void Engine::Impl::PlaceWeights() {
  threading::ThreadPool& pool = threads->pool();
  const Model::Impl& m = ModelImpl(model);
  std::vector<const WeightMatrix*> all = {&m.output};
  for (const LayerWeights& lw : m.layers)
    for (const WeightMatrix* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) all.push_back(w);
  for (const WeightMatrix* w : all) {
    if (slices.count(w)) continue;  // tied output shares token_embd; listed once
    std::vector<WeightSlice>& out = slices[w];
    if (pool.num_arenas() == 1) {
      out.push_back({0, w->rows, w->data});
      continue;
    }
    for (const auto& [begin, end] : threading::SplitRows(w->rows, threads->plan(), kSliceAlign)) {
      const size_t bytes = static_cast<size_t>((end - begin) * w->row_bytes);
      node_buffers.push_back(std::make_unique<NodeBuffer>(bytes));
      NodeBuffer& buf = *node_buffers.back();
      const uint8_t* src = w->data + begin * w->row_bytes;
      if (buf.p == MAP_FAILED) {  // no memory for a copy: compute from the mapped file
        out.push_back({begin, end, src});
        continue;
      }
      auto* dst = static_cast<uint8_t*>(buf.p);
      const int a = static_cast<int>(out.size());
      int toucher = -1;
      pool.ParallelForIn(a, 0, end - begin, 16, [&](int64_t r0, int64_t r1) {
        if (r0 == 0) toucher = threading::ThreadPool::CurrentArena();
        std::memcpy(dst + r0 * w->row_bytes, src + r0 * w->row_bytes, static_cast<size_t>((r1 - r0) * w->row_bytes));
      });
      out.push_back({begin, end, dst, toucher});
    }
    // The copies replace the mapped pages (which stay valid and re-read on demand).
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto lo = (reinterpret_cast<uintptr_t>(w->data) + page - 1) / page * page;
    const auto hi =
        (reinterpret_cast<uintptr_t>(w->data) + static_cast<uintptr_t>(w->rows * w->row_bytes)) / page * page;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
}

StatusOr<Engine> Engine::Create(const Model& model, const EngineOptions& options) {
  return internal::CreateEngine(model, options, nullptr);
}

const Model& Engine::model() const { return impl_->model; }
int Engine::threads() const { return impl_->threads->pool().num_threads(); }
KvType Engine::kv_type() const { return impl_->kv_f16 ? KvType::kF16 : KvType::kF32; }

Engine::KvPoolInfo Engine::kv_pool() const {
  const cache::KvPool& p = *impl_->kv_pool;
  return {p.page_bytes(), p.page_rows(), p.limit_bytes(), p.held_bytes()};
}

namespace internal {
StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  if (options.kv_mem_bytes < 0)
    return InvalidArgumentError("kv_mem_bytes " + std::to_string(options.kv_mem_bytes) + " must be >= 0");
  if (options.mem_limit_bytes < 0)
    return InvalidArgumentError("mem_limit_bytes " + std::to_string(options.mem_limit_bytes) + " must be >= 0");
  return EngineAccess::Make(std::make_shared<Engine::Impl>(model, options, topo));
}
}  // namespace internal

}  // namespace lazyllm
