// Session::Append with LazyLLM against a float64 model of the rule (docs/lazyllm.md, "Appending
// to the context"), written here independently of the engine: a hand-built 4-layer model,
// prefill with pruning, then two appended chunks whose selections re-score every token in
// context from the last new token, revive from the Aux Cache and drop new rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "common/test_paths.h"
#include "common/tiny_model.h"
#include "core/io/gguf.h"
#include "lazyllm/lazyllm.h"

namespace lazyllm {
namespace {

using Vec = std::vector<double>;

// The rule in float64: per layer, K/V by position and the Aux Cache (output of the layer) by
// position; `steps` maps a selection layer to its k.
class Float64LazyLlm {
 public:
  Float64LazyLlm(const gguf::File& f, int layers, std::map<int, double> steps)
      : f_(f), layers_(layers), steps_(std::move(steps)), k_(layers), v_(layers), aux_(layers) {}

  // Runs ids at positions next.. : a prefill when the context is empty, an append otherwise.
  // Returns the last new token's logits.
  Vec Step(const std::vector<int32_t>& ids) {
    const bool prefill = pos_ == 0;
    std::map<int64_t, Vec> rows;  // computed rows: position -> hidden state
    const Vec embd = T("token_embd.weight");
    for (size_t i = 0; i < ids.size(); ++i)
      rows[pos_ + static_cast<int64_t>(i)] = Vec(embd.begin() + ids[i] * kDim, embd.begin() + (ids[i] + 1) * kDim);
    const int64_t last = pos_ + static_cast<int64_t>(ids.size()) - 1;
    // Live keys at layer 0: the whole context and the new rows.
    std::vector<int64_t> live(static_cast<size_t>(last + 1));
    std::iota(live.begin(), live.end(), 0);
    Vec scores;
    for (int l = 0; l < layers_; ++l) {
      if (steps_.count(l)) {
        // Drop floor(k·|live|) lowest scores (ties: lower position first), never the last.
        const size_t drop = static_cast<size_t>(std::floor(steps_[l] * static_cast<double>(live.size())));
        std::vector<size_t> order(live.size() - 1);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
        std::vector<bool> dropped(live.size(), false);
        for (size_t i = 0; i < drop; ++i) dropped[order[i]] = true;
        std::vector<int64_t> kept;
        for (size_t j = 0; j < live.size(); ++j) {
          const int64_t t = live[j];
          if (dropped[j]) {
            if (rows.count(t)) {  // a computed row leaves the step: its state goes to Aux[l-1]
              aux_[l - 1][t] = rows[t];
              rows.erase(t);
            }
            continue;
          }
          kept.push_back(t);
          if (!rows.count(t) && !k_[l].count(t)) {  // selected without K/V here: revive
            EXPECT_FALSE(prefill);
            EXPECT_TRUE(aux_[l - 1].count(t)) << "no Aux entry for " << t << " at layer " << l - 1;
            rows[t] = aux_[l - 1][t];
            ++revived_;
          }
        }
        live = kept;
      }
      scores = Layer(l, rows, live, last, steps_.count(l + 1) > 0);
    }
    pos_ = last + 1;
    return MatVec("token_embd.weight", Norm(rows.at(last), T("output_norm.weight")), 4);  // tied output
  }

  int64_t revived() const { return revived_; }

 private:
  static constexpr int kDim = 32, kHead = 16, kFfn = 64;

  // One layer over the computed rows; keys are the live positions (K/V of rows computed here,
  // the cache for the others). Returns the last row's head-mean probabilities over live keys
  // when asked.
  Vec Layer(int l, std::map<int64_t, Vec>& rows, const std::vector<int64_t>& live, int64_t last, bool want_scores) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::map<int64_t, Vec> q;
    for (auto& [t, x] : rows) {
      const Vec h = Norm(x, T(p + "attn_norm.weight"));
      q[t] = MatVec(p + "attn_q.weight", h, 2 * kHead);
      Vec kk = MatVec(p + "attn_k.weight", h, kHead);
      for (int hh = 0; hh < 2; ++hh) Rope(&q[t][hh * kHead], t);
      Rope(kk.data(), t);
      EXPECT_FALSE(k_[l].count(t)) << "(token " << t << ", layer " << l << ") computed twice";
      k_[l][t] = kk;
      v_[l][t] = MatVec(p + "attn_v.weight", h, kHead);
    }
    Vec scores(live.size(), 0.0);
    for (auto& [t, x] : rows) {
      Vec att(2 * kHead, 0.0);
      for (int hh = 0; hh < 2; ++hh) {
        Vec s;
        for (int64_t j : live)
          if (j <= t) {
            double d = 0;
            for (int e = 0; e < kHead; ++e) d += q[t][hh * kHead + e] * k_[l].at(j)[e];
            s.push_back(d / std::sqrt(static_cast<double>(kHead)));
          }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < s.size(); ++j) {
          for (int e = 0; e < kHead; ++e) att[hh * kHead + e] += s[j] / sum * v_[l].at(live[j])[e];
          if (want_scores && t == last) scores[j] += s[j] / sum / 2.0;
        }
      }
      Add(&x, MatVec(p + "attn_output.weight", att, kDim));
      const Vec h = Norm(x, T(p + "ffn_norm.weight"));
      Vec g = MatVec(p + "ffn_gate.weight", h, kFfn);
      const Vec u = MatVec(p + "ffn_up.weight", h, kFfn);
      for (int e = 0; e < kFfn; ++e) g[e] = g[e] / (1 + std::exp(-g[e])) * u[e];
      Add(&x, MatVec(p + "ffn_down.weight", g, kDim));
    }
    return scores;
  }

  Vec T(const std::string& name) const {
    const gguf::TensorInfo* t = f_.FindTensor(name);
    std::vector<float> v(static_cast<size_t>(t->num_elements));
    std::memcpy(v.data(), t->data, v.size() * sizeof(float));
    return Vec(v.begin(), v.end());
  }
  Vec MatVec(const std::string& name, const Vec& in, int rows) const {
    const Vec w = T(name);
    Vec out(static_cast<size_t>(rows), 0.0);
    for (int r = 0; r < rows; ++r)
      for (size_t c = 0; c < in.size(); ++c) out[r] += w[r * in.size() + c] * in[c];
    return out;
  }
  static Vec Norm(const Vec& x, const Vec& w) {
    double ss = 0;
    for (double e : x) ss += e * e;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + 1e-5);
    Vec out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv * w[i];
    return out;
  }
  static void Rope(double* h, int64_t pos) {
    for (int j = 0; j < kHead / 2; ++j) {
      const double a = static_cast<double>(pos) * std::pow(10000.0, -2.0 * j / kHead);
      const double x0 = h[2 * j], x1 = h[2 * j + 1];
      h[2 * j] = x0 * std::cos(a) - x1 * std::sin(a);
      h[2 * j + 1] = x0 * std::sin(a) + x1 * std::cos(a);
    }
  }
  static void Add(Vec* x, const Vec& d) {
    for (size_t i = 0; i < x->size(); ++i) (*x)[i] += d[i];
  }

  const gguf::File& f_;
  int layers_;
  std::map<int, double> steps_;
  std::vector<std::map<int64_t, Vec>> k_, v_, aux_;
  int64_t pos_ = 0, revived_ = 0;
};

TEST(AppendTest, MatchesFloat64ModelOfTheRule) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("lazyllm_append_" + std::to_string(getpid()))).string();
  testing::WriteBytes(path, testing::TinyLlama(/*context_length=*/128, /*layers=*/4).Build());
  auto file = gguf::File::Open(path);
  auto model = Model::Load(path);
  ASSERT_TRUE(file.ok() && model.ok()) << model.status().message();
  const std::vector<int32_t> prompt = {1, 3, 0, 2, 3, 3, 1, 0, 2, 2, 3, 1, 0, 3,
                                       2, 1, 1, 3, 2, 0, 3, 3, 2, 1, 0, 2, 1, 3};
  const std::vector<std::vector<int32_t>> turns = {{2, 0, 3, 1, 1, 2, 3, 0, 0, 2, 3}, {1, 1, 3, 2, 0, 3, 2}};
  for (const char* spec : {"1:0.5,3:0.5", "2:0.3", "1:0.7,2:0.4,3:0.5"}) {
    SCOPED_TRACE(spec);
    auto p = PruningOptions::Parse(spec, 4, 0);
    ASSERT_TRUE(p.ok());
    std::map<int, double> steps;
    for (const auto& s : p->steps) steps[static_cast<int>(s.layer)] = s.k;
    Float64LazyLlm ref(**file, 4, steps);
    auto s = Session::Create(*model, {.threads = 2, .pruning = *p});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Prefill(prompt).ok());
    EXPECT_LE(testing::MaxRelDiff(s->logits(), ref.Step(prompt)), 1e-5) << "prefill";
    for (size_t i = 0; i < turns.size(); ++i) {
      ASSERT_TRUE(s->Append(turns[i]).ok());
      EXPECT_LE(testing::MaxRelDiff(s->logits(), ref.Step(turns[i])), 1e-5) << "append " << i;
    }
    EXPECT_EQ(s->pruning_stats().revived_tokens, ref.revived());
    std::printf("  %-18s revived %lld (float64 model %lld)\n", spec,
                static_cast<long long>(s->pruning_stats().revived_tokens), static_cast<long long>(ref.revived()));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lazyllm
