// Engine internals: the model, the worker pool and every weight matrix's per-arena row slices
// (node-local copies when there are several NUMA nodes).
#pragma once

#include <sys/mman.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "core/matmul.h"
#include "core/model_impl.h"
#include "lazyllm/engine.h"
#include "simd/kernels.h"
#include "threading/thread_pool.h"
#include "threading/topology.h"

namespace lazyllm {

// Anonymous memory, mapped untouched so that the first thread to write a page places it (Linux's
// default first-touch policy): the copy into it runs on the owning node's pinned workers.
struct NodeBuffer {
  void* p = MAP_FAILED;
  size_t bytes = 0;
  explicit NodeBuffer(size_t n);
  ~NodeBuffer();
  NodeBuffer(const NodeBuffer&) = delete;
  NodeBuffer& operator=(const NodeBuffer&) = delete;
};

struct Engine::Impl {
  Model model;
  const simd::Kernels& k;
  std::unique_ptr<threading::ThreadPool> pool;
  // Per weight matrix: the row slice each arena computes.
  std::unordered_map<const WeightMatrix*, std::vector<WeightSlice>> slices;
  std::vector<std::unique_ptr<NodeBuffer>> node_buffers;

  Impl(const Model& m, int threads, const std::vector<threading::ArenaPlan>& plan);

 private:
  void PlaceWeights(const std::vector<threading::ArenaPlan>& plan);
};

namespace internal {
// An engine on a given machine topology (e.g. an hwloc synthetic one) instead of the detected one.
StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo);
}  // namespace internal

}  // namespace lazyllm
