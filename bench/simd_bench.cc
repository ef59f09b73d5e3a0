// Microbenchmarks of every kernel of the table per ISA: stored-dtype GEMV row dots, elementwise
// kernels, conversions, int8 activations, and the LazyLLM selection.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "simd/int8_gemm.h"
#include "simd/kernels.h"
#include "simd/select.h"

namespace lazyllm::simd {
namespace {

// A stored row of n elements with small finite values in every dtype.
std::vector<uint8_t> BenchRow(DType dtype, int64_t n) {
  std::vector<uint8_t> w(static_cast<size_t>(RowBytes(dtype, n)));
  std::mt19937 rng(1);
  for (auto& b : w) b = static_cast<uint8_t>(rng() & 0x3f);
  return w;
}

void BM_RowDot(benchmark::State& state, Isa isa, DType dtype) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t n = state.range(0);
  const std::vector<uint8_t> w = BenchRow(dtype, n);
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  std::vector<float> xsum(static_cast<size_t>(n / 16));
  GroupSums16(x.data(), xsum.data(), n);
  const RowDotFn dot = KernelsFor(isa).Row(dtype).dot;
  for (auto _ : state) benchmark::DoNotOptimize(dot(w.data(), x.data(), xsum.data(), n));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
}

// Int8-activation row dot (the decode path of quantized weights): weight row times a quantized activation row.
void BM_Int8RowDot(benchmark::State& state, Isa isa, DType dtype) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t n = state.range(0);
  const std::vector<uint8_t> w = BenchRow(dtype, n);
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  const DTypeKernels& k = KernelsFor(isa).Row(dtype);
  std::vector<uint8_t> xq(static_cast<size_t>(ActRowBytes(k.int8_act, n)));
  KernelsFor(isa).QuantizeAct(k.int8_act)(x.data(), xq.data(), n);
  for (auto _ : state) benchmark::DoNotOptimize(k.int8_dot(w.data(), xq.data(), n));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
}

#define LAZYLLM_INT8DOT(isa, dtype) \
  BENCHMARK_CAPTURE(BM_Int8RowDot, isa##_##dtype, Isa::isa, DType::dtype)->Arg(4096)->Arg(11008)

LAZYLLM_INT8DOT(kAvx2, kQ8_0);
LAZYLLM_INT8DOT(kAvx2, kQ4_0);
LAZYLLM_INT8DOT(kAvx2, kQ4_K);
LAZYLLM_INT8DOT(kAvx2, kQ5_K);
LAZYLLM_INT8DOT(kAvx2, kQ6_K);
LAZYLLM_INT8DOT(kAvx2, kQ3_K);
LAZYLLM_INT8DOT(kAvx2, kQ2_K);
LAZYLLM_INT8DOT(kAvx2, kIQ4_XS);
LAZYLLM_INT8DOT(kAvx2, kQ5_0);
LAZYLLM_INT8DOT(kAvx512, kQ8_0);
LAZYLLM_INT8DOT(kAvx512, kQ4_0);
LAZYLLM_INT8DOT(kAvx512, kQ4_K);
LAZYLLM_INT8DOT(kAvx512, kQ5_K);
LAZYLLM_INT8DOT(kAvx512, kQ6_K);

// Int8 GEMM of one panel (kInt8PanelRows weight rows of k = 2048) into n activation rows: the
// prefill path. Counter: multiply-adds per second.
void BM_Int8Gemm(benchmark::State& state, Isa isa, DType dtype) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t k = 2048, rows = kInt8PanelRows, n = state.range(0);
  const int64_t row_bytes = RowBytes(dtype, k);
  std::vector<uint8_t> w = BenchRow(dtype, k * rows);
  w.resize(static_cast<size_t>(rows * row_bytes));
  std::vector<float> x(static_cast<size_t>(n * k));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  const Kernels& t = KernelsFor(isa);
  const DTypeKernels& kern = t.Row(dtype);
  Int8Acts acts;
  PrepareInt8Acts(t, kern.int8_act, x.data(), n, k, &acts);
  std::vector<float> y(static_cast<size_t>(n * rows));
  std::vector<uint8_t> scratch(static_cast<size_t>(Int8GemmScratchBytes(k)));
  for (auto _ : state) {
    if (kern.int8_gemm != nullptr)
      kern.int8_gemm(w.data(), row_bytes, rows, acts, y.data(), rows, scratch.data());
    else
      Int8GemmByDots(kern.int8_dot, w.data(), row_bytes, rows, acts, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * rows * k * n), benchmark::Counter::kIsRate);
}

#define LAZYLLM_INT8GEMM(isa, dtype) \
  BENCHMARK_CAPTURE(BM_Int8Gemm, isa##_##dtype, Isa::isa, DType::dtype)->Arg(1)->Arg(8)->Arg(512)

LAZYLLM_INT8GEMM(kAvx2, kQ4_K);
LAZYLLM_INT8GEMM(kAvx512, kQ4_K);
LAZYLLM_INT8GEMM(kAvx512, kQ6_K);
LAZYLLM_INT8GEMM(kAvx512, kQ8_0);
LAZYLLM_INT8GEMM(kAvx512, kQ4_0);
LAZYLLM_INT8GEMM(kAvx512, kQ5_K);

// Decode of a matrix of 2048-wide rows, one thread, one activation row: the stored rows by the
// int8 row dots against the same rows interleaved (simd/interleaved.h) by the group kernel.
// Argument: rows, 512 (the kernel's own rate, from L2) or 32768 (larger than the caches, from
// DRAM). Bytes: the weights read per second.
void BM_Int8Decode(benchmark::State& state, Isa isa, DType dtype, bool interleaved) {
  if (!CpuSupports(isa) || (interleaved && KernelsFor(isa).Row(dtype).int8_group == nullptr)) {
    state.SkipWithError("no group kernel for this ISA on this CPU");
    return;
  }
  const DTypeKernels& kern = KernelsFor(isa).Row(dtype);
  const int64_t k = 2048, rows = state.range(0), row_bytes = RowBytes(dtype, k);
  const std::vector<uint8_t> stored = BenchRow(dtype, k * rows);
  // In transparent huge pages where the kernel grants them, as placement allocates weights.
  const size_t bytes = stored.size();
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  madvise(p, bytes, MADV_HUGEPAGE);
  auto* w = static_cast<uint8_t*>(p);
  if (interleaved)
    for (int64_t g = 0; g < rows / kGroupRows; ++g)
      InterleaveRows(dtype, &stored[g * kGroupRows * row_bytes], row_bytes, k, w + g * kGroupRows * row_bytes);
  else
    std::memcpy(w, stored.data(), bytes);
  std::vector<float> x(static_cast<size_t>(k)), y(static_cast<size_t>(rows));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  Int8Acts acts;
  PrepareInt8Acts(KernelsFor(isa), kern.int8_act, x.data(), 1, k, &acts);
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; r += interleaved ? kGroupRows : 1) {
      if (interleaved)
        kern.int8_group(w + r * row_bytes, acts, &y[r], rows);
      else
        y[r] = kern.int8_dot(w + r * row_bytes, acts.blocks.data(), k);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  munmap(p, bytes);
}
#define LAZYLLM_INT8DECODE(isa, dtype)                                                                       \
  BENCHMARK_CAPTURE(BM_Int8Decode, isa##_rows_##dtype, Isa::isa, DType::dtype, false)->Arg(512)->Arg(32768); \
  BENCHMARK_CAPTURE(BM_Int8Decode, isa##_interleaved_##dtype, Isa::isa, DType::dtype, true)->Arg(512)->Arg(32768)

LAZYLLM_INT8DECODE(kAvx512, kQ8_0);
LAZYLLM_INT8DECODE(kAvx512, kQ4_0);
LAZYLLM_INT8DECODE(kAvx512, kQ4_K);
LAZYLLM_INT8DECODE(kAvx512, kQ5_K);
LAZYLLM_INT8DECODE(kAvx512, kQ6_K);
LAZYLLM_INT8DECODE(kAvx2, kQ8_0);
LAZYLLM_INT8DECODE(kAvx2, kQ4_0);
LAZYLLM_INT8DECODE(kAvx2, kQ4_K);
LAZYLLM_INT8DECODE(kAvx2, kQ5_K);
LAZYLLM_INT8DECODE(kAvx2, kQ6_K);

// The small-batch F32 kernel (batched decode of F32 weights): 32 weight rows of k = 2048 (from
// L2) into n input rows. Counter: multiply-adds per second.
void BM_GemmSmallF32(benchmark::State& state, Isa isa) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const int64_t k = state.range(1), rows = 32, n = state.range(0);
  std::vector<float> w(rows * k), x(n * k), y(n * rows);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng);
  const auto gemm = KernelsFor(isa).gemm_small_f32;  // once: not part of what is timed
  for (auto _ : state) {
    gemm(w.data(), k, rows, x.data(), n, k, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * rows * k * n), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_GemmSmallF32, kAvx2, Isa::kAvx2)->ArgsProduct({{1, 4, 8, 32}, {2048, 2064}});
BENCHMARK_CAPTURE(BM_GemmSmallF32, kAvx512, Isa::kAvx512)->ArgsProduct({{1, 4, 8, 32}, {2048, 2064}});

#define LAZYLLM_ROWDOT(isa, dtype) \
  BENCHMARK_CAPTURE(BM_RowDot, isa##_##dtype, Isa::isa, DType::dtype)->Arg(4096)->Arg(11008)

LAZYLLM_ROWDOT(kRef, kF32);
LAZYLLM_ROWDOT(kAvx2, kF32);
LAZYLLM_ROWDOT(kAvx512, kF32);
LAZYLLM_ROWDOT(kRef, kF16);
LAZYLLM_ROWDOT(kAvx2, kF16);
LAZYLLM_ROWDOT(kAvx512, kF16);
LAZYLLM_ROWDOT(kRef, kBF16);
LAZYLLM_ROWDOT(kAvx2, kBF16);
LAZYLLM_ROWDOT(kAvx512, kBF16);
LAZYLLM_ROWDOT(kRef, kQ8_0);
LAZYLLM_ROWDOT(kAvx2, kQ8_0);
LAZYLLM_ROWDOT(kAvx512, kQ8_0);
LAZYLLM_ROWDOT(kRef, kQ4_0);
LAZYLLM_ROWDOT(kAvx2, kQ4_0);
LAZYLLM_ROWDOT(kAvx512, kQ4_0);
LAZYLLM_ROWDOT(kRef, kQ4_K);
LAZYLLM_ROWDOT(kAvx2, kQ4_K);
LAZYLLM_ROWDOT(kAvx512, kQ4_K);
LAZYLLM_ROWDOT(kAvx2, kQ5_K);
LAZYLLM_ROWDOT(kAvx512, kQ5_K);
LAZYLLM_ROWDOT(kRef, kQ6_K);
LAZYLLM_ROWDOT(kAvx2, kQ6_K);
LAZYLLM_ROWDOT(kAvx512, kQ6_K);
LAZYLLM_ROWDOT(kAvx2, kQ3_K);
LAZYLLM_ROWDOT(kAvx2, kQ2_K);
LAZYLLM_ROWDOT(kAvx2, kQ4_1);
LAZYLLM_ROWDOT(kAvx2, kQ5_0);
LAZYLLM_ROWDOT(kAvx2, kQ5_1);
LAZYLLM_ROWDOT(kAvx2, kIQ4_NL);
LAZYLLM_ROWDOT(kAvx2, kIQ4_XS);

}  // namespace
}  // namespace lazyllm::simd

// Every other kernel of the table, per ISA, on one transformer-sized row (bytes touched per second).
namespace lazyllm::simd {
namespace {

enum class Op {
  kDot,
  kAxpy,
  kRmsNorm,
  kSoftmax,
  kOnlineSoftmax,
  kRope,
  kSwiGlu,
  kQuantizeQ8,
  kDotQ8Q8,
  kToF32Q8,
  kToF32Q4,
  kToF32F16
};

void BM_Kernel(benchmark::State& state, Isa isa, Op op) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const Kernels& k = KernelsFor(isa);
  const int64_t n = state.range(0);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> a(n), b(n), c(n);
  for (int64_t i = 0; i < n; ++i) a[i] = d(rng), b[i] = d(rng), c[i] = d(rng);
  std::vector<uint8_t> q8(n / 32 * sizeof(BlockQ8_0)), xq(q8.size()), q4(n / 32 * sizeof(BlockQ4_0), 0x37);
  k.quantize_q8_0(a.data(), q8.data(), n);
  k.quantize_q8_0(b.data(), xq.data(), n);
  for (size_t i = 0; i + 1 < q4.size(); i += sizeof(BlockQ4_0)) std::memcpy(&q4[i], &q8[0], 2);
  std::vector<uint16_t> h(n, 0x3c00);
  int64_t bytes = 0;
  for (auto _ : state) {
    switch (op) {
      case Op::kDot:
        benchmark::DoNotOptimize(k.dot_f32(a.data(), b.data(), n));
        bytes = 8 * n;
        break;
      case Op::kAxpy:
        k.axpy(1e-3f, a.data(), c.data(), n);
        bytes = 12 * n;
        break;
      case Op::kRmsNorm:
        k.rms_norm(a.data(), b.data(), c.data(), n, 1e-5f);
        bytes = 12 * n;
        break;
      case Op::kSoftmax:
        std::copy(a.begin(), a.end(), c.begin());
        k.softmax(c.data(), n);
        bytes = 12 * n;
        break;
      case Op::kOnlineSoftmax: {
        std::copy(a.begin(), a.end(), c.begin());
        float m = 0.5f, l = 1.0f;
        benchmark::DoNotOptimize(k.online_softmax(c.data(), n, &m, &l));
        bytes = 12 * n;
        break;
      }
      case Op::kRope:
        k.rope(c.data(), b.data(), n / 2);
        bytes = 12 * n;
        break;
      case Op::kSwiGlu:
        k.swiglu(a.data(), b.data(), c.data(), n);
        bytes = 12 * n;
        break;
      case Op::kQuantizeQ8:
        k.quantize_q8_0(a.data(), q8.data(), n);
        bytes = 4 * n;
        break;
      case Op::kDotQ8Q8:
        benchmark::DoNotOptimize(k.Row(DType::kQ8_0).int8_dot(q8.data(), xq.data(), n));
        bytes = static_cast<int64_t>(q8.size());
        break;
      case Op::kToF32Q8:
        k.Row(DType::kQ8_0).to_f32(q8.data(), c.data(), n);
        bytes = 4 * n;
        break;
      case Op::kToF32Q4:
        k.Row(DType::kQ4_0).to_f32(q4.data(), c.data(), n);
        bytes = 4 * n;
        break;
      case Op::kToF32F16:
        k.Row(DType::kF16).to_f32(h.data(), c.data(), n);
        bytes = 4 * n;
        break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

#define LAZYLLM_KERNEL(op)                                                 \
  BENCHMARK_CAPTURE(BM_Kernel, kRef_##op, Isa::kRef, Op::op)->Arg(2048);   \
  BENCHMARK_CAPTURE(BM_Kernel, kAvx2_##op, Isa::kAvx2, Op::op)->Arg(2048); \
  BENCHMARK_CAPTURE(BM_Kernel, kAvx512_##op, Isa::kAvx512, Op::op)->Arg(2048)

LAZYLLM_KERNEL(kDot);
LAZYLLM_KERNEL(kAxpy);
LAZYLLM_KERNEL(kRmsNorm);
LAZYLLM_KERNEL(kSoftmax);
LAZYLLM_KERNEL(kOnlineSoftmax);
LAZYLLM_KERNEL(kRope);
LAZYLLM_KERNEL(kSwiGlu);
LAZYLLM_KERNEL(kQuantizeQ8);
LAZYLLM_KERNEL(kDotQ8Q8);
LAZYLLM_KERNEL(kToF32Q8);
LAZYLLM_KERNEL(kToF32Q4);
LAZYLLM_KERNEL(kToF32F16);

// Decode attention of one head over a 4,096-key cache in smollm2-135m's shape (head width 64, rows
// of 3 KV heads): scores and the weighted sum of values, by one kernel call each (dots_f32,
// weighted_sum_f32) or by the per-key dot_f32 and axpy calls they replaced (keys per second).
void BM_DecodeAttention(benchmark::State& state, Isa isa, bool per_key) {
  if (!CpuSupports(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const Kernels& k = KernelsFor(isa);
  const int64_t keys = state.range(0), n = 64, ld = 3 * n;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> q(n), kc(keys * ld), vc(keys * ld), s(keys), o(n);
  for (std::vector<float>* v : {&q, &kc, &vc})
    for (float& x : *v) x = d(rng);
  for (auto _ : state) {
    if (per_key) {
      for (int64_t j = 0; j < keys; ++j) s[j] = k.dot_f32(q.data(), kc.data() + j * ld, n) * 0.125f;
      std::fill(o.begin(), o.end(), 0.0f);
      for (int64_t j = 0; j < keys; ++j) k.axpy(s[j], vc.data() + j * ld, o.data(), n);
    } else {
      k.dots_f32(q.data(), n, 1, kc.data(), ld, nullptr, keys, n, 0.125f, s.data(), keys);
      std::fill(o.begin(), o.end(), 0.0f);
      k.weighted_sum_f32(s.data(), 0, 1, vc.data(), ld, nullptr, keys, n, o.data(), 0);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * keys);
}
BENCHMARK_CAPTURE(BM_DecodeAttention, kAvx2_per_key, Isa::kAvx2, true)->Arg(4096);
BENCHMARK_CAPTURE(BM_DecodeAttention, kAvx2_kernels, Isa::kAvx2, false)->Arg(4096);
BENCHMARK_CAPTURE(BM_DecodeAttention, kAvx512_kernels, Isa::kAvx512, false)->Arg(4096)->Arg(512);

// LazyLLM's selection of the k lowest scores (candidates per second).
void BM_SelectLowest(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> s(n);
  std::vector<int64_t> pos(n), scratch(n);
  std::vector<uint8_t> drop(n);
  for (int64_t i = 0; i < n; ++i) s[i] = d(rng), pos[i] = i;
  for (auto _ : state) SelectLowest(s.data(), pos.data(), n, n / 2, scratch.data(), drop.data());
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_SelectLowest)->Arg(4096);

}  // namespace
}  // namespace lazyllm::simd
