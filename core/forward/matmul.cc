// Prefill and decode weight matmuls per arena slice: GEMV, in-place F32 sgemm grid, converted panels.
#include "core/forward/matmul.h"

#include <algorithm>

#include "simd/check.h"
#include "simd/gemm.h"

namespace lazyllm {
namespace {

// One arena's share of a product: rows [0, rows) of its slice, written to output columns
// [s.begin, s.end) of y[n][w.rows].
struct SliceProduct {
  const threading::Workers& workers;
  int arena;
  const WeightMatrix& w;
  const WeightSlice& s;
  const float* x;
  int64_t n;
  float* y;  // y + s.begin
  int64_t rows() const { return s.end - s.begin; }
  int64_t stride() const { return s.RowStride(w); }
  // The slice's bytes at row r's offset: row r as in the file, except below s.grouped(), where
  // they are part of an interleaved group that only the group kernels read.
  const uint8_t* Row(int64_t r) const { return s.data + r * stride(); }
  // Row r as in the file, deinterleaved into buf if need be.
  const uint8_t* StoredRow(int64_t r, uint8_t* buf) const { return lazyllm::StoredRow(w, s, r, buf); }
};

// Bytes of thread scratch, as floats, for one deinterleaved row.
int64_t RowScratchFloats(const WeightMatrix& w) { return (w.row_bytes + 3) / 4; }

// GEMV with int8 activations: each weight row once, against every input row quantized in xq
// (by the dtype's multi-row dot where it has one: each block decoded once for all rows).
void GemvInt8(const SliceProduct& p, const simd::DTypeKernels& kern, const GemvInputs& in, int64_t xq_row_bytes) {
  p.workers.ParallelForIn(p.arena, 0, p.rows(), 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (kern.int8_dots != nullptr) {
        kern.int8_dots(p.Row(r), in.xq.data(), xq_row_bytes, p.n, p.w.cols, p.y + r, p.w.rows);
        continue;
      }
      for (int64_t i = 0; i < p.n; ++i)
        p.y[i * p.w.rows + r] = kern.int8_dot(p.Row(r), &in.xq[i * xq_row_bytes], p.w.cols);
    }
  });
}

// The group kernels of interleaved slices for products of one input (quantized in acts), one
// parallel loop per arena over all their groups: each slice's whole groups, product after
// product, and its tail rows (if any) as one more unit, by row dots.
void GroupsLoop(const threading::Workers& workers, const simd::Kernels& k, std::span<const Product> products,
                const float* x, int64_t n, const simd::Int8Acts& acts) {
  workers.ForEachArena([&](int a) {
    int64_t units = 0;
    for (const Product& q : products) {
      const WeightSlice& s = (*q.slices)[a];
      units += s.grouped() / simd::kGroupRows + (s.end - s.begin > s.grouped() ? 1 : 0);
    }
    workers.ParallelForIn(a, 0, units, 1, [&](int64_t u0, int64_t u1) {
      int64_t base = 0;  // the first unit of product q
      for (const Product& q : products) {
        const WeightSlice& s = (*q.slices)[a];
        const int64_t groups = s.grouped() / simd::kGroupRows, tail = s.end - s.begin - s.grouped();
        const int64_t end = base + groups + (tail > 0 ? 1 : 0);
        const SliceProduct p = {workers, a, *q.w, s, x, n, q.y + s.begin};
        const simd::DTypeKernels& kern = k.Row(q.w->dtype);
        for (int64_t u = std::max(u0, base); u < std::min(u1, end); ++u) {
          const int64_t g = u - base, r0 = g * simd::kGroupRows;
          if (g < groups)
            kern.int8_group(p.Row(r0), acts, p.y + r0, p.w.rows);
          else
            simd::Int8GemmByDots(kern.int8_dot, p.Row(r0), p.stride(), tail, acts, p.y + r0, p.w.rows);
        }
        base = end;
      }
    });
  });
}

// Int8 GEMM: panels of kInt8PanelRows weight rows, each decoded once (by the dtype's panel
// kernel, or read block by block by its row dot) and multiplied into every activation row. A
// panel's interleaved rows (below s.grouped()) are decoded from their groups.
void Int8Gemm(const SliceProduct& p, const simd::DTypeKernels& kern, const simd::Int8Acts& acts) {
  const int64_t rows = p.rows(), grouped = p.s.grouped();
  const int64_t panels = (rows + simd::kInt8PanelRows - 1) / simd::kInt8PanelRows;
  const int64_t scratch_floats = kern.int8_gemm != nullptr ? (simd::Int8GemmScratchBytes(p.w.cols) + 3) / 4 : 0;
  p.workers.ParallelForIn(p.arena, 0, panels, 1, [&](int64_t q0, int64_t q1) {
    void* scratch = scratch_floats > 0 ? p.workers.Scratch(scratch_floats) : nullptr;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t r0 = q * simd::kInt8PanelRows, nr = std::min(simd::kInt8PanelRows, rows - r0);
      const int64_t ng = std::clamp<int64_t>(grouped - r0, 0, nr);  // rows in whole groups
      if (ng > 0) kern.int8_group_gemm(p.Row(r0), p.stride(), ng, acts, p.y + r0, p.w.rows, scratch);
      if (ng == nr) continue;
      if (kern.int8_gemm != nullptr)
        kern.int8_gemm(p.Row(r0 + ng), p.stride(), nr - ng, acts, p.y + r0 + ng, p.w.rows, scratch);
      else
        simd::Int8GemmByDots(kern.int8_dot, p.Row(r0 + ng), p.stride(), nr - ng, acts, p.y + r0 + ng, p.w.rows);
    }
  });
}

// GEMV on the stored dtype: each weight row once, against every input row (and its 16-sums), by
// the dtype's dot per input row or its dots over all of them (the same bits).
void Gemv(const SliceProduct& p, const simd::DTypeKernels& kern, const GemvInputs& in) {
  const int64_t groups = p.w.cols / 16;
  p.workers.ParallelForIn(p.arena, 0, p.rows(), 32, [&](int64_t r0, int64_t r1) {
    auto* buf = reinterpret_cast<uint8_t*>(p.workers.Scratch(RowScratchFloats(p.w)));
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = p.StoredRow(r, buf);
      if (kern.dots != nullptr && p.n > 1) {
        kern.dots(row, p.x, p.w.cols, p.n, in.xsum.data(), p.w.cols, p.y + r, p.w.rows);
        continue;
      }
      for (int64_t i = 0; i < p.n; ++i)
        p.y[i * p.w.rows + r] = kern.dot(row, p.x + i * p.w.cols, in.xsum.data() + i * groups, p.w.cols);
    }
  });
}

// F32 weights and a few input rows: the small-batch kernel over chunks of kSmallRowChunk rows.
void SmallBatchF32(const SliceProduct& p, const simd::Kernels& k) {
  const int64_t rows = p.rows(), chunks = (rows + kSmallRowChunk - 1) / kSmallRowChunk;
  p.workers.ParallelForIn(p.arena, 0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * kSmallRowChunk, nr = std::min(kSmallRowChunk, rows - r0);
      k.gemm_small_f32(reinterpret_cast<const float*>(p.Row(r0)), p.stride() / 4, nr, p.x, p.n, p.w.cols, p.y + r0,
                       p.w.rows);
    }
  });
}

// F32 weights: a fixed grid of (weight panel × block of input rows) sgemm calls, read in place;
// tasks of one panel are adjacent, so a worker reuses the panel from cache.
void SgemmF32Grid(const SliceProduct& p) {
  const int64_t rows = p.rows(), cols = p.w.cols;
  const int64_t panels = (rows + kF32PanelRows - 1) / kF32PanelRows;
  const int64_t blocks = (p.n + kRowBlock - 1) / kRowBlock;
  p.workers.ParallelForIn(p.arena, 0, panels * blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / blocks * kF32PanelRows, i0 = t % blocks * kRowBlock;
      const int64_t nr = std::min(kF32PanelRows, rows - r0), ni = std::min(kRowBlock, p.n - i0);
      simd::SgemmNT(ni, nr, cols, p.x + i0 * cols, cols, reinterpret_cast<const float*>(p.Row(r0)), p.stride() / 4,
                    p.y + i0 * p.w.rows + r0, p.w.rows);
    }
  });
}

// Other dtypes: panels of kPanelRows weight rows converted to fp32 in the thread's scratch, each
// multiplied into every block of input rows.
void SgemmPanels(const SliceProduct& p, simd::ToF32Fn convert) {
  const int64_t rows = p.rows(), cols = p.w.cols;
  p.workers.ParallelForIn(p.arena, 0, (rows + kPanelRows - 1) / kPanelRows, 1, [&](int64_t p0, int64_t p1) {
    float* panel = p.workers.Scratch(kPanelRows * cols + RowScratchFloats(p.w));
    auto* buf = reinterpret_cast<uint8_t*>(panel + kPanelRows * cols);
    for (int64_t q = p0; q < p1; ++q) {
      const int64_t r0 = q * kPanelRows, nr = std::min(kPanelRows, rows - r0);
      for (int64_t r = 0; r < nr; ++r) convert(p.StoredRow(r0 + r, buf), panel + r * cols, cols);
      for (int64_t i0 = 0; i0 < p.n; i0 += kRowBlock) {
        const int64_t ni = std::min(kRowBlock, p.n - i0);
        simd::SgemmNT(ni, nr, cols, p.x + i0 * cols, cols, panel, cols, p.y + i0 * p.w.rows + r0, p.w.rows);
      }
    }
  });
}

}  // namespace

namespace {

// How MatMul computes a product of n input rows (MatMul's list in matmul.h).
struct Path {
  bool gemv_rows, int8_gemm, int8_groups;
  simd::Int8DotFn int8_dot;  // the GEMV of integer row dots, or nullptr
};
Path PathOf(const simd::DTypeKernels& kern, const std::vector<WeightSlice>& sl, int64_t n, bool int8_activations) {
  const bool gemv_rows = n < kGemvMaxRows;
  const bool int8 = int8_activations && kern.int8_dot != nullptr;
  // (A slice whose copy failed is not interleaved: GroupsLoop computes all of it by row dots.)
  // Interleaved slices run the group kernel, or for larger steps the dtype's panel GEMM of
  // groups where it has one (then with the same bits as on stored rows).
  const bool interleaved = int8 && std::ranges::any_of(sl, [](const WeightSlice& s) { return s.interleaved; });
  const bool gemm_rows = !gemv_rows && (kern.int8_dots == nullptr || n >= simd::kInt8DotsMaxRows);
  const bool int8_gemm = int8 && gemm_rows && (!interleaved || kern.int8_group_gemm != nullptr);
  const bool int8_groups = interleaved && !int8_gemm;
  return {gemv_rows, int8_gemm, int8_groups, int8 && !int8_gemm && !int8_groups ? kern.int8_dot : nullptr};
}

const simd::DTypeKernels& KernelsOf(const simd::Kernels& k, const WeightMatrix& w) {
  const simd::DTypeKernels& kern = k.Row(w.dtype);
  LAZYLLM_CHECK(kern.to_f32 != nullptr && kern.dot != nullptr) << "no kernels for " << simd::InfoOf(w.dtype).name;
  return kern;
}

void CheckSlices(const threading::Workers& workers, const std::vector<WeightSlice>& sl) {
  LAZYLLM_CHECK(static_cast<int>(sl.size()) == workers.num_arenas())
      << sl.size() << " slices for the " << workers.num_arenas() << " arenas";
}

}  // namespace

void MatMul(const threading::Workers& workers, const simd::Kernels& k, const WeightMatrix& w,
            const std::vector<WeightSlice>& sl, const float* x, int64_t n, float* y, GemvInputs& gemv,
            bool int8_activations) {
  CheckSlices(workers, sl);
  const simd::DTypeKernels& kern = KernelsOf(k, w);
  const Path path = PathOf(kern, sl, n, int8_activations);
  const bool f32 = w.dtype == simd::DType::kF32;
  // Inputs prepared once for all arenas: with int8 activations the rows quantized to the dtype's
  // activation format, else (GEMV) per-16 sums of each row (for dtypes with mins).
  int64_t xq_row_bytes = 0;
  if (path.int8_gemm || path.int8_groups) {
    simd::PrepareInt8Acts(k, kern.int8_act, x, n, w.cols, &gemv.acts, path.int8_gemm);
  } else if (path.int8_dot != nullptr) {
    xq_row_bytes = simd::ActRowBytes(kern.int8_act, w.cols);
    gemv.xq.resize(static_cast<size_t>(n * xq_row_bytes));
    const simd::QuantizeActFn quantize = k.QuantizeAct(kern.int8_act);
    for (int64_t i = 0; i < n; ++i) quantize(x + i * w.cols, &gemv.xq[i * xq_row_bytes], w.cols);
  } else if (path.gemv_rows) {
    gemv.xsum.resize(static_cast<size_t>(n * (w.cols / 16)));
    for (int64_t i = 0; i < n; ++i) simd::GroupSums16(x + i * w.cols, gemv.xsum.data() + i * (w.cols / 16), w.cols);
  }
  if (path.int8_groups) {
    const Product product = {&w, &sl, y};
    GroupsLoop(workers, k, {&product, 1}, x, n, gemv.acts);
    return;
  }
  workers.ForEachArena([&](int a) {
    const SliceProduct p = {workers, a, w, sl[a], x, n, y + sl[a].begin};
    if (p.rows() == 0) return;
    if (path.int8_gemm)
      Int8Gemm(p, kern, gemv.acts);
    else if (path.int8_dot != nullptr)
      GemvInt8(p, kern, gemv, xq_row_bytes);
    else if (path.gemv_rows)
      Gemv(p, kern, gemv);
    else if (f32 && n <= k.gemm_small_max_rows)
      SmallBatchF32(p, k);
    else if (f32)
      SgemmF32Grid(p);
    else
      SgemmPanels(p, kern.to_f32);
  });
}

void MatMuls(const threading::Workers& workers, const simd::Kernels& k, std::span<const Product> products,
             const float* x, int64_t n, GemvInputs& gemv, bool int8_activations) {
  // One loop needs every product on the group kernels of one activation format.
  bool one_loop = !products.empty();
  for (const Product& q : products) {
    CheckSlices(workers, *q.slices);
    const simd::DTypeKernels& kern = KernelsOf(k, *q.w);
    one_loop = one_loop && PathOf(kern, *q.slices, n, int8_activations).int8_groups &&
               kern.int8_act == k.Row(products[0].w->dtype).int8_act && q.w->cols == products[0].w->cols;
  }
  if (!one_loop) {
    for (const Product& q : products) MatMul(workers, k, *q.w, *q.slices, x, n, q.y, gemv, int8_activations);
    return;
  }
  const WeightMatrix& first = *products[0].w;
  simd::PrepareInt8Acts(k, k.Row(first.dtype).int8_act, x, n, first.cols, &gemv.acts, /*biased=*/false);
  GroupsLoop(workers, k, products, x, n, gemv.acts);
}

}  // namespace lazyllm
