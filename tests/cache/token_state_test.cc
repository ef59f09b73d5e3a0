// TokenState and KV page accounting: the invariants LAZYLLM_CHECK enforces end the process with
// their values named (a (token, layer) pair computed twice, an Aux Cache read of a layer that keeps
// none, pages given back that were never taken).
// And the KV cache's layout: each KV head's rows one matrix, in whole 4 KiB pages.
#include "cache/token_state.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cache/kv_cache.h"
#include "simd/kernels.h"

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
  auto pool = std::make_shared<KvPool>(0, KvCache::PageRows(8), KvCache::PageRows(8) * 2 * 16);
  KvCache kv(pool, /*num_layers=*/2, /*max_slots=*/32, /*kv_heads=*/2, /*head_dim=*/2, /*f16=*/false);
  ASSERT_TRUE(kv.ok());
  const float k[4] = {1, 2, 3, 4}, v[4] = {5, 6, 7, 8};
  const int64_t row = kv.Assign(0, 9);
  ASSERT_EQ(row, 0);
  kv.Write(0, row, k, v, nullptr);
  EXPECT_EQ(static_cast<const float*>(kv.V(0, 1, row))[1], 8.0f);
  EXPECT_DEATH(kv.Write(0, 1, k, v, nullptr), "layer 0 row 1 of 1");
}

// Pages hold whole 4 KiB pages of every KV head's rows.
TEST(KvCacheTest, PageRowsFillWholeOsPagesOfAHead) {
  EXPECT_EQ(KvCache::PageRows(256), 16);  // 64 fp32
  EXPECT_EQ(KvCache::PageRows(128), 32);  // 64 halves
  EXPECT_EQ(KvCache::PageRows(320), 64);  // 80 fp32: 64 × 320 = 5 × 4096
  EXPECT_EQ(KvCache::PageRows(8192), 16);
}

// Each KV head's rows of a layer are one matrix, head_dim wide, in row order; Read (a row) and
// ReadHead (a head's run of rows) give back what Write stored, in fp32 and (rounded to half) in
// f16; Clear forgets the rows.
TEST(KvCacheTest, EachKvHeadsRowsAreOneMatrix) {
  constexpr int64_t kLayers = 2, kHeads = 3, kHd = 8, kDim = kHeads * kHd, kSlots = 40;
  const simd::Kernels& ref = simd::RefKernels();
  const simd::ToF32Fn half = ref.Row(simd::DType::kF16).to_f32;
  for (const bool f16 : {false, true}) {
    const int64_t head_bytes = kHd * (f16 ? 2 : 4), page_rows = KvCache::PageRows(head_bytes);
    auto pool = std::make_shared<KvPool>(0, page_rows, 2 * page_rows * kHeads * head_bytes);
    KvCache kv(pool, kLayers, kSlots, kHeads, kHd, f16);
    ASSERT_TRUE(kv.ok());
    std::vector<float> k(kDim), v(kDim), k_back(kDim), v_back(kDim);
    // Whole numbers below 2048, exact in half; distinct within a layer.
    const auto value = [](int64_t l, int64_t r, int64_t e, int kv) {
      return static_cast<float>(((l * 997 + r * kDim + e) * 2 + kv) % 2048);
    };
    for (int64_t l = 0; l < kLayers; ++l)
      for (int64_t slot = 0; slot < kSlots; ++slot) {
        const int64_t r = kv.Assign(l, slot);
        for (int64_t e = 0; e < kDim; ++e) k[e] = value(l, r, e, 0), v[e] = value(l, r, e, 1);
        kv.Write(l, r, k.data(), v.data(), ref.f32_to_f16);
      }
    const auto elem = [&](const void* p, int64_t i) {
      float x;
      if (f16)
        half(static_cast<const uint16_t*>(p) + i, &x, 1);
      else
        x = static_cast<const float*>(p)[i];
      return x;
    };
    for (int64_t l = 0; l < kLayers; ++l) {
      for (int64_t h = 0; h < kHeads; ++h) {
        // Head h's rows read as one matrix from its first row, and h + 1's begin head_stride on.
        const auto* base = static_cast<const uint8_t*>(kv.K(l, h, 0));
        if (h + 1 < kHeads)
          EXPECT_EQ(static_cast<const uint8_t*>(kv.K(l, h + 1, 0)), base + kv.head_stride() * (f16 ? 2 : 4));
        EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % 4096, 0u) << "layer " << l << " head " << h;
        for (int64_t r = 0; r < kSlots; ++r)
          for (int64_t e = 0; e < kHd; ++e) {
            ASSERT_EQ(elem(kv.K(l, h, 0), r * kHd + e), value(l, r, h * kHd + e, 0)) << l << " " << h << " " << r;
            ASSERT_EQ(elem(kv.V(l, h, 0), r * kHd + e), value(l, r, h * kHd + e, 1)) << l << " " << h << " " << r;
          }
      }
      // ReadHead: a run of one head's rows at once.
      std::vector<float> run_k(20 * kHd), run_v(20 * kHd);
      kv.ReadHead(l, 1, 5, 20, run_k.data(), run_v.data(), half);
      for (int64_t r = 0; r < 20; ++r)
        for (int64_t e = 0; e < kHd; ++e) {
          ASSERT_EQ(run_k[r * kHd + e], value(l, 5 + r, kHd + e, 0));
          ASSERT_EQ(run_v[r * kHd + e], value(l, 5 + r, kHd + e, 1));
        }
      for (int64_t r = 0; r < kSlots; r += 13) {
        kv.Read(l, r, k_back.data(), v_back.data(), half);
        for (int64_t e = 0; e < kDim; ++e) {
          ASSERT_EQ(k_back[e], value(l, r, e, 0));
          ASSERT_EQ(v_back[e], value(l, r, e, 1));
        }
      }
    }
    const int64_t pages = kLayers * ((kSlots + page_rows - 1) / page_rows);
    EXPECT_EQ(kv.used_pages(), pages);
    EXPECT_EQ(pool->held_pages(), pages);
    kv.Clear();
    EXPECT_EQ(pool->held_pages(), 0);
    EXPECT_EQ(kv.row_of(1, 5), -1);
    EXPECT_EQ(elem(kv.K(1, 2, 0), 7), 0.0f);  // the pages given back to the OS read as zeros
  }
}

}  // namespace
}  // namespace lazyllm::cache
