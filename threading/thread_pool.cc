// ThreadPool construction and worker indexing.
#include "threading/thread_pool.h"

#include <oneapi/tbb/info.h>

#include <algorithm>

namespace lazyllm::threading {

int AvailableHardwareThreads() { return std::max(1, tbb::info::default_concurrency()); }

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0 ? std::min(num_threads, AvailableHardwareThreads()) : AvailableHardwareThreads()),
      arena_(num_threads_) {}

int ThreadPool::CurrentWorker() {
  const int idx = tbb::this_task_arena::current_thread_index();
  return idx == tbb::task_arena::not_initialized ? 0 : idx;
}

}  // namespace lazyllm::threading
