// Model quantization: rewrites an F32/F16/BF16 GGUF model in a llama.cpp file type (Q8_0, Q4_0,
// Q4_K_M, Q5_K_M, Q6_K, ...) with llama.cpp's per-tensor type mix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm {

struct QuantizeOptions {
  // The file type, case-insensitive: q8_0, q4_0, q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, q3_k_m, q2_k.
  std::string file_type;
  int threads = 0;  // 0: every hardware thread
};

struct QuantizedTensor {
  std::string name;
  std::string from, to;  // dtype names
};

struct QuantizeReport {
  std::vector<QuantizedTensor> tensors;  // every tensor of the output, in file order
  int64_t in_bytes = 0, out_bytes = 0;
  int fallbacks = 0;  // tensors whose rows the planned type's block does not divide
};

// The file types QuantizeModel accepts, lower case.
LAZYLLM_API const std::vector<std::string>& QuantizeFileTypes();

// Writes `in` to `out` in `options.file_type`. Weight matrices (2-D tensors named *.weight, not
// norms) take llama.cpp's type for that file type: output.weight (or a tied token_embd) Q6_K
// except in Q8_0 files, attn_v and ffn_down one step up on the "more bits" layers in *_M types,
// and the fallbacks (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, ...) for rows a 256-element
// block does not divide. Other tensors and all metadata are copied; general.file_type is set.
// Quantizing tensors must be F32, F16 or BF16. The output is written under a temporary name and
// renamed into place. Thread-safe.
LAZYLLM_API StatusOr<QuantizeReport> QuantizeModel(const std::string& in, const std::string& out,
                                                   const QuantizeOptions& options);

}  // namespace lazyllm
