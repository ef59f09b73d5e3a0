// Tiled and direct causal attention against a float64 evaluation written here: several query
// blocks and key tiles, grouped KV heads, per-row key limits with gaps (as after pruning).
#include "core/forward/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

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

// A row-major K or V matrix of `rows` rows (KV head h at columns h·hd, ld floats apart) laid out as
// the KV cache keeps it: one matrix per KV head, its rows hd floats apart, the heads head_stride
// floats apart (more than rows·hd, as the cache's unused rows leave room).
struct HeadMajor {
  std::vector<float> k, v;
  int64_t hd, head_stride;
  KeyMatrix Keys(const int64_t* rows = nullptr) const { return {k.data(), v.data(), hd, head_stride, rows}; }
};
HeadMajor ToHeadMajor(const std::vector<float>& k, const std::vector<float>& v, int64_t rows, int64_t kv_heads,
                      int64_t hd, int64_t ld) {
  HeadMajor m{{}, {}, hd, rows * hd + 48};
  m.k.assign(static_cast<size_t>(kv_heads * m.head_stride), std::numeric_limits<float>::quiet_NaN());
  m.v = m.k;
  for (int64_t h = 0; h < kv_heads; ++h)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < hd; ++e) {
        m.k[h * m.head_stride + r * hd + e] = k[r * ld + h * hd + e];
        m.v[h * m.head_stride + r * hd + e] = v[r * ld + h * hd + e];
      }
  return m;
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
  std::vector<float> probs;
  const KeyMatrix keys{kk.data(), vv.data(), ld, hd};
  attn.Run(workers, q.data(), c.n, count.data(), keys, out.data(), nullptr, probs);
  std::vector<float> scores(static_cast<size_t>(c.nk)), head_probs(static_cast<size_t>(c.heads * c.nk));
  attn.MeanHeadProbs(workers, &q[(c.n - 1) * qs], c.nk, keys, scores.data(), head_probs.data());
  // The KV cache's layout, one matrix per KV head, gives the same bits.
  const HeadMajor cache = ToHeadMajor(kk, vv, c.nk, c.kv_heads, hd, ld);
  std::vector<float> cache_out(out.size(), -1.0f), cache_scores(scores.size());
  attn.Run(workers, q.data(), c.n, count.data(), cache.Keys(), cache_out.data(), nullptr, probs);
  attn.MeanHeadProbs(workers, &q[(c.n - 1) * qs], c.nk, cache.Keys(), cache_scores.data(), head_probs.data());
  EXPECT_EQ(cache_out, out);
  EXPECT_EQ(cache_scores, scores);

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

// The direct form, in its one-loop form (few keys) and its three loops (many), against the kernel
// calls of one (row, head) at a time: dots_f32, soft-cap, softmax, weighted_sum_f32. Several jobs
// at once, keys in place and through rows, windows, head widths that 32 divides and does not, on
// the workers and serially, keys side by side in rows and one matrix per KV head (the cache's
// layout): every output has those calls' bits, and the mean probabilities of a job's last row are
// MeanHeadProbs's.
struct DirectCase {
  int64_t heads, kv_heads, head_dim;
  float softcap;
  int64_t max_keys;  // the longest job's keys
  size_t jobs = 3;   // the first `jobs` of the three below
};

class AttentionDirectTest : public ::testing::TestWithParam<DirectCase> {};

TEST_P(AttentionDirectTest, GivesTheBitsOfOneRowAndHeadAtATime) {
  const DirectCase c = GetParam();
  const int64_t hd = c.head_dim, qs = c.heads * hd, ld = c.kv_heads * hd + 5, stored = c.max_keys + 300;
  const auto kk = Random(static_cast<size_t>(stored * ld), 2), vv = Random(static_cast<size_t>(stored * ld), 3);
  // Job 0: one row over every key, in place. Job 1: five rows, keys through a list of rows with
  // gaps, non-decreasing counts and window starts. Job 2: two rows over fewer keys, in place.
  std::vector<int64_t> list(static_cast<size_t>(c.max_keys));
  for (int64_t j = 0; j < c.max_keys; ++j) list[j] = j + j / 7 + (j % 3 == 0 ? 1 : 0) * (j > 100 ? 40 : 0);
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  const auto listed = static_cast<int64_t>(list.size());
  struct JobData {
    int64_t n;
    std::vector<int64_t> count, begin;
    bool through_rows;
  };
  std::vector<JobData> data = {{1, {c.max_keys}, {0}, false},
                               {5,
                                {listed / 2, listed / 2 + 3, listed / 2 + 3, listed - 9, listed},
                                {0, 2, 2, listed / 3, listed / 3 + 1},
                                true},
                               {2, {c.max_keys / 3, c.max_keys / 3 + 1}, {0, 0}, false}};
  data.resize(c.jobs);
  std::vector<std::vector<float>> q;
  for (size_t j = 0; j < data.size(); ++j) q.push_back(Random(static_cast<size_t>(data[j].n * qs), 10 + j));

  const simd::Kernels& kern = simd::KernelsFor(simd::SelectedIsa());
  Attention attn(kern, {c.heads, c.kv_heads, hd, 0.0f, c.softcap});
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group = c.heads / c.kv_heads;
  // Expected: per job, row and head, the kernel calls for that head alone.
  std::vector<std::vector<float>> expected;
  for (size_t j = 0; j < data.size(); ++j) {
    const JobData& d = data[j];
    expected.emplace_back(static_cast<size_t>(d.n * qs));
    for (int64_t i = 0; i < d.n; ++i)
      for (int64_t h = 0; h < c.heads; ++h) {
        const int64_t lo = d.begin[i], nk = d.count[i] - lo, column = h / group * hd;
        const float* k = d.through_rows ? kk.data() + column : kk.data() + lo * ld + column;
        const float* v = d.through_rows ? vv.data() + column : vv.data() + lo * ld + column;
        const int64_t* rows = d.through_rows ? list.data() + lo : nullptr;
        std::vector<float> s(static_cast<size_t>(nk));
        kern.dots_f32(&q[j][i * qs + h * hd], hd, 1, k, ld, rows, nk, hd, scale, s.data(), nk);
        if (c.softcap > 0)
          for (float& x : s) x = c.softcap * std::tanh(x / c.softcap);
        kern.softmax(s.data(), nk);
        std::fill_n(&expected[j][i * qs + h * hd], hd, 0.0f);
        kern.weighted_sum_f32(s.data(), 0, 1, v, ld, rows, nk, hd, &expected[j][i * qs + h * hd], 0);
      }
  }

  const HeadMajor cache = ToHeadMajor(kk, vv, stored, c.kv_heads, hd, ld);
  const threading::Context threads(2, /*numa=*/false);
  for (int variant = 0; variant < 4; ++variant) {
    const bool serial = variant % 2 == 1, head_major = variant >= 2;
    const threading::Workers workers(threads, serial);
    const std::string how = std::string(serial ? " serial" : " workers") + (head_major ? ", head-major" : "");
    std::vector<std::vector<float>> out;
    std::vector<Attention::DirectJob> jobs;
    for (size_t j = 0; j < data.size(); ++j) {
      const JobData& d = data[j];
      out.emplace_back(static_cast<size_t>(d.n * qs), -1.0f);
      const int64_t* rows = d.through_rows ? list.data() : nullptr;
      const KeyMatrix keys = head_major ? cache.Keys(rows) : KeyMatrix{kk.data(), vv.data(), ld, hd, rows};
      jobs.push_back({q[j].data(), d.n, d.count.data(), d.begin.data(), keys, out[j].data()});
    }
    // Jobs 0 and 1 (those of them the case runs) ask for their last row's mean probabilities, which
    // MeanHeadProbs computes alone.
    std::vector<std::vector<float>> mean(std::min<size_t>(2, data.size()));
    for (size_t j = 0; j < mean.size(); ++j) {
      mean[j].assign(static_cast<size_t>(data[j].count.back()), -1.0f);
      jobs[j].mean_probs = mean[j].data();
    }
    // Scratch left over from a larger step: stale values must not be read.
    std::vector<float> probs(1 << 20, std::numeric_limits<float>::quiet_NaN());
    attn.RunDirectMany(workers, jobs, probs);
    for (size_t j = 0; j < data.size(); ++j)
      for (size_t e = 0; e < out[j].size(); ++e)
        ASSERT_EQ(out[j][e], expected[j][e]) << "job " << j << " element " << e << how;
    for (size_t j = 0; j < mean.size(); ++j) {
      const JobData& d = data[j];
      const int64_t nk = d.count.back();
      std::vector<float> alone(static_cast<size_t>(nk)), head_probs(static_cast<size_t>(c.heads * nk));
      attn.MeanHeadProbs(workers, &q[j][(d.n - 1) * qs], nk, jobs[j].keys, alone.data(), head_probs.data(),
                         d.begin.back());
      EXPECT_EQ(mean[j], alone) << "job " << j << how;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionDirectTest,
                         ::testing::Values(DirectCase{9, 3, 64, 0.0f, 300},   // one loop (few keys)
                                           DirectCase{9, 3, 64, 0.0f, 1300},  // three loops, smollm2's heads
                                           DirectCase{8, 2, 80, 0.0f, 1100},  // 32 does not divide the head
                                           DirectCase{4, 4, 32, 30.0f, 700},  // soft-cap, no grouping
                                           // One row of one KV head for two threads: the group in
                                           // two shares, of 4 and 3 heads.
                                           DirectCase{7, 1, 64, 0.0f, 300, 1}));

}  // namespace
}  // namespace lazyllm
