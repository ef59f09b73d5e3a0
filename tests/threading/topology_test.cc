// NUMA planning on hwloc synthetic topologies: arenas per node, pinned PUs, row slices.
#include "threading/topology.h"

#include <gtest/gtest.h>

#include <set>

namespace lazyllm::threading {
namespace {

Topology TwoByTwo() {
  auto t = Topology::Synthetic("pack:2 numa:2 core:4 pu:2");  // 2 packages × 2 NUMA nodes × 4 cores, SMT2
  EXPECT_TRUE(t.ok()) << t.status().message();
  return *t;
}

TEST(TopologyTest, ReadsPackagesNodesAndCores) {
  const Topology t = TwoByTwo();
  EXPECT_EQ(t.num_packages(), 2);
  ASSERT_EQ(t.nodes().size(), 4u);
  EXPECT_EQ(t.num_cores(), 16);
  std::set<int> pus;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.nodes()[i].package, static_cast<int>(i / 2));
    EXPECT_EQ(t.nodes()[i].pus.size(), 4u);
    for (int pu : t.nodes()[i].pus) {
      EXPECT_EQ(pu % 2, 0) << "one worker per core: the first hyperthread";
      pus.insert(pu);
    }
  }
  EXPECT_EQ(pus.size(), 16u);
  EXPECT_FALSE(Topology::Synthetic("banana:3").ok());
  auto real = Topology::Detect();
  ASSERT_TRUE(real.ok());
  EXPECT_GE(real->num_cores(), 1);
}

TEST(TopologyTest, PlansOneArenaPerNodeWithBalancedWorkers) {
  const Topology t = TwoByTwo();
  auto plan = PlanArenas(t, 6, /*numa=*/true);
  ASSERT_EQ(plan.size(), 4u);
  std::vector<size_t> sizes;
  for (const auto& a : plan) sizes.push_back(a.pus.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1, 1}));
  for (const auto& a : plan)
    for (int pu : a.pus)
      EXPECT_NE(std::find(t.nodes()[a.node].pus.begin(), t.nodes()[a.node].pus.end(), pu), t.nodes()[a.node].pus.end())
          << "worker pinned outside its node";
  EXPECT_EQ(PlanArenas(t, 2, true).size(), 2u);          // fewer threads than nodes: only nodes with workers
  EXPECT_EQ(PlanArenas(t, 0, true).size(), 4u);          // 0: every core
  EXPECT_EQ(PlanArenas(t, 99, true)[0].pus.size(), 4u);  // capped at the cores
}

TEST(TopologyTest, NumaOffIsOneArena) {
  const Topology t = TwoByTwo();
  auto plan = PlanArenas(t, 8, /*numa=*/false);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].pus.size(), 8u);
  auto single = Topology::Synthetic("pack:1 core:4 pu:1");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(PlanArenas(*single, 0, true).size(), 1u);  // one node: the single-arena fallback
}

TEST(TopologyTest, SplitsRowsInProportionAlignedToPanels) {
  const Topology t = TwoByTwo();
  const auto plan = PlanArenas(t, 16, true);
  const auto slices = SplitRows(4096, plan, 64);
  ASSERT_EQ(slices.size(), 4u);
  EXPECT_EQ(slices.front().first, 0);
  EXPECT_EQ(slices.back().second, 4096);
  for (size_t i = 0; i < slices.size(); ++i) {
    EXPECT_EQ(slices[i].second - slices[i].first, 1024);
    if (i > 0) {
      EXPECT_EQ(slices[i].first, slices[i - 1].second);
    }
  }
  // Unequal workers (2, 2, 1, 1 of 6) and rows that do not divide evenly.
  const auto uneven = SplitRows(1000, PlanArenas(t, 6, true), 64);
  EXPECT_EQ(uneven[0], (std::pair<int64_t, int64_t>{0, 320}));    // 1000·2/6 = 333 -> 320
  EXPECT_EQ(uneven[1], (std::pair<int64_t, int64_t>{320, 640}));  // 667 -> 640
  EXPECT_EQ(uneven[2], (std::pair<int64_t, int64_t>{640, 832}));  // 833 -> 832
  EXPECT_EQ(uneven[3], (std::pair<int64_t, int64_t>{832, 1000}));
}

}  // namespace
}  // namespace lazyllm::threading
