// The OpenBLAS GEMM wrapper used by prefill matmuls.
#pragma once

#include <cstdint>

namespace lazyllm::simd {

// Sets OpenBLAS to one thread of its own (lazyllm's workers each call it on their slice); once
// per process, before the first product.
void EnsureSingleThreadedBlas();

// C[m, n] = A[m, k] · B[n, k]ᵀ (+ C when accumulate), all fp32 row-major with leading
// dimensions lda, ldb, ldc. Runs on the calling thread only: OpenBLAS is kept single-threaded
// so that all parallelism comes from lazyllm's own pools.
void SgemmNT(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc, bool accumulate = false);

// C[m, n] = A[m, k] · B[k, n] (+ C when accumulate), same conventions as SgemmNT.
void SgemmNN(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc, bool accumulate = false);

}  // namespace lazyllm::simd
