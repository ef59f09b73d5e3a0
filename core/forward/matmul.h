// Weight matmuls: y[n, rows] = x[n, cols] · Wᵀ with W in its stored dtype, split by output
// rows into one slice per arena of the pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/forward/placed_weights.h"
#include "core/model/model_impl.h"
#include "simd/kernels.h"
#include "threading/context.h"

namespace lazyllm {

// Prefill sgemm calls: converted weights go through per-thread fp32 scratch of kPanelRows
// weight rows; F32 weights are read in place in panels of kF32PanelRows weight rows (enough
// tasks to balance small matrices). Either is multiplied into blocks of kRowBlock input rows,
// from the first. The calls never depend on the thread count, and NUMA slices start on multiples
// of the panels, so every output element is computed by the same call shape however the work is
// shared out: results do not change with -t or --numa. And since sgemm's result for a row can
// depend on the other rows of its call (OpenBLAS's does), the blocks make a matmul over rows
// [r0, r1), r0 a multiple of kRowBlock, compute the same bits for them as one over all rows:
// what lets a prefill stop inside a layer.
constexpr int64_t kPanelRows = 64;
constexpr int64_t kF32PanelRows = 128;
constexpr int64_t kRowBlock = 256;
constexpr int64_t kSliceAlign = kF32PanelRows;
// Below this many input rows, matmuls run as GEMV on the stored dtype.
constexpr int64_t kGemvMaxRows = 4;
// F32 weights with up to Kernels::gemm_small_max_rows input rows (a decode step of a batch of
// sequences) run on the small-batch kernel (register tiles, no packing) in chunks of
// kSmallRowChunk weight rows.
constexpr int64_t kSmallRowChunk = 32;

// The GEMV's inputs, prepared once per matmul for all threads: the input rows' per-16 sums, or
// the rows quantized to the int8 activation format. (The fp32 panels of converted weights are
// the workers' per-thread scratch.)
struct GemvInputs {
  std::vector<float> xsum;
  std::vector<uint8_t> xq;
  simd::Int8Acts acts;  // the int8 GEMM's
};

//  - int8_activations and a quantized dtype (one with an int8 dot): the input rows quantized to
//    its activation format (Q8_0 or Q8_K); few rows (under kGemvMaxRows, or kInt8DotsMaxRows
//    for dtypes with a multi-row dot) run the GEMV of integer row dots, each weight row read
//    once; more rows the int8 GEMM over decoded panels of kInt8PanelRows weight rows.
//  - Few rows (decode, short prompts): GEMV on the stored dtype, each weight row read once for
//    all input rows.
//  - F32 weights, up to the ISA's gemm_small_max_rows rows (batched decode): the small-batch kernel.
//  - F32 weights: sgemm on the fixed grid of weight panels × input row blocks, read in place.
//  - Other dtypes: panels of kPanelRows output rows converted to fp32 in per-thread scratch,
//    then sgemm: the resident model stays at its file dtype.
// slices[a] is computed by arena a.
void MatMul(const threading::Workers& workers, const simd::Kernels& k, const WeightMatrix& w,
            const std::vector<WeightSlice>& slices, const float* x, int64_t n, float* y, GemvInputs& gemv,
            bool int8_activations = false);

// One product of a MatMuls call: y[n, w.rows] = x[n, w.cols] · Wᵀ.
struct Product {
  const WeightMatrix* w;
  const std::vector<WeightSlice>* slices;
  float* y;
};

// The products of one input (a layer's q, k and v; its gate and up), each with MatMul's result.
// Where all of them run the group kernels of interleaved weights on one activation format (the
// decode of a quantized file), the input is quantized once and their groups share one parallel
// loop: one wait for the workers instead of one per matrix. Otherwise MatMul runs each.
void MatMuls(const threading::Workers& workers, const simd::Kernels& k, std::span<const Product> products,
             const float* x, int64_t n, GemvInputs& gemv, bool int8_activations = false);

}  // namespace lazyllm
