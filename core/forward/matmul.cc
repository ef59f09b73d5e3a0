// Prefill and decode weight matmuls per arena slice: GEMV, in-place F32 sgemm grid, converted panels.
#include "core/forward/matmul.h"

#include <algorithm>

#include "simd/check.h"
#include "simd/gemm.h"

namespace lazyllm {
void MatMul(const threading::Workers& workers, const simd::Kernels& k, const WeightMatrix& w,
            const std::vector<WeightSlice>& sl, const float* xin, int64_t n, float* y, GemvInputs& gemv,
            bool int8_activations) {
  LAZYLLM_CHECK(static_cast<int>(sl.size()) == workers.num_arenas())
      << sl.size() << " slices for the " << workers.num_arenas() << " arenas";
  const simd::DTypeKernels& kern = k.Row(w.dtype);
  LAZYLLM_CHECK(kern.to_f32 != nullptr && kern.dot != nullptr) << "no kernels for " << simd::InfoOf(w.dtype).name;
  const simd::RowDotFn dot = kern.dot;
  const simd::ToF32Fn convert = w.dtype == simd::DType::kF32 ? nullptr : kern.to_f32;
  // GEMV inputs prepared once for all arenas: per-16 sums of each input row (for dtypes with
  // mins), or with int8 activations the rows quantized to the dtype's activation format.
  const simd::Int8DotFn int8_dot = int8_activations && n < kGemvMaxRows ? kern.int8_dot : nullptr;
  int64_t xq_row_bytes = 0;
  if (int8_dot != nullptr) {
    xq_row_bytes = simd::ActRowBytes(kern.int8_act, w.cols);
    gemv.xq.resize(static_cast<size_t>(n * xq_row_bytes));
    const simd::QuantizeActFn quantize = k.QuantizeAct(kern.int8_act);
    for (int64_t i = 0; i < n; ++i) quantize(xin + i * w.cols, &gemv.xq[i * xq_row_bytes], w.cols);
  } else if (n < kGemvMaxRows) {
    gemv.xsum.resize(static_cast<size_t>(n * (w.cols / 16)));
    for (int64_t i = 0; i < n; ++i) simd::GroupSums16(xin + i * w.cols, gemv.xsum.data() + i * (w.cols / 16), w.cols);
  }
  workers.ForEachArena([&](int a) {
    const WeightSlice& s = sl[a];
    const int64_t rows = s.end - s.begin;
    float* ys = y + s.begin;
    if (rows == 0) return;
    if (int8_dot != nullptr) {
      workers.ParallelForIn(a, 0, rows, 32, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t i = 0; i < n; ++i)
            ys[i * w.rows + r] = int8_dot(s.data + r * w.row_bytes, &gemv.xq[i * xq_row_bytes], w.cols);
      });
      return;
    }
    if (n < kGemvMaxRows) {
      workers.ParallelForIn(a, 0, rows, 32, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t i = 0; i < n; ++i)
            ys[i * w.rows + r] =
                dot(s.data + r * w.row_bytes, xin + i * w.cols, gemv.xsum.data() + i * (w.cols / 16), w.cols);
      });
      return;
    }
    if (convert == nullptr && n <= k.gemm_small_max_rows) {
      workers.ParallelForIn(a, 0, (rows + kSmallRowChunk - 1) / kSmallRowChunk, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t r0 = c * kSmallRowChunk, nr = std::min(kSmallRowChunk, rows - r0);
          k.gemm_small_f32(reinterpret_cast<const float*>(s.data + r0 * w.row_bytes), nr, xin, n, w.cols, ys + r0,
                           w.rows);
        }
      });
      return;
    }
    if (convert == nullptr) {
      // F32: a fixed grid of (weight panel × block of input rows) sgemm calls, read in place;
      // tasks of one panel are adjacent, so a worker reuses the panel from cache.
      const int64_t panels = (rows + kF32PanelRows - 1) / kF32PanelRows;
      const int64_t blocks = (n + kF32RowBlock - 1) / kF32RowBlock;
      workers.ParallelForIn(a, 0, panels * blocks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t r0 = t / blocks * kF32PanelRows, i0 = t % blocks * kF32RowBlock;
          const int64_t nr = std::min(kF32PanelRows, rows - r0), ni = std::min(kF32RowBlock, n - i0);
          simd::SgemmNT(ni, nr, w.cols, xin + i0 * w.cols, w.cols,
                        reinterpret_cast<const float*>(s.data + r0 * w.row_bytes), w.cols, ys + i0 * w.rows + r0,
                        w.rows);
        }
      });
      return;
    }
    const int64_t panel = kPanelRows;
    workers.ParallelForIn(a, 0, (rows + panel - 1) / panel, 1, [&](int64_t p0, int64_t p1) {
      float* panel_f32 = workers.Scratch(kPanelRows * w.cols);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t r0 = p * panel;
        const int64_t nr = std::min(panel, rows - r0);
        const uint8_t* src = s.data + r0 * w.row_bytes;
        for (int64_t r = 0; r < nr; ++r) convert(src + r * w.row_bytes, panel_f32 + r * w.cols, w.cols);
        simd::SgemmNT(n, nr, w.cols, xin, w.cols, panel_f32, w.cols, ys + r0, w.rows);
      }
    });
  });
}

}  // namespace lazyllm
