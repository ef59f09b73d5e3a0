// Microbenchmarks of the engine's building blocks at real shapes: prefill matmuls against plain
// OpenBLAS sgemm on the same shapes (the ratio is the GEMM efficiency target), tiled attention,
// and one whole transformer layer.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "core/forward/attention.h"
#include "core/forward/matmul.h"
#include "lazyllm/lazyllm.h"
#include "simd/interleaved.h"
#include "simd/quantize.h"
#include "tools/synth/synth.h"

namespace lazyllm {
namespace {

constexpr int kThreads = 2;

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// y[n, rows] = x[n, cols] · Wᵀ through lazyllm's prefill path (args: n, rows, cols, dtype id).
void BM_MatMul(benchmark::State& state) {
  const int64_t n = state.range(0), rows = state.range(1), cols = state.range(2);
  const auto dtype = static_cast<simd::DType>(state.range(3));
  const auto wf = Random(rows * cols, 1), x = Random(n * cols, 2);
  const int64_t row_bytes = simd::RowBytes(dtype, cols);
  std::vector<uint8_t> wbytes(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) simd::QuantizeRow(dtype, &wf[r * cols], &wbytes[r * row_bytes], cols);
  const WeightMatrix w{dtype, wbytes.data(), rows, cols, row_bytes};
  const std::vector<WeightSlice> slices = {{0, rows, wbytes.data()}};
  const threading::Context threads(kThreads, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  GemvInputs gemv;
  std::vector<float> y(static_cast<size_t>(n * rows));
  const simd::Kernels& k = simd::KernelsFor(simd::SelectedIsa());
  for (auto _ : state) MatMul(workers, k, w, slices, x.data(), n, y.data(), gemv);
  state.SetItemsProcessed(state.iterations() * 2 * n * rows * cols);  // items = FLOPs
}

// The same product as one OpenBLAS call with OpenBLAS's own threads: the rate to match.
void BM_OpenBlasSgemm(benchmark::State& state) {
  const int64_t n = state.range(0), rows = state.range(1), cols = state.range(2);
  const auto w = Random(rows * cols, 1), x = Random(n * cols, 2);
  std::vector<float> y(static_cast<size_t>(n * rows));
  openblas_set_num_threads(kThreads);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(rows),
                static_cast<blasint>(cols), 1.0f, x.data(), static_cast<blasint>(cols), w.data(),
                static_cast<blasint>(cols), 0.0f, y.data(), static_cast<blasint>(rows));
  openblas_set_num_threads(1);
  state.SetItemsProcessed(state.iterations() * 2 * n * rows * cols);  // items = FLOPs
}

// Shapes of llama3.2-1b (dim 2048, ffn 8192, kv 512) and smollm2-135m (576, 1536) at 512 rows.
#define LAZYLLM_GEMM_SHAPES(bm, dtype) \
  BENCHMARK(bm)                        \
      ->Args({512, 2048, 2048, dtype}) \
      ->Args({512, 512, 2048, dtype})  \
      ->Args({512, 8192, 2048, dtype}) \
      ->Args({512, 2048, 8192, dtype}) \
      ->Args({512, 1536, 576, dtype})  \
      ->Args({512, 576, 1536, dtype})  \
      ->Unit(benchmark::kMillisecond)  \
      ->UseRealTime()
LAZYLLM_GEMM_SHAPES(BM_MatMul, 0);
LAZYLLM_GEMM_SHAPES(BM_MatMul, 8);
LAZYLLM_GEMM_SHAPES(BM_OpenBlasSgemm, 0);

// Causal attention over n rows with smollm2's heads (9 query, 3 KV, head_dim 64), the keys laid out
// as the cache keeps them (one matrix per KV head).
void BM_Attention(benchmark::State& state) {
  const int64_t n = state.range(0), heads = 9, kv_heads = 3, hd = 64;
  const auto q = Random(n * heads * hd, 1), kk = Random(n * kv_heads * hd, 2), vv = Random(n * kv_heads * hd, 3);
  std::vector<int64_t> count(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) count[i] = i + 1;
  std::vector<float> out(static_cast<size_t>(n * heads * hd));
  const threading::Context threads(kThreads, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  Attention attn(simd::KernelsFor(simd::SelectedIsa()), {heads, kv_heads, hd});
  std::vector<float> probs;
  for (auto _ : state)
    attn.Run(workers, q.data(), n, count.data(), {kk.data(), vv.data(), hd, n * hd}, out.data(), nullptr, probs);
  // Causal: n²/2 (query, key) pairs, each a hd-long dot and a hd-long accumulation per head.
  state.SetItemsProcessed(state.iterations() * 2 * 2 * n * (n + 1) / 2 * hd * heads);  // items = FLOPs
}
BENCHMARK(BM_Attention)->Arg(512)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// Decode attention as in a step at a long prompt: rows query rows (the new token, and revived
// ones) over each layer's fp32 cache of nk keys, laid out as the cache keeps them (one matrix per
// KV head), read through a list of rows (a pruned layer) when `listed`. Shapes: smollm2-135m
// (shape 0: 30 layers, 9 query heads over 3 KV heads of 64) or llama3.2-1b (shape 1: 16 layers, 32
// over 8). A step's layers are taken in turn from at least 256 MB of caches, so that the keys
// stream from memory as in a real step (where a token's weights pass through the CPU's caches
// between two layers' attention); or, when `cached`, every layer reads the same one, from the
// CPU's caches.
void BM_DecodeAttentionLayers(benchmark::State& state) {
  const int64_t rows = state.range(0), listed = state.range(1), nk = state.range(3), cached = state.range(4);
  const bool llama = state.range(2) == 1;
  const int64_t layers = llama ? 16 : 30, heads = llama ? 32 : 9, kv_heads = llama ? 8 : 3, hd = 64, ld = kv_heads * hd;
  const int64_t stored = cached ? 1 : std::max(layers, ((int64_t{256} << 20) + nk * ld * 8 - 1) / (nk * ld * 8));
  const auto q = Random(rows * heads * hd, 1);
  // The caches in 64-byte aligned memory, as the KV cache's rows are.
  const auto kr = Random(stored * nk * ld, 2), vr = Random(stored * nk * ld, 3);
  const auto aligned = [](const std::vector<float>& v) {
    auto* p = static_cast<float*>(std::aligned_alloc(64, (v.size() * sizeof(float) + 63) / 64 * 64));
    std::memcpy(p, v.data(), v.size() * sizeof(float));
    return std::unique_ptr<float, decltype(&std::free)>(p, &std::free);
  };
  const auto kk = aligned(kr), vv = aligned(vr);
  std::vector<int64_t> count(static_cast<size_t>(rows)), list(static_cast<size_t>(nk));
  for (int64_t i = 0; i < rows; ++i) count[i] = nk - (rows - 1 - i) * 97;
  for (int64_t j = 0; j < nk; ++j) list[j] = j;
  std::vector<float> out(static_cast<size_t>(rows * heads * hd)), probs;
  const threading::Context threads(kThreads, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  Attention attn(simd::KernelsFor(simd::SelectedIsa()), {heads, kv_heads, hd});
  int64_t next = 0;
  for (auto _ : state)
    for (int64_t i = 0; i < layers; ++i) {
      const int64_t l = next++ % stored;
      const Attention::DirectJob job{
          q.data(),
          rows,
          count.data(),
          nullptr,
          {kk.get() + l * nk * ld, vv.get() + l * nk * ld, hd, nk * hd, listed ? list.data() : nullptr},
          out.data()};
      attn.RunDirectMany(workers, {&job, 1}, probs);
    }
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * layers * nk * ld * 8), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAttentionLayers)
    ->ArgsProduct({{1, 5}, {0, 1}, {0}, {4096}, {0}})
    ->ArgsProduct({{1}, {0}, {1}, {512, 4096}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A decode step's weight matmuls over n rows (the new token, LazyLLM's revived rows, or a batch's
// sequences) in F32: q, k, v, o, gate, up and down of 8 smollm2-135m layers (113 MB; second arg 0)
// or of 2 llama3.2-1b layers (487 MB; second arg 1, the shapes of batched decode at B = 8), in huge
// pages and row-padded as placement copies them (PaddedStride), so the weights stream from memory
// as in a real step. Counter: weight bytes read per second (the padding not counted).
void BM_DecodeMatMuls(benchmark::State& state) {
  const bool wide = state.range(1) != 0;
  const int64_t n = state.range(0), layers = wide ? 2 : 8, dim = wide ? 2048 : 576, kv = wide ? 512 : 192,
                ffn = wide ? 8192 : 1536;
  const std::pair<int64_t, int64_t> shapes[] = {{dim, dim}, {kv, dim},  {kv, dim}, {dim, dim},
                                                {ffn, dim}, {ffn, dim}, {dim, ffn}};
  const auto stride = [](int64_t rows, int64_t cols) {
    return PaddedStride({simd::DType::kF32, nullptr, rows, cols, cols * 4}) / 4;
  };
  int64_t floats = 0, stored = 0;
  for (const auto& [rows, cols] : shapes) floats += rows * cols, stored += rows * stride(rows, cols);
  const auto w = Random(layers * stored, 1), x = Random(n * ffn, 2);
  const NodeBuffer memory(static_cast<size_t>(layers * stored) * sizeof(float));  // as placement's
  if (memory.p == MAP_FAILED) return state.SkipWithError("no memory for the weights");
  auto* buf = static_cast<float*>(memory.p);
  std::memcpy(buf, w.data(), w.size() * sizeof(float));
  std::vector<WeightMatrix> matrices;
  std::vector<std::vector<WeightSlice>> slices;
  for (int64_t l = 0, at = 0; l < layers; ++l)
    for (const auto& [rows, cols] : shapes) {
      auto* data = reinterpret_cast<uint8_t*>(buf + at);
      matrices.push_back({simd::DType::kF32, data, rows, cols, cols * 4});
      slices.push_back({{0, rows, data, -1, false, stride(rows, cols) * 4}});
      at += rows * stride(rows, cols);
    }
  const threading::Context threads(kThreads, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  const simd::Kernels& k = simd::KernelsFor(simd::SelectedIsa());
  GemvInputs gemv;
  std::vector<float> y(static_cast<size_t>(n * ffn));
  for (auto _ : state)
    for (size_t m = 0; m < matrices.size(); ++m)
      MatMul(workers, k, matrices[m], slices[m], x.data(), n, y.data(), gemv);
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * layers * floats * 4), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeMatMuls)
    ->ArgsProduct({{1, 2, 3, 4, 5, 6, 7}, {0}})
    ->ArgsProduct({{1, 4, 8}, {1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A decode step's weight matmuls in llama3.2-1b's shapes and a quantized dtype (Q4_0 549 MB, Q8_0
// 1035 MB), interleaved in one huge-page buffer as placement lays them out, computed as the layer
// does: q, k and v in one MatMuls, o, gate and up in one, down. Counter: weight bytes read per
// second, against the two-thread BM_MemoryRead. Arg: the dtype's id.
void BM_DecodeMatMulsInterleaved(benchmark::State& state) {
  const auto dtype = static_cast<simd::DType>(state.range(0));
  const int64_t layers = 16, dim = 2048, kv = 512, ffn = 8192;
  const std::pair<int64_t, int64_t> shapes[] = {{dim, dim}, {kv, dim},  {kv, dim}, {dim, dim},
                                                {ffn, dim}, {ffn, dim}, {dim, ffn}};
  // Every row of a width the same quantized random row; the groups interleave it as any other.
  std::map<int64_t, std::vector<uint8_t>> row;
  int64_t bytes = 0;
  for (const auto& [rows, cols] : shapes) {
    if (!row.contains(cols)) {
      row[cols].resize(static_cast<size_t>(simd::RowBytes(dtype, cols)));
      simd::QuantizeRow(dtype, Random(cols, 1).data(), row[cols].data(), cols);
    }
    bytes += rows * simd::RowBytes(dtype, cols);
  }
  const NodeBuffer memory(static_cast<size_t>(layers * bytes));  // as placement's
  if (memory.p == MAP_FAILED) return state.SkipWithError("no memory for the weights");
  auto* buf = static_cast<uint8_t*>(memory.p);
  std::vector<WeightMatrix> matrices;
  std::vector<std::vector<WeightSlice>> slices;
  std::vector<uint8_t> rows16;
  for (int64_t l = 0, at = 0; l < layers; ++l)
    for (const auto& [rows, cols] : shapes) {
      const int64_t row_bytes = simd::RowBytes(dtype, cols);
      rows16.resize(static_cast<size_t>(simd::kGroupRows * row_bytes));
      for (int64_t r = 0; r < simd::kGroupRows; ++r) std::memcpy(&rows16[r * row_bytes], row[cols].data(), row_bytes);
      for (int64_t g = 0; g < rows / simd::kGroupRows; ++g)
        simd::InterleaveRows(dtype, rows16.data(), row_bytes, cols, buf + at + g * simd::kGroupRows * row_bytes);
      matrices.push_back({dtype, buf + at, rows, cols, row_bytes});
      slices.push_back({{0, rows, buf + at, -1, /*interleaved=*/true}});
      at += rows * row_bytes;
    }
  const threading::Context threads(kThreads, /*numa=*/false);
  const threading::Workers workers(threads, /*serial=*/false);
  const simd::Kernels& k = simd::KernelsFor(simd::SelectedIsa());
  const auto x = Random(ffn, 2);
  std::vector<float> q(dim), kk(kv), v(kv), o(dim), gate(ffn), up(ffn), down(dim);
  GemvInputs gemv;
  const auto product = [&](size_t m, float* y) { return Product{&matrices[m], &slices[m], y}; };
  for (auto _ : state)
    for (size_t m = 0; m < matrices.size(); m += 7) {
      const Product qkv[] = {product(m, q.data()), product(m + 1, kk.data()), product(m + 2, v.data())};
      MatMuls(workers, k, qkv, x.data(), 1, gemv, true);
      MatMul(workers, k, matrices[m + 3], slices[m + 3], x.data(), 1, o.data(), gemv, true);
      const Product gate_up[] = {product(m + 4, gate.data()), product(m + 5, up.data())};
      MatMuls(workers, k, gate_up, x.data(), 1, gemv, true);
      MatMul(workers, k, matrices[m + 6], slices[m + 6], x.data(), 1, down.data(), gemv, true);
    }
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * layers * bytes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeMatMulsInterleaved)
    ->Arg(static_cast<int>(simd::DType::kQ4_0))
    ->Arg(static_cast<int>(simd::DType::kQ8_0))
    ->Arg(static_cast<int>(simd::DType::kQ4_K))
    ->Arg(static_cast<int>(simd::DType::kQ5_K))
    ->Arg(static_cast<int>(simd::DType::kQ6_K))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One smollm2-135m layer (plus its tiny 512-token LM head) over a prompt of n tokens.
void BM_Layer(benchmark::State& state) {
  const auto path = std::filesystem::temp_directory_path() / "lazyllm_bench_layer.gguf";
  if (!Synthesize({"smollm2-135m", "f32", 1, 1}, path.string()).ok()) {
    state.SkipWithError("synth failed");
    return;
  }
  auto model = Model::Load(path.string());
  auto session = Session::Create(*model, {.threads = kThreads, .max_context = state.range(0)});
  std::vector<int32_t> prompt(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(3 + i * 7 % 500);
  for (auto _ : state) benchmark::DoNotOptimize(session->Prefill(prompt).ok());
  state.SetItemsProcessed(state.iterations() * state.range(0));  // items = prompt tokens
}
BENCHMARK(BM_Layer)->Arg(512)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// Memory read bandwidth, the ceiling of decode (which streams every weight once per token):
// `threads` threads each sum their slice of a 1 GiB buffer (far beyond the caches). Arg: threads.
void BM_MemoryRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t n = (size_t{1} << 30) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n, 1);  // written once: every page is resident
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  for (auto _ : state) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const size_t begin = n * t / threads, end = n * (t + 1) / threads;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = begin; i + 4 <= end; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
        sums[t] = s0 + s1 + s2 + s3;
      });
    for (auto& th : pool) th.join();
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n * sizeof(uint64_t)));
}
BENCHMARK(BM_MemoryRead)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace lazyllm
