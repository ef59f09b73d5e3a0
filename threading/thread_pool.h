// A fixed-size worker pool on a oneTBB task arena, with parallel-for helpers.
#pragma once

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdint>

namespace lazyllm::threading {

// Runs parallel loops on its own oneTBB arena of num_threads() workers (the calling thread
// joins as one of them). Thread-safe: several threads may submit loops; each loop blocks its caller.
class ThreadPool {
 public:
  // num_threads <= 0 means every hardware thread the process may use; larger counts are
  // capped at that number.
  explicit ThreadPool(int num_threads);

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), each at least `grain` long
  // (except possibly the last). Small loops run inline on the caller.
  template <typename Fn>
  void ParallelFor(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (num_threads_ == 1 || n <= grain) {
      fn(int64_t{0}, n);
      return;
    }
    arena_.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, n, grain),
          [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); },
          tbb::static_partitioner());
    });
  }

  // Index of the calling worker inside the pool's arena, in [0, num_threads()); 0 outside it.
  // Use it to pick per-thread scratch inside ParallelFor bodies.
  static int CurrentWorker();

 private:
  int num_threads_;
  tbb::task_arena arena_;
};

// Hardware threads available to this process (its CPU affinity mask).
int AvailableHardwareThreads();

}  // namespace lazyllm::threading
