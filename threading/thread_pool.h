// Worker pools on oneTBB task arenas: one arena (the default), or one arena per NUMA node with
// its workers pinned to that node's cores.
#pragma once

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "threading/spin_team.h"
#include "threading/topology.h"

// ThreadSanitizer builds run the parallel loops on plain std::threads instead of oneTBB's
// scheduler. Debian's oneTBB is not instrumented, so TSan cannot see the synchronisation inside
// its scheduler (nor its recycling of task objects between threads) and reports false races in
// every loop; with std::threads every edge is visible, and TSan checks what matters here: the
// loop bodies, whose chunks run concurrently on different threads exactly as with oneTBB. (The
// one-arena pools' SpinTeam is std::threads and atomics already: TSan checks it as it runs.)
#if defined(__SANITIZE_THREAD__)
#define LAZYLLM_PLAIN_THREAD_LOOPS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LAZYLLM_PLAIN_THREAD_LOOPS 1
#endif
#endif

namespace lazyllm::threading {

// Runs parallel loops on its arenas (the calling thread joins arena 0 as one of its workers).
// Thread-safe: several threads may submit loops; each loop blocks its caller.
class ThreadPool {
 public:
  // One arena of num_threads workers, not pinned. num_threads <= 0 means every hardware thread
  // the process may use; larger counts are capped at that number.
  explicit ThreadPool(int num_threads);
  // One arena per plan entry. With more than one, each arena's workers are pinned to its PUs
  // when they enter it (a PU this machine lacks, as in a synthetic topology, is skipped).
  explicit ThreadPool(const std::vector<ArenaPlan>& plan);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }
  int num_arenas() const { return static_cast<int>(arenas_.size()); }
  int arena_threads(int a) const { return arenas_[a].threads; }
  // Successful pinnings of workers entering their arena (0 with one arena).
  int pin_count() const;

  // Calls fn(begin, end) on disjoint chunks covering [0, n), each at least `grain` long (except
  // possibly the last), spread over all arenas in proportion to their workers. Small loops run
  // inline on the caller.
  template <typename Fn>
  void ParallelFor(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (num_threads_ == 1 || n <= grain) {
      RunInline(0, 0, n, fn);
      return;
    }
    if (arenas_.size() == 1) {
      ParallelForIn(0, 0, n, grain, fn);
      return;
    }
    ForEachArena([&](int a) {
      const int64_t begin = n * arenas_[a].first_worker / num_threads_;
      const int64_t end = n * (arenas_[a].first_worker + arenas_[a].threads) / num_threads_;
      ParallelForIn(a, begin, end, grain, fn);
    });
  }

  // Calls fn(begin, end) on chunks of [begin, end) with the workers of arena a only.
  template <typename Fn>
  void ParallelForIn(int a, int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
    if (begin >= end) return;
    if (team_ != nullptr) {  // one arena: its spinning team, unless that is running another loop
      auto call = [&](int64_t b, int64_t e) {
        current_arena_ = a;
        fn(b, e);
      };
      using Call = decltype(call);
      const SpinTeam::Body body = [](void* c, int64_t b, int64_t e) { (*static_cast<Call*>(c))(b, e); };
      if (team_->TryRun(begin, end, grain, body, &call)) return;
    }
#ifdef LAZYLLM_PLAIN_THREAD_LOOPS
    // One std::thread per worker, taking grain-sized chunks in turn.
    grain = std::max<int64_t>(grain, 1);
    const int64_t chunks = (end - begin + grain - 1) / grain;
    const int64_t workers = std::min<int64_t>(std::max(arenas_[a].threads, 1), chunks);
    std::vector<std::thread> threads;
    for (int64_t w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        current_arena_ = a;
        for (int64_t c = w; c < chunks; c += workers) fn(begin + c * grain, std::min(end, begin + (c + 1) * grain));
      });
    for (std::thread& t : threads) t.join();
#else
    Arena& ar = arenas_[a];
    // Isolated: while this loop waits for its chunks, its thread runs no other work of the arena.
    // Without it, two threads submitting loops at once (sessions of two engines on one context)
    // could deadlock: one waiting inside its loop would take the other's ForEachArena wait, whose
    // task group holds the very loop beneath it on the same stack.
    ar.arena->execute([&] {
      tbb::this_task_arena::isolate([&] {
        tbb::parallel_for(
            tbb::blocked_range<int64_t>(begin, end, std::max<int64_t>(grain, 1)),
            [&](const tbb::blocked_range<int64_t>& r) {
              current_arena_ = a;
              fn(r.begin(), r.end());
            },
            tbb::static_partitioner());
      });
    });
#endif
  }

  // Calls fn(a) for every arena a at once, each inside its own arena; returns when all are done.
  template <typename Fn>
  void ForEachArena(Fn&& fn) {
    if (arenas_.size() == 1) {
      fn(0);
      return;
    }
#ifdef LAZYLLM_PLAIN_THREAD_LOOPS
    std::vector<std::thread> threads;
    for (size_t a = 1; a < arenas_.size(); ++a) threads.emplace_back([&, a] { fn(static_cast<int>(a)); });
    fn(0);
    for (std::thread& t : threads) t.join();
#else
    std::vector<tbb::task_group> groups(arenas_.size());
    for (size_t a = 1; a < arenas_.size(); ++a)
      arenas_[a].arena->execute([&, a] { groups[a].run([&, a] { fn(static_cast<int>(a)); }); });
    arenas_[0].arena->execute([&] { fn(0); });
    for (size_t a = 1; a < arenas_.size(); ++a) arenas_[a].arena->execute([&, a] { groups[a].wait(); });
#endif
  }

  // The arena running the calling ParallelFor body (0 on the caller's inline path). Per-thread
  // scratch belongs in threading::PerThread (per_thread.h): oneTBB's slot indices are not bounded
  // by an arena's worker count.
  static int CurrentArena() { return current_arena_; }

  // Calls fn(begin, end) on the calling thread, as a body of arena a.
  template <typename Fn>
  static void RunInline(int a, int64_t begin, int64_t end, Fn& fn) {
    current_arena_ = a;
    fn(begin, end);
  }

 private:
  struct Pinner;
  struct Arena {
    int threads = 0;
    int first_worker = 0;  // workers of the arenas before it
    std::unique_ptr<tbb::task_arena> arena;
    std::unique_ptr<Pinner> pinner;
  };

  static thread_local int current_arena_;
  int num_threads_ = 0;
  std::vector<Arena> arenas_;
  // With one arena, the loops run on this team (oneTBB's arena takes a loop submitted while the
  // team runs another, as when two threads share the pool).
  std::unique_ptr<SpinTeam> team_;
};

// Hardware threads available to this process (its CPU affinity mask).
int AvailableHardwareThreads();

}  // namespace lazyllm::threading
