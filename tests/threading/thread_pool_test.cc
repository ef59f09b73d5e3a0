// Multi-arena pools: every index is visited once, each arena runs its own share, and arena
// bodies see their arena index. Contexts plan their arenas from a topology; Workers run a step's
// loops on them or, serial, on the calling thread.
#include "threading/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "threading/context.h"
#include "threading/spin_team.h"
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

TEST(ContextTest, PlansOneArenaPerNodeOnlyWithNuma) {
  auto topo = Topology::Synthetic("pack:2 numa:2 core:2 pu:1");
  ASSERT_TRUE(topo.ok());
  const Context numa(4, /*numa=*/true, &*topo);
  EXPECT_EQ(numa.plan().size(), 4u);
  EXPECT_EQ(numa.pool().num_arenas(), 4);
  const Context flat(4, /*numa=*/false, &*topo);
  EXPECT_TRUE(flat.plan().empty());
  EXPECT_EQ(flat.pool().num_arenas(), 1);
}

TEST(WorkersTest, SerialRunsEveryBodyOnTheCallerWithItsArena) {
  auto topo = Topology::Synthetic("pack:1 numa:2 core:2 pu:1");
  ASSERT_TRUE(topo.ok());
  const Context context(4, /*numa=*/true, &*topo);
  ASSERT_EQ(context.pool().num_arenas(), 2);
  for (const bool serial : {true, false}) {
    SCOPED_TRACE(serial ? "serial" : "parallel");
    const Workers workers(context, serial);
    const std::thread::id caller = std::this_thread::get_id();
    std::vector<std::atomic<int>> hits(100);
    std::atomic<int> elsewhere{0};
    workers.ParallelFor(100, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    if (serial) {
      EXPECT_EQ(elsewhere.load(), 0);
    }
    std::vector<std::atomic<int>> arenas(2);
    workers.ForEachArena([&](int a) {
      arenas[a].fetch_add(1);
      workers.ParallelForIn(a, 0, 8, 1, [&](int64_t, int64_t) { EXPECT_EQ(ThreadPool::CurrentArena(), a); });
    });
    EXPECT_EQ(arenas[0].load(), 1);
    EXPECT_EQ(arenas[1].load(), 1);
  }
}

TEST(ContextTest, ScratchIsThePerThreadBufferKeptBetweenCalls) {
  const Context context(2, /*numa=*/false);
  float* a = context.Scratch(16);
  a[15] = 3.0f;
  EXPECT_EQ(context.Scratch(8), a);  // no smaller buffer: the same one
  EXPECT_EQ(context.Scratch(16)[15], 3.0f);
  float* other = nullptr;
  std::thread([&] { other = context.Scratch(16); }).join();
  EXPECT_NE(other, a);
}

// The spinning team of a one-arena pool: every index once, in whole grains and at most kSlices
// slices per thread, for loops of every size, after its workers have gone to sleep, nested, and
// from several submitting threads at once (the loops the team is not free for run on oneTBB).
TEST(SpinTeamTest, CoversEveryIndexOnceInWholeGrains) {
  for (int threads : {1, 2, 4}) {
    SpinTeam team(threads);
    for (int64_t n : {1, 2, 3, 17, 1000})
      for (int64_t grain : {1, 4, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n) + 5);
        std::atomic<int> calls{0};
        auto body = [&](int64_t b, int64_t e) {
          EXPECT_EQ((b - 5) % grain, 0) << "a part starts on a grain";
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
          calls.fetch_add(1);
        };
        using Body = decltype(body);
        ASSERT_TRUE(team.TryRun(
            5, 5 + n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<Body*>(c))(b, e); }, &body));
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[5 + i].load(), 1) << threads << " " << n << " " << grain;
        EXPECT_LE(calls.load(), threads * SpinTeam::kSlices);
        EXPECT_LE(calls.load(), (n + grain - 1) / grain);
      }
  }
}

// A member that stalls in its part's first slice: the caller, done with its own part, takes the
// rest of the stalled part's slices from the back, and the loop ends when the stalled slice does.
TEST(SpinTeamTest, SlicesOfAStalledPartAreTakenByTheOthers) {
  SpinTeam team(2);
  constexpr int64_t n = 2 * SpinTeam::kSlices;  // parts of kSlices slices of one index each
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<std::thread::id> ran_by(n);
  std::atomic<bool> worker_in{false};
  auto body = [&](int64_t b, int64_t e) {
    ASSERT_EQ(e - b, 1) << "a slice of one grain";
    if (std::this_thread::get_id() != caller) {
      if (!worker_in.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else {  // the caller's first slice waits (up to 5 s) for the worker to stall in one of its own
      for (int i = 0; i < 5000 && !worker_in.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ran_by[b] = std::this_thread::get_id();
  };
  using Body = decltype(body);
  ASSERT_TRUE(team.TryRun(
      0, n, 1, [](void* c, int64_t b, int64_t e) { (*static_cast<Body*>(c))(b, e); }, &body));
  ASSERT_TRUE(worker_in.load()) << "the worker took part";
  for (const std::thread::id& id : ran_by) ASSERT_NE(id, std::thread::id()) << "every index ran";
  // The worker ran its stalled slice; the caller its own part and the stalled part's other slices
  // (all of them, unless the caller itself was held up for the whole stall).
  const auto by_caller = std::count(ran_by.begin(), ran_by.end(), caller);
  EXPECT_GT(by_caller, n / 2);
  EXPECT_LT(by_caller, n);
}

TEST(SpinTeamTest, PoolLoopsAfterSleepNestedAndConcurrent) {
  ThreadPool pool(4);
  auto check = [&](int64_t n) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n;
  };
  check(100);
  std::this_thread::sleep_for(std::chrono::microseconds(20 * SpinTeam::kSpinMicros));  // workers asleep
  check(100);
  // A loop inside a loop's body.
  std::atomic<int> inner{0};
  pool.ParallelFor(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.ParallelFor(10, 1, [&](int64_t ib, int64_t ie) { inner.fetch_add(static_cast<int>(ie - ib)); });
  });
  EXPECT_EQ(inner.load(), 80);
  // Three threads submitting 200 loops each.
  std::vector<std::thread> submitters;
  for (int t = 0; t < 3; ++t)
    submitters.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) check(37 + rep % 5);
    });
  for (auto& t : submitters) t.join();
}

}  // namespace
}  // namespace lazyllm::threading
