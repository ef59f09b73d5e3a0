// Int8 GEMM of quantized weights (prefill and batched decode): the activation rows rounded to the
// weight dtype's int8 format (Q8_K or Q8_0 blocks, as the GEMV's int8 dot reads them), laid out
// once per matmul for the kernels, times panels of weight rows decoded to int8 levels.
//
// Every ISA computes y[i][r] = int8_dot(w_r, xq_i): the integer sums of each group are exact; only
// the order of the float steps (group scales, block scales) differs between kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "simd/dtype.h"

namespace lazyllm::simd {

// Weight rows per kernel call: a panel decoded once into the thread's scratch and multiplied
// into every activation row. The matmul driver splits a matrix into panels of this many rows.
constexpr int64_t kInt8PanelRows = 64;

// n activation rows of k elements, quantized to `format` (Q8_0 or Q8_K): the blocks as the int8
// dots read them, and the same levels laid out for the VNNI kernels.
struct Int8Acts {
  DType format = DType::kQ8_0;
  int64_t n = 0, k = 0;
  int64_t block = 32;           // elements per activation block (32 or 256)
  std::vector<uint8_t> blocks;  // n rows of ActRowBytes(format, k)
  std::vector<uint8_t> biased;  // n rows of k bytes: level + 128 (unsigned); may be empty
  std::vector<float> scales;    // n rows of k/block block scales
  std::vector<float> sums16;    // n rows of k/16 level sums (Σ of 16 levels, as floats)
  std::vector<float> sums32;    // n rows of k/32 level sums
  int64_t row_bytes() const { return static_cast<int64_t>(blocks.size()) / (n > 0 ? n : 1); }
  // Row i's blocks as the int8 dots read them (Block: BlockQ8_0 or BlockQ8_K, as `format`).
  template <class Block>
  const Block* Row(int64_t i) const {
    return reinterpret_cast<const Block*>(&blocks[static_cast<size_t>(i * row_bytes())]);
  }
};

struct Kernels;

// Dot product of a stored weight row with an activation row quantized to the dtype's int8
// activation format (DTypeKernels::int8_act).
using Int8DotFn = float (*)(const void* w, const void* xq, int64_t n);
// y[i·y_stride] = int8_dot(w, xq + i·xq_row_bytes, k) for i < n.
using Int8DotsFn = void (*)(const void* w, const void* xq, int64_t xq_row_bytes, int64_t n, int64_t k, float* y,
                            int64_t y_stride);
// Input rows up to which matmuls run the row dots (each weight block decoded once for all rows)
// rather than the panel GEMM.
constexpr int64_t kInt8DotsMaxRows = 16;

// Quantizes n rows of x (k elements each) to `format` with the table's quantizer and lays them
// out as Int8Acts; without `biased` (the panel GEMM's input) that array is left empty.
void PrepareInt8Acts(const Kernels& kernels, DType format, const float* x, int64_t n, int64_t k, Int8Acts* out,
                     bool biased = true);

// Bytes of per-thread scratch an Int8GemmFn needs for rows of k elements.
int64_t Int8GemmScratchBytes(int64_t k);

// y[i·ldy + r] = Σ_k w_r · x_i for r < rows (<= kInt8PanelRows) weight rows of w (row_bytes
// apart) and every activation row i < x.n. scratch: Int8GemmScratchBytes(x.k) bytes, 64-byte
// aligned.
using Int8GemmFn = void (*)(const void* w, int64_t row_bytes, int64_t rows, const Int8Acts& x, float* y, int64_t ldy,
                            void* scratch);

// The GEMM of ISAs without a panel kernel (and the scalar twin of those that have one): the
// dtype's int8 row dot for every (weight row, activation row) pair, activation rows in blocks.
void Int8GemmByDots(Int8DotFn dot, const void* w, int64_t row_bytes, int64_t rows, const Int8Acts& x, float* y,
                    int64_t ldy);

}  // namespace lazyllm::simd
