// Pruned tokens keep their original positions: RoPE and causal masking use them. Checked on a
// hand-built model against a float64 forward pass written here, independent of the engine.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "common/test_paths.h"
#include "common/tiny_model.h"
#include "core/io/gguf.h"
#include "lazyllm/lazyllm.h"

namespace lazyllm {
namespace {

// The tiny model's float64 forward over live rows (token ids at positions, ascending);
// returns the last row's logits.
class Float64TinyLlama {
 public:
  explicit Float64TinyLlama(const gguf::File& f) : f_(f) {}

  std::vector<double> LastLogits(const std::vector<int32_t>& ids, const std::vector<int64_t>& pos) const {
    const size_t n = ids.size();
    std::vector<std::vector<double>> x(n), q(n), k(n), v(n);
    const auto embd = T("token_embd.weight");
    for (size_t i = 0; i < n; ++i) x[i].assign(embd.begin() + ids[i] * kDim, embd.begin() + (ids[i] + 1) * kDim);
    for (size_t i = 0; i < n; ++i) {
      const auto h = Norm(x[i], T("blk.0.attn_norm.weight"));
      q[i] = MatVec("blk.0.attn_q.weight", h, 2 * kHead);
      k[i] = MatVec("blk.0.attn_k.weight", h, kHead);
      v[i] = MatVec("blk.0.attn_v.weight", h, kHead);
      for (int hh = 0; hh < 2; ++hh) Rope(&q[i][hh * kHead], pos[i]);
      Rope(&k[i][0], pos[i]);
    }
    std::vector<double> out;
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> att(2 * kHead, 0.0);
      for (int hh = 0; hh < 2; ++hh) {  // both query heads share KV head 0
        std::vector<double> s;
        for (size_t j = 0; j < n && pos[j] <= pos[i]; ++j) {
          double d = 0;
          for (int e = 0; e < kHead; ++e) d += q[i][hh * kHead + e] * k[j][e];
          s.push_back(d / std::sqrt(static_cast<double>(kHead)));
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < s.size(); ++j)
          for (int e = 0; e < kHead; ++e) att[hh * kHead + e] += s[j] / sum * v[j][e];
      }
      Add(&x[i], MatVec("blk.0.attn_output.weight", att, kDim));
      const auto h = Norm(x[i], T("blk.0.ffn_norm.weight"));
      auto g = MatVec("blk.0.ffn_gate.weight", h, kFfn);
      const auto u = MatVec("blk.0.ffn_up.weight", h, kFfn);
      for (int e = 0; e < kFfn; ++e) g[e] = g[e] / (1 + std::exp(-g[e])) * u[e];
      Add(&x[i], MatVec("blk.0.ffn_down.weight", g, kDim));
    }
    return MatVec("token_embd.weight", Norm(x[n - 1], T("output_norm.weight")), 4);  // tied output
  }

 private:
  static constexpr int kDim = 32, kHead = 16, kFfn = 64;

  std::vector<double> T(const std::string& name) const {
    const gguf::TensorInfo* t = f_.FindTensor(name);
    std::vector<float> v(t->num_elements);
    std::memcpy(v.data(), t->data, v.size() * sizeof(float));
    return std::vector<double>(v.begin(), v.end());
  }
  std::vector<double> MatVec(const std::string& name, const std::vector<double>& in, int rows) const {
    const auto w = T(name);
    std::vector<double> out(rows, 0.0);
    for (int r = 0; r < rows; ++r)
      for (size_t c = 0; c < in.size(); ++c) out[r] += w[r * in.size() + c] * in[c];
    return out;
  }
  static std::vector<double> Norm(const std::vector<double>& x, const std::vector<double>& w) {
    double ss = 0;
    for (double e : x) ss += e * e;
    const double inv = 1.0 / std::sqrt(ss / x.size() + 1e-5);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv * w[i];
    return out;
  }
  static void Rope(double* h, int64_t p) {
    for (int j = 0; j < kHead / 2; ++j) {
      const double a = static_cast<double>(p) * std::pow(10000.0, -2.0 * j / kHead);
      const double x0 = h[2 * j], x1 = h[2 * j + 1];
      h[2 * j] = x0 * std::cos(a) - x1 * std::sin(a);
      h[2 * j + 1] = x0 * std::sin(a) + x1 * std::cos(a);
    }
  }
  static void Add(std::vector<double>* x, const std::vector<double>& d) {
    for (size_t i = 0; i < x->size(); ++i) (*x)[i] += d[i];
  }

  const gguf::File& f_;
};

TEST(PositionsTest, PrunedRowsKeepOriginalPositionsForRopeAndCausalMask) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("lazyllm_positions_" + std::to_string(getpid()))).string();
  testing::WriteBytes(path, testing::TinyLlama().Build());
  auto file = gguf::File::Open(path);
  auto model = Model::Load(path);
  ASSERT_TRUE(file.ok() && model.ok());
  const Float64TinyLlama ref(**file);
  const std::vector<int32_t> prompt = {1, 3, 0, 2, 3, 3, 1, 0, 2, 2, 3, 1, 0, 3, 2, 1, 1, 3, 2, 0};

  // Baseline: the independent forward agrees with the engine.
  std::vector<int64_t> all(prompt.size());
  std::iota(all.begin(), all.end(), 0);
  auto base = Session::Create(*model, {.threads = 2});
  ASSERT_TRUE(base.ok() && base->Prefill(prompt).ok());
  EXPECT_LE(testing::MaxRelDiff(base->logits(), ref.LastLogits(prompt, all)), 1e-5);

  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto p = PruningOptions::Parse("random:0.5", 1, seed);
    ASSERT_TRUE(p.ok());
    auto s = Session::Create(*model, {.threads = 2, .pruning = *p});
    ASSERT_TRUE(s.ok() && s->Prefill(prompt).ok());
    const std::vector<int64_t> kept = s->pruning_stats().kept_positions.at(0);
    ASSERT_EQ(kept.size(), prompt.size() - prompt.size() / 2);
    ASSERT_EQ(kept.back(), static_cast<int64_t>(prompt.size()) - 1);
    std::vector<int32_t> kept_ids;
    for (int64_t t : kept) kept_ids.push_back(prompt[t]);
    // Expected: the live rows at their original positions (gaps where tokens were dropped).
    EXPECT_LE(testing::MaxRelDiff(s->logits(), ref.LastLogits(kept_ids, kept)), 1e-5);
    // Renumbering the survivors 0..m-1 gives a measurably different answer, so the check above
    // does tell original positions from compacted ones.
    std::vector<int64_t> renumbered(kept.size());
    std::iota(renumbered.begin(), renumbered.end(), 0);
    EXPECT_GT(testing::MaxRelDiff(s->logits(), ref.LastLogits(kept_ids, renumbered)), 1e-3);
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lazyllm
