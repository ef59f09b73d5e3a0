// Microbenchmarks of the stored-dtype GEMV row kernels and the fp32 dot product, per ISA.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "simd/kernels.h"

namespace lazyllm::simd {
namespace {

void BM_RowDot(benchmark::State& state, Isa isa, DType dtype) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t n = state.range(0);
  const DTypeTraits t = TraitsOf(dtype);
  std::vector<uint8_t> w(static_cast<size_t>(n / t.block_elems * t.block_bytes));
  std::mt19937 rng(1);
  for (auto& b : w) b = static_cast<uint8_t>(rng() & 0x3f);  // small finite values in every dtype
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  const RowDotFn dot = KernelsFor(isa).RowDot(dtype);
  for (auto _ : state) benchmark::DoNotOptimize(dot(w.data(), x.data(), n));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
}

#define LAZYLLM_ROWDOT(isa, dtype)                                                        \
  BENCHMARK_CAPTURE(BM_RowDot, isa##_##dtype, Isa::isa, DType::dtype)->Arg(4096)->Arg(11008)

LAZYLLM_ROWDOT(kRef, kF32);
LAZYLLM_ROWDOT(kAvx2, kF32);
LAZYLLM_ROWDOT(kRef, kF16);
LAZYLLM_ROWDOT(kAvx2, kF16);
LAZYLLM_ROWDOT(kAvx512, kF16);
LAZYLLM_ROWDOT(kRef, kBF16);
LAZYLLM_ROWDOT(kAvx2, kBF16);
LAZYLLM_ROWDOT(kRef, kQ8_0);
LAZYLLM_ROWDOT(kAvx2, kQ8_0);
LAZYLLM_ROWDOT(kAvx512, kQ8_0);
LAZYLLM_ROWDOT(kRef, kQ4_0);
LAZYLLM_ROWDOT(kAvx2, kQ4_0);
LAZYLLM_ROWDOT(kAvx512, kQ4_0);

}  // namespace
}  // namespace lazyllm::simd
