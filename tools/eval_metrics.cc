// Fidelity, perplexity, task-score and interval computations of `lazyllm eval`.
#include "tools/eval_metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <sstream>

namespace lazyllm::eval {
namespace {

// log Σ exp(x) in double, shifted by the maximum.
double LogSumExp(std::span<const float> x) {
  double mx = -INFINITY;
  for (float v : x) mx = std::max(mx, static_cast<double>(v));
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(sum);
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(Normalize(text));
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// t quantile 0.975 for df = 1..30; beyond, the normal quantile's neighbourhood.
double T975(int64_t df) {
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                             2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df <= 30) return t[df - 1];
  if (df <= 60) return 2.000;
  if (df <= 120) return 1.980;
  return 1.960;
}

}  // namespace

double LogProb(std::span<const float> logits, int32_t token) {
  return static_cast<double>(logits[static_cast<size_t>(token)]) - LogSumExp(logits);
}

double KlDivergence(std::span<const float> p_logits, std::span<const float> q_logits) {
  const double lp = LogSumExp(p_logits), lq = LogSumExp(q_logits);
  double kl = 0;
  for (size_t i = 0; i < p_logits.size(); ++i) {
    const double log_p = p_logits[i] - lp, log_q = q_logits[i] - lq;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(kl, 0.0);  // rounding can leave a tiny negative for equal inputs
}

double Perplexity(std::span<const double> log_probs) {
  double sum = 0;
  for (double v : log_probs) sum += v;
  return std::exp(-sum / static_cast<double>(log_probs.size()));
}

Agreement CompareTokens(std::span<const int32_t> baseline, std::span<const int32_t> method) {
  Agreement a;
  while (a.common_prefix < static_cast<int64_t>(std::min(baseline.size(), method.size())) &&
         baseline[a.common_prefix] == method[a.common_prefix])
    ++a.common_prefix;
  if (baseline.empty()) return a;
  int64_t equal = 0;
  for (size_t i = 0; i < baseline.size() && i < method.size(); ++i) equal += baseline[i] == method[i];
  a.equal_fraction = static_cast<double>(equal) / static_cast<double>(baseline.size());
  return a;
}

std::string Normalize(const std::string& text) {
  std::string out;
  bool gap = false;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {  // keep non-ASCII bytes (UTF-8 letters) as they are
      if (gap && !out.empty()) out += ' ';
      out += static_cast<char>(std::tolower(c));
      gap = false;
    } else {
      gap = true;
    }
  }
  return out;
}

double ExactMatch(const std::string& prediction, const std::vector<std::string>& answers) {
  const std::string p = Normalize(prediction);
  for (const auto& a : answers)
    if (p == Normalize(a)) return 1.0;
  return 0.0;
}

double Contains(const std::string& prediction, const std::vector<std::string>& answers) {
  // Whole words: " " + answer + " " within " " + prediction + " ".
  auto padded = [](const std::string& text) {
    std::string out(1, ' ');
    out += Normalize(text);
    out += ' ';
    return out;
  };
  const std::string p = padded(prediction);
  for (const auto& a : answers) {
    const std::string n = padded(a);
    if (n.size() > 2 && p.find(n) != std::string::npos) return 1.0;
  }
  return 0.0;
}

double TokenF1(const std::string& prediction, const std::vector<std::string>& answers) {
  const std::vector<std::string> pw = Words(prediction);
  double best = 0;
  for (const auto& answer : answers) {
    const std::vector<std::string> aw = Words(answer);
    if (pw.empty() || aw.empty()) {
      best = std::max(best, pw.empty() && aw.empty() ? 1.0 : 0.0);
      continue;
    }
    std::map<std::string, int64_t> count;
    for (const auto& w : aw) ++count[w];
    int64_t common = 0;
    for (const auto& w : pw)
      if (count[w]-- > 0) ++common;
    if (common == 0) continue;
    const double precision = static_cast<double>(common) / static_cast<double>(pw.size());
    const double recall = static_cast<double>(common) / static_cast<double>(aw.size());
    best = std::max(best, 2 * precision * recall / (precision + recall));
  }
  return best;
}

Interval MeanCi95(std::span<const double> values) {
  Interval r;
  r.n = static_cast<int64_t>(values.size());
  if (r.n == 0) return r;
  for (double v : values) r.mean += v;
  r.mean /= static_cast<double>(r.n);
  if (r.n < 2) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  const double sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  r.half_width = T975(r.n - 1) * sd / std::sqrt(static_cast<double>(r.n));
  return r;
}

}  // namespace lazyllm::eval
