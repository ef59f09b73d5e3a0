// Synthetic GGUF files through the library's GGUF writer: metadata, then each tensor's rows in
// its dtype.
#include "tools/synth/writer.h"

#include <algorithm>

#include "core/io/gguf.h"
#include "simd/quantize.h"

namespace lazyllm {
namespace {

// The {arch}.* hyperparameters and the SentencePiece vocabulary (BOS 1, EOS 2, UNK 0).
void SetMetadata(const SynthFile& file, gguf::Writer& w) {
  const SynthShape& shape = file.shape;
  const SynthVocab& vocab = *file.vocab;
  const int64_t head_dim = shape.HeadDim();
  const std::string a = shape.arch + ".";
  w.SetString("general.architecture", shape.arch);
  w.SetString("general.name", file.name);
  w.SetU32("general.file_type", static_cast<uint32_t>(std::max(0, simd::InfoOf(file.file_type).file_type)));
  w.SetU32(a + "block_count", static_cast<uint32_t>(shape.layers));
  w.SetU32(a + "context_length", static_cast<uint32_t>(shape.context));
  w.SetU32(a + "embedding_length", static_cast<uint32_t>(shape.dim));
  w.SetU32(a + "feed_forward_length", static_cast<uint32_t>(shape.ffn_dim));
  w.SetU32(a + "attention.head_count", static_cast<uint32_t>(shape.heads));
  w.SetU32(a + "attention.head_count_kv", static_cast<uint32_t>(shape.kv_heads));
  if (head_dim * shape.heads != shape.dim) {
    w.SetU32(a + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.SetU32(a + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  w.SetU32(a + "rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.SetF32(a + "rope.freq_base", shape.rope_theta);
  w.SetF32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  if (shape.experts > 0) {
    w.SetU32(a + "expert_count", static_cast<uint32_t>(shape.experts));
    w.SetU32(a + "expert_used_count", static_cast<uint32_t>(shape.experts_used));
    if (shape.arch != "llama") w.SetU32(a + "expert_feed_forward_length", static_cast<uint32_t>(shape.ffn_dim));
  }
  w.SetU32(a + "vocab_size", static_cast<uint32_t>(vocab.tokens.size()));
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetString("tokenizer.ggml.pre", "default");
  w.SetStrings("tokenizer.ggml.tokens", vocab.tokens);
  w.SetF32s("tokenizer.ggml.scores", vocab.scores);
  w.SetI32s("tokenizer.ggml.token_type", vocab.types);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);
  w.SetU32("tokenizer.ggml.unknown_token_id", 0);
}

}  // namespace

std::function<void(int64_t, float*)> ConstantRows(int64_t cols, float v) {
  return [cols, v](int64_t, float* out) { std::fill(out, out + cols, v); };
}

Status WriteSynthGguf(const SynthFile& file, const std::string& path) {
  gguf::Writer w;
  SetMetadata(file, w);
  for (const SynthTensor& t : file.tensors) {
    const simd::DType dtype = simd::FallbackFor(t.dtype, t.cols);  // e.g. Q4_K rows of 576 become Q5_0
    const int64_t row_bytes = simd::RowBytes(dtype, t.cols), rows = t.rows * t.count;
    std::vector<int64_t> dims = {t.cols};
    if (t.rows != 1 || t.count != 1) dims.push_back(t.rows);
    if (t.count != 1) dims.push_back(t.count);
    w.AddTensor(t.name, dims, static_cast<uint32_t>(dtype), rows * row_bytes,
                [&t, dtype, row_bytes, rows](uint8_t* out, std::string*) {
                  std::vector<float> row(static_cast<size_t>(t.cols));
                  for (int64_t r = 0; r < rows; ++r) {
                    t.fill(r, row.data());
                    simd::QuantizeRow(dtype, row.data(), out + r * row_bytes, t.cols);
                  }
                  return true;
                });
  }
  return w.Write(path);
}

StatusOr<simd::DType> ParseSynthDType(const std::string& s) {
  const simd::DTypeInfo* d = simd::FindDTypeByName(s);
  if (d == nullptr || !simd::CanQuantize(d->id))
    return InvalidArgumentError("unknown dtype '" + s + "' (expected one of " + simd::QuantizableDTypeNames() + ")");
  return d->id;
}

std::string SynthDTypeNames() { return simd::QuantizableDTypeNames(); }

}  // namespace lazyllm
