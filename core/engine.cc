// Engine: the worker pool and the NUMA-placed weight slices shared by its sessions.
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/engine_impl.h"

namespace lazyllm {
namespace {

// Arenas for the options: one per NUMA node with workers when NUMA placement is on and hwloc
// sees several nodes; otherwise none (the single-arena pool).
std::vector<threading::ArenaPlan> PlanFor(const EngineOptions& o, const threading::Topology* topo) {
  if (!o.numa) return {};
  static const StatusOr<threading::Topology> machine = threading::Topology::Detect();
  if (topo == nullptr) {
    if (!machine.ok()) return {};
    topo = &*machine;
  }
  if (topo->nodes().size() < 2) return {};
  auto plan = threading::PlanArenas(*topo, o.threads, /*numa=*/true);
  if (plan.size() < 2) return {};
  return plan;
}

}  // namespace

NodeBuffer::NodeBuffer(size_t n) : bytes(std::max<size_t>(n, 1)) {
  p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NodeBuffer::~NodeBuffer() {
  if (p != MAP_FAILED) munmap(p, bytes);
}

Engine::Impl::Impl(const Model& m, int threads, const std::vector<threading::ArenaPlan>& plan)
    : model(m),
      k(simd::KernelsFor(simd::SelectedIsa())),
      pool(plan.empty() ? std::make_unique<threading::ThreadPool>(threads) : std::make_unique<threading::ThreadPool>(plan)) {
  PlaceWeights(plan);
}

// Splits every projection matrix by output rows into one slice per arena. With several
// arenas, each slice is copied into memory first written by that arena's pinned workers, so
// it lives on their node, and the mapped file's pages are released; with one arena the slice
// is the whole mapped matrix.
void Engine::Impl::PlaceWeights(const std::vector<threading::ArenaPlan>& plan) {
  const Model::Impl& m = model.impl();
  std::vector<const WeightMatrix*> all = {&m.output};
  for (const LayerWeights& lw : m.layers)
    for (const WeightMatrix* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) all.push_back(w);
  for (const WeightMatrix* w : all) {
    if (slices.count(w)) continue;  // tied output shares token_embd; listed once
    std::vector<WeightSlice>& out = slices[w];
    if (pool->num_arenas() == 1) {
      out.push_back({0, w->rows, w->data});
      continue;
    }
    for (const auto& [begin, end] : threading::SplitRows(w->rows, plan, kSliceAlign)) {
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
      pool->ParallelForIn(a, 0, end - begin, 16, [&](int64_t r0, int64_t r1) {
        if (r0 == 0) toucher = threading::ThreadPool::CurrentArena();
        std::memcpy(dst + r0 * w->row_bytes, src + r0 * w->row_bytes, static_cast<size_t>((r1 - r0) * w->row_bytes));
      });
      out.push_back({begin, end, dst, toucher});
    }
    // The copies replace the mapped pages (which stay valid and re-read on demand).
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto lo = (reinterpret_cast<uintptr_t>(w->data) + page - 1) / page * page;
    const auto hi = (reinterpret_cast<uintptr_t>(w->data) + static_cast<uintptr_t>(w->rows * w->row_bytes)) / page * page;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
}

StatusOr<Engine> Engine::Create(const Model& model, const EngineOptions& options) {
  return internal::CreateEngine(model, options, nullptr);
}

const Model& Engine::model() const { return impl_->model; }
int Engine::threads() const { return impl_->pool->num_threads(); }

namespace internal {
struct EngineAccess {
  static Engine Make(std::shared_ptr<Engine::Impl> impl) { return Engine(std::move(impl)); }
};

StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  return EngineAccess::Make(std::make_shared<Engine::Impl>(model, options.threads, PlanFor(options, topo)));
}
}  // namespace internal

}  // namespace lazyllm
