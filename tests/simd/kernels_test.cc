// Parity of every ISA's kernels with the scalar twins: sizes 0..2·lanes+1 and misaligned pointers.
#include "simd/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "simd/dtype.h"

namespace lazyllm::simd {
namespace {

std::vector<Isa> IsasToTest() {
  std::vector<Isa> out;
  if (CpuSupports(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  if (CpuSupports(Isa::kAvx512)) out.push_back(Isa::kAvx512);
  return out;
}

std::vector<float> Random(size_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void ExpectClose(const float* a, const float* b, int64_t n, float tol, const std::string& what) {
  for (int64_t i = 0; i < n; ++i)
    ASSERT_NEAR(a[i], b[i], tol * (1.0f + std::fabs(b[i]))) << what << " at " << i << " of " << n;
}

constexpr int64_t kLanes = 8;
constexpr int kOffset = 1;  // floats: makes every pointer misaligned for 32-byte vectors
// Bytes: Q8_0/Q4_0 rows start 2-byte aligned (their fp16 scales; GGUF data is 32-byte aligned
// and blocks are 34 or 18 bytes), but not vector-aligned.
constexpr int kBlockOffset = 2;

class KernelsTest : public ::testing::TestWithParam<Isa> {
 protected:
  const Kernels& ref = RefKernels();
  const Kernels& k() { return KernelsFor(GetParam()); }
};

TEST_P(KernelsTest, ElementwiseAndReductions) {
  ASSERT_EQ(k().isa, GetParam());
  for (int64_t n = 0; n <= 4 * kLanes + 1; ++n) {
    SCOPED_TRACE("n=" + std::to_string(n));
    auto a = Random(n + kOffset, 1), b = Random(n + kOffset, 2), w = Random(n + kOffset, 3);
    const float* pa = a.data() + kOffset;
    const float* pb = b.data() + kOffset;
    EXPECT_NEAR(k().dot_f32(pa, pb, n), ref.dot_f32(pa, pb, n), 1e-4f * (1 + n));
    auto y1 = b, y2 = b;
    k().axpy(0.7f, pa, y1.data() + kOffset, n);
    ref.axpy(0.7f, pa, y2.data() + kOffset, n);
    ExpectClose(y1.data(), y2.data(), n + kOffset, 1e-6f, "axpy");
    y1 = a, y2 = a;
    k().add(y1.data() + kOffset, pb, n);
    ref.add(y2.data() + kOffset, pb, n);
    ExpectClose(y1.data(), y2.data(), n + kOffset, 0, "add");
    k().scale(y1.data() + kOffset, 1.5f, n);
    ref.scale(y2.data() + kOffset, 1.5f, n);
    ExpectClose(y1.data(), y2.data(), n + kOffset, 0, "scale");
    if (n == 0) continue;
    std::vector<float> o1(n), o2(n);
    k().rms_norm(pa, w.data() + kOffset, o1.data(), n, 1e-5f);
    ref.rms_norm(pa, w.data() + kOffset, o2.data(), n, 1e-5f);
    ExpectClose(o1.data(), o2.data(), n, 1e-5f, "rms_norm");
    auto s1 = Random(n, 4, -30.0f, 30.0f), s2 = s1;
    k().softmax(s1.data(), n);
    ref.softmax(s2.data(), n);
    ExpectClose(s1.data(), s2.data(), n, 1e-6f, "softmax");
    k().swiglu(pa, pb, o1.data(), n);
    ref.swiglu(pa, pb, o2.data(), n);
    ExpectClose(o1.data(), o2.data(), n, 1e-6f, "swiglu");
    // GeGLU over a wide range (the AVX2 form is a sigmoid, the twin uses tanh).
    auto g = Random(n, 14, -12.0f, 12.0f);
    k().geglu(g.data(), pb, o1.data(), n);
    ref.geglu(g.data(), pb, o2.data(), n);
    ExpectClose(o1.data(), o2.data(), n, 2e-6f, "geglu");
    // Online softmax: a first tile, then a second one that raises the running max.
    for (float first_max : {-std::numeric_limits<float>::infinity(), 3.0f}) {
      auto t1 = Random(n, 8, -10.0f, 10.0f), t2 = t1;
      float m1 = first_max, m2 = first_max, l1 = 2.0f, l2 = 2.0f;
      const float c1 = k().online_softmax(t1.data(), n, &m1, &l1);
      const float c2 = ref.online_softmax(t2.data(), n, &m2, &l2);
      ExpectClose(t1.data(), t2.data(), n, 1e-6f, "online_softmax");
      EXPECT_EQ(m1, m2);
      EXPECT_NEAR(l1, l2, 1e-5f * l2);
      EXPECT_NEAR(c1, c2, 1e-6f);
    }
  }
}

TEST_P(KernelsTest, RopeNeox) {
  for (int64_t pairs = 0; pairs <= 2 * kLanes + 1; ++pairs) {
    auto x1 = Random(2 * pairs + kOffset, 11), x2 = x1;
    auto cs = Random(2 * pairs + kOffset, 12, -1.0f, 1.0f);
    k().rope_neox(x1.data() + kOffset, cs.data() + kOffset, pairs);
    ref.rope_neox(x2.data() + kOffset, cs.data() + kOffset, pairs);
    ExpectClose(x1.data(), x2.data(), 2 * pairs + kOffset, 1e-6f, "rope_neox, pairs=" + std::to_string(pairs));
  }
}

// The small-batch matmul against the reference's dot products, over tile edges in every
// direction (rows and inputs not multiples of the tiles, k with and without a vector tail), with
// weight rows packed and padded apart (the padding NaN: read, it would show).
TEST_P(KernelsTest, GemmSmallF32) {
  for (int64_t rows : {1, 3, 4, 5, 9}) {
    for (int64_t n : {1, 2, 3, 4, 6, 7, 13}) {
      for (int64_t kk : {1, 7, 8, 17, 64, 576}) {
        for (int64_t pad : {0, 19}) {
          const int64_t ldw = kk + pad, ldy = rows + 2;
          auto w = Random(rows * ldw, 21);
          const auto x = Random(n * kk, 22);
          for (int64_t r = 0; r < rows; ++r)
            std::fill_n(w.begin() + r * ldw + kk, pad, std::numeric_limits<float>::quiet_NaN());
          std::vector<float> got(static_cast<size_t>(n * ldy), -7.0f), want = got;
          k().gemm_small_f32(w.data(), ldw, rows, x.data(), n, kk, got.data(), ldy);
          for (int64_t i = 0; i < n; ++i)
            for (int64_t r = 0; r < rows; ++r) {
              double d = 0;
              for (int64_t c = 0; c < kk; ++c) d += static_cast<double>(w[r * ldw + c]) * x[i * kk + c];
              want[i * ldy + r] = static_cast<float>(d);
            }
          ExpectClose(got.data(), want.data(), n * ldy, 2e-5f,
                      "rows=" + std::to_string(rows) + " n=" + std::to_string(n) + " k=" + std::to_string(kk) +
                          " ldw=" + std::to_string(ldw));
        }
      }
    }
  }
}

// Decode attention's batched kernels give the bits of the ISA's own dot_f32 and axpy calls (what
// the forward pass computed before them, so its outputs do not change), and the scalar twin's
// values within rounding: head widths with and without whole 32-element steps, key counts over
// the tiles' edges, rows a misaligned stride apart, in order or through a list of rows.
TEST_P(KernelsTest, DotsAndWeightedSumGiveTheBitsOfDotAndAxpy) {
  for (int64_t n : {7, 8, 24, 32, 64, 80, 96, 128})
    for (int64_t keys : {0, 1, 2, 3, 4, 7, 10})
      for (bool listed : {false, true}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " keys=" + std::to_string(keys) + (listed ? " through rows" : ""));
        const int64_t ld = 3 * n + 1, stored = keys + 3;
        std::vector<int64_t> list(static_cast<size_t>(keys));
        for (int64_t j = 0; j < keys; ++j) list[j] = (5 * j + 2) % stored;  // out of order, some repeated
        const int64_t* rows = listed ? list.data() : nullptr;
        auto row = [&](int64_t j) { return listed ? list[j] : j; };
        const auto kv = Random(stored * ld + n, 32);
        // Dots of 1 to 6 heads (the kernels' tiles and their remainders), queries and scores a
        // padded stride apart (the padding must stay untouched).
        for (int64_t heads = 1; heads <= 6; ++heads) {
          SCOPED_TRACE("dots of heads=" + std::to_string(heads));
          const int64_t qs = n + 5, ss = keys + 2;
          const auto q = Random(heads * qs + kOffset, 31 + heads);
          const float* pq = q.data() + kOffset;
          std::vector<float> s(static_cast<size_t>(heads * ss), -7.0f), want_s = s, ref_s = s;
          k().dots_f32(pq, qs, heads, kv.data(), ld, rows, keys, n, 0.125f, s.data(), ss);
          ref.dots_f32(pq, qs, heads, kv.data(), ld, rows, keys, n, 0.125f, ref_s.data(), ss);
          for (int64_t g = 0; g < heads; ++g)
            for (int64_t j = 0; j < keys; ++j)
              want_s[g * ss + j] = k().dot_f32(pq + g * qs, kv.data() + row(j) * ld, n) * 0.125f;
          EXPECT_EQ(std::memcmp(s.data(), want_s.data(), s.size() * sizeof(float)), 0) << "dots";
          ExpectClose(s.data(), ref_s.data(), heads * ss, 1e-5f * n, "dots against the twin");
        }
        // Weighted sums of 1 to 6 heads (tiles of the kernels and their remainders), probabilities
        // and outputs a padded stride apart (the padding must stay untouched), into zeroed outputs;
        // and the keys summed in two calls, the second adding to what the first left.
        for (int64_t heads = 1; heads <= 6; ++heads) {
          SCOPED_TRACE("heads=" + std::to_string(heads));
          const int64_t ps = keys + 2, os = n + 3;
          const auto p = Random(heads * ps, 33 + heads, 0.0f, 1.0f);
          std::vector<float> o(static_cast<size_t>(heads * os), -7.0f);
          for (int64_t g = 0; g < heads; ++g) std::fill_n(o.begin() + g * os, n, 0.0f);
          std::vector<float> want_o = o, ref_o = o, split_o = o;
          k().weighted_sum_f32(p.data(), ps, heads, kv.data(), ld, rows, keys, n, o.data(), os);
          ref.weighted_sum_f32(p.data(), ps, heads, kv.data(), ld, rows, keys, n, ref_o.data(), os);
          const int64_t half = keys / 2;
          k().weighted_sum_f32(p.data(), ps, heads, kv.data(), ld, rows, half, n, split_o.data(), os);
          k().weighted_sum_f32(p.data() + half, ps, heads, rows ? kv.data() : kv.data() + half * ld, ld,
                               rows ? rows + half : nullptr, keys - half, n, split_o.data(), os);
          for (int64_t g = 0; g < heads; ++g)
            for (int64_t j = 0; j < keys; ++j)
              k().axpy(p[g * ps + j], kv.data() + row(j) * ld, want_o.data() + g * os, n);
          EXPECT_EQ(std::memcmp(o.data(), want_o.data(), o.size() * sizeof(float)), 0) << "weighted sum";
          EXPECT_EQ(std::memcmp(split_o.data(), want_o.data(), o.size() * sizeof(float)), 0) << "in two calls";
          ExpectClose(o.data(), ref_o.data(), heads * os, 1e-5f * (1 + keys), "weighted sum against the twin");
        }
      }
}

// A dtype's dots (a weight row against several input rows) give the bits of its dot per input row,
// for every dtype of the ISA's table that has them: widths with and without whole 32-element
// steps, 1 to 7 inputs at a padded, misaligned stride, results at a stride.
TEST_P(KernelsTest, RowDotsGiveTheBitsOfDot) {
  int tested = 0;
  for (uint32_t d = 0; d < kDTypeSlots; ++d) {
    const DTypeKernels& kern = k().dtypes[d];
    if (kern.dots == nullptr) continue;
    ASSERT_EQ(static_cast<DType>(d), DType::kF32) << "a test of these widths is for F32 rows";
    ++tested;
    for (int64_t n : {32, 64, 576, 16, 40, 7})
      for (int64_t nx = 1; nx <= 7; ++nx) {
        SCOPED_TRACE("n=" + std::to_string(n) + " inputs=" + std::to_string(nx));
        const int64_t ldx = n + 3, ldy = 5;
        const auto w = Random(n + kOffset, 41), x = Random(nx * ldx + kOffset, 42);
        const auto xsum = std::vector<float>(static_cast<size_t>(nx * (n / 16) + 1), 0.0f);
        std::vector<float> y(static_cast<size_t>(nx * ldy), -7.0f), want = y;
        kern.dots(w.data() + kOffset, x.data() + kOffset, ldx, nx, xsum.data(), n, y.data(), ldy);
        for (int64_t t = 0; t < nx; ++t)
          want[t * ldy] = kern.dot(w.data() + kOffset, x.data() + kOffset + t * ldx, xsum.data(), n);
        EXPECT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0);
        // Every vector ISA's F32 row dot has DotF32's bits (decode's outputs do not depend on the ISA).
        for (int64_t t = 0; t < nx; ++t)
          EXPECT_EQ(want[t * ldy], k().dot_f32(w.data() + kOffset, x.data() + kOffset + t * ldx, n)) << t;
      }
  }
  if (GetParam() != Isa::kRef) {
    EXPECT_GT(tested, 0) << "no dtype of this ISA has dots";
  }
}

// Half conversion for the f16 KV cache: every ISA rounds like the exact software conversion,
// over random values, halfway cases, overflow, subnormals and the odd lengths of the tail.
TEST_P(KernelsTest, F32ToF16) {
  for (int64_t n = 0; n <= 2 * kLanes + 3; ++n) {
    auto x = Random(n, 13, -70000.0f, 70000.0f);
    for (int64_t i = 0; i < n; i += 3) x[i] *= 1e-7f;  // subnormal halves
    if (n > 1) x[1] = 1.0f + 1.0f / 2048.0f;           // exactly halfway: rounds to even (1.0)
    std::vector<uint16_t> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    k().f32_to_f16(x.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) want[i] = F32ToF16(x[i]);
    EXPECT_EQ(got, want) << "n=" << n;
  }
}

// The twins against the definitions: GELU's tanh form at hand-checked points, and a NEOX
// rotation by a quarter turn (cos 0, sin 1) maps (x_i, x_{i+n}) to (-x_{i+n}, x_i).
TEST(KernelsRefTest, GeluAndNeoxDefinitions) {
  const float g[3] = {0.0f, 1.0f, -2.0f}, up[3] = {1.0f, 1.0f, 1.0f};
  float out[3];
  RefKernels().geglu(g, up, out, 3);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 0.841192f, 1e-6f);   // 0.5·(1 + tanh(0.7978846·1.044715))
  EXPECT_NEAR(out[2], -0.045402f, 1e-6f);  // -1·(1 + tanh(0.7978846·(-2.35772)))
  float x[4] = {1, 2, 3, 4};
  const float cs[4] = {0, 0, 1, 1};
  RefKernels().rope_neox(x, cs, 2);
  EXPECT_EQ(x[0], -3.0f);
  EXPECT_EQ(x[1], -4.0f);
  EXPECT_EQ(x[2], 1.0f);
  EXPECT_EQ(x[3], 2.0f);
}

TEST_P(KernelsTest, Rope) {
  for (int64_t pairs = 0; pairs <= 2 * kLanes + 1; ++pairs) {
    auto x1 = Random(2 * pairs + kOffset, 9), x2 = x1;
    auto cs = Random(2 * pairs + kOffset, 10, -1.0f, 1.0f);
    k().rope(x1.data() + kOffset, cs.data() + kOffset, pairs);
    ref.rope(x2.data() + kOffset, cs.data() + kOffset, pairs);
    ExpectClose(x1.data(), x2.data(), 2 * pairs + kOffset, 1e-6f, "rope, pairs=" + std::to_string(pairs));
  }
}

TEST_P(KernelsTest, StoredDtypeDotAndConversion) {
  std::mt19937 rng(5);
  for (int64_t blocks = 0; blocks <= 3; ++blocks) {
    const int64_t n32 = blocks * 32;
    auto x = Random(n32 + 2 * kLanes + 1 + kOffset, 6);
    // F32 / F16 / BF16 rows of any length, misaligned by one element.
    for (int64_t n = 0; n <= 2 * kLanes + 1 + n32; ++n) {
      std::vector<uint16_t> h(n + 1), bf(n + 1);
      auto src = Random(n + 1, 7 + static_cast<uint32_t>(n));
      for (int64_t i = 0; i <= n; ++i) h[i] = F32ToF16(src[i]), bf[i] = F32ToBF16(src[i]);
      const float* px = x.data() + kOffset;
      EXPECT_NEAR(k().Row(DType::kF32).dot(src.data() + 1, px, nullptr, n),
                  ref.Row(DType::kF32).dot(src.data() + 1, px, nullptr, n), 1e-4f * (1 + n));
      EXPECT_NEAR(k().Row(DType::kF16).dot(h.data() + 1, px, nullptr, n),
                  ref.Row(DType::kF16).dot(h.data() + 1, px, nullptr, n), 1e-4f * (1 + n));
      EXPECT_NEAR(k().Row(DType::kBF16).dot(bf.data() + 1, px, nullptr, n),
                  ref.Row(DType::kBF16).dot(bf.data() + 1, px, nullptr, n), 1e-4f * (1 + n));
      std::vector<float> c1(n), c2(n);
      k().Row(DType::kF16).to_f32(h.data() + 1, c1.data(), n);
      ref.Row(DType::kF16).to_f32(h.data() + 1, c2.data(), n);
      ExpectClose(c1.data(), c2.data(), n, 0, "f16");
      k().Row(DType::kBF16).to_f32(bf.data() + 1, c1.data(), n);
      ref.Row(DType::kBF16).to_f32(bf.data() + 1, c2.data(), n);
      ExpectClose(c1.data(), c2.data(), n, 0, "bf16");
    }
    // Q8_0 / Q4_0 blocks with random payloads, not vector-aligned.
    std::vector<uint8_t> q8(blocks * sizeof(BlockQ8_0) + kBlockOffset), q4(blocks * sizeof(BlockQ4_0) + kBlockOffset);
    for (auto& b : q8) b = static_cast<uint8_t>(rng());
    for (auto& b : q4) b = static_cast<uint8_t>(rng());
    for (int64_t b = 0; b < blocks; ++b) {  // sane scales (random bits could be inf/NaN)
      const uint16_t d = F32ToF16(0.01f * static_cast<float>(b + 1));
      std::memcpy(&q8[kBlockOffset + b * sizeof(BlockQ8_0)], &d, 2);
      std::memcpy(&q4[kBlockOffset + b * sizeof(BlockQ4_0)], &d, 2);
    }
    const float* px = x.data() + kOffset;
    EXPECT_NEAR(k().Row(DType::kQ8_0).dot(q8.data() + kBlockOffset, px, nullptr, n32),
                ref.Row(DType::kQ8_0).dot(q8.data() + kBlockOffset, px, nullptr, n32), 1e-4f * (1 + n32));
    EXPECT_NEAR(k().Row(DType::kQ4_0).dot(q4.data() + kBlockOffset, px, nullptr, n32),
                ref.Row(DType::kQ4_0).dot(q4.data() + kBlockOffset, px, nullptr, n32), 1e-4f * (1 + n32));
    std::vector<float> c1(n32), c2(n32);
    k().Row(DType::kQ8_0).to_f32(q8.data() + kBlockOffset, c1.data(), n32);
    ref.Row(DType::kQ8_0).to_f32(q8.data() + kBlockOffset, c2.data(), n32);
    ExpectClose(c1.data(), c2.data(), n32, 0, "q8_0");
    k().Row(DType::kQ4_0).to_f32(q4.data() + kBlockOffset, c1.data(), n32);
    ref.Row(DType::kQ4_0).to_f32(q4.data() + kBlockOffset, c2.data(), n32);
    ExpectClose(c1.data(), c2.data(), n32, 0, "q4_0");
  }
}

TEST_P(KernelsTest, Int8Activations) {
  std::mt19937 rng(12);
  for (int64_t blocks = 0; blocks <= 5; ++blocks) {
    const int64_t n = blocks * 32;
    auto x = Random(n + kOffset, 13, -3.0f, 3.0f);
    if (n > 0) x[kOffset + 5] = 0.0f, x[kOffset + 7] = -3.5f;  // a zero and a block extreme
    std::vector<uint8_t> q1(blocks * sizeof(BlockQ8_0) + kBlockOffset), q2 = q1;
    k().quantize_q8_0(x.data() + kOffset, q1.data() + kBlockOffset, n);
    ref.quantize_q8_0(x.data() + kOffset, q2.data() + kBlockOffset, n);
    EXPECT_EQ(q1, q2) << "quantized bytes differ, n=" << n;
    // Weight rows with random payloads and sane scales, not vector-aligned.
    std::vector<uint8_t> w8(blocks * sizeof(BlockQ8_0) + kBlockOffset), w4(blocks * sizeof(BlockQ4_0) + kBlockOffset);
    for (auto& b : w8) b = static_cast<uint8_t>(rng());
    for (auto& b : w4) b = static_cast<uint8_t>(rng());
    for (int64_t b = 0; b < blocks; ++b) {
      const uint16_t d = F32ToF16(0.02f * static_cast<float>(b + 1));
      std::memcpy(&w8[kBlockOffset + b * sizeof(BlockQ8_0)], &d, 2);
      std::memcpy(&w4[kBlockOffset + b * sizeof(BlockQ4_0)], &d, 2);
      w8[kBlockOffset + b * sizeof(BlockQ8_0) + 2] = 0x80;  // -128, the one value outside ±127
    }
    const float r8 = ref.Row(DType::kQ8_0).int8_dot(w8.data() + kBlockOffset, q2.data() + kBlockOffset, n);
    const float r4 = ref.Row(DType::kQ4_0).int8_dot(w4.data() + kBlockOffset, q2.data() + kBlockOffset, n);
    EXPECT_NEAR(k().Row(DType::kQ8_0).int8_dot(w8.data() + kBlockOffset, q1.data() + kBlockOffset, n), r8,
                1e-5f * (1 + std::fabs(r8)));
    EXPECT_NEAR(k().Row(DType::kQ4_0).int8_dot(w4.data() + kBlockOffset, q1.data() + kBlockOffset, n), r4,
                1e-5f * (1 + std::fabs(r4)));
    // Against the float path: the difference is exactly Σ w·(dequantized x - x), and each
    // dequantized element is within half a step (plus the fp16 rounding of the scale) of x.
    if (n == 0) continue;
    const float exact = ref.Row(DType::kQ8_0).dot(w8.data() + kBlockOffset, x.data() + kOffset, nullptr, n);
    double want_diff = 0, magnitude = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      BlockQ8_0 wb, xb;
      std::memcpy(&wb, &w8[kBlockOffset + b * sizeof(BlockQ8_0)], sizeof wb);
      std::memcpy(&xb, &q2[kBlockOffset + b * sizeof(BlockQ8_0)], sizeof xb);
      const double step = F16ToF32(xb.d);
      for (int j = 0; j < 32; ++j) {
        const double xj = x[kOffset + b * 32 + j], dq = step * xb.qs[j], wj = F16ToF32(wb.d) * wb.qs[j];
        ASSERT_LE(std::fabs(dq - xj), step * (0.5 + 127.0 / 2048)) << "element " << b * 32 + j;
        want_diff += wj * (dq - xj);
        magnitude += std::fabs(wj * xj);
      }
    }
    EXPECT_NEAR(r8 - exact, want_diff, 1e-5 * magnitude);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, KernelsTest, ::testing::ValuesIn(IsasToTest()),
                         [](const auto& info) { return std::string(IsaName(info.param)); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(KernelsTest);

// The scalar twins themselves, against independent closed forms.
TEST(RefKernelsTest, DtypeConversionsAreExact) {
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(F16ToF32(0x7c00)));
  for (uint32_t h = 0; h < 0x7c00; ++h) EXPECT_EQ(F32ToF16(F16ToF32(static_cast<uint16_t>(h))), h);
  EXPECT_EQ(BF16ToF32(0x3f80), 1.0f);
  BlockQ4_0 b{F32ToF16(0.5f), {}};
  b.qs[0] = 0x9f;  // element 0: 15-8 = 7, element 16: 9-8 = 1
  float out[32];
  RefKernels().Row(DType::kQ4_0).to_f32(&b, out, 32);
  EXPECT_EQ(out[0], 3.5f);
  EXPECT_EQ(out[16], 0.5f);
  EXPECT_EQ(out[1], -4.0f);
  float cs[2] = {0.0f, 1.0f};  // rotate by 90 degrees
  float v[2] = {1.0f, 2.0f};
  RefKernels().rope(v, cs, 1);
  EXPECT_FLOAT_EQ(v[0], -2.0f);
  EXPECT_FLOAT_EQ(v[1], 1.0f);
}

// Streaming a row through the online softmax tile by tile gives the plain softmax.
// The scalar twins of decode attention's kernels against float64 sums.
TEST(RefKernelsTest, DotsAndWeightedSumAgainstDoubles) {
  const int64_t n = 24, keys = 5, ld = 30;
  const auto q = Random(n, 41), kv = Random(keys * ld, 42), p = Random(keys, 43, 0.0f, 1.0f);
  std::vector<float> s(keys), o(n, 0.0f);
  RefKernels().dots_f32(q.data(), n, 1, kv.data(), ld, nullptr, keys, n, 0.5f, s.data(), keys);
  RefKernels().weighted_sum_f32(p.data(), 0, 1, kv.data(), ld, nullptr, keys, n, o.data(), 0);
  for (int64_t j = 0; j < keys; ++j) {
    double d = 0;
    for (int64_t i = 0; i < n; ++i) d += static_cast<double>(q[i]) * kv[j * ld + i];
    EXPECT_NEAR(s[j], 0.5 * d, 1e-5) << j;
  }
  for (int64_t i = 0; i < n; ++i) {
    double d = 0;
    for (int64_t j = 0; j < keys; ++j) d += static_cast<double>(p[j]) * kv[j * ld + i];
    EXPECT_NEAR(o[i], d, 1e-5) << i;
  }
}

TEST(RefKernelsTest, OnlineSoftmaxEqualsSoftmax) {
  const Kernels& ref = RefKernels();
  auto row = Random(37, 11, -20.0f, 20.0f);
  std::vector<double> want(row.size());
  double mx = -1e30, sum = 0;
  for (float v : row) mx = std::max(mx, static_cast<double>(v));
  for (size_t i = 0; i < row.size(); ++i) sum += want[i] = std::exp(row[i] - mx);
  // Tiles of 10, 10, 17; the running weighted sum of a value per key checks the rescaling.
  float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
  double acc = 0;
  for (size_t j0 = 0; j0 < row.size(); j0 += 10) {
    const size_t w = std::min<size_t>(j0 < 20 ? 10 : 17, row.size() - j0);
    std::vector<float> tile(row.begin() + j0, row.begin() + j0 + w);
    const float c = ref.online_softmax(tile.data(), static_cast<int64_t>(w), &m, &l);
    acc *= c;
    for (size_t i = 0; i < w; ++i) acc += tile[i] * static_cast<double>(j0 + i);
    if (j0 >= 20) break;
  }
  double want_acc = 0;
  for (size_t i = 0; i < row.size(); ++i) want_acc += want[i] / sum * static_cast<double>(i);
  EXPECT_NEAR(acc / l, want_acc, 1e-4 * want_acc);
  EXPECT_FLOAT_EQ(m, static_cast<float>(mx));
}

}  // namespace
}  // namespace lazyllm::simd
