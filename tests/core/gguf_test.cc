// GGUF reader tests: valid files, and a corpus of malformed files that must each give a clear error.
#include "core/io/gguf.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "common/gguf_builder.h"
#include "common/test_paths.h"
#include "common/tiny_model.h"
#include "lazyllm/model.h"
#include "lazyllm/session.h"

namespace lazyllm {
namespace {

using testing::GgufBuilder;
using testing::GgufBytes;
using testing::RandomFloats;
using testing::TinyLlama;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("lazyllm_gguf_" + std::to_string(getpid()) + "_" + name)).string();
}

// A small structurally valid file: string, array and scalar metadata plus an F32 and a Q8_0 tensor.
GgufBuilder SmallFile() {
  GgufBuilder b;
  b.KvStr("general.architecture", "llama");
  b.KvU32("general.alignment", 32);
  b.KvStrArray("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
  b.KvArray<float>("some.floats", 6, {1.0f, 2.0f});
  b.AddF32("a", {8, 2}, RandomFloats(16, 7));
  std::vector<uint8_t> q8(34, 1);
  b.AddTensor("b", {32}, 8, q8);
  return b;
}

Status OpenBytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  const std::string path = TempPath(name);
  testing::WriteBytes(path, bytes);
  auto f = gguf::File::Open(path);
  std::filesystem::remove(path);
  return f.status();
}

Status LoadBytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  const std::string path = TempPath(name);
  testing::WriteBytes(path, bytes);
  auto m = Model::Load(path);
  std::filesystem::remove(path);
  return m.status();
}

template <typename T>
void Poke(std::vector<uint8_t>& bytes, size_t at, T v) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

TEST(GgufTest, ReadsMetadataAndTensors) {
  GgufBuilder b = SmallFile();
  const std::string path = TempPath("small");
  testing::WriteBytes(path, b.Build());
  auto f = gguf::File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  EXPECT_EQ((**(*f)->GetStringArray("tokenizer.ggml.tokens"))[1], "bb");
  EXPECT_EQ((*(*f)->GetFloatArray("some.floats"))[1], 2.0f);
  ASSERT_EQ((*f)->tensors().size(), 2u);
  const gguf::TensorInfo* q = (*f)->FindTensor("b");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->num_bytes, 34);
  EXPECT_EQ(q->data[0], 1);
  EXPECT_FALSE((*f)->GetInt("general.architecture").ok());
  EXPECT_EQ((*f)->GetInt("missing").status().code(), StatusCode::kNotFound);
  std::filesystem::remove(path);
}

TEST(GgufTest, ReadsVersion2) {
  GgufBuilder b = SmallFile();
  b.version = 2;
  EXPECT_TRUE(OpenBytes(b.Build(), "v2").ok());
}

TEST(GgufTest, LoadsHandBuiltModel) {
  GgufBuilder b = TinyLlama();
  const std::string path = TempPath("tiny");
  testing::WriteBytes(path, b.Build());
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->config().num_kv_heads, 1);
  EXPECT_EQ(m->config().head_dim, 16);
  EXPECT_TRUE(m->config().tied_output);
  std::filesystem::remove(path);
}

TEST(GgufTest, SessionContextDefaultsToTrainedContextCappedAt4096) {
  for (uint32_t trained : {64u, 1u << 20}) {
    const std::string path = TempPath("ctx");
    testing::WriteBytes(path, TinyLlama(trained).Build());
    auto m = Model::Load(path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    auto s = Session::Create(*m, {.threads = 1});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->max_context(), std::min<int64_t>(trained, 4096));
    auto big = Session::Create(*m, {.threads = 1, .max_context = 5000});
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(big->max_context(), 5000);
    std::filesystem::remove(path);
  }
}

TEST(GgufTest, RejectsVersion1WithClearMessage) {
  LAZYLLM_REQUIRE_REFERENCE();
  auto f = gguf::File::Open((testing::SharedDir() / "models/stories260K/tinyllamas-stories-260k-f32.gguf").string());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("unsupported GGUF version 1"), std::string::npos) << f.status().message();
}

// Every proper prefix of a valid file is truncated somewhere (header, metadata, tensor table,
// padding or data) and must be rejected.
TEST(MalformedGgufTest, EveryTruncationIsRejected) {
  GgufBuilder b = SmallFile();
  const std::vector<uint8_t> full = b.Build();
  ASSERT_TRUE(OpenBytes(full, "full").ok());
  const std::string path = TempPath("trunc");
  for (size_t len = 0; len < full.size(); ++len) {
    testing::WriteBytes(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(len)));
    auto f = gguf::File::Open(path);
    ASSERT_FALSE(f.ok()) << "prefix of " << len << " bytes was accepted";
    EXPECT_FALSE(f.status().message().empty());
  }
  std::filesystem::remove(path);
}

struct MalformedCase {
  const char* name;
  std::function<std::vector<uint8_t>()> make;
  const char* expect;  // substring of the error message
};

std::vector<uint8_t> WithKv(const std::function<void(GgufBuilder&)>& add) {
  GgufBuilder b;
  add(b);
  return b.Build();
}

std::vector<uint8_t> WithTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, size_t bytes) {
  GgufBuilder b;
  b.AddTensor(name, std::move(dims), type, std::vector<uint8_t>(bytes, 0));
  return b.Build();
}

// Overwrites the tensor-table fields of a one-tensor file built by WithTensor (name "t").
constexpr size_t kDimsAt = 24 + 8 + 1 + 4;  // header, name length, "t", n_dims

std::vector<MalformedCase> Cases() {
  return {
      {"bad_magic",
       [] {
         auto v = SmallFile().Build();
         v[0] = 'X';
         return v;
       },
       "bad magic"},
      {"version_1",
       [] {
         auto v = SmallFile().Build();
         Poke<uint32_t>(v, 4, 1);
         return v;
       },
       "unsupported GGUF version 1"},
      {"version_99",
       [] {
         auto v = SmallFile().Build();
         Poke<uint32_t>(v, 4, 99);
         return v;
       },
       "unsupported GGUF version 99"},
      {"absurd_kv_count",
       [] {
         auto v = SmallFile().Build();
         Poke<uint64_t>(v, 16, uint64_t{1} << 60);
         return v;
       },
       "metadata count"},
      {"absurd_tensor_count",
       [] {
         auto v = SmallFile().Build();
         Poke<uint64_t>(v, 8, uint64_t{1} << 62);
         return v;
       },
       "tensor count"},
      {"absurd_key_length",
       [] {
         GgufBuilder b = SmallFile();
         auto v = b.Build();
         Poke<uint64_t>(v, b.kv_start, uint64_t{1} << 63);
         return v;
       },
       "key length"},
      {"absurd_string_length",
       [] {
         GgufBuilder b = SmallFile();
         auto v = b.Build();
         Poke<uint64_t>(v, b.kv_start + 8 + 20 + 4, uint64_t{1} << 50);
         return v;
       },
       "string length"},
      {"absurd_array_count",
       [] {
         return WithKv([](GgufBuilder& b) {
           GgufBytes p;
           p.Put<uint32_t>(4);
           p.Put<uint64_t>(uint64_t{1} << 61);
           b.Kv("x", 9, p.bytes);
         });
       },
       "array count"},
      {"absurd_string_array_count",
       [] {
         return WithKv([](GgufBuilder& b) {
           GgufBytes p;
           p.Put<uint32_t>(8);
           p.Put<uint64_t>(uint64_t{1} << 40);
           b.Kv("x", 9, p.bytes);
         });
       },
       "array count"},
      {"absurd_string_element_length",
       [] {
         return WithKv([](GgufBuilder& b) {
           GgufBytes p;
           p.Put<uint32_t>(8);
           p.Put<uint64_t>(2);
           p.Str("ok");
           p.Put<uint64_t>(uint64_t{1} << 33);
           b.Kv("x", 9, p.bytes);
         });
       },
       "string element 1"},
      {"unknown_value_type", [] { return WithKv([](GgufBuilder& b) {
                                    b.Kv("x", 13, {0, 0, 0, 0});
                                  }); },
       "unknown value type 13"},
      {"unknown_array_type",
       [] {
         return WithKv([](GgufBuilder& b) {
           GgufBytes p;
           p.Put<uint32_t>(77);
           p.Put<uint64_t>(1);
           b.Kv("x", 9, p.bytes);
         });
       },
       "unknown array element type 77"},
      {"nested_array",
       [] {
         return WithKv([](GgufBuilder& b) {
           GgufBytes p;
           p.Put<uint32_t>(9);
           p.Put<uint64_t>(1);
           b.Kv("x", 9, p.bytes);
         });
       },
       "nested arrays"},
      {"bad_bool", [] { return WithKv([](GgufBuilder& b) { b.Kv("x", 7, {7}); }); }, "invalid bool"},
      {"duplicate_key",
       [] {
         return WithKv([](GgufBuilder& b) {
           b.KvU32("x", 1);
           b.KvU32("x", 2);
         });
       },
       "duplicate key"},
      {"alignment_zero", [] { return WithKv([](GgufBuilder& b) { b.KvU32("general.alignment", 0); }); },
       "general.alignment 0"},
      {"alignment_not_pow2", [] { return WithKv([](GgufBuilder& b) { b.KvU32("general.alignment", 48); }); },
       "not a power of two"},
      {"alignment_huge", [] { return WithKv([](GgufBuilder& b) { b.KvU32("general.alignment", 1u << 31); }); },
       "not a power of two"},
      {"alignment_wrong_type", [] { return WithKv([](GgufBuilder& b) { b.KvStr("general.alignment", "32"); }); },
       "must be u32"},
      {"n_dims_5",
       [] {
         auto v = WithTensor("t", {1, 1, 1, 1, 1}, 0, 4);
         return v;
       },
       "n_dims 5"},
      {"n_dims_0",
       [] {
         auto v = WithTensor("t", {}, 0, 4);
         return v;
       },
       "n_dims 0"},
      {"zero_dimension",
       [] {
         auto v = WithTensor("t", {4, 1}, 0, 16);
         Poke<uint64_t>(v, kDimsAt + 8, 0);
         return v;
       },
       "out of range"},
      {"dimension_overflow",
       [] {
         auto v = WithTensor("t", {4, 4, 4, 4}, 0, 1024);
         for (int d = 0; d < 4; ++d) Poke<uint64_t>(v, kDimsAt + 8 * d, uint64_t{1} << 39);
         return v;
       },
       "element count overflows"},
      {"unknown_dtype",
       [] {
         auto v = WithTensor("t", {4}, 99, 16);
         return v;
       },
       "unknown dtype id 99"},
      {"row_not_block_multiple",
       [] {
         auto v = WithTensor("t", {16}, 8, 34);
         return v;
       },
       "not a multiple of the Q8_0 block size"},
      {"row_not_superblock_multiple",
       [] {
         auto v = WithTensor("t", {128}, 12, 144);
         return v;
       },
       "not a multiple of the Q4_K block size 256"},
      {"misaligned_offset",
       [] {
         auto v = WithTensor("t", {4}, 0, 16);
         Poke<uint64_t>(v, kDimsAt + 8 + 4, 4);
         return v;
       },
       "not a multiple of the alignment"},
      {"offset_out_of_range",
       [] {
         auto v = WithTensor("t", {4}, 0, 16);
         Poke<uint64_t>(v, kDimsAt + 8 + 4, uint64_t{1} << 40);
         return v;
       },
       "runs past the end"},
      {"data_past_end",
       [] {
         auto v = WithTensor("t", {4}, 0, 16);
         v.resize(v.size() - 4);
         return v;
       },
       "runs past the end"},
      {"duplicate_tensor",
       [] {
         GgufBuilder b;
         b.AddTensor("t", {4}, 0, std::vector<uint8_t>(16));
         b.AddTensor("t", {4}, 0, std::vector<uint8_t>(16));
         return b.Build();
       },
       "duplicate tensor name"},
      {"absurd_tensor_name_length",
       [] {
         auto v = WithTensor("t", {4}, 0, 16);
         Poke<uint64_t>(v, 24, uint64_t{1} << 62);
         return v;
       },
       "name length"},
      {"empty_file", [] { return std::vector<uint8_t>(); }, "too small"},
      {"overlapping_tensors",
       [] {
         GgufBuilder b;
         b.AddTensor("a", {8}, 0, std::vector<uint8_t>(32));
         b.AddTensor("b", {8}, 0, std::vector<uint8_t>(32));
         auto v = b.Build();
         // b's offset (after its name, n_dims, one dimension and the type) moved into a's bytes.
         Poke<uint64_t>(v, b.tensor_info_start + (8 + 1 + 4 + 8 + 4 + 8) + (8 + 1 + 4 + 8 + 4), 0);
         return v;
       },
       "overlaps tensor"},
  };
}

TEST(MalformedGgufTest, EachCaseGivesANamedError) {
  const auto cases = Cases();
  ASSERT_GE(cases.size(), 20u);
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Status st = OpenBytes(c.make(), c.name);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << "message: " << st.message();
    EXPECT_NE(st.message().find("lazyllm_gguf_"), std::string::npos)
        << "message does not name the file: " << st.message();
    // The model loader reports the same problem, never crashes.
    EXPECT_FALSE(LoadBytes(c.make(), c.name).ok());
  }
}

// Model-level validation: required keys with the wrong type, bad shapes, unsupported dtypes.
TEST(MalformedGgufTest, ModelRejectsWrongTypesAndShapes) {
  struct ModelCase {
    const char* name;
    std::function<void(GgufBuilder&)> edit;
    const char* expect;
  };
  const std::vector<ModelCase> cases = {
      {"arch_is_number",
       [](GgufBuilder& b) {
         b = GgufBuilder();
         b.KvU32("general.architecture", 1);
         b.KvStr("tokenizer.ggml.model", "llama");
         b.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
       },
       "has type u32, expected string"},
      {"missing_tensor",
       [](GgufBuilder& b) {
         GgufBuilder t;
         t.KvStr("general.architecture", "llama");
         t.KvStr("tokenizer.ggml.model", "llama");
         t.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
         t.KvU32("llama.block_count", 1);
         t.KvU32("llama.embedding_length", 32);
         t.KvU32("llama.feed_forward_length", 64);
         t.KvU32("llama.attention.head_count", 2);
         t.KvU32("llama.context_length", 8);
         b = t;
       },
       "tensor 'token_embd.weight' is missing"},
      {"unknown_tokenizer",
       [](GgufBuilder& b) {
         b = GgufBuilder();
         b.KvStr("general.architecture", "llama");
         b.KvStr("tokenizer.ggml.model", "wordpiece");
         b.KvStrArray("tokenizer.ggml.tokens", {"a"});
       },
       "unsupported tokenizer.ggml.model 'wordpiece'"},
      {"tokens_wrong_type",
       [](GgufBuilder& b) {
         b = GgufBuilder();
         b.KvStr("general.architecture", "llama");
         b.KvStr("tokenizer.ggml.model", "llama");
         b.KvU32("tokenizer.ggml.tokens", 3);
       },
       "expected array of string"},
  };
  for (const ModelCase& c : cases) {
    SCOPED_TRACE(c.name);
    GgufBuilder b;
    c.edit(b);
    const Status st = LoadBytes(b.Build(), c.name);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
  }
}

TEST(MalformedGgufTest, ModelRejectsBadHyperparameterTypeAndShape) {
  // block_count stored as a string: rebuild the tiny model with that one key changed.
  auto rebuild = [](const std::string& key, const std::function<void(GgufBuilder&)>& put) {
    GgufBuilder src = TinyLlama();
    GgufBuilder b;
    b.KvStr("general.architecture", "llama");
    for (const char* k : {"llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                          "llama.attention.head_count", "llama.context_length"}) {
      if (key == k)
        put(b);
      else
        b.KvU32(k, std::string(k) == "llama.block_count"           ? 1
                   : std::string(k) == "llama.embedding_length"    ? 32
                   : std::string(k) == "llama.feed_forward_length" ? 64
                   : std::string(k) == "llama.context_length"      ? 64
                                                                   : 2);
    }
    b.KvStr("tokenizer.ggml.model", "llama");
    b.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    return b.Build();
  };
  Status st =
      LoadBytes(rebuild("llama.block_count", [](GgufBuilder& b) { b.KvStr("llama.block_count", "one"); }), "bc");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'llama.block_count' has type string, expected an integer"), std::string::npos)
      << st.message();
  st = LoadBytes(rebuild("llama.embedding_length", [](GgufBuilder& b) { b.KvU32("llama.embedding_length", 0); }),
                 "dim0");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("llama.embedding_length' = 0"), std::string::npos) << st.message();
  // Issue 12: a context length of 2^62 is refused by name before anything is sized by it.
  st = LoadBytes(rebuild("llama.context_length",
                         [](GgufBuilder& b) {
                           std::vector<uint8_t> v(8);
                           const uint64_t huge = uint64_t{1} << 62;
                           std::memcpy(v.data(), &huge, 8);
                           b.Kv("llama.context_length", 10, v);  // u64
                         }),
                 "ctx");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("llama.context_length' = 4611686018427387904"), std::string::npos) << st.message();

  // A weight with the wrong shape.
  GgufBuilder b = TinyLlama();
  b.AddF32("output.weight", {16, 4}, std::vector<float>(64, 0.0f));
  st = LoadBytes(b.Build(), "shape");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tensor 'output.weight' has shape [16, 4], expected [32, 4]"), std::string::npos)
      << st.message();

  // A known but not computable dtype (I8): the message names the dtype and the tensor.
  GgufBuilder q = TinyLlama();
  q.AddTensor("output.weight", {32, 4}, 24, std::vector<uint8_t>(4 * 32, 0));
  st = LoadBytes(q.Build(), "i8");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unsupported dtype I8 in tensor 'output.weight'"), std::string::npos) << st.message();
}

// What lazyllm does not run is refused by name: unknown architectures, mixtures of experts with
// missing keys or tensors or another routing, RoPE scalings other than linear, LongRoPE factors.
TEST(MalformedGgufTest, UnsupportedModelFeaturesAreNamed) {
  GgufBuilder mamba;
  mamba.KvStr("general.architecture", "mamba");
  mamba.KvStr("tokenizer.ggml.model", "llama");
  mamba.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
  Status st = LoadBytes(mamba.Build(), "mamba");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, phi3, gemma2, gemma3, "
                              "qwen2moe, qwen3moe)"),
            std::string::npos)
      << st.message();
  // Mixtral's layout needs its keys and its tensors; routing other than softmax then top-k is refused.
  GgufBuilder moe = TinyLlama();
  moe.KvU32("llama.expert_count", 8);
  st = LoadBytes(moe.Build(), "moe");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'llama.expert_used_count' is missing"), std::string::npos) << st.message();
  moe.KvU32("llama.expert_used_count", 2);
  st = LoadBytes(moe.Build(), "moe");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tensor 'blk.0.ffn_gate_inp.weight' is missing"), std::string::npos) << st.message();
  GgufBuilder sigmoid = moe;
  sigmoid.KvU32("llama.expert_gating_func", 2);
  st = LoadBytes(sigmoid.Build(), "sigmoid");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("expert_gating_func = 2 (sigmoid gating"), std::string::npos) << st.message();
  GgufBuilder groups = moe;
  groups.KvU32("llama.expert_group_count", 4);
  st = LoadBytes(groups.Build(), "groups");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("expert_group_count = 4 (routing within expert groups)"), std::string::npos)
      << st.message();
  GgufBuilder too_many = TinyLlama();
  too_many.KvU32("llama.expert_count", 8);
  too_many.KvU32("llama.expert_used_count", 9);
  st = LoadBytes(too_many.Build(), "too_many");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'llama.expert_used_count' = 9 is outside 1..8"), std::string::npos) << st.message();
  GgufBuilder yarn = TinyLlama();
  yarn.KvStr("llama.rope.scaling.type", "yarn");
  yarn.KvF32("llama.rope.scaling.factor", 4.0f);
  st = LoadBytes(yarn.Build(), "yarn");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("RoPE scaling 'yarn'"), std::string::npos) << st.message();
  GgufBuilder longrope = TinyLlama();
  longrope.AddF32("rope_factors_long.weight", {8}, std::vector<float>(8, 1.0f));
  st = LoadBytes(longrope.Build(), "longrope");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("LongRoPE"), std::string::npos) << st.message();
  // Linear scaling is supported: it only slows the rotation.
  GgufBuilder linear = TinyLlama();
  linear.KvStr("llama.rope.scaling.type", "linear");
  linear.KvF32("llama.rope.scaling.factor", 4.0f);
  EXPECT_TRUE(LoadBytes(linear.Build(), "linear").ok());
}

// A mixture of experts' file with a bad key or expert tensor is refused naming it.
TEST(MalformedGgufTest, MalformedExpertFilesNameTheKeyOrTensor) {
  struct Case {
    const char* name;
    uint32_t used, router_rows;
    bool gate_exps;
    std::vector<uint64_t> down_dims;
    const char* message;
  };
  const std::vector<uint64_t> down = {64, 32, 2};
  for (const Case& c : {
           Case{"valid", 1, 2, true, down, ""},
           Case{"used0", 0, 2, true, down, "'llama.expert_used_count' = 0 is outside 1..2"},
           Case{"used3", 3, 2, true, down, "'llama.expert_used_count' = 3 is outside 1..2"},
           Case{"router", 1, 3, true, down, "tensor 'blk.0.ffn_gate_inp.weight' has shape [32, 3], expected [32, 2]"},
           Case{"nogate", 1, 2, false, down, "tensor 'blk.0.ffn_gate_exps.weight' is missing"},
           Case{"down2d",
                1,
                2,
                true,
                {64, 32},
                "tensor 'blk.0.ffn_down_exps.weight' has shape [64, 32], expected [64, 32, 2]"},
           Case{"downwide", 1, 2, true, {64, 32, 3}, "has shape [64, 32, 3], expected [64, 32, 2]"},
       }) {
    SCOPED_TRACE(c.name);
    GgufBuilder b;
    b.KvStr("general.architecture", "llama");
    b.KvU32("llama.block_count", 1);
    b.KvU32("llama.embedding_length", 32);
    b.KvU32("llama.feed_forward_length", 64);
    b.KvU32("llama.attention.head_count", 2);
    b.KvU32("llama.attention.head_count_kv", 1);
    b.KvU32("llama.context_length", 64);
    b.KvU32("llama.expert_count", 2);
    b.KvU32("llama.expert_used_count", c.used);
    b.KvStr("tokenizer.ggml.model", "llama");
    b.KvStrArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, {2, 3, 3, 1});
    uint32_t seed = 1;
    b.AddF32("token_embd.weight", {32, 4}, testing::RandomFloats(128, seed++));
    b.AddF32("output_norm.weight", {32}, std::vector<float>(32, 1.0f));
    b.AddF32("blk.0.attn_norm.weight", {32}, std::vector<float>(32, 1.0f));
    b.AddF32("blk.0.attn_q.weight", {32, 32}, testing::RandomFloats(1024, seed++));
    b.AddF32("blk.0.attn_k.weight", {32, 16}, testing::RandomFloats(512, seed++));
    b.AddF32("blk.0.attn_v.weight", {32, 16}, testing::RandomFloats(512, seed++));
    b.AddF32("blk.0.attn_output.weight", {32, 32}, testing::RandomFloats(1024, seed++));
    b.AddF32("blk.0.ffn_norm.weight", {32}, std::vector<float>(32, 1.0f));
    b.AddF32("blk.0.ffn_gate_inp.weight", {32, c.router_rows}, testing::RandomFloats(32 * c.router_rows, seed++));
    if (c.gate_exps) b.AddF32("blk.0.ffn_gate_exps.weight", {32, 64, 2}, testing::RandomFloats(4096, seed++));
    b.AddF32("blk.0.ffn_up_exps.weight", {32, 64, 2}, testing::RandomFloats(4096, seed++));
    size_t n = 1;
    for (uint64_t d : c.down_dims) n *= d;
    b.AddF32("blk.0.ffn_down_exps.weight", c.down_dims, testing::RandomFloats(n, seed++));
    const Status st = LoadBytes(b.Build(), std::string("moe_") + c.name);
    if (std::string(c.message).empty()) {
      EXPECT_TRUE(st.ok()) << st.message();
      continue;
    }
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
  }
}

TEST(MalformedGgufTest, MissingFileAndDirectory) {
  auto f = gguf::File::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
  EXPECT_FALSE(gguf::File::Open(std::filesystem::temp_directory_path().string()).ok());
}

}  // namespace
}  // namespace lazyllm

namespace lazyllm {
namespace {

// Issue 12 defect 5: general.alignment 1 is legal, but tensor data the kernels read as floats or
// fp16 scales must sit at their alignment: a misaligned F32 tensor is refused by name, the same
// file with its data at a multiple of 4 loads.
TEST(GgufTest, RefusesTensorDataMisalignedForItsDtype) {
  for (size_t name_len : {1, 2, 3, 4}) {
    testing::GgufBuilder b;
    b.alignment = 1;
    b.KvU32("general.alignment", 1);
    b.AddF32(std::string(name_len, 'w'), {4}, {1, 2, 3, 4});
    const auto bytes = b.Build();
    const Status st = OpenBytes(bytes, "align1_" + std::to_string(name_len));
    if (b.data_start % 4 == 0) {
      EXPECT_TRUE(st.ok()) << st.message();
    } else {
      ASSERT_FALSE(st.ok()) << "data at " << b.data_start;
      EXPECT_NE(st.message().find("is not aligned to the 4 bytes its dtype F32 needs (general.alignment 1)"),
                std::string::npos)
          << st.message();
    }
  }
}

}  // namespace
}  // namespace lazyllm
