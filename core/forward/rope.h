// RoPE tables: per RoPE variant of a model (its base and scaling; gemma3 has a local and a global
// one), cos and sin of every position's angle per rotated pair, grown to the longest context.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/model_impl.h"

namespace lazyllm {

class RopeTables {
 public:
  // Makes the tables of m's variants cover positions [0, ctx).
  void Ensure(const Model::Impl& m, int64_t ctx);
  int64_t positions() const { return ctx_; }
  // Variant `table`'s rope_dims entries of position pos: interleaved (c0 s0 c1 s1 ...) for
  // adjacent-pair RoPE, split (c0 c1 ... s0 s1 ...) for NEOX, as the rope kernels read them.
  const float* At(int table, int64_t pos, int64_t rope_dims) const { return &tables_[table][pos * rope_dims]; }

 private:
  std::vector<std::vector<float>> tables_;
  int64_t ctx_ = 0;
};

}  // namespace lazyllm
