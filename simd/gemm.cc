// OpenBLAS sgemm behind a narrow interface; forces OpenBLAS to one thread once.
#include "simd/gemm.h"

#include <cblas.h>

#include <mutex>

namespace lazyllm::simd {
void EnsureSingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

namespace {

void Sgemm(CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  EnsureSingleThreadedBlas();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb),
              accumulate ? 1.0f : 0.0f, c, static_cast<blasint>(ldc));
}

}  // namespace

void SgemmNT(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc, bool accumulate) {
  Sgemm(CblasTrans, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void SgemmNN(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
             int64_t ldc, bool accumulate) {
  Sgemm(CblasNoTrans, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace lazyllm::simd
