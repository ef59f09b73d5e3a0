// TokenState and KV page accounting: the invariants LAZYLLM_CHECK enforces end the process with
// their values named (a (token, layer) pair computed twice, an Aux Cache read of a layer that keeps
// none, pages given back that were never taken).
#include "cache/token_state.h"

#include <gtest/gtest.h>

#include "cache/kv_cache.h"

namespace lazyllm::cache {
namespace {

TEST(TokenStateTest, MarksPairsAndCountsThem) {
  TokenState t(/*num_layers=*/3, /*max_slots=*/8, /*dim=*/4, {false, true, false});
  t.MarkComputed(0, 5);
  t.MarkComputed(1, 5);
  t.MarkComputed(1, 6);
  EXPECT_TRUE(t.HasKv(0, 5));
  EXPECT_FALSE(t.HasKv(0, 6));
  EXPECT_EQ(t.CountKv(1, 8), 2);
  EXPECT_EQ(t.computed_pairs(), 3);
  t.Clear();
  EXPECT_EQ(t.computed_pairs(), 0);
  t.MarkComputed(0, 5);  // computing it again after Clear is a new generation
  EXPECT_TRUE(t.HasKv(0, 5));
}

TEST(TokenStateTest, PairComputedTwiceFailsTheCheck) {
  TokenState t(2, 8, 4, {false, false});
  t.MarkComputed(1, 7);
  EXPECT_DEATH(t.MarkComputed(1, 7),
               "internal check failed at cache/token_state.cc:[0-9]+: .*token 7 computed a "
               "second time at layer 1");
}

TEST(TokenStateTest, AuxOfALayerWithoutAuxCacheFailsTheCheck) {
  TokenState t(2, 8, 4, {true, false});
  t.Aux(0, 3)[0] = 1.0f;
  EXPECT_DEATH(t.Aux(1, 3), "layer 1 keeps no Aux Cache");
}

TEST(KvPoolTest, GivingBackMoreThanHeldFailsTheCheck) {
  KvPool pool(/*limit_bytes=*/0, /*page_rows=*/16, /*page_bytes=*/4096);
  ASSERT_TRUE(pool.Take(2));
  pool.Give(1);
  EXPECT_EQ(pool.held_pages(), 1);
  EXPECT_DEATH(pool.Give(2), "giving back 2 pages of the 1 held");
}

TEST(KvCacheTest, WriteToARowNotAssignedFailsTheCheck) {
  auto pool = std::make_shared<KvPool>(0, KvCache::PageRows(16), KvCache::PageRows(16) * 2 * 16);
  KvCache kv(pool, /*num_layers=*/2, /*max_slots=*/32, /*kv_dim=*/4, /*f16=*/false);
  ASSERT_TRUE(kv.ok());
  const float k[4] = {1, 2, 3, 4}, v[4] = {5, 6, 7, 8};
  const int64_t row = kv.Assign(0, 9);
  ASSERT_EQ(row, 0);
  kv.Write(0, row, k, v, nullptr);
  EXPECT_EQ(static_cast<const float*>(kv.V(0, row))[3], 8.0f);
  EXPECT_DEATH(kv.Write(0, 1, k, v, nullptr), "layer 0 row 1 of 1");
}

}  // namespace
}  // namespace lazyllm::cache
