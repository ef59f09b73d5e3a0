// Interleaved weight rows: Q8_0, Q4_0, Q4_K, Q5_K and Q6_K matrices laid out at placement in groups of
// 16 rows, so that one 64-byte load holds 4 levels of all 16 rows and feeds one vpdpbusd per
// activation row.
//
// A group has the bytes of its 16 stored rows (16 · row_bytes), so a slice's rows keep their
// offsets: group g starts where row 16·g did, and rows past the last whole group stay as stored.
// Everywhere below, a "vector of 4-byte lanes" is 64 bytes in which bytes 4·r..4·r+3 belong to
// row r (one int32 lane of a 512-bit register per row).
//
// Every layout puts a column's bytes in the order its kernel first reads them, so a group is read
// front to back, as the hardware prefetchers expect (a level vector read twice is read again from
// L1).
//
// Q8_0 and Q4_0. Per pair of block columns (j, j + 1), then a last single column when the block
// count is odd:
//
//   levels of column j, then of column j + 1, then the 16 fp16 scales of j, then those of j + 1
//
// Levels of one column are vectors of 4-byte lanes, byte 4·r + t holding level t of the vector's
// 4 levels of row r:
//   Q8_0: 8 vectors, vector v the levels 4v..4v+3 as unsigned bytes, level + 128;
//   Q4_0: 4 vectors, vector v the stored bytes 4v..4v+3 of each row: the low nibbles are the
//         levels 4v..4v+3, the high nibbles the levels 16+4v..16+4v+3 (as GGUF stores them).
// So with a pair of columns the level vectors start 64-byte aligned when the group does.
// These are unsigned levels u = q + c (Q8_0: c = 128; Q4_0: c = 8) against the signed int8
// activations, and a block's exact sum is Σ u·x − c·Σx.
//
// Q4_K and Q5_K. Super-block column j starts at j · 16 · sizeof(block) (a multiple of 64) and
// holds, in order (offsets: KGroupColumn):
//   scales: 3 vectors of 4-byte lanes, vector v the stored packed bytes scales[4v .. +3]
//           (ScaleMinK4); then the 16 rows' fp16 d, then their fp16 dmin;
//   qs:     32 vectors, qs vector 8c + m the stored bytes qs[32c + 4m .. +3] of each row: low
//           nibbles the levels 64c + 4m.., high nibbles 64c + 32 + 4m.. (sub-blocks 2c, 2c + 1);
//   qh:     (Q5_K) 8 vectors, qh vector m the stored bytes qh[4m .. +3]: bit s of byte 4m + t
//           is the fifth bit of level 32s + 4m + t.
//   Q4_K stores its qs vectors in order; Q5_K stores qs vector m, then qh vector m, for m < 8,
//   then qs vectors 8..31.
// Levels are unsigned (0..15 or 0..31) against the signed activations; a super-block's exact
// sums are Σ_s scale_s · Σ q·x and Σ_s min_s · (the activation's sum over sub-block s).
//
// Q6_K. Per pair of super-block columns (then a last single one when the count is odd):
//
//   tail of j, tail of j + 1, levels of j, levels of j + 1
//
// where a tail is the 16 rows' int8 sub-block scales as 4 vectors of 4-byte lanes (vector v:
// scales[4v .. +3]) followed by their fp16 d (288 bytes), and a column's levels are two halves h
// of 1,536 bytes, each: ql vector 16h + m then qh vector 8h + m for m < 8, then ql vectors
// 16h + 8..16h + 15, where ql vector v is the stored bytes ql[4v .. +3] (ql byte 64h + 32p + l
// holds level 128h + 32p + l in its low nibble and 128h + 32(p + 2) + l in its high one) and qh
// vector u the stored bytes qh[4u .. +3] (bits 2k..2k+1 of qh byte 32h + l are the top two bits
// of level 128h + 32k + l). Levels are u = q + 32 (0..63); a super-block's exact sum is
// Σ_s sc_s·Σ u·x − 32·Σ_s sc_s·Σx_s.
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
// group of `blocks` columns of level_bytes each (Q8_0, Q4_0).
struct GroupColumn {
  int64_t levels, scales;
};
constexpr GroupColumn GroupColumnAt(int64_t level_bytes, int64_t j, int64_t blocks) {
  const int64_t base = j / 2 * 2 * (level_bytes + 32);
  if (j == blocks - 1 && blocks % 2 == 1) return {base, base + level_bytes};
  return {base + j % 2 * level_bytes, base + 2 * level_bytes + j % 2 * 32};
}

// Offsets within a Q4_K (bits = 4) or Q5_K (bits = 5) group's super-block column, and its size.
struct KGroupColumn {
  int64_t scales, d, dmin, bytes;
};
constexpr KGroupColumn KGroupColumnOf(int bits) { return {0, 192, 224, 256 + (bits == 5 ? 2560 : 2048)}; }
// Offsets within such a column of qs vector v and of Q5_K's qh vector m.
constexpr int64_t KQsVectorAt(int bits, int v) {
  if (bits == 4) return 256 + 64 * v;
  return v < 8 ? 256 + 128 * v : 256 + 1024 + 64 * (v - 8);
}
constexpr int64_t KQhVectorAt(int m) { return 256 + 128 * m + 64; }

// Q6_K: offsets from a group's start of super-block column j's tail (`scales`) and levels.
constexpr int64_t kQ6_KGroupTailBytes = 4 * 64 + 32, kQ6_KGroupLevelBytes = 48 * 64;
constexpr GroupColumn Q6GroupColumnAt(int64_t j, int64_t blocks) {
  const int64_t base = j / 2 * 2 * (kQ6_KGroupTailBytes + kQ6_KGroupLevelBytes);
  if (j == blocks - 1 && blocks % 2 == 1) return {base + kQ6_KGroupTailBytes, base};
  return {base + 2 * kQ6_KGroupTailBytes + j % 2 * kQ6_KGroupLevelBytes, base + j % 2 * kQ6_KGroupTailBytes};
}
// Offsets within Q6_K levels of ql vector v and qh vector u.
constexpr int64_t Q6QlVectorAt(int v) {
  const int h = v / 16, w = v % 16;
  return 1536 * h + (w < 8 ? 128 * w : 1024 + 64 * (w - 8));
}
constexpr int64_t Q6QhVectorAt(int u) { return 1536 * (u / 8) + 128 * (u % 8) + 64; }

// Whether matrices of dtype t have an interleaved layout (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K).
bool Interleavable(DType t);
// Lays out 16 stored rows of k elements (row_bytes apart) as one group of 16 · row_bytes bytes.
void InterleaveRows(DType t, const void* rows, int64_t row_bytes, int64_t k, void* group);
// Row r of a group in the stored format (row_bytes bytes).
void DeinterleaveRow(DType t, const void* group, int64_t k, int r, void* row);

// y[i·ldy + r] = w_r · x_i for the group's 16 rows r and every activation row i < x.n (the
// dtype's activation format: Q8_0 or Q8_K). Per row: acc = 0, then per block j in order
//   Q8_0, Q4_0: acc = fma(Σ u·x − c·Σx, dw·dx, acc);
//   Q4_K, Q5_K: acc = fma(Σ_s sc_s·Σ q·x, d·dx, acc), then acc = fma(Σ_s m_s·Σx_s, −(dmin·dx), acc);
//   Q6_K: acc = fma(Σ_s sc_s·Σ u·x − 32·Σ_s sc_s·Σx_s, d·dx, acc);
// the integer sums exact and the fp32 steps in this order, so every kernel of this signature gives
// the same bits, whatever x.n.
using Int8GroupFn = void (*)(const void* group, const Int8Acts& x, float* y, int64_t ldy);

// The scalar twin of every Int8GroupFn for dtype t (test oracle).
void Int8GroupRef(DType t, const void* group, const Int8Acts& x, float* y, int64_t ldy);

}  // namespace lazyllm::simd
