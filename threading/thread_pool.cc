// ThreadPool construction, worker pinning and worker indexing.
#include "threading/thread_pool.h"

#include <oneapi/tbb/info.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>

namespace lazyllm::threading {

thread_local int ThreadPool::current_arena_ = 0;

int AvailableHardwareThreads() { return std::max(1, tbb::info::default_concurrency()); }

// Pins each worker thread that enters the arena to the arena's PUs.
struct ThreadPool::Pinner : tbb::task_scheduler_observer {
  Pinner(tbb::task_arena& arena, const std::vector<int>& pus) : tbb::task_scheduler_observer(arena) {
    CPU_ZERO(&set_);
    for (int pu : pus)
      if (pu >= 0 && pu < CPU_SETSIZE) CPU_SET(pu, &set_);
    observe(true);
  }
  ~Pinner() override { observe(false); }
  void on_scheduler_entry(bool is_worker) override {
    if (is_worker && pthread_setaffinity_np(pthread_self(), sizeof set_, &set_) == 0) pinned.fetch_add(1);
  }
  cpu_set_t set_;
  std::atomic<int> pinned{0};
};

ThreadPool::ThreadPool(int num_threads) {
  num_threads_ = num_threads > 0 ? std::min(num_threads, AvailableHardwareThreads()) : AvailableHardwareThreads();
  Arena a;
  a.threads = num_threads_;
  a.arena = std::make_unique<tbb::task_arena>(num_threads_);
  arenas_.push_back(std::move(a));
  team_ = std::make_unique<SpinTeam>(num_threads_);
}

ThreadPool::ThreadPool(const std::vector<ArenaPlan>& plan) {
  for (size_t i = 0; i < plan.size(); ++i) {
    Arena a;
    a.threads = static_cast<int>(plan[i].pus.size());
    a.first_worker = num_threads_;
    // Arena 0 keeps a slot for the calling thread; the others are run by workers alone.
    a.arena = std::make_unique<tbb::task_arena>(a.threads, i == 0 ? 1 : 0);
    if (plan.size() > 1) a.pinner = std::make_unique<Pinner>(*a.arena, plan[i].pus);
    num_threads_ += a.threads;
    arenas_.push_back(std::move(a));
  }
  if (arenas_.size() == 1) team_ = std::make_unique<SpinTeam>(num_threads_);
}

ThreadPool::~ThreadPool() = default;

int ThreadPool::pin_count() const {
  int n = 0;
  for (const Arena& a : arenas_)
    if (a.pinner) n += a.pinner->pinned.load();
  return n;
}

}  // namespace lazyllm::threading
