// The table of numeric kernels, one implementation per ISA, chosen once at start-up.
//
// Every kernel has a scalar twin in simd/ref/ (fallback and test oracle) with the same
// signature. Pointers need no alignment, except that Q8_0/Q4_0 block rows start 2-byte aligned
// (their fp16 scales; true of every GGUF tensor); sizes are element counts. All kernels are pure
// functions of their arguments and safe to call from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "simd/dtype.h"
#include "simd/int8_gemm.h"
#include "simd/interleaved.h"

namespace lazyllm::simd {

enum class Isa { kRef, kAvx2, kAvx512 };

// Dot product of a weight row of n elements stored in some dtype (n a multiple of its block)
// with an fp32 vector x. xsum16[i] = x[16i] + ... + x[16i + 15] (GroupSums16, n/16 values),
// computed once per activation row and reused across weight rows: dtypes with an offset or a
// min per (sub-)block (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) compute Σ (d·q + m)·x as d·Σ q·x + m·Σ x.
// The other dtypes ignore it (it may then be nullptr).
using RowDotFn = float (*)(const void* w, const float* x, const float* xsum16, int64_t n);
// The same weight row against nx input rows at once (x + t·ldx, their 16-sums at xsum16 + t·n/16):
// y[t·ldy] = dot(w, x + t·ldx, xsum16 + t·n/16, n) bit for bit, the row loaded once for all of them.
using RowDotsFn = void (*)(const void* w, const float* x, int64_t ldx, int64_t nx, const float* xsum16, int64_t n,
                           float* y, int64_t ldy);
// Converts n elements of a stored row to fp32 (n a multiple of the block size).
using ToF32Fn = void (*)(const void* src, float* dst, int64_t n);
// Encodes n fp32 activations as int8 blocks (Q8_0 or Q8_K).
using QuantizeActFn = void (*)(const float* x, void* out, int64_t n);

// The kernels of one weight dtype: one row of the table, indexed by the dtype's GGML id.
struct DTypeKernels {
  ToF32Fn to_f32 = nullptr;       // exact dequantization; nullptr: lazyllm cannot compute with this dtype
  RowDotFn dot = nullptr;         // exact fp32-activation GEMV dot
  Int8DotFn int8_dot = nullptr;   // int8-activation dot (nullptr: none)
  DType int8_act = DType::kQ8_0;  // the activation format int8_dot reads (kQ8_0 or kQ8_K)
  // Int8 GEMM over a decoded panel (nullptr: Int8GemmByDots over int8_dot).
  Int8GemmFn int8_gemm = nullptr;
  // One weight row against up to kInt8DotsMaxRows activation rows, each block decoded once for
  // all of them; every row's result equals int8_dot's bit for bit (nullptr: int8_dot per row).
  Int8DotsFn int8_dots = nullptr;
  // The kernel of the interleaved layout (simd/interleaved.h; nullptr: matrices of this dtype are
  // not interleaved at placement). Gives the same bits as Int8GroupRef.
  Int8GroupFn int8_group = nullptr;
  // The panel GEMM of interleaved groups, for steps of kInt8DotsMaxRows rows or more (nullptr:
  // int8_group runs every step): int8_gemm's bits on the deinterleaved rows, its rows a multiple
  // of kGroupRows whose groups start at w.
  Int8GemmFn int8_group_gemm = nullptr;
  // dot over several input rows (GEMV steps of a few rows); nullptr: dot per input row.
  RowDotsFn dots = nullptr;
};

// One weight dtype's kernels on one ISA: a row of that ISA's table (simd/<isa>/dtypes.cc). The
// tables build on each other (ref, then AVX2, then AVX-512): a row's non-null kernels replace the
// ones below it (with int8_dot comes its int8_act).
struct DTypeRow {
  DType dtype;
  DTypeKernels kernels;
};

struct Kernels {
  Isa isa;
  // a·b over n fp32 elements.
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // Small-batch matmul (decode of a few sequences): y[i·ldy + r] = w_r · x_i for r < rows weight
  // rows (w_r k wide at w + r·ldw) and i < n input rows (x row-major, k wide). Register tiles of
  // weight rows × input rows: each weight row is read once per tile row, no packing.
  void (*gemm_small_f32)(const float* w, int64_t ldw, int64_t rows, const float* x, int64_t n, int64_t k, float* y,
                         int64_t ldy);
  // Input rows up to which gemm_small_f32 beats packing for sgemm on this ISA (0: never).
  int64_t gemm_small_max_rows;
  // y[i] += a * x[i].
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // Decode attention over `keys` rows, row j at k + r·ld (or v + r·ld) with r = rows[j], or r = j
  // when rows is null, for the `heads` query heads that share them (a KV head's group, or part of
  // it). dots_f32: head g's query at q + g·q_stride, its scores at s + g·s_stride:
  // s_g[j] = dot_f32(q_g, row j of k, n) · scale. weighted_sum_f32: head g's probabilities at
  // p + g·p_stride and output at o + g·o_stride: o_g += Σ_j p_g[j] · (row j of v) (axpy(p_g[j],
  // row j, o_g, n) for j ascending; a caller zeroes o_g first, and may then sum the keys block by
  // block with the same bits). The bits of those calls, several keys (and heads, and o's
  // elements) in registers at once; a key or value row is loaded once for all heads.
  void (*dots_f32)(const float* q, int64_t q_stride, int64_t heads, const float* k, int64_t ld, const int64_t* rows,
                   int64_t keys, int64_t n, float scale, float* s, int64_t s_stride);
  void (*weighted_sum_f32)(const float* p, int64_t p_stride, int64_t heads, const float* v, int64_t ld,
                           const int64_t* rows, int64_t keys, int64_t n, float* o, int64_t o_stride);
  // x[i] *= a.
  void (*scale)(float* x, float a, int64_t n);
  // x[i] += y[i].
  void (*add)(float* x, const float* y, int64_t n);
  // out[i] = x[i] * w[i] / sqrt(mean(x²) + eps). out may alias x.
  void (*rms_norm)(const float* x, const float* w, float* out, int64_t n, float eps);
  // In-place numerically stable softmax over n >= 1 elements.
  void (*softmax)(float* x, int64_t n);
  // One step of an online (streaming) softmax over a tile of n >= 1 scores, for attention
  // processed key tile by key tile. With the running max *m (-inf before the first tile) and
  // running sum *l: m' = max(*m, max s), s[i] = exp(s[i] - m'), *l = *l·c + Σ s[i] with
  // c = exp(*m - m') (0 for the first tile), *m = m'. Returns c, the factor by which the
  // caller rescales its running weighted sum of values.
  float (*online_softmax)(float* s, int64_t n, float* m, float* l);
  // Rotates adjacent pairs (x[2i], x[2i+1]) by the angle whose cos/sin are cs[2i], cs[2i+1],
  // for i < n_pairs. This is GGUF's rope layout (mode 0) for one head.
  void (*rope)(float* x, const float* cs, int64_t n_pairs);
  // NEOX-style RoPE: rotates the pairs (x[i], x[i + n_pairs]) by the angle whose cos/sin are
  // cs[i] and cs[n_pairs + i], for i < n_pairs (qwen2, phi3, gemma: GGUF rope mode 2).
  void (*rope_neox)(float* x, const float* cs, int64_t n_pairs);
  // out[i] = silu(gate[i]) * up[i]. out may alias gate.
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = gelu(gate[i]) * up[i] with the tanh form gelu(g) = g/2·(1 + tanh(sqrt(2/π)·(g +
  // 0.044715·g³))). out may alias gate.
  void (*geglu)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = x[i] as IEEE half, rounded to nearest even (the f16 KV cache's writes).
  void (*f32_to_f16)(const float* x, uint16_t* out, int64_t n);
  // Int8 activations (opt-in decode path, as llama.cpp computes): x quantized to Q8_0 blocks
  // (scale amax/127 stored as fp16, values rounded to nearest even) or Q8_K blocks (see
  // QuantizeQ8K in simd/quant_kernels.h); DTypeKernels::int8_dot multiplies a weight row with such
  // a row: exact integer sums per group, scaled by the weight's and the activation's scales.
  QuantizeActFn quantize_q8_0;
  QuantizeActFn quantize_q8_k;
  // One row per GGML type id; see DTypeKernels. Rows of dtypes lazyllm does not compute are empty.
  DTypeKernels dtypes[kDTypeSlots];

  const DTypeKernels& Row(DType t) const { return dtypes[static_cast<uint32_t>(t)]; }
  // Whether weights of dtype t can be computed with.
  bool Computes(DType t) const { return Row(t).to_f32 != nullptr; }
  QuantizeActFn QuantizeAct(DType format) const;
};

// Installs an ISA's dtype rows into its table.
void InstallDTypeRows(Kernels& table, std::span<const DTypeRow> rows);
// The rows of each ISA; Avx2/Avx512 rows may only be installed where CpuSupports says so.
std::span<const DTypeRow> RefDTypeRows();
std::span<const DTypeRow> Avx2DTypeRows();
std::span<const DTypeRow> Avx512DTypeRows();
// The AVX-512 VNNI int8 GEMM rows; only where CpuSupportsAvx512Vnni().
std::span<const DTypeRow> Avx512VnniDTypeRows();
bool CpuSupportsAvx512Vnni();
// The AVX-VNNI (256-bit) group kernels of the AVX2 table; only where CpuSupportsAvxVnni().
std::span<const DTypeRow> AvxVnniDTypeRows();
bool CpuSupportsAvxVnni();

// out[i] = x[16i] + ... + x[16i + 15] for i < n/16 (n a multiple of 16): the xsum16 argument of
// RowDotFn.
void GroupSums16(const float* x, float* out, int64_t n);
// Int8 activation bytes of n elements in format (Q8_0: n/32 blocks, Q8_K: n/256 blocks).
int64_t ActRowBytes(DType format, int64_t n);
// The weight dtypes lazyllm computes with, comma-separated (for error messages).
std::string WeightDTypeNames();

// The scalar reference table (always available).
const Kernels& RefKernels();
// The AVX2+FMA+F16C table; only call when CpuSupports(Isa::kAvx2).
const Kernels& Avx2Kernels();

// AVX2 plus AVX-512 (F, BW, VL) versions of the decode GEMV dots, and the VNNI int8 GEMM where
// the CPU has it; only call when CpuSupports(Isa::kAvx512).
const Kernels& Avx512Kernels();

// Whether this CPU and OS can run kernels of the ISA.
bool CpuSupports(Isa isa);
// The best ISA this CPU supports, lowered by LAZYLLM_ISA=ref|avx2|avx512 when set.
// Detected once; later calls return the cached answer.
Isa SelectedIsa();
// The table for an ISA; falls back to the best supported ISA below it.
const Kernels& KernelsFor(Isa isa);
std::string_view IsaName(Isa isa);

}  // namespace lazyllm::simd
