// NUMA placement on hwloc synthetic topologies: arenas per node, weight row slices copied by
// their node's workers, and results bit-identical to a single-arena run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "common/test_paths.h"
#include "core/engine/engine_impl.h"
#include "core/engine/session_hooks.h"
#include "core/forward/matmul.h"
#include "lazyllm/lazyllm.h"
#include "simd/kernels.h"
#include "simd/select.h"
#include "threading/topology.h"
#include "tools/synth/synth.h"

namespace lazyllm {
namespace {

// A 2-layer tiny-gqa model (dim 256, 8 heads over 2 KV heads, ffn 768, vocab 512) in a weight
// dtype: f32, or q8_0, q4_0, q4_k and q6_k, which placement copies interleaved where the CPU has
// the kernels.
const Model& TinyGqa(const std::string& dtype = "f32") {
  static std::map<std::string, Model> models;
  if (auto it = models.find(dtype); it != models.end()) return it->second;
  const auto path = std::filesystem::temp_directory_path() / ("lazyllm_numa_test_tiny_gqa_" + dtype + ".gguf");
  SynthOptions o;
  o.preset = "tiny-gqa";
  o.layers = 2;
  o.seed = 7;
  o.dtype = dtype;
  EXPECT_TRUE(Synthesize(o, path.string()).ok());
  auto m = Model::Load(path.string());
  EXPECT_TRUE(m.ok()) << m.status().message();
  return models.emplace(dtype, *m).first->second;
}

// Whether placement interleaves matrices of this dtype on this CPU.
bool Interleaves(const std::string& dtype) {
  return simd::KernelsFor(simd::SelectedIsa()).Row(simd::FindDTypeByName(dtype)->id).int8_group != nullptr;
}

threading::Topology Synthetic(const char* desc) {
  auto t = threading::Topology::Synthetic(desc);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return *t;
}

// Logits after the prefill and after each of `steps` greedy decode steps.
std::vector<std::vector<float>> Trace(Session& s, const std::vector<int32_t>& prompt, int steps) {
  std::vector<std::vector<float>> out;
  EXPECT_TRUE(s.Prefill(prompt).ok());
  for (int i = 0;; ++i) {
    out.emplace_back(s.logits().begin(), s.logits().end());
    if (i == steps) break;
    EXPECT_TRUE(s.DecodeStep(Argmax(s.logits())).ok());
  }
  return out;
}

std::vector<int32_t> Prompt(int n) {
  std::vector<int32_t> ids = {1};
  for (int i = 1; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % 500 + 3));
  return ids;
}

TEST(NumaTest, PlacesSlicesPerNodeAndMatchesSingleArena) {
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");  // 4 NUMA nodes
  for (const std::string dtype : {"f32", "q8_0", "q4_0", "q4_k", "q6_k"})
    for (const char* prune : {"off", "1:0.5"}) {
      SCOPED_TRACE(dtype);
      const Model& model = TinyGqa(dtype);
      SessionOptions single;
      single.threads = 2;
      single.numa = false;
      single.pruning = *PruningOptions::Parse(prune, 2, 0);
      auto base = Session::Create(model, single);
      ASSERT_TRUE(base.ok());
      const auto want = Trace(*base, Prompt(100), 6);

      for (int threads : {2, 4}) {
        SessionOptions numa = single;
        numa.threads = threads;
        numa.numa = true;
        auto s = internal::CreateSession(model, numa, &topo);
        ASSERT_TRUE(s.ok()) << s.status().message();
        const internal::Placement p = internal::WeightPlacement(*s);
        // Round-robin over nodes: one worker on each of `threads` nodes.
        EXPECT_EQ(p.arena_threads, std::vector<int>(static_cast<size_t>(threads), 1));
        const Model::Impl& m = ModelImpl(model);
        const WeightMatrix* placed[] = {&m.layers[0].wq, &m.layers[0].w_down, &m.output};  // WeightPlacement's
        ASSERT_EQ(p.matrices.size(), std::size(placed));
        for (size_t mi = 0; mi < p.matrices.size(); ++mi) {
          const auto& matrix = p.matrices[mi];
          const WeightMatrix& w = *placed[mi];
          ASSERT_EQ(matrix.size(), static_cast<size_t>(threads));
          for (size_t a = 0; a < matrix.size(); ++a) {
            const auto& sl = matrix[a];
            EXPECT_EQ(sl.begin % kSliceAlign, 0) << "slices start on panel boundaries";
            if (a > 0) {
              EXPECT_EQ(sl.begin, matrix[a - 1].end);
            }
            EXPECT_TRUE(sl.copied) << "each slice is a node-local copy";
            EXPECT_TRUE(sl.equal) << "the copy holds the file's bytes";
            EXPECT_EQ(sl.interleaved, Interleaves(dtype));
            EXPECT_EQ(sl.stride, PaddedStride(w)) << "copies are padded as PaddedStride says";
            if (sl.end > sl.begin) {
              EXPECT_EQ(sl.toucher, static_cast<int>(a))
                  << "slice " << a << " was first written by another arena's worker";
            }
          }
          EXPECT_EQ(matrix.front().begin, 0);
        }
        const auto got = Trace(*s, Prompt(100), 6);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)), 0)
              << "prune " << prune << ", " << threads << " arenas: logits differ from the single-arena run at step "
              << i;
      }
    }
}

// Work is split into fixed-size panels and per-(head, block) tasks, never by thread count.
TEST(NumaTest, ThreadCountDoesNotChangeResults) {
  for (const std::string dtype : {"f32", "q8_0", "q4_0", "q4_k", "q6_k"})
    for (const char* prune : {"off", "1:0.5"}) {
      const Model& model = TinyGqa(dtype);
      SessionOptions o;
      o.numa = false;
      o.pruning = *PruningOptions::Parse(prune, 2, 0);
      o.threads = 1;
      auto one = Session::Create(model, o);
      o.threads = 2;
      auto two = Session::Create(model, o);
      ASSERT_TRUE(one.ok() && two.ok());
      const auto a = Trace(*one, Prompt(300), 4), b = Trace(*two, Prompt(300), 4);
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)), 0)
            << dtype << ", " << prune << ", step " << i;
    }
}

// A mixture of experts runs its experts whole on one thread each, or each over all threads (few
// experts per thread, or several NUMA nodes): the same bits either way, for 1, 2 or 3 threads and
// on 4 nodes. 700 rows make two blocks of routing and several runs of rows per expert; decode
// steps route one row.
TEST(NumaTest, ThreadCountAndNodesDoNotChangeMixtureOfExpertsResults) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");
  for (const char* file : {"tiny-qwen2moe.gguf", "tiny-qwen2moe-q4_k_m.gguf", "tiny-qwen3moe.gguf"})
    for (const char* prune : {"off", "1:0.5"}) {
      SCOPED_TRACE(std::string(file) + ", " + prune);
      auto model = Model::Load((testing::ReferenceDir() / "models" / file).string());
      ASSERT_TRUE(model.ok()) << model.status().message();
      SessionOptions o;
      o.numa = false;
      o.pruning = *PruningOptions::Parse(prune, model->config().num_layers, 0);
      std::vector<std::vector<std::vector<float>>> traces;
      for (int threads : {1, 2, 3}) {
        o.threads = threads;
        auto s = Session::Create(*model, o);
        ASSERT_TRUE(s.ok()) << s.status().message();
        traces.push_back(Trace(*s, Prompt(700), 3));
      }
      o.numa = true;
      o.threads = 8;
      auto numa = internal::CreateSession(*model, o, &topo);
      ASSERT_TRUE(numa.ok()) << numa.status().message();
      ASSERT_GT(internal::WeightPlacement(*numa).arena_threads.size(), 1u);
      traces.push_back(Trace(*numa, Prompt(700), 3));
      for (size_t t = 1; t < traces.size(); ++t)
        for (size_t i = 0; i < traces[0].size(); ++i)
          EXPECT_EQ(std::memcmp(traces[0][i].data(), traces[t][i].data(), traces[0][i].size() * sizeof(float)), 0)
              << "run " << t << ", step " << i;
    }
}

TEST(NumaTest, SingleNodeOrNumaOffUsesOneArena) {
  const Model& model = TinyGqa();
  const auto one_node = Synthetic("pack:1 core:4 pu:1");
  SessionOptions o;
  o.threads = 2;
  auto s = internal::CreateSession(model, o, &one_node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(internal::WeightPlacement(*s).arena_threads, std::vector<int>{2});
  // One arena computes from the mapped file, unless the system grants transparent huge pages (then
  // from a copy in them) ...
  EXPECT_EQ(internal::WeightPlacement(*s).matrices[0][0].copied, HugePagesGranted());
  EXPECT_TRUE(internal::WeightPlacement(*s).matrices[0][0].equal);
  // ... or the dtype is read interleaved: then the one arena's slice is an interleaved copy
  for (const std::string dtype : {"q8_0", "q4_0", "q4_k", "q6_k"}) {
    auto q = internal::CreateSession(TinyGqa(dtype), o, &one_node);
    ASSERT_TRUE(q.ok());
    const internal::Placement p = internal::WeightPlacement(*q);
    ASSERT_EQ(p.matrices[0].size(), 1u);
    EXPECT_EQ(p.matrices[0][0].copied, Interleaves(dtype) || HugePagesGranted()) << dtype;
    EXPECT_EQ(p.matrices[0][0].interleaved, Interleaves(dtype)) << dtype;
    EXPECT_TRUE(p.matrices[0][0].equal) << dtype;
  }
  const auto four_nodes = Synthetic("pack:2 numa:2 core:4 pu:2");
  o.numa = false;
  auto off = internal::CreateSession(model, o, &four_nodes);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(internal::WeightPlacement(*off).arena_threads, std::vector<int>{2});
}

TEST(NumaTest, HugePagesAreGrantedInTheAlwaysAndMadviseModes) {
  EXPECT_TRUE(GrantsHugePages("always [madvise] never"));
  EXPECT_TRUE(GrantsHugePages("[always] madvise never"));
  EXPECT_FALSE(GrantsHugePages("always madvise [never]"));
  EXPECT_FALSE(GrantsHugePages(""));
}

// F32 rows of a multiple of 1 KiB get one cache line more; other widths and dtypes none.
TEST(NumaTest, PaddedStrideOfF32RowsOfWholeKiB) {
  if (const char* env = std::getenv("LAZYLLM_PAD_ROWS"); env != nullptr && std::string(env) == "0")
    GTEST_SKIP() << "LAZYLLM_PAD_ROWS=0 turns the padding off";
  const auto f32 = [](int64_t cols) { return WeightMatrix{simd::DType::kF32, nullptr, 4, cols, cols * 4}; };
  EXPECT_EQ(PaddedStride(f32(256)), 1024 + 64);
  EXPECT_EQ(PaddedStride(f32(2048)), 8192 + 64);
  EXPECT_EQ(PaddedStride(f32(768)), 3072 + 64);
  EXPECT_EQ(PaddedStride(f32(576)), 2304);  // smollm2-135m's dim: 36 lines, rows 4 apart in distinct sets
  EXPECT_EQ(PaddedStride(f32(100)), 400);
  EXPECT_EQ(PaddedStride({simd::DType::kF16, nullptr, 4, 2048, 4096}), 4096);
  EXPECT_EQ(PaddedStride({simd::DType::kQ8_0, nullptr, 4, 2048, 2176}), 2176);
}

// Padded F32 copies compute the bits of the file's rows: one input row (GEMV), a batch's five (the
// small-batch kernel) and a prefill's 80 (sgemm), one arena or four.
TEST(NumaTest, PaddedCopiesComputeAsTheFile) {
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");
  const Model& model = TinyGqa("f32");
  for (const bool numa : {false, true}) {
    auto engine = internal::CreateEngine(model, {.threads = numa ? 4 : 2, .numa = numa}, &topo);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const Engine::Impl& e = EngineImpl(*engine);
    const threading::Workers workers(e.threads, /*serial=*/false);
    const LayerWeights& lw = ModelImpl(model).layers[1];
    for (const WeightMatrix* w : {&lw.wq, &lw.w_down}) {
      std::vector<WeightSlice> file;  // the same row ranges, read from the mapped file
      for (const WeightSlice& s : e.placed->Slices(*w)) {
        file.push_back({s.begin, s.end, w->data + s.begin * w->row_bytes});
        if (numa || HugePagesGranted()) {
          EXPECT_EQ(s.stride, w->row_bytes + 64);
        }
      }
      for (const int64_t n : {1, 5, 80}) {
        std::vector<float> x(static_cast<size_t>(n * w->cols));
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
        std::vector<float> placed(static_cast<size_t>(n * w->rows), 0.0f), mapped(placed.size(), 1.0f);
        GemvInputs gemv;
        MatMul(workers, e.k, *w, e.placed->Slices(*w), x.data(), n, placed.data(), gemv, true);
        MatMul(workers, e.k, *w, file, x.data(), n, mapped.data(), gemv, true);
        EXPECT_EQ(std::memcmp(placed.data(), mapped.data(), mapped.size() * sizeof(float)), 0)
            << w->cols << " columns, " << n << " rows, " << (numa ? 4 : 1) << " arenas";
      }
    }
  }
}

// MatMuls of one input over several matrices (q, k, v; gate, up): the results of MatMul on each,
// bit for bit, for every dtype (one loop over all groups where they are interleaved), one arena
// or four, one input row or a batch's five.
TEST(NumaTest, MatMulsEqualMatMulOfEachProduct) {
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");  // 4 NUMA nodes
  for (const std::string dtype : {"f32", "q8_0", "q4_0", "q4_k", "q6_k"})
    for (const bool numa : {false, true}) {
      SCOPED_TRACE(dtype + (numa ? ", 4 arenas" : ", 1 arena"));
      const Model& model = TinyGqa(dtype);
      auto engine = internal::CreateEngine(model, {.threads = numa ? 4 : 2, .numa = numa}, &topo);
      ASSERT_TRUE(engine.ok()) << engine.status().message();
      const Engine::Impl& e = EngineImpl(*engine);
      const threading::Workers workers(e.threads, /*serial=*/false);
      ASSERT_EQ(workers.num_arenas(), numa ? 4 : 1);
      const LayerWeights& lw = ModelImpl(model).layers[1];
      const int64_t dim = lw.wq.cols;
      for (const int64_t n : {1, 5}) {
        std::vector<float> x(static_cast<size_t>(n * dim));
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
        for (const std::vector<const WeightMatrix*>& ws :
             {std::vector<const WeightMatrix*>{&lw.wq, &lw.wk, &lw.wv}, {&lw.w_gate, &lw.w_up}}) {
          std::vector<std::vector<float>> fused(ws.size()), each(ws.size());
          std::vector<Product> products;
          for (size_t m = 0; m < ws.size(); ++m) {
            fused[m].assign(static_cast<size_t>(n * ws[m]->rows), 0.0f);
            each[m].assign(fused[m].size(), 1.0f);
            products.push_back({ws[m], &e.placed->Slices(*ws[m]), fused[m].data()});
          }
          GemvInputs gemv;
          MatMuls(workers, e.k, products, x.data(), n, gemv, /*int8_activations=*/true);
          for (size_t m = 0; m < ws.size(); ++m) {
            MatMul(workers, e.k, *ws[m], e.placed->Slices(*ws[m]), x.data(), n, each[m].data(), gemv, true);
            EXPECT_EQ(std::memcmp(fused[m].data(), each[m].data(), each[m].size() * sizeof(float)), 0)
                << "product " << m << " of " << ws.size() << ", " << n << " rows";
          }
        }
      }
    }
}

// Sessions on one engine share its workers and its placed weights: creating them adds no node-local
// copies, and each computes bit-identically to a session with an engine of its own.
TEST(NumaTest, SessionsOfOneEngineSharePlacedWeights) {
  const Model& model = TinyGqa();
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");  // 4 NUMA nodes
  auto engine = internal::CreateEngine(model, {.threads = 8, .numa = true}, &topo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const PlacedWeights* placed = EngineImpl(*engine).placed.get();
  const std::vector<WeightSlice>& wq = placed->Slices(ModelImpl(model).layers[0].wq);
  EXPECT_TRUE(std::any_of(wq.begin(), wq.end(), [](const WeightSlice& s) { return s.toucher >= 0; }))
      << "the placement made node-local copies";
  const std::vector<int32_t> prompt =
      model.tokenizer().Encode("Once upon a time, a small bird found a shiny stone.", true).value();
  auto a = Session::Create(*engine, {.pruning = *PruningOptions::Parse("off", 2, 0)});
  auto b = Session::Create(*engine, {.pruning = *PruningOptions::Parse("1:0.5", 2, 0)});
  auto solo_a = internal::CreateSession(
      model, {.threads = 8, .numa = true, .pruning = *PruningOptions::Parse("off", 2, 0)}, &topo);
  auto solo_b = internal::CreateSession(
      model, {.threads = 8, .numa = true, .pruning = *PruningOptions::Parse("1:0.5", 2, 0)}, &topo);
  ASSERT_TRUE(a.ok() && b.ok() && solo_a.ok() && solo_b.ok());
  EXPECT_EQ(EngineImpl(a->engine()).placed.get(), placed);  // the sessions' engine: no new copies
  EXPECT_EQ(a->threads(), engine->threads());
  // The two sessions of one engine, stepped alternately, equal their solo runs bit for bit.
  std::vector<std::vector<float>> ta, tb;
  ASSERT_TRUE(a->Prefill(prompt).ok());
  ASSERT_TRUE(b->Prefill(prompt).ok());
  for (int i = 0; i <= 4; ++i) {
    for (auto [s, t] : {std::pair{&*a, &ta}, std::pair{&*b, &tb}}) {
      if (i > 0) {
        ASSERT_TRUE(s->DecodeStep(Argmax(s->logits())).ok());
      }
      t->emplace_back(s->logits().begin(), s->logits().end());
    }
  }
  EXPECT_EQ(ta, Trace(*solo_a, prompt, 4));
  EXPECT_EQ(tb, Trace(*solo_b, prompt, 4));
}

// Engines on one thread context share its workers and, for one model, one placement of its
// weights (another model, or another context, gets its own); engines stepped from two threads at
// once on the shared workers compute bit-identically to engines of their own.
TEST(NumaTest, EnginesOfOneThreadContextShareWorkersAndPlacedWeights) {
  const Model& model = TinyGqa();
  const auto topo = Synthetic("pack:2 numa:2 core:4 pu:2");  // 4 NUMA nodes
  auto context = internal::CreateThreadContext({.threads = 8, .numa = true}, &topo);
  ASSERT_TRUE(context.ok()) << context.status().message();
  EXPECT_EQ(context->arenas(), 4);
  auto e1 = Engine::Create(model, *context);
  auto e2 = Engine::Create(model, *context);
  auto e_f16 = Engine::Create(model, *context, {.kv_type = KvType::kF16});
  auto own = internal::CreateEngine(model, {.threads = 8, .numa = true}, &topo);
  auto other_model = Model::Load(testing::SampleModel().string());
  ASSERT_TRUE(e1.ok() && e2.ok() && e_f16.ok() && own.ok() && other_model.ok());
  auto e3 = Engine::Create(*other_model, *context);
  ASSERT_TRUE(e3.ok());
  EXPECT_EQ(EngineImpl(*e1).placed.get(), EngineImpl(*e2).placed.get());
  EXPECT_EQ(EngineImpl(*e1).placed.get(), EngineImpl(*e_f16).placed.get());
  EXPECT_NE(EngineImpl(*e1).placed.get(), EngineImpl(*own).placed.get());
  EXPECT_NE(EngineImpl(*e1).placed.get(), EngineImpl(*e3).placed.get());
  EXPECT_EQ(&ModelImpl(EngineImpl(*e3).placed->model()), &ModelImpl(*other_model));
  EXPECT_EQ(e1->threads(), 8);
  EXPECT_EQ(&EngineImpl(*e1).threads, &EngineImpl(*e2).threads);

  const std::vector<int32_t> prompt = Prompt(120);
  const PruningOptions paper = *PruningOptions::Parse("1:0.5", 2, 0);
  auto solo = Session::Create(*own, {.pruning = paper});
  ASSERT_TRUE(solo.ok());
  const auto want = Trace(*solo, prompt, 6);
  std::vector<std::vector<float>> got[2];
  std::vector<std::thread> drivers;
  for (int i = 0; i < 2; ++i) {
    drivers.emplace_back([&, i] {
      auto s = Session::Create(i == 0 ? *e1 : *e2, {.pruning = paper});  // two engines, one set of workers
      ASSERT_TRUE(s.ok());
      got[i] = Trace(*s, prompt, 6);
    });
  }
  for (std::thread& d : drivers) d.join();
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(got[1], want);
}

}  // namespace
}  // namespace lazyllm
