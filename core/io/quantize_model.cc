// `lazyllm quantize`: llama.cpp's per-tensor type plan for a file type, rows converted to fp32
// and re-encoded in parallel, streamed into a new GGUF.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <set>

#include "core/base/status_macros.h"
#include "core/io/gguf.h"
#include "lazyllm/quantize.h"
#include "simd/kernels.h"
#include "simd/quantize.h"

namespace lazyllm {
namespace {

using simd::DType;

// One of llama.cpp's file types (llama_ftype): its base dtype and, for the _M mixes, its own
// general.file_type; the others' is their base dtype's file type in the dtype registry.
struct FileType {
  const char* name;
  DType base;
  int32_t mix_ftype = -1;
  uint32_t ftype() const { return static_cast<uint32_t>(mix_ftype >= 0 ? mix_ftype : simd::InfoOf(base).file_type); }
};

constexpr FileType kFileTypes[] = {
    {"q8_0", DType::kQ8_0},   {"q4_0", DType::kQ4_0},       {"q4_k_m", DType::kQ4_K, 15},
    {"q4_k_s", DType::kQ4_K}, {"q5_k_m", DType::kQ5_K, 17}, {"q5_k_s", DType::kQ5_K},
    {"q6_k", DType::kQ6_K},   {"q3_k_m", DType::kQ3_K, 12}, {"q2_k", DType::kQ2_K},
};

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// llama.cpp's "more bits" layers: the first and last eighth, and every third one between.
bool UseMoreBits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// Walks the tensors in file order and chooses each one's type, as llama.cpp's quantizer does for
// the file types above (dense models and mixtures of experts; no importance matrix).
class Planner {
 public:
  Planner(const FileType& ft, const std::vector<gguf::TensorInfo>& tensors, int64_t n_gqa, int64_t n_expert)
      : ft_(ft), n_gqa_(n_gqa), n_expert_(n_expert) {
    std::set<int64_t> ffn_down_layers;
    for (const auto& t : tensors) {
      n_attn_v_ += Contains(t.name, "attn_v.weight");
      if (Contains(t.name, "ffn_down")) ffn_down_layers.insert(LayerOf(t.name));
      has_output_ |= t.name == "output.weight";
    }
    n_ffn_down_ = static_cast<int64_t>(ffn_down_layers.size());  // the layers, as llama.cpp counts them
  }

  static bool Quantizes(const gguf::TensorInfo& t) {
    const std::string& n = t.name;
    return n.size() >= 6 && n.compare(n.size() - 6, 6, "weight") == 0 && t.n_dims >= 2 &&
           !Contains(n, "_norm.weight") &&
           !Contains(n, "ffn_gate_inp.weight");  // a mixture of experts' router stays as it is
  }

  // The planned type, and whether it is a fallback.
  DType Plan(const gguf::TensorInfo& t, bool* fallback) {
    const std::string& name = t.name;
    const std::string f = ft_.name;
    DType type = ft_.base;
    if (name == "output.weight" || (!has_output_ && name == "token_embd.weight")) {
      if (t.ne[0] % simd::InfoOf(type).block_elems != 0)
        type = DType::kQ8_0;
      else if (type != DType::kQ8_0)
        type = DType::kQ6_K;
    } else if (name == "token_embd.weight") {
      // the file type's base type
    } else if (Contains(name, "attn_v.weight")) {
      if (f == "q2_k")
        type = n_gqa_ >= 4 || n_expert_ >= 4 ? DType::kQ4_K : DType::kQ3_K;
      else if (f == "q3_k_m")
        type = i_attn_v_ < 2 ? DType::kQ5_K : DType::kQ4_K;
      else if ((f == "q4_k_m" || f == "q5_k_m") && UseMoreBits(i_attn_v_, n_attn_v_))
        type = DType::kQ6_K;
      else if (f == "q4_k_s" && i_attn_v_ < 4)
        type = DType::kQ5_K;
      if (n_expert_ == 8) type = DType::kQ8_0;  // llama.cpp's choice for 8-expert models
      ++i_attn_v_;
    } else if (Contains(name, "attn_k.weight") && n_expert_ == 8) {
      type = DType::kQ8_0;
    } else if (Contains(name, "ffn_down")) {
      // With experts, llama.cpp takes the layer from the name (against the count of ffn_down tensors).
      const int64_t i = n_expert_ > 1 ? LayerOf(name) : i_ffn_down_, n = n_ffn_down_;
      if (f == "q2_k")
        type = DType::kQ3_K;
      else if (f == "q3_k_m")
        type = i < n / 16 ? DType::kQ5_K : DType::kQ4_K;
      else if ((f == "q4_k_m" || f == "q5_k_m") && UseMoreBits(i, n))
        type = DType::kQ6_K;
      else if (f == "q4_k_s" && i < n / 8)
        type = DType::kQ5_K;
      ++i_ffn_down_;
    } else if (Contains(name, "attn_output.weight")) {
      if (n_expert_ == 8) {
        if (f == "q2_k" || f == "q3_k_m" || f == "q4_k_s" || f == "q4_k_m") type = DType::kQ5_K;
      } else if (f == "q2_k") {
        type = DType::kQ3_K;
      } else if (f == "q3_k_m") {
        type = DType::kQ4_K;
      }
    } else if (Contains(name, "attn_qkv.weight")) {
      if (f == "q3_k_m")
        type = DType::kQ4_K;
      else if (f == "q4_k_m")
        type = DType::kQ5_K;
      else if (f == "q5_k_m")
        type = DType::kQ6_K;
    }
    const DType fitted = simd::FallbackFor(type, t.ne[0]);
    *fallback = fitted != type;
    return fitted;
  }

 private:
  // N of a tensor named blk.N.*.
  static int64_t LayerOf(const std::string& name) {
    return name.rfind("blk.", 0) == 0 ? std::strtoll(name.c_str() + 4, nullptr, 10) : 0;
  }

  const FileType& ft_;
  int64_t n_gqa_, n_expert_;
  int64_t n_attn_v_ = 0, n_ffn_down_ = 0, i_attn_v_ = 0, i_ffn_down_ = 0;
  bool has_output_ = false;
};

StatusOr<const FileType*> FindFileType(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const FileType& ft : kFileTypes)
    if (lower == ft.name) return &ft;
  std::string names;
  for (const FileType& ft : kFileTypes) names += (names.empty() ? "" : ", ") + std::string(ft.name);
  return InvalidArgumentError("unknown file type '" + name + "' (expected one of " + names + ")");
}

}  // namespace

const std::vector<std::string>& QuantizeFileTypes() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const FileType& ft : kFileTypes) v.push_back(ft.name);
    return v;
  }();
  return names;
}

StatusOr<QuantizeReport> QuantizeModel(const std::string& in, const std::string& out, const QuantizeOptions& options) {
  LAZYLLM_ASSIGN_OR_RETURN(const FileType* ft, FindFileType(options.file_type));
  if (options.threads < 0) return InvalidArgumentError("threads " + std::to_string(options.threads) + " is negative");
  LAZYLLM_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(in));
  if (file->Find("split.count") != nullptr) {
    LAZYLLM_ASSIGN_OR_RETURN(int64_t parts, file->GetInt("split.count"));
    if (parts > 1) return UnimplementedError(in + ": quantizing a split model is not supported; merge its parts first");
  }
  // Grouped-query factor (heads per KV head) and experts, which the plans use.
  int64_t n_gqa = 1, n_expert = 0;
  if (file->Find("general.architecture")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view arch, file->GetString("general.architecture"));
    const std::string a(arch);
    LAZYLLM_ASSIGN_OR_RETURN(int64_t heads, file->GetIntOr(a + ".attention.head_count", 1));
    LAZYLLM_ASSIGN_OR_RETURN(int64_t kv_heads, file->GetIntOr(a + ".attention.head_count_kv", heads));
    if (heads > 0 && kv_heads > 0) n_gqa = heads / kv_heads;
    LAZYLLM_ASSIGN_OR_RETURN(n_expert, file->GetIntOr(a + ".expert_count", 0));
  }

  gguf::Writer w;
  for (const auto& [key, value] : file->metadata()) w.CopyValue(key, value);
  w.SetU32("general.file_type", ft->ftype());
  w.SetU32("general.quantization_version", 2);

  QuantizeReport report;
  report.in_bytes = static_cast<int64_t>(file->file_size());
  Planner planner(*ft, file->tensors(), n_gqa, n_expert);
  const simd::Kernels& k = simd::KernelsFor(simd::SelectedIsa());
  for (const gguf::TensorInfo& t : file->tensors()) {
    const DType from = static_cast<DType>(t.type_id);
    DType to = from;
    if (Planner::Quantizes(t)) {
      if (from != DType::kF32 && from != DType::kF16 && from != DType::kBF16)
        return InvalidArgumentError(in + ": tensor '" + t.name + "' is " + simd::InfoOf(from).name +
                                    "; quantize needs F32, F16 or BF16 weights");
      bool fallback = false;
      to = planner.Plan(t, &fallback);
      report.fallbacks += fallback;
    }
    report.tensors.push_back({t.name, simd::InfoOf(from).name, simd::InfoOf(to).name});
    const int64_t cols = t.ne[0], rows = t.num_elements / cols;
    const int64_t out_row = simd::RowBytes(to, cols), in_row = t.num_bytes / rows;
    const gguf::TensorInfo* src = &t;
    std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
    w.AddTensor(t.name, dims, static_cast<uint32_t>(to), rows * out_row,
                [src, from, to, cols, rows, in_row, out_row, &k](uint8_t* dst, std::string*) {
                  if (from == to) {
                    std::memcpy(dst, src->data, static_cast<size_t>(src->num_bytes));
                    return true;
                  }
                  tbb::parallel_for(int64_t{0}, rows, int64_t{16}, [&](int64_t r0) {
                    std::vector<float> row(static_cast<size_t>(cols));
                    for (int64_t r = r0; r < std::min(rows, r0 + 16); ++r) {
                      k.Row(from).to_f32(src->data + r * in_row, row.data(), cols);
                      simd::QuantizeRow(to, row.data(), dst + r * out_row, cols);
                    }
                  });
                  return true;
                });
  }
  std::unique_ptr<tbb::global_control> limit;
  if (options.threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, options.threads);
  LAZYLLM_RETURN_IF_ERROR(w.Write(out));
  auto written = gguf::File::Open(out);
  if (!written.ok()) return DataLossError("wrote '" + out + "' but it does not parse: " + written.status().message());
  report.out_bytes = static_cast<int64_t>((*written)->file_size());
  return report;
}

}  // namespace lazyllm
