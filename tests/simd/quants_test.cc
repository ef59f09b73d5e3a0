// Block-level tests of the quantized dtypes: hand-made blocks (every level, scales at their
// extremes) decoded by each ISA's to_f32 and dot, against values derived in the test from the
// block layouts (ggml's dequantize_row_* definitions), not from the decoders under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "simd/dtype.h"
#include "simd/int8_gemm.h"
#include "simd/kernels.h"
#include "simd/quantize.h"

namespace lazyllm::simd {
namespace {

constexpr uint16_t kHalfOne = 0x3c00, kHalfTwo = 0x4000, kHalfHalf = 0x3800, kHalfMinusOne = 0xbc00;

std::vector<Isa> AllIsas() {
  std::vector<Isa> out = {Isa::kRef};
  if (CpuSupports(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  if (CpuSupports(Isa::kAvx512)) out.push_back(Isa::kAvx512);
  return out;
}

template <typename Block>
std::vector<uint8_t> Bytes(const std::vector<Block>& blocks, size_t lead) {
  std::vector<uint8_t> out(lead + blocks.size() * sizeof(Block));
  std::memcpy(out.data() + lead, blocks.data(), blocks.size() * sizeof(Block));
  return out;
}

// Checks to_f32 (exactly) and the GEMV dot (against a float64 sum) of `blocks` for every ISA,
// with the row starting 2 bytes past a vector boundary and x misaligned.
template <typename Block>
void CheckDecodes(DType t, const std::vector<Block>& blocks, const std::vector<float>& want) {
  const int64_t n = static_cast<int64_t>(want.size());
  ASSERT_EQ(n, static_cast<int64_t>(blocks.size()) * InfoOf(t).block_elems);
  const std::vector<uint8_t> bytes = Bytes(blocks, 2);
  std::vector<float> xbuf(static_cast<size_t>(n) + 1), xsum(static_cast<size_t>(n / 16));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : xbuf) v = u(rng);
  const float* x = xbuf.data() + 1;
  GroupSums16(x, xsum.data(), n);
  double want_dot = 0, magnitude = 0;
  for (int64_t i = 0; i < n; ++i) {
    want_dot += static_cast<double>(want[i]) * x[i];
    magnitude += std::fabs(static_cast<double>(want[i]) * x[i]);
  }
  for (Isa isa : AllIsas()) {
    SCOPED_TRACE(std::string(InfoOf(t).name) + " on " + std::string(IsaName(isa)));
    const DTypeKernels& k = KernelsFor(isa).Row(t);
    ASSERT_NE(k.to_f32, nullptr);
    std::vector<float> got(static_cast<size_t>(n));
    k.to_f32(bytes.data() + 2, got.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
    EXPECT_NEAR(k.dot(bytes.data() + 2, x, xsum.data(), n), want_dot, 1e-5 * (1 + magnitude));
  }
}

TEST(QuantsTest, Q4_1EveryNibbleWithOffset) {
  BlockQ4_1 b{};
  b.d = kHalfTwo;
  b.m = kHalfMinusOne;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) want[j] = 2.0f * j - 1.0f, want[j + 16] = 2.0f * (15 - j) - 1.0f;
  EXPECT_EQ(want[0], -1.0f);   // nibble 0
  EXPECT_EQ(want[16], 29.0f);  // nibble 15: 2·15 - 1
  CheckDecodes(DType::kQ4_1, std::vector<BlockQ4_1>{b}, want);
}

TEST(QuantsTest, Q5_0AndQ5_1FifthBit) {
  BlockQ5_0 b{};
  BlockQ5_1 b1{};
  b.d = b1.d = kHalfHalf;
  b1.m = kHalfOne;
  const uint32_t qh = 0xA5A5F00Fu;  // bit j: bit 4 of element j
  std::memcpy(b.qh, &qh, 4);
  std::memcpy(b1.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = b1.qs[j] = static_cast<uint8_t>(j | j << 4);
  std::vector<float> want0(32), want1(32);
  for (int i = 0; i < 32; ++i) {
    const int q = (i % 16) | static_cast<int>((qh >> i) & 1) << 4;
    want0[i] = 0.5f * static_cast<float>(q - 16);
    want1[i] = 0.5f * static_cast<float>(q) + 1.0f;
  }
  EXPECT_EQ(want0[0], 0.0f);    // nibble 0, bit 0 set: 16 - 16
  EXPECT_EQ(want0[4], -6.0f);   // nibble 4, bit 4 clear: (4 - 16) / 2
  EXPECT_EQ(want0[31], 7.5f);   // nibble 15, bit 31 set: (31 - 16) / 2
  EXPECT_EQ(want1[31], 16.5f);  // 31 / 2 + 1
  CheckDecodes(DType::kQ5_0, std::vector<BlockQ5_0>{b}, want0);
  CheckDecodes(DType::kQ5_1, std::vector<BlockQ5_1>{b1}, want1);
}

TEST(QuantsTest, IQ4_NLTable) {
  BlockIQ4_NL b{};
  b.d = kHalfTwo;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  const float table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) want[j] = 2.0f * table[j], want[j + 16] = 2.0f * table[15 - j];
  EXPECT_EQ(want[0], -254.0f);
  EXPECT_EQ(want[16], 226.0f);
  CheckDecodes(DType::kIQ4_NL, std::vector<BlockIQ4_NL>{b}, want);
}

// The 2-bit level of element e of a Q2_K/Q3_K super-block, written as ggml's loop walks it:
// halves of 128, four shifts, two runs of 16 per shift.
int TwoBit(const uint8_t* qs, int e) {
  const int half = e / 128, shift = (e % 128) / 32, l = e % 32;
  return (qs[32 * half + l] >> (2 * shift)) & 3;
}

TEST(QuantsTest, Q2_KScalesAndMinsAtExtremes) {
  BlockQ2_K b{};
  b.d = kHalfHalf;
  b.dmin = kHalfOne;
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<uint8_t>((s % 2 ? 15 : s) | (s % 3 == 0 ? 15 : s / 2) << 4);
  for (int i = 0; i < 64; ++i) b.qs[i] = static_cast<uint8_t>(i * 37 + 11);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 16, sc = b.scales[s] & 0xF, m = b.scales[s] >> 4;
    want[e] = 0.5f * sc * TwoBit(b.qs, e) - 1.0f * m;
  }
  // Element 0: qs[0] = 11 = 0b1011, low 2 bits 3; sub-block 0 has scale 0 and min 15.
  EXPECT_EQ(want[0], -15.0f);
  // Element 16 + 0: qs[16] = 16·37 + 11 = 603 mod 256 = 91 = 0b1011011, low bits 3; scale 15, min 0.
  EXPECT_EQ(want[16], 0.5f * 15 * 3 - 0.0f);
  CheckDecodes(DType::kQ2_K, std::vector<BlockQ2_K>{b}, want);
}

// Packs 16 signed 6-bit Q3_K scales (-32..31) as ggml stores them.
void PackQ3Scales(const int* sc, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int s = 0; s < 16; ++s) {
    const int v = sc[s] + 32;
    if (s < 8)
      out[s] |= static_cast<uint8_t>(v & 0xF);
    else
      out[s - 8] |= static_cast<uint8_t>((v & 0xF) << 4);
    out[8 + s % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s / 4)));
  }
}

TEST(QuantsTest, Q3_KSignedScalesAndHighBits) {
  BlockQ3_K b{};
  b.d = kHalfTwo;
  const int sc[16] = {-32, 31, 0, -1, 1, 17, -17, 5, 30, -31, 2, -2, 9, -9, 15, -16};
  PackQ3Scales(sc, b.scales);
  for (int i = 0; i < 64; ++i) b.qs[i] = static_cast<uint8_t>(i * 29 + 3);
  for (int i = 0; i < 32; ++i) b.hmask[i] = static_cast<uint8_t>(i * 53 + 7);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) {
    const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
    want[e] = 2.0f * sc[e / 16] * (TwoBit(b.qs, e) - (high ? 0 : 4));
  }
  // Element 0: qs[0] = 3 -> level 3; hmask[0] = 7, bit 0 set -> no -4; scale -32: 2·-32·3.
  EXPECT_EQ(want[0], -192.0f);
  CheckDecodes(DType::kQ3_K, std::vector<BlockQ3_K>{b}, want);
}

// Packs 8 six-bit scales and mins of a Q4_K/Q5_K super-block.
void PackK4(const int* sc, const int* mn, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = static_cast<uint8_t>(sc[j]);
      q[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      q[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | (mn[j] & 0xF) << 4);
      q[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST(QuantsTest, Q4_KAndQ5_KSixBitScalesAtExtremes) {
  const int sc[8] = {0, 63, 1, 62, 63, 0, 33, 47}, mn[8] = {63, 0, 5, 1, 0, 63, 32, 31};
  BlockQ4_K b4{};
  BlockQ5_K b5{};
  b4.d = b5.d = kHalfHalf;
  b4.dmin = b5.dmin = kHalfTwo;
  PackK4(sc, mn, b4.scales);
  PackK4(sc, mn, b5.scales);
  for (int i = 0; i < 128; ++i) b4.qs[i] = b5.qs[i] = static_cast<uint8_t>(i * 17 + 5);
  for (int i = 0; i < 32; ++i) b5.qh[i] = static_cast<uint8_t>(i * 71 + 13);
  std::vector<float> want4(256), want5(256);
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, l = e % 32, high_nibble = (e % 64) / 32, sub = e / 32;
    const int nib = high_nibble ? b4.qs[32 * chunk + l] >> 4 : b4.qs[32 * chunk + l] & 0xF;
    const int bit5 = (b5.qh[l] >> sub) & 1;
    want4[e] = 0.5f * sc[sub] * nib - 2.0f * mn[sub];
    want5[e] = 0.5f * sc[sub] * (nib + 16 * bit5) - 2.0f * mn[sub];
  }
  // Element 0: qs[0] = 5, low nibble 5; sub-block 0 has scale 0, min 63: -2·63.
  EXPECT_EQ(want4[0], -126.0f);
  // Element 32: qs[0] high nibble 0; sub-block 1 scale 63, min 0: 0. With qh[0] = 13 = 0b1101,
  // bit 1 clear: Q5_K also 0.
  EXPECT_EQ(want4[32], 0.0f);
  EXPECT_EQ(want5[32], 0.0f);
  CheckDecodes(DType::kQ4_K, std::vector<BlockQ4_K>{b4}, want4);
  CheckDecodes(DType::kQ5_K, std::vector<BlockQ5_K>{b5}, want5);
}

TEST(QuantsTest, Q6_KInt8ScalesAtExtremes) {
  BlockQ6_K b{};
  b.d = kHalfHalf;
  const int8_t sc[16] = {-128, 127, 0, 1, -1, 64, -64, 3, 100, -100, 7, -7, 32, -32, 11, -11};
  std::memcpy(b.scales, sc, 16);
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i * 19 + 1);
  for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<uint8_t>(i * 43 + 9);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) {  // ggml: 128-element halves, 4 runs of 32 per half
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t low = b.ql[64 * h + l + (k % 2) * 32];
    const int q = ((k < 2 ? low & 0xF : low >> 4) | ((b.qh[32 * h + l] >> (2 * k)) & 3) << 4) - 32;
    want[e] = 0.5f * sc[e / 16] * q;
  }
  // Element 0: ql[0] = 1, qh[0] = 9 -> low 2 bits 1: q = 1 | 16 = 17, -32 -> -15; scale -128.
  EXPECT_EQ(want[0], 0.5f * -128 * -15);
  CheckDecodes(DType::kQ6_K, std::vector<BlockQ6_K>{b}, want);
}

TEST(QuantsTest, IQ4_XSScales) {
  BlockIQ4_XS b{};
  b.d = kHalfOne;
  const int ls[8] = {0, 63, 32, 31, 33, 1, 62, 16};  // stored; the scale is ls - 32
  b.scales_h = 0;
  for (int g = 0; g < 8; ++g) {
    b.scales_l[g / 2] |= static_cast<uint8_t>((ls[g] & 0xF) << (4 * (g % 2)));
    b.scales_h |= static_cast<uint16_t>((ls[g] >> 4) << (2 * g));
  }
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i * 23 + 4);
  const float table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32, j = e % 32;
    const uint8_t byte = b.qs[16 * g + j % 16];
    want[e] = static_cast<float>(ls[g] - 32) * table[j < 16 ? byte & 0xF : byte >> 4];
  }
  // Element 0: qs[0] = 4 -> table[4] = -49; scale 0 - 32: 1568.
  EXPECT_EQ(want[0], 1568.0f);
  CheckDecodes(DType::kIQ4_XS, std::vector<BlockIQ4_XS>{b}, want);
}

// Rows of several random blocks (sane fp16 scales): every ISA agrees with the scalar twin, on
// to_f32 exactly and on the dot within rounding, for 0..5 blocks.
TEST(QuantsTest, RandomRowsMatchScalarTwins) {
  const DType types[] = {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                         DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,   DType::kIQ4_XS};
  std::mt19937 rng(3);
  for (DType t : types) {
    const DTypeInfo& info = InfoOf(t);
    for (int blocks = 0; blocks <= 5; ++blocks) {
      const int64_t n = blocks * info.block_elems;
      std::vector<uint8_t> w(2 + static_cast<size_t>(blocks * info.block_bytes));
      for (auto& b : w) b = static_cast<uint8_t>(rng());
      // Overwrite every fp16 field with a sane value: scales live at fixed offsets per type.
      for (int b = 0; b < blocks; ++b) {
        uint8_t* blk = w.data() + 2 + b * info.block_bytes;
        auto put = [&](int64_t off) {
          const uint16_t h = F32ToF16(0.01f * static_cast<float>(1 + rng() % 50) * (rng() % 2 ? 1 : -1));
          std::memcpy(blk + off, &h, 2);
        };
        switch (t) {
          case DType::kQ4_1:
          case DType::kQ5_1:
          case DType::kQ4_K:
          case DType::kQ5_K:
            put(0), put(2);
            break;
          case DType::kQ5_0:
          case DType::kIQ4_NL:
          case DType::kIQ4_XS:
            put(0);
            break;
          case DType::kQ2_K:
            put(80), put(82);
            break;
          case DType::kQ3_K:
            put(108);
            break;
          case DType::kQ6_K:
            put(208);
            break;
          default:
            break;
        }
      }
      std::vector<float> x(static_cast<size_t>(n) + 1), xsum(static_cast<size_t>(n / 16));
      for (auto& v : x) v = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 500.0f;
      GroupSums16(x.data() + 1, xsum.data(), n);
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      RefKernels().Row(t).to_f32(w.data() + 2, want.data(), n);
      double magnitude = 0;
      for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(want[i] * x[1 + i]);
      const float want_dot = RefKernels().Row(t).dot(w.data() + 2, x.data() + 1, xsum.data(), n);
      for (Isa isa : AllIsas()) {
        SCOPED_TRACE(std::string(info.name) + " on " + std::string(IsaName(isa)) + ", blocks " +
                     std::to_string(blocks));
        const DTypeKernels& k = KernelsFor(isa).Row(t);
        k.to_f32(w.data() + 2, got.data(), n);
        EXPECT_EQ(got, want);
        EXPECT_NEAR(k.dot(w.data() + 2, x.data() + 1, xsum.data(), n), want_dot, 1e-5 * (1 + magnitude));
      }
    }
  }
}

// The encoders (synth, quantize) round-trip through the scalar decoder within the error that
// their level spacing allows: for data uniform on [-1, 1], rounding to L evenly spaced levels over
// a group's range leaves an RMS error of about 1/(L-1) of the data's RMS (step/sqrt(12) against
// 1/sqrt(3)); the bounds add room for the quantized group scales.
TEST(QuantsTest, EncodersRoundTripWithinTheirLevelSpacing) {
  const struct {
    DType t;
    double bound;
  } cases[] = {{DType::kQ8_0, 0.01},   {DType::kQ6_K, 0.03},   {DType::kQ5_0, 0.06}, {DType::kQ5_1, 0.05},
               {DType::kQ5_K, 0.05},   {DType::kQ4_0, 0.12},   {DType::kQ4_1, 0.1},  {DType::kQ4_K, 0.1},
               {DType::kIQ4_NL, 0.12}, {DType::kIQ4_XS, 0.12}, {DType::kQ3_K, 0.2},  {DType::kQ2_K, 0.45}};
  const int64_t n = 4 * 256;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = u(rng);
  x[5] = 0.0f, x[300] = 3.0f, x[301] = -3.0f;  // an outlier pair inside one group
  for (const auto& c : cases) {
    SCOPED_TRACE(InfoOf(c.t).name);
    ASSERT_TRUE(CanQuantize(c.t));
    std::vector<uint8_t> q(static_cast<size_t>(RowBytes(c.t, n)));
    QuantizeRow(c.t, x.data(), q.data(), n);
    RefKernels().Row(c.t).to_f32(q.data(), back.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(back[i]));
      err += (back[i] - x[i]) * (back[i] - x[i]);
      ref += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(err / ref), c.bound);
    std::printf("  %-7s relative RMS error %.4f (bound %.2f)\n", InfoOf(c.t).name, std::sqrt(err / ref), c.bound);
    // An all-zero row encodes to zeros (no division by a zero scale).
    std::vector<float> zeros(n, 0.0f);
    QuantizeRow(c.t, zeros.data(), q.data(), n);
    RefKernels().Row(c.t).to_f32(q.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[i], 0.0f);
  }
}

// Every ISA's Q8_K quantizer is the scalar one bit for bit, on random rows with ties for the
// largest magnitude (the first element wins, its sign sets the scale's) and an all-zero block.
TEST(QuantsTest, Q8KQuantizersAreBitIdenticalToTheScalarOne) {
  const int64_t n = 4 * 256;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng);
  x[17] = 5.0f, x[200] = -5.0f;   // block 0: a tie, positive first
  x[300] = -6.0f, x[301] = 6.0f;  // block 1: a tie, negative first
  std::fill(x.begin() + 512, x.begin() + 768, 0.0f);
  std::vector<BlockQ8_K> want(n / 256), got(n / 256);
  RefKernels().QuantizeAct(DType::kQ8_K)(x.data(), want.data(), n);
  EXPECT_LT(want[0].d, 0.0f);  // -max/127 with max = +5
  EXPECT_GT(want[1].d, 0.0f);
  for (Isa isa : AllIsas()) {
    SCOPED_TRACE(IsaName(isa));
    KernelsFor(isa).QuantizeAct(DType::kQ8_K)(x.data(), got.data(), n);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(BlockQ8_K)), 0);
  }
}

TEST(QuantsTest, Q8KActivationsAsGgmlDefinesThem) {
  std::vector<float> x(512);
  for (int j = 0; j < 512; ++j) x[j] = static_cast<float>(j % 256 - 100) / 50.0f;  // largest |x|: 3.1 at 255
  x[300] = 0.0f;
  std::vector<BlockQ8_K> q(2);
  for (Isa isa : AllIsas()) {
    KernelsFor(isa).QuantizeAct(DType::kQ8_K)(x.data(), q.data(), 512);
    for (int blk = 0; blk < 2; ++blk) {
      const float max = 3.1f, iscale = -127.0f / max;  // the largest maps to -127
      EXPECT_FLOAT_EQ(q[blk].d, 1.0f / iscale);
      EXPECT_EQ(q[blk].qs[255], -127);
      EXPECT_EQ(q[blk].qs[100], 0);  // x = 0
      for (int j = 0; j < 256; ++j)
        ASSERT_EQ(q[blk].qs[j], static_cast<int8_t>(std::nearbyint(iscale * x[256 * blk + j])));
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += q[blk].qs[16 * g + j];
        EXPECT_EQ(q[blk].bsums[g], sum);
      }
    }
  }
  std::vector<float> zeros(256, 0.0f);
  KernelsFor(SelectedIsa()).QuantizeAct(DType::kQ8_K)(zeros.data(), q.data(), 256);
  EXPECT_EQ(q[0].d, 0.0f);
}

// The int8 dot of every dtype, on every ISA, equals Σ w·x over the dequantized weights and the
// dequantized activations (dx·qx), computed in float64 here: the integer path changes only the
// rounding of the activations, never the arithmetic.
TEST(QuantsTest, Int8DotsEqualDequantizedProducts) {
  const DType types[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL,
                         DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_XS};
  const int64_t n = 3 * 256;
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(n), x(n), wd(n), xd(n);
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng) * 4.0f;
  for (DType t : types) {
    const DTypeKernels& ref = RefKernels().Row(t);
    ASSERT_NE(ref.int8_dot, nullptr) << InfoOf(t).name;
    std::vector<uint8_t> wq(static_cast<size_t>(RowBytes(t, n)) + 2);
    QuantizeRow(t, w.data(), wq.data() + 2, n);
    ref.to_f32(wq.data() + 2, wd.data(), n);
    std::vector<uint8_t> xq(static_cast<size_t>(ActRowBytes(ref.int8_act, n)) + 4);
    RefKernels().QuantizeAct(ref.int8_act)(x.data(), xq.data() + 4, n);
    if (ref.int8_act == DType::kQ8_K) {
      for (int64_t b = 0; b < n / 256; ++b) {
        BlockQ8_K blk;
        std::memcpy(&blk, xq.data() + 4 + b * sizeof(BlockQ8_K), sizeof blk);
        for (int j = 0; j < 256; ++j) xd[b * 256 + j] = blk.d * blk.qs[j];
      }
    } else {
      RefKernels().Row(DType::kQ8_0).to_f32(xq.data() + 4, xd.data(), n);
    }
    double want = 0, magnitude = 0;
    for (int64_t i = 0; i < n; ++i) want += static_cast<double>(wd[i]) * xd[i], magnitude += std::fabs(wd[i] * xd[i]);
    for (Isa isa : AllIsas()) {
      SCOPED_TRACE(std::string(InfoOf(t).name) + " on " + std::string(IsaName(isa)));
      const DTypeKernels& k = KernelsFor(isa).Row(t);
      EXPECT_EQ(k.int8_act, ref.int8_act);
      EXPECT_NEAR(k.int8_dot(wq.data() + 2, xq.data() + 4, n), want, 2e-6 * magnitude);
    }
  }
}

// The int8 GEMM of every dtype, on every ISA (the VNNI panel kernel where the CPU has it, the
// row-dot GEMM otherwise), equals the scalar int8 dot of each (weight row, activation row) pair:
// the same integer sums, within float rounding. 71 rows: a full panel and a partial one with a
// partial sub-panel; 13 activation rows: a full register tile and a partial one.
TEST(QuantsTest, Int8GemmEqualsScalarRowDots) {
  const DType types[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL,
                         DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_XS};
  const int64_t k = 3 * 256, rows = 71, n = 13;
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(rows * k), x(n * k);
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng) * 4.0f;
  x[5] = 0.0f;  // an activation block of zeros besides the others
  for (DType t : types) {
    const DTypeKernels& ref = RefKernels().Row(t);
    const int64_t row_bytes = RowBytes(t, k);
    std::vector<uint8_t> wq(static_cast<size_t>(rows * row_bytes));
    for (int64_t r = 0; r < rows; ++r) QuantizeRow(t, w.data() + r * k, wq.data() + r * row_bytes, k);
    Int8Acts acts;
    PrepareInt8Acts(RefKernels(), ref.int8_act, x.data(), n, k, &acts);
    std::vector<double> want(static_cast<size_t>(n * rows));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r)
        want[i * rows + r] = ref.int8_dot(wq.data() + r * row_bytes, acts.Row<uint8_t>(i), k);
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    for (Isa isa : AllIsas()) {
      SCOPED_TRACE(std::string(InfoOf(t).name) + " on " + std::string(IsaName(isa)));
      const DTypeKernels& kern = KernelsFor(isa).Row(t);
      if (isa == Isa::kAvx512 && CpuSupportsAvx512Vnni()) {
        EXPECT_NE(kern.int8_gemm, nullptr);
      }
      std::vector<float> y(static_cast<size_t>(n * rows), -1.0f);
      std::vector<uint8_t> scratch(static_cast<size_t>(Int8GemmScratchBytes(k)));
      for (int64_t r0 = 0; r0 < rows; r0 += kInt8PanelRows) {
        const int64_t nr = std::min(kInt8PanelRows, rows - r0);
        if (kern.int8_gemm != nullptr)
          kern.int8_gemm(wq.data() + r0 * row_bytes, row_bytes, nr, acts, y.data() + r0, rows, scratch.data());
        else
          Int8GemmByDots(kern.int8_dot, wq.data() + r0 * row_bytes, row_bytes, nr, acts, y.data() + r0, rows);
      }
      double worst = 0;
      for (size_t j = 0; j < y.size(); ++j) worst = std::max(worst, std::fabs(y[j] - want[j]));
      EXPECT_LE(worst, 1e-5 * scale);
    }
  }
}

// The multi-row int8 dots give each activation row exactly the single-row dot's bits, for every
// count up to kInt8DotsMaxRows: a sequence decodes to the same numbers alone or in a batch.
TEST(QuantsTest, MultiRowInt8DotsAreBitIdenticalToTheRowDot) {
  const int64_t k = 3 * 256;
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(k), x(kInt8DotsMaxRows * k);
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng) * 3.0f;
  int kernels = 0;
  for (Isa isa : AllIsas()) {
    const Kernels& t = KernelsFor(isa);
    size_t count;
    const DTypeInfo* all = AllDTypes(&count);
    for (size_t d = 0; d < count; ++d) {
      const DTypeKernels& kern = t.Row(all[d].id);
      if (kern.int8_dots == nullptr) continue;
      SCOPED_TRACE(std::string(all[d].name) + " on " + std::string(IsaName(isa)));
      ++kernels;
      std::vector<uint8_t> wq(static_cast<size_t>(RowBytes(all[d].id, k)));
      QuantizeRow(all[d].id, w.data(), wq.data(), k);
      const int64_t xb = ActRowBytes(kern.int8_act, k);
      std::vector<uint8_t> xq(static_cast<size_t>(kInt8DotsMaxRows * xb));
      for (int64_t i = 0; i < kInt8DotsMaxRows; ++i) t.QuantizeAct(kern.int8_act)(x.data() + i * k, &xq[i * xb], k);
      for (int64_t n = 1; n < kInt8DotsMaxRows; ++n) {
        std::vector<float> y(static_cast<size_t>(2 * n), -1.0f);
        kern.int8_dots(wq.data(), xq.data(), xb, n, k, y.data(), 2);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[2 * i], kern.int8_dot(wq.data(), &xq[i * xb], k)) << n << " " << i;
      }
    }
  }
  if (CpuSupportsAvx512Vnni()) {
    EXPECT_GE(kernels, 5);
  }
}

// 16 random rows of dtype t, k elements each, stored as in GGUF.
std::vector<uint8_t> RandomRows(DType t, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(kGroupRows * k);
  for (auto& v : w) v = u(rng);
  const int64_t row_bytes = RowBytes(t, k);
  std::vector<uint8_t> rows(static_cast<size_t>(kGroupRows * row_bytes));
  for (int64_t r = 0; r < kGroupRows; ++r) QuantizeRow(t, w.data() + r * k, rows.data() + r * row_bytes, k);
  return rows;
}

// The interleaved layout is the one interleaved.h describes (checked at its first column, from
// the stored blocks), and every row comes back byte for byte; odd and even block counts.
TEST(QuantsTest, InterleavedRowsRoundTrip) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
    for (int64_t blocks : {7, 8}) {
      const bool kquant = t == DType::kQ4_K || t == DType::kQ5_K;
      const int64_t k = blocks * InfoOf(t).block_elems;
      SCOPED_TRACE(std::string(InfoOf(t).name) + " k " + std::to_string(k));
      ASSERT_TRUE(Interleavable(t));
      const int64_t row_bytes = RowBytes(t, k);
      const std::vector<uint8_t> rows = RandomRows(t, k, static_cast<uint32_t>(k));
      std::vector<uint8_t> group(rows.size());
      InterleaveRows(t, rows.data(), row_bytes, k, group.data());
      // Stored bytes [0, bytes) of row r in the first column's 4-byte lanes: byte e in the vector
      // at vector_at(e / 4), as interleaved.h spells out per dtype.
      const auto expect_lanes = [&](int r, const uint8_t* stored, int bytes, uint8_t flip, auto vector_at) {
        for (int e = 0; e < bytes; ++e)
          ASSERT_EQ(group[vector_at(e / 4) + 4 * r + e % 4], stored[e] ^ flip) << r << " " << e;
      };
      const auto fp16_at = [&](int64_t at, int r) { return group[at + 2 * r] | group[at + 2 * r + 1] << 8; };
      for (int r = 0; r < kGroupRows; ++r) {
        const uint8_t* block0 = rows.data() + r * row_bytes;
        if (t == DType::kQ6_K) {  // ql[128], qh[64], scales[16], d: the pair's two tails, then levels
          const int64_t levels = 2 * 288;
          expect_lanes(r, block0, 128, 0, [&](int v) {
            const int w = v % 16;
            return levels + 1536 * (v / 16) + (w < 8 ? 128 * w : 1024 + 64 * (w - 8));
          });
          expect_lanes(r, block0 + 128, 64, 0, [&](int u) { return levels + 1536 * (u / 8) + 128 * (u % 8) + 64; });
          expect_lanes(r, block0 + 192, 16, 0, [](int v) { return 64 * v; });
          EXPECT_EQ(fp16_at(256, r), block0[208] | block0[209] << 8);
        } else if (!kquant) {  // fp16 scale, then the level bytes; the scales after both columns' levels
          const int64_t level_bytes = t == DType::kQ8_0 ? 512 : 256;
          EXPECT_EQ(fp16_at(2 * level_bytes, r), block0[0] | block0[1] << 8);
          expect_lanes(r, block0 + 2, t == DType::kQ8_0 ? 32 : 16, t == DType::kQ8_0 ? 0x80 : 0,
                       [](int v) { return 64 * v; });
        } else {  // d, dmin, scales[12], (qh[32]), qs[128]: scales, d, dmin, then the levels
          EXPECT_EQ(fp16_at(192, r), block0[0] | block0[1] << 8);
          EXPECT_EQ(fp16_at(224, r), block0[2] | block0[3] << 8);
          expect_lanes(r, block0 + 4, 12, 0, [](int v) { return 64 * v; });
          if (t == DType::kQ4_K) {
            expect_lanes(r, block0 + 16, 128, 0, [](int v) { return 256 + 64 * v; });
          } else {
            expect_lanes(r, block0 + 16, 32, 0, [](int m) { return 256 + 128 * m + 64; });
            expect_lanes(r, block0 + 48, 128, 0, [](int v) { return v < 8 ? 256 + 128 * v : 1280 + 64 * (v - 8); });
          }
        }
        std::vector<uint8_t> back(static_cast<size_t>(row_bytes));
        DeinterleaveRow(t, group.data(), k, r, back.data());
        EXPECT_EQ(0, std::memcmp(back.data(), block0, back.size())) << r;
      }
    }
}

// The group kernels (AVX-512 VNNI and AVX-VNNI where the CPU has them) give the scalar twin's bits for every count of
// activation rows, so a row's result never depends on the batch; the twin equals the stored rows'
// int8 dots within float rounding (the same exact integer sums).
TEST(QuantsTest, Int8GroupKernelsAreBitIdenticalToTheScalarTwin) {
  int kernels = 0;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
    for (int64_t blocks : {int64_t{7}, int64_t{24}}) {
      const DType act = InfoOf(t).block_elems == kSuperBlock ? DType::kQ8_K : DType::kQ8_0;
      const int64_t k = blocks * InfoOf(t).block_elems, row_bytes = RowBytes(t, k);
      const std::vector<uint8_t> rows = RandomRows(t, k, 31);
      std::vector<uint8_t> group(rows.size());
      InterleaveRows(t, rows.data(), row_bytes, k, group.data());
      std::mt19937 rng(32);
      std::uniform_real_distribution<float> u(-3.0f, 3.0f);
      const int64_t n = 17;  // two register tiles of 8 and a single row
      std::vector<float> x(n * k);
      for (auto& v : x) v = u(rng);
      std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an activation block of zeros
      Int8Acts acts;
      PrepareInt8Acts(RefKernels(), act, x.data(), n, k, &acts);
      std::vector<float> want(static_cast<size_t>(n * kGroupRows));
      Int8GroupRef(t, group.data(), acts, want.data(), kGroupRows);
      double scale = 0, worst = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int r = 0; r < kGroupRows; ++r) {
          const double dot = RefKernels().Row(t).int8_dot(rows.data() + r * row_bytes, acts.Row<uint8_t>(i), k);
          scale = std::max(scale, std::fabs(dot));
          worst = std::max(worst, std::fabs(dot - want[i * kGroupRows + r]));
        }
      EXPECT_LE(worst, 1e-5 * scale) << InfoOf(t).name;
      for (Isa isa : AllIsas()) {
        const Int8GroupFn kernel = KernelsFor(isa).Row(t).int8_group;
        if (kernel == nullptr) continue;
        SCOPED_TRACE(std::string(InfoOf(t).name) + " on " + std::string(IsaName(isa)) + " k " + std::to_string(k));
        ++kernels;
        for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{5}, n}) {
          Int8Acts first = acts;  // the first m rows
          first.n = m;
          first.blocks.resize(static_cast<size_t>(m * acts.row_bytes()));
          std::vector<float> y(static_cast<size_t>(m * 20), -1.0f);
          kernel(group.data(), first, y.data(), 20);
          for (int64_t i = 0; i < m; ++i)
            for (int r = 0; r < kGroupRows; ++r)
              ASSERT_EQ(y[i * 20 + r], want[i * kGroupRows + r]) << m << " " << i << " " << r;
          EXPECT_EQ(y[16], -1.0f);  // nothing past the group's 16 outputs
        }
      }
    }
  // Five dtypes at two widths each on AVX-512 VNNI and on AVX-VNNI (in the AVX2 table).
  EXPECT_EQ(kernels, 10 * (CpuSupportsAvx512Vnni() ? 1 : 0) + 10 * (CpuSupportsAvxVnni() ? 1 : 0));
}

// The panel GEMM of interleaved groups (prefill of Q4_K, Q5_K and Q6_K) gives the bits of the
// panel GEMM on the same rows stored, so interleaving changes no prefill output (two groups here).
TEST(QuantsTest, GroupPanelGemmIsBitIdenticalToTheStoredRowsGemm) {
  int kernels = 0;
  for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
    for (Isa isa : AllIsas()) {
      const DTypeKernels& kern = KernelsFor(isa).Row(t);
      if (kern.int8_group_gemm == nullptr) continue;
      SCOPED_TRACE(std::string(InfoOf(t).name) + " on " + std::string(IsaName(isa)));
      ++kernels;
      const int64_t k = 3 * 256, row_bytes = RowBytes(t, k), n = 21;
      std::vector<uint8_t> stored = RandomRows(t, k, 41), more = RandomRows(t, k, 42);
      stored.insert(stored.end(), more.begin(), more.end());  // 32 rows: two groups
      std::vector<uint8_t> grouped(stored.size());
      for (int g = 0; g < 2; ++g)
        InterleaveRows(t, &stored[g * kGroupRows * row_bytes], row_bytes, k, &grouped[g * kGroupRows * row_bytes]);
      std::mt19937 rng(43);
      std::uniform_real_distribution<float> u(-2.0f, 2.0f);
      std::vector<float> x(n * k);
      for (auto& v : x) v = u(rng);
      Int8Acts acts;
      PrepareInt8Acts(KernelsFor(isa), kern.int8_act, x.data(), n, k, &acts);
      std::vector<uint8_t> scratch(static_cast<size_t>(Int8GemmScratchBytes(k)));
      std::vector<float> want(static_cast<size_t>(n * 2 * kGroupRows)), got(want.size(), -1.0f);
      kern.int8_gemm(stored.data(), row_bytes, 2 * kGroupRows, acts, want.data(), 2 * kGroupRows, scratch.data());
      kern.int8_group_gemm(grouped.data(), row_bytes, 2 * kGroupRows, acts, got.data(), 2 * kGroupRows, scratch.data());
      for (size_t e = 0; e < want.size(); ++e) ASSERT_EQ(got[e], want[e]) << e;
    }
  EXPECT_EQ(kernels, CpuSupportsAvx512Vnni() ? 3 : 0);
}

TEST(QuantsTest, RegistryKnowsEveryGgmlType) {
  // Geometry from ggml-common.h's block structs; the computable set is the kernel table's.
  EXPECT_EQ(InfoOf(DType::kQ2_K).block_bytes, 84);
  EXPECT_EQ(InfoOf(DType::kQ3_K).block_bytes, 110);
  EXPECT_EQ(InfoOf(DType::kQ4_K).block_bytes, 144);
  EXPECT_EQ(InfoOf(DType::kQ5_K).block_bytes, 176);
  EXPECT_EQ(InfoOf(DType::kQ6_K).block_bytes, 210);
  EXPECT_EQ(InfoOf(DType::kIQ4_XS).block_bytes, 136);
  EXPECT_EQ(InfoOf(DType::kIQ2_XXS).block_bytes, 66);
  EXPECT_EQ(InfoOf(DType::kTQ1_0).block_bytes, 54);
  EXPECT_EQ(FindDType(4), nullptr);  // retired Q4_2
  EXPECT_EQ(FindDType(99), nullptr);
  EXPECT_EQ(FindDTypeByName("iq4_nl")->id, DType::kIQ4_NL);
  EXPECT_FALSE(RefKernels().Computes(DType::kIQ2_XXS));
  EXPECT_TRUE(RefKernels().Computes(DType::kQ4_K));
}

// Every ISA's table has a complete row for each dtype of the scalar table (its rows build on the
// ones below), the int8 dot reads the format the block size calls for, and the computed set is
// the one the README promises.
TEST(QuantsTest, EveryIsaHasARowForEveryComputedDType) {
  EXPECT_EQ(WeightDTypeNames(),
            "F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16");
  size_t count;
  const DTypeInfo* all = AllDTypes(&count);
  for (Isa isa : AllIsas()) {
    const Kernels& k = KernelsFor(isa);
    for (size_t i = 0; i < count; ++i) {
      SCOPED_TRACE(std::string(IsaName(isa)) + " " + all[i].name);
      const DTypeKernels& row = k.Row(all[i].id);
      EXPECT_EQ(row.to_f32 != nullptr, RefKernels().Computes(all[i].id));
      EXPECT_EQ(row.dot != nullptr, row.to_f32 != nullptr);
      const bool quantized = all[i].block_elems > 1;
      EXPECT_EQ(row.int8_dot != nullptr, quantized && row.to_f32 != nullptr);
      if (row.int8_dot != nullptr) {
        EXPECT_EQ(row.int8_act, all[i].block_elems == kSuperBlock ? DType::kQ8_K : DType::kQ8_0);
      }
    }
  }
}

}  // namespace
}  // namespace lazyllm::simd
