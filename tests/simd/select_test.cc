// SelectLowest: the lowest scores are dropped, ties drop the lower position, the last is kept.
#include "simd/select.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace lazyllm::simd {
namespace {

std::vector<uint8_t> Select(const std::vector<float>& s, const std::vector<int64_t>& pos, int64_t k) {
  std::vector<int64_t> scratch(s.size());
  std::vector<uint8_t> drop(s.size(), 7);
  SelectLowest(s.data(), pos.data(), static_cast<int64_t>(s.size()), k, scratch.data(), drop.data());
  return drop;
}

TEST(SelectTest, DropsLowestAndNeverTheLast) {
  EXPECT_EQ(Select({0.5f, 0.1f, 0.9f, 0.2f, 0.0f}, {0, 3, 4, 8, 9}, 2), (std::vector<uint8_t>{0, 1, 0, 1, 0}));
  EXPECT_EQ(Select({0.5f, 0.1f, 0.9f}, {0, 1, 2}, 0), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(Select({0.5f, 0.1f, 0.9f}, {0, 1, 2}, 2), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_TRUE(Select({}, {}, 0).empty());
  EXPECT_EQ(Select({0.0f}, {5}, 1), (std::vector<uint8_t>{0}));
}

TEST(SelectTest, TiesDropTheLowerPositionFirst) {
  EXPECT_EQ(Select({0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, {2, 4, 6, 8, 10}, 2), (std::vector<uint8_t>{1, 1, 0, 0, 0}));
  EXPECT_EQ(Select({0.1f, 0.3f, 0.3f, 0.3f, 0.2f}, {0, 1, 2, 3, 4}, 2), (std::vector<uint8_t>{1, 1, 0, 0, 0}));
}

TEST(SelectTest, MatchesSortingOnRandomInputs) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<float> s(n);
    std::vector<int64_t> pos(n);
    for (int i = 0; i < n; ++i) s[i] = static_cast<float>(rng() % 5), pos[i] = 3 * i + 1;  // many ties
    const int64_t k = rng() % n;
    const auto drop = Select(s, pos, k);
    std::vector<int> order(n - 1);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return s[a] < s[b] || (s[a] == s[b] && a < b); });
    std::vector<uint8_t> want(n, 0);
    for (int64_t i = 0; i < std::min<int64_t>(k, n - 1); ++i) want[order[i]] = 1;
    EXPECT_EQ(drop, want);
  }
}

}  // namespace
}  // namespace lazyllm::simd
