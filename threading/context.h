// The threading context: the machine's topology, the worker pool (one oneTBB arena per NUMA node
// with its workers pinned there, or a single arena) and per-thread scratch; and Workers, the
// context as one step uses it. Engines of a process may share a context.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "threading/per_thread.h"
#include "threading/thread_pool.h"
#include "threading/topology.h"

namespace lazyllm::threading {

class Context {
 public:
  // `threads` workers (0: every hardware thread the process may use); with `numa` and a topology
  // of several NUMA nodes, one pinned arena per node, else one arena. `topo` null: this machine's
  // (read with hwloc; a machine hwloc cannot read gets the single arena).
  Context(int threads, bool numa, const Topology* topo = nullptr);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  ThreadPool& pool() const { return *pool_; }
  // The arenas' nodes and PUs; empty for the single arena.
  const std::vector<ArenaPlan>& plan() const { return plan_; }
  // At least `floats` floats of this thread's scratch, kept between calls. Only for the innermost
  // body of a parallel loop, which runs to its end on one thread: engines sharing the context
  // may run loops at the same time, and a thread waiting on a loop can run another loop's body.
  float* Scratch(int64_t floats) const;

 private:
  std::vector<ArenaPlan> plan_;
  std::unique_ptr<ThreadPool> pool_;
  mutable PerThread<std::vector<float>> scratch_;
};

// A context as one step runs on it: its workers, or (serial) the calling thread alone, for a
// step too small to pay for handing its loops to the workers. Loop bodies must not depend on how
// their range is chunked, so results do not change with the choice.
class Workers {
 public:
  Workers(const Context& context, bool serial) : context_(&context), serial_(serial) {}

  int num_arenas() const { return context_->pool().num_arenas(); }
  // Threads a loop runs on: the pool's, or 1 for the serial twin.
  int num_threads() const { return serial_ ? 1 : context_->pool().num_threads(); }
  // The serial twin of these workers (same context and scratch): loops run on the calling thread.
  Workers Serial() const { return Workers(*context_, true); }
  float* Scratch(int64_t floats) const { return context_->Scratch(floats); }

  // ThreadPool::ParallelFor, ParallelForIn and ForEachArena, or their serial twins.
  template <typename Fn>
  void ParallelFor(int64_t n, int64_t grain, Fn&& fn) const {
    if (!serial_) return context_->pool().ParallelFor(n, grain, fn);
    if (n > 0) ThreadPool::RunInline(0, 0, n, fn);
  }
  template <typename Fn>
  void ParallelForIn(int a, int64_t begin, int64_t end, int64_t grain, Fn&& fn) const {
    if (!serial_) return context_->pool().ParallelForIn(a, begin, end, grain, fn);
    if (begin < end) ThreadPool::RunInline(a, begin, end, fn);
  }
  template <typename Fn>
  void ForEachArena(Fn&& fn) const {
    if (!serial_) return context_->pool().ForEachArena(fn);
    for (int a = 0; a < num_arenas(); ++a) fn(a);
  }

 private:
  const Context* context_;
  bool serial_;
};

}  // namespace lazyllm::threading
