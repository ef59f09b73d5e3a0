// Interleaved weight rows: Q8_0 and Q4_0 matrices laid out at placement in groups of 16 rows, so
// that one 64-byte load holds 4 levels of all 16 rows and feeds one vpdpbusd per activation row.
//
// A group has the bytes of its 16 stored rows (16 · row_bytes), so a slice's rows keep their
// offsets: group g starts where row 16·g did, and rows past the last whole group stay as stored.
// Within a group, per pair of block columns (j, j + 1), then a last single column when the block
// count is odd:
//
//   levels of column j, then of column j + 1, then the 16 fp16 scales of j, then those of j + 1
//
// Levels of one column are 64-byte vectors in which byte 4·r + t holds level t of the vector's
// 4 levels of row r:
//   Q8_0: 8 vectors, vector v the levels 4v..4v+3 as unsigned bytes, level + 128;
//   Q4_0: 4 vectors, vector v the stored bytes 4v..4v+3 of each row: the low nibbles are the
//         levels 4v..4v+3, the high nibbles the levels 16+4v..16+4v+3 (as GGUF stores them).
// So with a pair of columns the level vectors start 64-byte aligned when the group does.
//
// Both dtypes are then unsigned levels u = q + c (Q8_0: c = 128; Q4_0: c = 8) against the signed
// int8 activations, and a block's exact sum is Σ u·x − c·Σx.
#pragma once

#include <cstdint>

#include "simd/dtype.h"
#include "simd/int8_gemm.h"

namespace lazyllm::simd {

// Rows per interleaved group (one int32 lane of a 512-bit vector each).
constexpr int64_t kGroupRows = 16;

// Level bytes of one block column of a group: Q8_0 8 vectors of 64, Q4_0 4.
constexpr int64_t kQ8_0GroupLevelBytes = 8 * 64, kQ4_0GroupLevelBytes = 4 * 64;

// Byte offsets, from a group's start, of block column j's levels and its 16 fp16 scales, in a
// group of `blocks` columns of level_bytes each (the layout above).
struct GroupColumn {
  int64_t levels, scales;
};
constexpr GroupColumn GroupColumnAt(int64_t level_bytes, int64_t j, int64_t blocks) {
  const int64_t base = j / 2 * 2 * (level_bytes + 32);
  if (j == blocks - 1 && blocks % 2 == 1) return {base, base + level_bytes};
  return {base + j % 2 * level_bytes, base + 2 * level_bytes + j % 2 * 32};
}

// Whether matrices of dtype t have an interleaved layout (Q8_0, Q4_0).
bool Interleavable(DType t);
// Lays out 16 stored rows of k elements (row_bytes apart) as one group of 16 · row_bytes bytes.
void InterleaveRows(DType t, const void* rows, int64_t row_bytes, int64_t k, void* group);
// Row r of a group in the stored format (row_bytes bytes).
void DeinterleaveRow(DType t, const void* group, int64_t k, int r, void* row);

// y[i·ldy + r] = w_r · x_i for the group's 16 rows r and every activation row i < x.n (Q8_0
// activations). Per row: acc = 0, then per block j in order acc = fma(Σ u·x − c·Σx, dw·dx, acc),
// the integer sums exact and the fp32 steps in this order, so every kernel of this signature gives
// the same bits, whatever x.n.
using Int8GroupFn = void (*)(const void* group, const Int8Acts& x, float* y, int64_t ldy);

// The scalar twin of every Int8GroupFn for dtype t (test oracle).
void Int8GroupRef(DType t, const void* group, const Int8Acts& x, float* y, int64_t ldy);

}  // namespace lazyllm::simd
