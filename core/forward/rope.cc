// RoPE tables, computed in double.
#include "core/forward/rope.h"

#include <cmath>

namespace lazyllm {

// cos/sin of pos·scale·θ_i with θ_i = base^(-2i/rope_dims) (divided by rope_freqs when present),
// computed in double, so a position's entries do not depend on the table's length.
void RopeTables::Ensure(const Model::Impl& m, int64_t ctx) {
  if (ctx <= ctx_) return;
  const ModelConfig& c = m.config;
  const int64_t pairs = c.rope_dims / 2;
  const bool neox = m.arch->rope == RopeStyle::kNeox;
  tables_.clear();
  for (const Model::Impl::RopeVariant& v : m.rope_variants) {
    std::vector<float>& t = tables_.emplace_back(static_cast<size_t>(ctx * c.rope_dims));
    for (int64_t i = 0; i < pairs; ++i) {
      double freq = std::pow(static_cast<double>(v.theta), -2.0 * static_cast<double>(i) / c.rope_dims);
      if (!m.rope_freq_factors.empty()) freq /= m.rope_freq_factors[i];
      freq *= v.freq_scale;
      const int64_t ci = neox ? i : 2 * i, si = neox ? pairs + i : 2 * i + 1;
      for (int64_t p = 0; p < ctx; ++p) {
        const double angle = static_cast<double>(p) * freq;
        t[p * c.rope_dims + ci] = static_cast<float>(std::cos(angle));
        t[p * c.rope_dims + si] = static_cast<float>(std::sin(angle));
      }
    }
  }
  ctx_ = ctx;
}

}  // namespace lazyllm
