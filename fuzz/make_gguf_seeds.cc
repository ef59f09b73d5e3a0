// Writes the seed corpus of gguf_fuzz: tiny but complete models (a few KB each) of every
// architecture lazyllm runs (mixtures of experts too), with both tokenizer families and a quantized dtype, so that the
// fuzzer starts from files that load, prefill and decode.
//   make_gguf_seeds OUT_DIR
#include <cstdio>
#include <string>
#include <vector>

#include "common/gguf_builder.h"
#include "common/tiny_model.h"
#include "simd/dtype.h"
#include "simd/quantize.h"

namespace {

using lazyllm::testing::GgufBuilder;
using lazyllm::testing::RandomFloats;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8;

struct Shape {
  const char* arch;
  uint32_t dim, ffn, heads, kv_heads, layers;
  uint32_t weight_type;  // kF32 or kQ8_0 for the matrices
  bool gpt2_vocab;
  uint32_t experts = 0;  // a mixture of experts (qwen2moe with a shared expert, qwen3moe), 2 used
};

// SentencePiece vocabulary with an unknown token (every byte encodes), or a byte-level one with
// all 256 byte symbols and two merges.
int AddVocab(GgufBuilder& b, bool gpt2) {
  std::vector<std::string> toks;
  std::vector<int32_t> types;
  if (!gpt2) {
    toks = {"<unk>",
            "<s>",
            "</s>",
            "\xe2\x96\x81"
            "a",
            "\xe2\x96\x81"
            "b",
            "a",
            "b",
            "<0x0A>"};
    types = {2, 3, 3, 1, 1, 1, 1, 6};
    b.KvStr("tokenizer.ggml.model", "llama");
    b.KvArray<float>("tokenizer.ggml.scores", 6, std::vector<float>{0, 0, 0, -1, -2, -3, -4, 0});
  } else {
    // GPT-2's byte to printable code point mapping, as the vocabulary spells bytes.
    uint32_t next = 256;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
      const uint32_t cp = printable ? static_cast<uint32_t>(c) : next++;
      std::string s;
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      toks.push_back(s);
      types.push_back(1);
    }
    toks.push_back(
        "\xc4\xa0"
        "a");  // "Ġa"
    toks.push_back("ab");
    toks.push_back("<|endoftext|>");
    types.insert(types.end(), {1, 1, 3});
    b.KvStr("tokenizer.ggml.model", "gpt2");
    b.KvStr("tokenizer.ggml.pre", "llama3");
    b.KvStrArray("tokenizer.ggml.merges", {"\xc4\xa0 a", "a b"});
    b.KvU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(toks.size() - 1));
    b.KvU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(toks.size() - 1));
  }
  b.KvStrArray("tokenizer.ggml.tokens", toks);
  b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, types);
  return static_cast<int>(toks.size());
}

std::vector<uint8_t> Matrix(const std::vector<float>& v, uint32_t type) {
  if (type == kQ8_0) {
    std::vector<uint8_t> out(v.size() / 32 * 34);
    lazyllm::simd::QuantizeRow(lazyllm::simd::DType::kQ8_0, v.data(), out.data(), static_cast<int64_t>(v.size()));
    return out;
  }
  if (type == kF16) {
    std::vector<uint8_t> out(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = lazyllm::simd::F32ToF16(v[i]);
      out[2 * i] = static_cast<uint8_t>(h);
      out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    return out;
  }
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<uint8_t> Build(const Shape& s) {
  GgufBuilder b;
  const std::string a = s.arch;
  b.KvStr("general.architecture", a);
  b.KvU32(a + ".block_count", s.layers);
  b.KvU32(a + ".embedding_length", s.dim);
  b.KvU32(a + ".feed_forward_length", s.ffn);
  b.KvU32(a + ".attention.head_count", s.heads);
  b.KvU32(a + ".attention.head_count_kv", s.kv_heads);
  b.KvU32(a + ".context_length", 16);
  b.KvF32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (a == "gemma2") {
    b.KvF32(a + ".attn_logit_softcapping", 50.0f);
    b.KvF32(a + ".final_logit_softcapping", 30.0f);
    b.KvU32(a + ".attention.sliding_window", 4);
  }
  if (a == "gemma3") b.KvU32(a + ".attention.sliding_window", 4);
  if (s.experts > 0) {
    b.KvU32(a + ".expert_count", s.experts);
    b.KvU32(a + ".expert_used_count", 2);
    b.KvU32(a + ".expert_feed_forward_length", s.ffn);
    if (a == "qwen2moe") b.KvU32(a + ".expert_shared_feed_forward_length", s.ffn);
  }
  const int vocab = AddVocab(b, s.gpt2_vocab);
  const uint32_t head_dim = s.dim / s.heads, q = s.dim, kv = s.kv_heads * head_dim;
  uint32_t seed = 1;
  auto mat = [&](const std::string& name, uint32_t in, uint32_t out, uint32_t type) {
    b.AddTensor(name, {in, out}, type, Matrix(RandomFloats(size_t{in} * out, seed++), type));
  };
  auto vec = [&](const std::string& name, uint32_t n) { b.AddF32(name, {n}, std::vector<float>(n, 1.0f)); };
  mat("token_embd.weight", s.dim, static_cast<uint32_t>(vocab), s.weight_type == kF32 ? kF16 : s.weight_type);
  vec("output_norm.weight", s.dim);
  for (uint32_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vec(p + "attn_norm.weight", s.dim);
    if (a == "phi3") {
      mat(p + "attn_qkv.weight", s.dim, q + 2 * kv, s.weight_type);
    } else {
      mat(p + "attn_q.weight", s.dim, q, s.weight_type);
      mat(p + "attn_k.weight", s.dim, kv, s.weight_type);
      mat(p + "attn_v.weight", s.dim, kv, s.weight_type);
    }
    if (a == "qwen2" || a == "qwen2moe") {
      b.AddF32(p + "attn_q.bias", {q}, RandomFloats(q, seed++));
      b.AddF32(p + "attn_k.bias", {kv}, RandomFloats(kv, seed++));
      b.AddF32(p + "attn_v.bias", {kv}, RandomFloats(kv, seed++));
    }
    if (a == "qwen3" || a == "qwen3moe" || a == "gemma3") {
      vec(p + "attn_q_norm.weight", head_dim);
      vec(p + "attn_k_norm.weight", head_dim);
    }
    mat(p + "attn_output.weight", q, s.dim, s.weight_type);
    vec(p + "ffn_norm.weight", s.dim);
    if (s.experts > 0) {
      mat(p + "ffn_gate_inp.weight", s.dim, s.experts, kF32);
      for (const char* e : {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"}) {
        const bool down = std::string(e) == "ffn_down_exps.weight";
        const uint32_t in = down ? s.ffn : s.dim, out = down ? s.dim : s.ffn;
        b.AddTensor(p + e, {in, out, s.experts}, s.weight_type,
                    Matrix(RandomFloats(size_t{in} * out * s.experts, seed++), s.weight_type));
      }
      if (a == "qwen2moe") {
        b.AddF32(p + "ffn_gate_inp_shexp.weight", {s.dim}, RandomFloats(s.dim, seed++));
        mat(p + "ffn_gate_shexp.weight", s.dim, s.ffn, s.weight_type);
        mat(p + "ffn_up_shexp.weight", s.dim, s.ffn, s.weight_type);
        mat(p + "ffn_down_shexp.weight", s.ffn, s.dim, s.weight_type);
      }
      continue;
    }
    if (a == "phi3") {
      mat(p + "ffn_up.weight", s.dim, 2 * s.ffn, s.weight_type);
    } else {
      mat(p + "ffn_gate.weight", s.dim, s.ffn, s.weight_type);
      mat(p + "ffn_up.weight", s.dim, s.ffn, s.weight_type);
    }
    mat(p + "ffn_down.weight", s.ffn, s.dim, s.weight_type);
    if (a == "gemma2" || a == "gemma3") {
      vec(p + "post_attention_norm.weight", s.dim);
      vec(p + "post_ffw_norm.weight", s.dim);
    }
  }
  return b.Build();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_seeds OUT_DIR\n");
    return 2;
  }
  const Shape shapes[] = {
      {"llama", 16, 16, 2, 1, 1, kF32, false},       {"llama", 16, 16, 2, 2, 2, kF32, true},
      {"llama", 32, 32, 2, 1, 1, kQ8_0, false},      {"qwen2", 16, 16, 2, 1, 1, kF32, false},
      {"qwen3", 16, 16, 2, 1, 1, kF32, false},       {"phi3", 16, 16, 2, 2, 1, kF32, false},
      {"gemma2", 16, 16, 2, 1, 2, kF32, false},      {"gemma3", 16, 16, 2, 1, 1, kF32, false},
      {"qwen2moe", 16, 16, 2, 1, 1, kF32, false, 4}, {"qwen3moe", 32, 32, 2, 1, 1, kQ8_0, false, 4},
  };
  for (const Shape& s : shapes) {
    const std::string path = std::string(argv[1]) + "/" + s.arch + "-d" + std::to_string(s.dim) + "-l" +
                             std::to_string(s.layers) + (s.weight_type == kQ8_0 ? "-q8_0" : "") +
                             (s.gpt2_vocab ? "-gpt2" : "") + ".gguf";
    lazyllm::testing::WriteBytes(path, Build(s));
  }
  return 0;
}
