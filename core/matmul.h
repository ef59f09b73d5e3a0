// Weight matmuls: y[n, rows] = x[n, cols] · Wᵀ with W in its stored dtype, split by output
// rows into one slice per arena of the pool.
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <cstdint>
#include <vector>

#include "core/model_impl.h"
#include "simd/kernels.h"
#include "threading/thread_pool.h"

namespace lazyllm {

// Output rows of a weight matrix converted and multiplied per task in the prefill GEMM; NUMA
// slices start on multiples of it.
constexpr int64_t kPanelRows = 64;
// Below this many input rows, matmuls run as GEMV on the stored dtype.
constexpr int64_t kGemvMaxRows = 4;

// Rows [begin, end) of a weight matrix as computed by one arena; data points at row `begin`.
struct WeightSlice {
  int64_t begin, end;
  const uint8_t* data;
  int toucher = -1;  // arena whose worker first wrote a node-local copy (-1: the mapped file itself)
};

// Per-thread fp32 panels for converted weights (grown on first use).
using MatMulScratch = tbb::enumerable_thread_specific<std::vector<float>>;

//  - Few rows (decode, short prompts): GEMV on the stored dtype, each weight row read once for
//    all input rows.
//  - F32 weights: one sgemm per worker over its share of the slice, read in place.
//  - Other dtypes: panels of kPanelRows output rows converted to fp32 in per-thread scratch,
//    then sgemm: the resident model stays at its file dtype.
// slices[a] is computed by arena a.
void MatMul(threading::ThreadPool& pool, const simd::Kernels& k, const WeightMatrix& w,
            const std::vector<WeightSlice>& slices, const float* x, int64_t n, float* y, MatMulScratch& scratch);

}  // namespace lazyllm
