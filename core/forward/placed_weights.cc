// Placing a model's matrices on a context's arenas: row slices, node-local copies.
#include "core/forward/placed_weights.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/forward/matmul.h"
#include "simd/check.h"

namespace lazyllm {

NodeBuffer::NodeBuffer(size_t n) : bytes(std::max<size_t>(n, 1)) {
  p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NodeBuffer::~NodeBuffer() {
  if (p != MAP_FAILED) munmap(p, bytes);
}

PlacedWeights::PlacedWeights(const Model& model, const threading::Context& threads) : model_(model) {
  const Model::Impl& m = ModelImpl(model_);
  for (const WeightMatrix* w : m.matrices) {
    LAZYLLM_CHECK(w->index == static_cast<int32_t>(slices_.size())) << "matrix index " << w->index;
    slices_.push_back(Place(*w, threads));
  }
}

std::vector<WeightSlice> PlacedWeights::Place(const WeightMatrix& w, const threading::Context& threads) {
  threading::ThreadPool& pool = threads.pool();
  if (pool.num_arenas() == 1) return {{0, w.rows, w.data}};
  std::vector<WeightSlice> out;
  for (const auto& [begin, end] : threading::SplitRows(w.rows, threads.plan(), kSliceAlign)) {
    const size_t bytes = static_cast<size_t>((end - begin) * w.row_bytes);
    buffers_.push_back(std::make_unique<NodeBuffer>(bytes));
    NodeBuffer& buf = *buffers_.back();
    const uint8_t* src = w.data + begin * w.row_bytes;
    if (buf.p == MAP_FAILED) {  // no memory for a copy: compute from the mapped file
      out.push_back({begin, end, src});
      continue;
    }
    auto* dst = static_cast<uint8_t*>(buf.p);
    const int a = static_cast<int>(out.size());
    int toucher = -1;
    pool.ParallelForIn(a, 0, end - begin, 16, [&](int64_t r0, int64_t r1) {
      if (r0 == 0) toucher = threading::ThreadPool::CurrentArena();
      std::memcpy(dst + r0 * w.row_bytes, src + r0 * w.row_bytes, static_cast<size_t>((r1 - r0) * w.row_bytes));
    });
    out.push_back({begin, end, dst, toucher});
  }
  // The copies replace the mapped pages (which stay valid and are read again on demand).
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto lo = (reinterpret_cast<uintptr_t>(w.data) + page - 1) / page * page;
  const auto hi = (reinterpret_cast<uintptr_t>(w.data) + static_cast<uintptr_t>(w.rows * w.row_bytes)) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  return out;
}

}  // namespace lazyllm
