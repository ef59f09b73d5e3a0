// Tiled and direct causal attention against a float64 evaluation written here: several query
// blocks and key tiles, grouped KV heads, per-row key limits with gaps (as after pruning).
#include "core/forward/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lazyllm {
namespace {

struct Case {
  int64_t heads, kv_heads, head_dim, n, nk;
};

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, MatchesFloat64) {
  const Case c = GetParam();
  const int64_t hd = c.head_dim, qs = c.heads * hd, ld = c.kv_heads * hd + 3;  // padded key rows
  const auto q = Random(static_cast<size_t>(c.n * qs), 1);
  const auto kk = Random(static_cast<size_t>(c.nk * ld), 2), vv = Random(static_cast<size_t>(c.nk * ld), 3);
  // Row i sees a non-decreasing prefix of keys, ending at nk for the last row; some rows see
  // the same count (keys pruned between them).
  std::vector<int64_t> count(static_cast<size_t>(c.n));
  for (int64_t i = 0; i < c.n; ++i) count[i] = std::max<int64_t>(1, c.nk - (c.n - 1 - i) / 2 * 3);
  count.back() = c.nk;
  const threading::Context threads(2, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  const simd::Kernels& kern = simd::KernelsFor(simd::SelectedIsa());
  Attention attn(kern, {c.heads, c.kv_heads, hd});
  std::vector<float> out(static_cast<size_t>(c.n * qs), -1.0f);
  attn.Run(workers, q.data(), c.n, count.data(), {kk.data(), vv.data(), ld}, out.data());
  std::vector<float> scores(static_cast<size_t>(c.nk)), head_probs(static_cast<size_t>(c.heads * c.nk));
  attn.MeanHeadProbs(workers, &q[(c.n - 1) * qs], c.nk, {kk.data(), vv.data(), ld}, scores.data(), head_probs.data());

  const int64_t group = c.heads / c.kv_heads;
  std::vector<double> mean(static_cast<size_t>(c.nk), 0.0);
  for (int64_t i = 0; i < c.n; ++i) {
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t kvh = h / group, nk = count[i];
      std::vector<double> p(static_cast<size_t>(nk));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < nk; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e) d += static_cast<double>(q[i * qs + h * hd + e]) * kk[j * ld + kvh * hd + e];
        p[j] = d / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, p[j]);
      }
      for (double& x : p) sum += x = std::exp(x - mx);
      for (int64_t e = 0; e < hd; ++e) {
        double o = 0;
        for (int64_t j = 0; j < nk; ++j) o += p[j] / sum * vv[j * ld + kvh * hd + e];
        ASSERT_NEAR(out[i * qs + h * hd + e], o, 2e-5 * (1 + std::fabs(o))) << "row " << i << " head " << h;
      }
      if (i == c.n - 1)
        for (int64_t j = 0; j < nk; ++j) mean[j] += p[j] / sum / static_cast<double>(c.heads);
    }
  }
  for (int64_t j = 0; j < c.nk; ++j) ASSERT_NEAR(scores[j], mean[j], 1e-6 + 1e-5 * mean[j]) << "key " << j;
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{4, 4, 16, 3, 5},        // direct form (decode-like)
                                           Case{8, 2, 32, 1, 700},      // one row over several key tiles
                                           Case{8, 2, 32, 150, 600},    // tiled: blocks × tiles, GQA 4
                                           Case{9, 3, 64, 70, 70},      // smollm2's head layout
                                           Case{6, 1, 8, 300, 1000}));  // multi-query, ragged tiles

}  // namespace
}  // namespace lazyllm
