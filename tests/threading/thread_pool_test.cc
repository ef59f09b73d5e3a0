// Multi-arena pools: every index is visited once, each arena runs its own share, and arena
// bodies see their arena index.
#include "threading/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "threading/topology.h"

namespace lazyllm::threading {
namespace {

TEST(ThreadPoolTest, ArenasCoverEveryIndexOnce) {
  auto topo = Topology::Synthetic("pack:2 numa:2 core:2 pu:1");
  ASSERT_TRUE(topo.ok());
  const auto plan = PlanArenas(*topo, 3, /*numa=*/true);  // 3 nodes with one worker each
  ASSERT_EQ(plan.size(), 3u);
  ThreadPool pool(plan);
  EXPECT_EQ(pool.num_threads(), 3);
  EXPECT_EQ(pool.num_arenas(), 3);
  for (int64_t n : {1, 2, 7, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::vector<std::atomic<int>> by_arena(3);
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      by_arena[ThreadPool::CurrentArena()].fetch_add(static_cast<int>(e - b));
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << n;
    if (n == 1000) {
      for (auto& a : by_arena) EXPECT_GE(a.load(), 333) << "each arena takes its proportional share";
    }
  }
  std::vector<std::atomic<int>> calls(3);
  pool.ForEachArena([&](int a) {
    calls[a].fetch_add(1);
    pool.ParallelForIn(a, 0, 10, 1, [&](int64_t, int64_t) { EXPECT_EQ(ThreadPool::CurrentArena(), a); });
  });
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
}

TEST(ThreadPoolTest, SingleArenaCapsThreads) {
  ThreadPool pool(100000);
  EXPECT_EQ(pool.num_threads(), AvailableHardwareThreads());
  EXPECT_EQ(pool.num_arenas(), 1);
  EXPECT_EQ(pool.pin_count(), 0);
}

}  // namespace
}  // namespace lazyllm::threading
