#include "core/matmul.h"

#include <algorithm>

#include "simd/gemm.h"

namespace lazyllm {
void MatMul(threading::ThreadPool& pool, const simd::Kernels& k, const WeightMatrix& w,
            const std::vector<WeightSlice>& sl, const float* xin, int64_t n, float* y, MatMulScratch& panel_scratch) {
  const simd::RowDotFn dot = k.RowDot(w.dtype);
  const simd::ToF32Fn convert = k.ToF32(w.dtype);
  pool.ForEachArena([&](int a) {
    const WeightSlice& s = sl[a];
    const int64_t rows = s.end - s.begin;
    float* ys = y + s.begin;
    if (rows == 0) return;
    if (n < kGemvMaxRows) {
      pool.ParallelForIn(a, 0, rows, 32, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t i = 0; i < n; ++i) ys[i * w.rows + r] = dot(s.data + r * w.row_bytes, xin + i * w.cols, w.cols);
      });
      return;
    }
    const int64_t panel = convert == nullptr ? kF32PanelRows : kPanelRows;
    pool.ParallelForIn(a, 0, (rows + panel - 1) / panel, 1, [&](int64_t p0, int64_t p1) {
      float* scratch = nullptr;
      if (convert != nullptr) {
        auto& buf = panel_scratch.local();
        if (static_cast<int64_t>(buf.size()) < kPanelRows * w.cols) buf.resize(static_cast<size_t>(kPanelRows * w.cols));
        scratch = buf.data();
      }
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t r0 = p * panel;
        const int64_t nr = std::min(panel, rows - r0);
        const uint8_t* src = s.data + r0 * w.row_bytes;
        const float* b = reinterpret_cast<const float*>(src);
        if (convert != nullptr) {
          for (int64_t r = 0; r < nr; ++r) convert(src + r * w.row_bytes, scratch + r * w.cols, w.cols);
          b = scratch;
        }
        simd::SgemmNT(n, nr, w.cols, xin, w.cols, b, w.cols, ys + r0, w.rows);
      }
    });
  });
}

}  // namespace lazyllm
