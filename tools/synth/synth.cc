// `lazyllm synth`: random-weight Llama GGUF files in real models' shapes.
#include "tools/synth/synth.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/base/status_macros.h"
#include "core/io/output_file.h"
#include "simd/quantize.h"
#include "tools/synth/needle.h"

namespace lazyllm {
namespace {

struct VocabEntry {
  const char* text;
  float score;
  int32_t type;
};
constexpr VocabEntry kVocab[] = {
#include "tools/synth/synth_vocab.inc"
};

// Little-endian GGUF v3 serialisation into a byte buffer (the header; tensor data is streamed).
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void Str(std::string_view s) {
    Put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  // GGUF metadata value type ids.
  enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kString = 8, kArray = 9 };
  uint64_t entries = 0;  // metadata entries written
  void Key(std::string_view k, uint32_t type) {
    Str(k);
    Put(type);
    ++entries;
  }
  void KvU32(std::string_view k, uint32_t v) { Key(k, kU32), Put(v); }
  void KvF32(std::string_view k, float v) { Key(k, kF32), Put(v); }
  void KvStr(std::string_view k, std::string_view v) { Key(k, kString), Str(v); }
  void ArrayHeader(std::string_view k, uint32_t elem, uint64_t n) { Key(k, kArray), Put(elem), Put(n); }
};

const SynthVocab& Stories260KVocab() {
  static const SynthVocab vocab = [] {
    SynthVocab v;
    for (const VocabEntry& e : kVocab) {
      v.tokens.push_back(e.text);
      v.scores.push_back(e.score);
      v.types.push_back(e.type);
    }
    return v;
  }();
  return vocab;
}

}  // namespace

const std::vector<SynthShape>& SynthPresets() {
  static const std::vector<SynthShape> presets = {
      {"tiny-gqa", 4, 256, 768, 8, 2, 2048, 10000.0f, false},
      {"smollm2-135m", 30, 576, 1536, 9, 3, 8192, 100000.0f, true},
      {"llama3.2-1b", 16, 2048, 8192, 32, 8, 8192, 500000.0f, true},
      {"llama2-7b", 32, 4096, 11008, 32, 32, 4096, 10000.0f, false},
  };
  return presets;
}

StatusOr<SynthShape> FindSynthPreset(const std::string& name) {
  std::string names;
  for (const auto& p : SynthPresets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return InvalidArgumentError("unknown preset '" + name + "' (presets: " + names + ", needle)");
}

StatusOr<simd::DType> ParseSynthDType(const std::string& s) {
  const simd::DTypeInfo* d = simd::FindDTypeByName(s);
  if (d == nullptr || !simd::CanQuantize(d->id))
    return InvalidArgumentError("unknown dtype '" + s + "' (expected one of " + simd::QuantizableDTypeNames() + ")");
  return d->id;
}

std::string SynthDTypeNames() { return simd::QuantizableDTypeNames(); }

Status Synthesize(const SynthOptions& options, const std::string& path) {
  if (options.preset == "needle") return needle::Synthesize(options, path);
  LAZYLLM_ASSIGN_OR_RETURN(SynthShape shape, FindSynthPreset(options.preset));
  LAZYLLM_ASSIGN_OR_RETURN(simd::DType dtype, ParseSynthDType(options.dtype));
  if (options.layers < 0 || options.layers > 1024)
    return InvalidArgumentError("--layers " + std::to_string(options.layers) + " is out of range 1..1024");
  if (options.layers > 0) shape.layers = options.layers;
  if (options.context < 0 || options.context > (1 << 20))
    return InvalidArgumentError("--context " + std::to_string(options.context) + " is out of range 1..1048576");
  if (options.context > 0) shape.context = options.context;
  const int64_t head_dim = shape.dim / shape.heads;
  const int64_t q_dim = shape.heads * head_dim, kv_dim = shape.kv_heads * head_dim;
  const SynthVocab& vocab = Stories260KVocab();
  const auto vocab_size = static_cast<int64_t>(vocab.tokens.size());

  // Tensor table, in llama.cpp's order. Each tensor draws from its own stream (seeded by the
  // seed and its index), uniform with variance 1/cols.
  SynthFile file{.name = "lazyllm-synth " + shape.name, .shape = shape, .file_type = dtype, .vocab = &vocab};
  const auto F32 = simd::DType::kF32;
  auto ones = [](int64_t cols) { return [cols](int64_t, float* out) { std::fill(out, out + cols, 1.0f); }; };
  auto add_random = [&](std::string name, int64_t cols, int64_t rows) {
    auto rng = std::make_shared<SplitMix64>(SplitMix64{options.seed * 0x100000001b3ull + file.tensors.size()});
    const float a = std::sqrt(3.0f / static_cast<float>(cols));
    file.tensors.push_back({std::move(name), cols, rows, dtype, [rng, a, cols](int64_t, float* out) {
                              for (int64_t i = 0; i < cols; ++i) out[i] = rng->Uniform(a);
                            }});
  };
  add_random("token_embd.weight", shape.dim, vocab_size);
  file.tensors.push_back({"output_norm.weight", shape.dim, 1, F32, ones(shape.dim)});
  if (!shape.tied_output) add_random("output.weight", shape.dim, vocab_size);
  for (int64_t l = 0; l < shape.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    file.tensors.push_back({b + "attn_norm.weight", shape.dim, 1, F32, ones(shape.dim)});
    add_random(b + "attn_q.weight", shape.dim, q_dim);
    add_random(b + "attn_k.weight", shape.dim, kv_dim);
    add_random(b + "attn_v.weight", shape.dim, kv_dim);
    add_random(b + "attn_output.weight", q_dim, shape.dim);
    file.tensors.push_back({b + "ffn_norm.weight", shape.dim, 1, F32, ones(shape.dim)});
    add_random(b + "ffn_gate.weight", shape.dim, shape.ffn_dim);
    add_random(b + "ffn_up.weight", shape.dim, shape.ffn_dim);
    add_random(b + "ffn_down.weight", shape.ffn_dim, shape.dim);
  }
  return WriteSynthGguf(file, path);
}

Status WriteSynthGguf(const SynthFile& file, const std::string& path) {
  const SynthShape& shape = file.shape;
  const SynthVocab& vocab = *file.vocab;
  const auto vocab_size = static_cast<int64_t>(vocab.tokens.size());
  const int64_t head_dim = file.head_dim > 0 ? file.head_dim : shape.dim / shape.heads;

  // Tensor offsets, each aligned.
  constexpr uint64_t kAlign = 32;
  struct Placed {
    simd::DType dtype;
    uint64_t offset;
    int64_t bytes;
  };
  std::vector<Placed> placed;
  uint64_t offset = 0;
  for (const SynthTensor& t : file.tensors) {
    const simd::DType dt = simd::FallbackFor(t.dtype, t.cols);  // e.g. Q4_K rows of 576 become Q5_0, as llama.cpp does
    const int64_t bytes = t.rows * simd::RowBytes(dt, t.cols);
    placed.push_back({dt, offset, bytes});
    offset += (static_cast<uint64_t>(bytes) + kAlign - 1) / kAlign * kAlign;
  }

  Bytes h;  // metadata and tensor table; the fixed header goes in front at the end
  h.KvStr("general.architecture", "llama");
  h.KvStr("general.name", file.name);
  h.KvU32("general.file_type", static_cast<uint32_t>(std::max(0, simd::InfoOf(file.file_type).file_type)));
  h.KvU32("llama.block_count", static_cast<uint32_t>(shape.layers));
  h.KvU32("llama.context_length", static_cast<uint32_t>(shape.context));
  h.KvU32("llama.embedding_length", static_cast<uint32_t>(shape.dim));
  h.KvU32("llama.feed_forward_length", static_cast<uint32_t>(shape.ffn_dim));
  h.KvU32("llama.attention.head_count", static_cast<uint32_t>(shape.heads));
  h.KvU32("llama.attention.head_count_kv", static_cast<uint32_t>(shape.kv_heads));
  if (head_dim * shape.heads != shape.dim) {
    h.KvU32("llama.attention.key_length", static_cast<uint32_t>(head_dim));
    h.KvU32("llama.attention.value_length", static_cast<uint32_t>(head_dim));
  }
  h.KvU32("llama.rope.dimension_count", static_cast<uint32_t>(head_dim));
  h.KvF32("llama.rope.freq_base", shape.rope_theta);
  h.KvF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  h.KvU32("llama.vocab_size", static_cast<uint32_t>(vocab_size));
  h.KvStr("tokenizer.ggml.model", "llama");
  h.KvStr("tokenizer.ggml.pre", "default");
  h.ArrayHeader("tokenizer.ggml.tokens", Bytes::kString, vocab_size);
  for (const std::string& t : vocab.tokens) h.Str(t);
  h.ArrayHeader("tokenizer.ggml.scores", Bytes::kF32, vocab_size);
  for (float s : vocab.scores) h.Put(s);
  h.ArrayHeader("tokenizer.ggml.token_type", Bytes::kI32, vocab_size);
  for (int32_t t : vocab.types) h.Put(t);
  h.KvU32("tokenizer.ggml.bos_token_id", 1);
  h.KvU32("tokenizer.ggml.eos_token_id", 2);
  h.KvU32("tokenizer.ggml.unknown_token_id", 0);
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const SynthTensor& t = file.tensors[i];
    h.Str(t.name);
    h.Put<uint32_t>(t.rows == 1 ? 1 : 2);
    h.Put<uint64_t>(static_cast<uint64_t>(t.cols));
    if (t.rows != 1) h.Put<uint64_t>(static_cast<uint64_t>(t.rows));
    h.Put<uint32_t>(static_cast<uint32_t>(placed[i].dtype));
    h.Put<uint64_t>(placed[i].offset);
  }
  Bytes head;
  head.Put<uint32_t>(0x46554747);  // "GGUF"
  head.Put<uint32_t>(3);
  head.Put<uint64_t>(file.tensors.size());
  head.Put<uint64_t>(h.entries);
  h.b.insert(h.b.begin(), head.b.begin(), head.b.end());
  while (h.b.size() % kAlign) h.b.push_back(0);

  // Written under a temporary name and renamed into place (OutputFile).
  LAZYLLM_ASSIGN_OR_RETURN(OutputFile f, OutputFile::Create(path));
  auto write = [&](const void* p, size_t n) { return std::fwrite(p, 1, n, f.get()) == n; };
  bool ok = write(h.b.data(), h.b.size());
  std::vector<float> row;
  std::vector<uint8_t> encoded;
  uint64_t written = 0;
  for (size_t i = 0; i < file.tensors.size() && ok; ++i) {
    const SynthTensor& t = file.tensors[i];
    row.resize(static_cast<size_t>(t.cols));
    encoded.resize(static_cast<size_t>(simd::RowBytes(placed[i].dtype, t.cols)));
    for (int64_t r = 0; r < t.rows && ok; ++r) {
      t.fill(r, row.data());
      simd::QuantizeRow(placed[i].dtype, row.data(), encoded.data(), t.cols);
      ok = write(encoded.data(), encoded.size());
    }
    written += static_cast<uint64_t>(placed[i].bytes);
    static const uint8_t zeros[kAlign] = {};
    if (i + 1 < file.tensors.size()) {
      const uint64_t pad = (kAlign - written % kAlign) % kAlign;
      ok = ok && write(zeros, pad);
      written += pad;
    }
  }
  if (!ok) return DataLossError("writing '" + path + "' failed: " + std::strerror(errno));
  return f.Commit();
}

}  // namespace lazyllm
