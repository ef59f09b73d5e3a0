// Int8 GEMM inputs: activation rows quantized once per matmul, and the row-dot GEMM of the ISAs
// without a panel kernel.
#include "simd/int8_gemm.h"

#include <algorithm>

#include "simd/kernels.h"

namespace lazyllm::simd {

int64_t Int8GemmScratchBytes(int64_t k) {
  // Per 16 weight rows: k int8 levels each, and per group of 16 (the smallest) an int32 bias,
  // a scale and an offset; plus alignment.
  return kInt8PanelRows / 16 * (16 * k + 3 * 16 * 4 * (k / 16)) + 64;
}

void PrepareInt8Acts(const Kernels& kernels, DType format, const float* x, int64_t n, int64_t k, Int8Acts* out,
                     bool biased) {
  out->format = format;
  out->n = n;
  out->k = k;
  out->block = format == DType::kQ8_K ? kSuperBlock : 32;
  const int64_t row_bytes = ActRowBytes(format, k), blocks = k / out->block;
  out->blocks.resize(static_cast<size_t>(n * row_bytes));
  out->biased.resize(static_cast<size_t>(biased ? n * k : 0));
  out->scales.resize(static_cast<size_t>(n * blocks));
  out->sums16.resize(static_cast<size_t>(n * (k / 16)));
  out->sums32.resize(static_cast<size_t>(n * (k / 32)));
  const QuantizeActFn quantize = kernels.QuantizeAct(format);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* row = &out->blocks[i * row_bytes];
    quantize(x + i * k, row, k);
    float* scales = &out->scales[i * blocks];
    float* sums16 = &out->sums16[i * (k / 16)];
    float* sums32 = &out->sums32[i * (k / 32)];
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* qs;
      float* s16 = sums16 + b * (out->block / 16);
      if (format == DType::kQ8_K) {
        const auto& blk = reinterpret_cast<const BlockQ8_K*>(row)[b];
        scales[b] = blk.d;
        qs = blk.qs;
        for (int g = 0; g < 16; ++g) s16[g] = blk.bsums[g];
      } else {
        const auto& blk = reinterpret_cast<const BlockQ8_0*>(row)[b];
        scales[b] = F16ToF32(blk.d);
        qs = blk.qs;
        for (int g = 0; g < 2; ++g) {
          int32_t s = 0;
          for (int j = 0; j < 16; ++j) s += qs[16 * g + j];
          s16[g] = static_cast<float>(s);
        }
      }
      if (!biased) continue;
      uint8_t* u = &out->biased[i * k + b * out->block];
      for (int64_t j = 0; j < out->block; ++j) u[j] = static_cast<uint8_t>(qs[j]) ^ 0x80;  // q + 128
    }
    for (int64_t g = 0; g < k / 32; ++g) sums32[g] = sums16[2 * g] + sums16[2 * g + 1];
  }
}

void Int8GemmByDots(Int8DotFn dot, const void* w, int64_t row_bytes, int64_t rows, const Int8Acts& x, float* y,
                    int64_t ldy) {
  const int64_t xb = x.row_bytes();
  // Blocks of 16 activation rows: each weight row meets them from L1.
  for (int64_t i0 = 0; i0 < x.n; i0 += 16)
    for (int64_t r = 0; r < rows; ++r) {
      const auto* wr = static_cast<const uint8_t*>(w) + r * row_bytes;
      for (int64_t i = i0; i < std::min(x.n, i0 + 16); ++i) y[i * ldy + r] = dot(wr, &x.blocks[i * xb], x.k);
    }
}

}  // namespace lazyllm::simd
