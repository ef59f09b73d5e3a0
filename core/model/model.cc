// Model loading: GGUF metadata -> ModelConfig, tensor lookup with dtype and shape validation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/base/status_macros.h"
#include "core/model/arch.h"
#include "core/model/model_impl.h"
#include "core/text/tokenizer_gguf.h"
#include "simd/kernels.h"

namespace lazyllm {
namespace {

constexpr int64_t kMaxDim = 1 << 20;

std::string ShapeString(const gguf::TensorInfo& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

class TensorLoader {
 public:
  explicit TensorLoader(const std::vector<std::unique_ptr<gguf::File>>& files) : files_(files), f_(*files.front()) {}

  // The tensor in whichever part of the model holds it.
  const gguf::TensorInfo* Lookup(const std::string& name) const {
    for (const auto& f : files_)
      if (const gguf::TensorInfo* t = f->FindTensor(name)) return t;
    return nullptr;
  }

  // A tensor of shape [ne0] (ne1 = 0), [ne0, ne1] (ne2 = 0) or [ne0, ne1, ne2].
  StatusOr<const gguf::TensorInfo*> Find(const std::string& name, int64_t ne0, int64_t ne1, int64_t ne2 = 0) {
    const gguf::TensorInfo* t = Lookup(name);
    if (t == nullptr)
      return NotFoundError(f_.path() + (files_.size() > 1 ? " (all " + std::to_string(files_.size()) + " parts)" : "") +
                           ": tensor '" + name + "' is missing");
    const std::vector<int64_t> want = ne1 == 0   ? std::vector<int64_t>{ne0}
                                      : ne2 == 0 ? std::vector<int64_t>{ne0, ne1}
                                                 : std::vector<int64_t>{ne0, ne1, ne2};
    bool ok_shape = t->n_dims == want.size();
    for (size_t d = 0; ok_shape && d < want.size(); ++d) ok_shape = t->ne[d] == want[d];
    if (!ok_shape) {
      std::string expected;
      for (int64_t v : want) expected += (expected.empty() ? "" : ", ") + std::to_string(v);
      return InvalidArgumentError(f_.path() + ": tensor '" + name + "' has shape " + ShapeString(*t) + ", expected [" +
                                  expected + "]");
    }
    // The parser only admits listed type ids, so the registry row exists.
    const simd::DTypeInfo& info = *simd::FindDType(t->type_id);
    if (!simd::RefKernels().Computes(info.id))
      return UnimplementedError(f_.path() + ": unsupported dtype " + info.name + " in tensor '" + name +
                                "' (supported: " + simd::WeightDTypeNames() + ")");
    return t;
  }

  StatusOr<WeightMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows) {
    LAZYLLM_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, cols, rows));
    WeightMatrix m;
    m.dtype = static_cast<simd::DType>(t->type_id);
    m.data = t->data;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = t->num_bytes / rows;
    return m;
  }

  // A 3-D tensor of `count` matrices [rows, cols] (GGUF [cols, rows, count]), one view each.
  StatusOr<std::vector<WeightMatrix>> Matrices(const std::string& name, int64_t cols, int64_t rows, int64_t count) {
    LAZYLLM_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, cols, rows, count));
    std::vector<WeightMatrix> views(static_cast<size_t>(count));
    for (int64_t e = 0; e < count; ++e) {
      WeightMatrix& m = views[static_cast<size_t>(e)];
      m.dtype = static_cast<simd::DType>(t->type_id);
      m.row_bytes = t->num_bytes / (rows * count);
      m.data = t->data + e * rows * m.row_bytes;
      m.rows = rows;
      m.cols = cols;
    }
    return views;
  }

  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) {
    LAZYLLM_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, n, 0));
    std::vector<float> v(static_cast<size_t>(n));
    const auto dtype = static_cast<simd::DType>(t->type_id);
    simd::RefKernels().Row(dtype).to_f32(t->data, v.data(), n);
    return v;
  }

 private:
  const std::vector<std::unique_ptr<gguf::File>>& files_;
  const gguf::File& f_;
};

// Rows [first, first + rows) of a matrix, sharing its bytes.
WeightMatrix RowView(const WeightMatrix& m, int64_t first, int64_t rows) {
  WeightMatrix v = m;
  v.data = m.data + first * m.row_bytes;
  v.rows = rows;
  return v;
}

// Reads a positive integer hyperparameter within [1, max].
Status ReadDim(const gguf::File& f, const std::string& key, int64_t max, int64_t* out) {
  LAZYLLM_ASSIGN_OR_RETURN(*out, f.GetInt(key));
  if (*out < 1 || *out > max)
    return InvalidArgumentError(f.path() + ": metadata key '" + key + "' = " + std::to_string(*out) +
                                " is outside 1.." + std::to_string(max));
  return OkStatus();
}

// The values the file gives its family's features: RoPE scaling, soft-caps, the sliding window.
// What lazyllm does not implement (MoE, YaRN) is refused by name.
Status ReadArchValues(const gguf::File& f, const ArchDesc& d, const ModelConfig& c, ArchValues* v) {
  const std::string a = c.architecture + ".";
  if (f.Find(a + "rope.scaling.type")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view type, f.GetString(a + "rope.scaling.type"));
    if (type == "linear") {
      LAZYLLM_ASSIGN_OR_RETURN(double factor, f.GetFloat(a + "rope.scaling.factor"));
      if (!(factor >= 1.0 && factor < 1e6))
        return InvalidArgumentError(f.path() + ": rope.scaling.factor " + std::to_string(factor) + " is out of range");
      v->rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none") {
      return UnimplementedError(f.path() + ": RoPE scaling '" + std::string(type) + "' (" + a +
                                "rope.scaling.type) is not supported (supported: none, linear)");
    }
  } else if (f.Find(a + "rope.scale_linear")) {
    LAZYLLM_ASSIGN_OR_RETURN(double factor, f.GetFloat(a + "rope.scale_linear"));
    if (factor > 0) v->rope_freq_scale = static_cast<float>(1.0 / factor);
  }
  if (d.embed_scale) v->embed_scale = std::sqrt(static_cast<float>(c.dim));
  v->attn_scale = d.attn_scale != nullptr ? d.attn_scale(c) : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (d.softcaps) {
    LAZYLLM_ASSIGN_OR_RETURN(double attn, f.GetFloatOr(a + "attn_logit_softcapping", 50.0));
    LAZYLLM_ASSIGN_OR_RETURN(double final_cap, f.GetFloatOr(a + "final_logit_softcapping", 30.0));
    if (!(attn >= 0 && final_cap >= 0))
      return InvalidArgumentError(f.path() + ": negative logit soft-capping " + std::to_string(attn) + " / " +
                                  std::to_string(final_cap));
    v->attn_softcap = static_cast<float>(attn);
    v->final_softcap = static_cast<float>(final_cap);
  }
  if (d.sliding != SlidingLayers::kNone) {
    LAZYLLM_ASSIGN_OR_RETURN(v->sliding_window, f.GetIntOr(a + "attention.sliding_window", 0));
    if (v->sliding_window < 0)
      return InvalidArgumentError(f.path() + ": attention.sliding_window " + std::to_string(v->sliding_window) +
                                  " is negative");
  }
  return OkStatus();
}

// A mixture of experts' keys: its experts, those a token uses, their widths, and the routing the
// family's row states (other gating functions and expert groups are refused by name).
Status ReadExperts(const gguf::File& f, const ArchDesc& d, ModelConfig* c) {
  const std::string a = c->architecture + ".";
  LAZYLLM_ASSIGN_OR_RETURN(int64_t experts, f.GetIntOr(a + "expert_count", 0));
  if (experts == 0 && d.experts != Experts::kRequired) return OkStatus();
  if (d.experts == Experts::kNone)
    return UnimplementedError(f.path() + ": " + a + "expert_count = " + std::to_string(experts) + ", but " +
                              c->architecture + " has no mixture-of-experts layout lazyllm knows");
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "expert_count", 1 << 16, &c->expert_count));
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "expert_used_count", c->expert_count, &c->expert_used_count));
  c->expert_ffn_dim = c->ffn_dim;  // llama (Mixtral) gives the experts' width as feed_forward_length
  if (f.Find(a + "expert_feed_forward_length"))
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "expert_feed_forward_length", kMaxDim, &c->expert_ffn_dim));
  if (d.routing.shared_expert)
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "expert_shared_feed_forward_length", kMaxDim, &c->shared_expert_ffn_dim));
  LAZYLLM_ASSIGN_OR_RETURN(int64_t gating, f.GetIntOr(a + "expert_gating_func", 1));
  if (gating != 1)
    return UnimplementedError(f.path() + ": " + a + "expert_gating_func = " + std::to_string(gating) +
                              " (sigmoid gating with an expert bias, as DeepSeek-V3's) is not supported; lazyllm "
                              "routes by softmax then top-k");
  LAZYLLM_ASSIGN_OR_RETURN(int64_t groups, f.GetIntOr(a + "expert_group_count", 0));
  if (groups > 1)
    return UnimplementedError(f.path() + ": " + a + "expert_group_count = " + std::to_string(groups) +
                              " (routing within expert groups) is not supported");
  return OkStatus();
}

// The hyperparameters, the family's row and the values of its features.
Status ReadConfig(const gguf::File& f, Model::Impl* m) {
  ModelConfig* c = &m->config;
  LAZYLLM_ASSIGN_OR_RETURN(std::string_view arch, f.GetString("general.architecture"));
  c->architecture = std::string(arch);
  const ArchDesc* desc = FindArch(c->architecture);
  if (desc == nullptr)
    return UnimplementedError(f.path() + ": unsupported architecture '" + c->architecture +
                              "' (supported: " + SupportedArchNames() + ")");
  if (f.Find("general.name")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view name, f.GetString("general.name"));
    c->name = std::string(name);
  }
  const std::string a = c->architecture + ".";
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "block_count", 4096, &c->num_layers));
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "embedding_length", kMaxDim, &c->dim));
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "feed_forward_length", kMaxDim, &c->ffn_dim));
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "attention.head_count", 4096, &c->num_heads));
  LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "context_length", int64_t{1} << 24, &c->context_length));
  c->num_kv_heads = c->num_heads;
  if (f.Find(a + "attention.head_count_kv"))
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "attention.head_count_kv", c->num_heads, &c->num_kv_heads));
  if (c->num_heads % c->num_kv_heads != 0)
    return InvalidArgumentError(f.path() + ": head_count " + std::to_string(c->num_heads) +
                                " is not a multiple of head_count_kv " + std::to_string(c->num_kv_heads));
  c->head_dim = c->dim / c->num_heads;
  if (f.Find(a + "attention.key_length"))
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "attention.key_length", kMaxDim, &c->head_dim));
  if (f.Find(a + "attention.value_length")) {
    int64_t vl;
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "attention.value_length", kMaxDim, &vl));
    if (vl != c->head_dim)
      return UnimplementedError(f.path() + ": attention.value_length " + std::to_string(vl) +
                                " differs from key_length " + std::to_string(c->head_dim));
  }
  c->rope_dims = c->head_dim;
  if (f.Find(a + "rope.dimension_count"))
    LAZYLLM_RETURN_IF_ERROR(ReadDim(f, a + "rope.dimension_count", c->head_dim, &c->rope_dims));
  if (c->rope_dims % 2 != 0)
    return InvalidArgumentError(f.path() + ": rope.dimension_count " + std::to_string(c->rope_dims) + " is odd");
  LAZYLLM_ASSIGN_OR_RETURN(double theta, f.GetFloatOr(a + "rope.freq_base", 10000.0));
  // Any base above 1 is a valid RoPE; above 1e30 the slowest pairs stop turning at all in float.
  if (!(theta > 1.0 && theta <= 1e30))
    return InvalidArgumentError(f.path() + ": rope.freq_base " + std::to_string(theta) +
                                " is out of range (above 1, at most 1e30)");
  c->rope_theta = static_cast<float>(theta);
  LAZYLLM_ASSIGN_OR_RETURN(double eps, f.GetFloatOr(a + "attention.layer_norm_rms_epsilon", 1e-5));
  if (!(eps > 0.0 && eps < 1.0))
    return InvalidArgumentError(f.path() + ": layer_norm_rms_epsilon " + std::to_string(eps) + " is out of range");
  c->rms_eps = static_cast<float>(eps);
  m->arch = desc;
  LAZYLLM_RETURN_IF_ERROR(ReadExperts(f, *desc, c));
  return ReadArchValues(f, *desc, *c, &m->arch_values);
}

// Numbers the matrices the forward pass multiplies by, which placed weights are indexed by.
void IndexMatrices(Model::Impl* m) {
  std::vector<WeightMatrix*> all = {&m->output};
  for (LayerWeights& lw : m->layers) {
    for (WeightMatrix* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down, &lw.router,
                            &lw.shared_gate, &lw.shared_up, &lw.shared_down})
      if (w->data != nullptr) all.push_back(w);
    for (auto* experts : {&lw.gate_exps, &lw.up_exps, &lw.down_exps})
      for (WeightMatrix& w : *experts) all.push_back(&w);
  }
  for (WeightMatrix* w : all) {
    w->index = static_cast<int32_t>(m->matrices.size());
    m->matrices.push_back(w);
  }
}

// Layer l's weights, and its per-layer features: its sliding window and RoPE table.
Status LoadLayer(TensorLoader& t, const Model::Impl& m, int64_t l, LayerWeights* w) {
  const ModelConfig& c = m.config;
  const ArchDesc& d = *m.arch;
  const ArchValues& v = m.arch_values;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  const std::string p = "blk." + std::to_string(l) + ".";
  const bool sliding = v.sliding_window > 0 && IsSlidingLayer(d, l);
  w->sliding_window = sliding ? v.sliding_window : 0;
  w->rope_table = d.sliding_local_rope && sliding ? 1 : 0;
  LAZYLLM_ASSIGN_OR_RETURN(w->attn_norm, t.Vector(p + "attn_norm.weight", c.dim));
  if (d.fused_qkv) {
    // Q, K and V are row ranges of one matrix: views, no copy.
    LAZYLLM_ASSIGN_OR_RETURN(WeightMatrix qkv, t.Matrix(p + "attn_qkv.weight", c.dim, q_dim + 2 * kv_dim));
    w->wq = RowView(qkv, 0, q_dim);
    w->wk = RowView(qkv, q_dim, kv_dim);
    w->wv = RowView(qkv, q_dim + kv_dim, kv_dim);
  } else {
    LAZYLLM_ASSIGN_OR_RETURN(w->wq, t.Matrix(p + "attn_q.weight", c.dim, q_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->wk, t.Matrix(p + "attn_k.weight", c.dim, kv_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->wv, t.Matrix(p + "attn_v.weight", c.dim, kv_dim));
  }
  if (d.qkv_bias) {
    LAZYLLM_ASSIGN_OR_RETURN(w->bq, t.Vector(p + "attn_q.bias", q_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->bk, t.Vector(p + "attn_k.bias", kv_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->bv, t.Vector(p + "attn_v.bias", kv_dim));
  }
  if (d.qk_norm) {
    LAZYLLM_ASSIGN_OR_RETURN(w->q_norm, t.Vector(p + "attn_q_norm.weight", c.head_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->k_norm, t.Vector(p + "attn_k_norm.weight", c.head_dim));
  }
  LAZYLLM_ASSIGN_OR_RETURN(w->wo, t.Matrix(p + "attn_output.weight", q_dim, c.dim));
  LAZYLLM_ASSIGN_OR_RETURN(w->ffn_norm, t.Vector(p + "ffn_norm.weight", c.dim));
  if (c.expert_count > 0) {
    const int64_t e = c.expert_count, width = c.expert_ffn_dim;
    LAZYLLM_ASSIGN_OR_RETURN(w->router, t.Matrix(p + "ffn_gate_inp.weight", c.dim, e));
    LAZYLLM_ASSIGN_OR_RETURN(w->gate_exps, t.Matrices(p + "ffn_gate_exps.weight", c.dim, width, e));
    LAZYLLM_ASSIGN_OR_RETURN(w->up_exps, t.Matrices(p + "ffn_up_exps.weight", c.dim, width, e));
    LAZYLLM_ASSIGN_OR_RETURN(w->down_exps, t.Matrices(p + "ffn_down_exps.weight", width, c.dim, e));
    if (d.routing.shared_expert) {
      const int64_t shared = c.shared_expert_ffn_dim;
      LAZYLLM_ASSIGN_OR_RETURN(w->shared_gate_inp, t.Vector(p + "ffn_gate_inp_shexp.weight", c.dim));
      LAZYLLM_ASSIGN_OR_RETURN(w->shared_gate, t.Matrix(p + "ffn_gate_shexp.weight", c.dim, shared));
      LAZYLLM_ASSIGN_OR_RETURN(w->shared_up, t.Matrix(p + "ffn_up_shexp.weight", c.dim, shared));
      LAZYLLM_ASSIGN_OR_RETURN(w->shared_down, t.Matrix(p + "ffn_down_shexp.weight", shared, c.dim));
    }
  } else if (d.fused_gate_up) {
    LAZYLLM_ASSIGN_OR_RETURN(WeightMatrix gate_up, t.Matrix(p + "ffn_up.weight", c.dim, 2 * c.ffn_dim));
    w->w_gate = RowView(gate_up, 0, c.ffn_dim);
    w->w_up = RowView(gate_up, c.ffn_dim, c.ffn_dim);
  } else {
    LAZYLLM_ASSIGN_OR_RETURN(w->w_gate, t.Matrix(p + "ffn_gate.weight", c.dim, c.ffn_dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->w_up, t.Matrix(p + "ffn_up.weight", c.dim, c.ffn_dim));
  }
  if (c.expert_count == 0) {
    LAZYLLM_ASSIGN_OR_RETURN(w->w_down, t.Matrix(p + "ffn_down.weight", c.ffn_dim, c.dim));
  }
  if (d.post_norms) {
    LAZYLLM_ASSIGN_OR_RETURN(w->post_attn_norm, t.Vector(p + "post_attention_norm.weight", c.dim));
    LAZYLLM_ASSIGN_OR_RETURN(w->post_ffn_norm, t.Vector(p + "post_ffw_norm.weight", c.dim));
  }
  return OkStatus();
}

// The embedding, the LM head (token_embd's rows when the file has no output.weight), RoPE's
// frequency factors and variants, then every layer.
Status LoadWeights(Model::Impl* m) {
  const ModelConfig& c = m->config;
  TensorLoader t(m->files);
  LAZYLLM_ASSIGN_OR_RETURN(m->token_embd, t.Matrix("token_embd.weight", c.dim, c.vocab_size));
  LAZYLLM_ASSIGN_OR_RETURN(m->output_norm, t.Vector("output_norm.weight", c.dim));
  if (t.Lookup("output.weight") != nullptr) {
    LAZYLLM_ASSIGN_OR_RETURN(m->output, t.Matrix("output.weight", c.dim, c.vocab_size));
  } else {
    m->output = m->token_embd;
    m->config.tied_output = true;
  }
  if (t.Lookup("rope_freqs.weight") != nullptr) {
    LAZYLLM_ASSIGN_OR_RETURN(m->rope_freq_factors, t.Vector("rope_freqs.weight", c.rope_dims / 2));
  }
  if (t.Lookup("rope_factors_long.weight") != nullptr || t.Lookup("rope_factors_short.weight") != nullptr)
    return UnimplementedError(m->meta().path() + ": LongRoPE (rope_factors_long/short) is not supported");
  // RoPE tables: the file's base and scaling; gemma3's sliding layers use base 10000 unscaled.
  m->rope_variants = {{c.rope_theta, m->arch_values.rope_freq_scale}};
  if (m->arch->sliding_local_rope) m->rope_variants.push_back({10000.0f, 1.0f});
  m->layers.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) LAZYLLM_RETURN_IF_ERROR(LoadLayer(t, *m, l, &m->layers[l]));
  IndexMatrices(m);
  m->has_weights = true;
  return OkStatus();
}

// The path of part `no` (1-based) of a split model whose first part is `first`, named as
// llama.cpp's gguf-split names them: PREFIX-00001-of-00003.gguf.
StatusOr<std::string> SplitPartPath(const std::string& first, int64_t count, int64_t no) {
  char tail[40];
  std::snprintf(tail, sizeof tail, "-%05lld-of-%05lld.gguf", 1LL, static_cast<long long>(count));
  if (first.size() <= std::strlen(tail) ||
      first.compare(first.size() - std::strlen(tail), std::string::npos, tail) != 0)
    return InvalidArgumentError(first + ": split.count is " + std::to_string(count) +
                                " but the file is not named PREFIX" + tail + "; open the first part of a split model");
  std::snprintf(tail, sizeof tail, "-%05lld-of-%05lld.gguf", static_cast<long long>(no), static_cast<long long>(count));
  return first.substr(0, first.size() - std::strlen(tail)) + tail;
}

// A later part of a split model holds no metadata: say so before anything else is read.
Status CheckFirstPart(const gguf::File& f) {
  LAZYLLM_ASSIGN_OR_RETURN(int64_t no, f.GetIntOr("split.no", 0));
  if (no == 0) return OkStatus();
  LAZYLLM_ASSIGN_OR_RETURN(int64_t count, f.GetIntOr("split.count", 1));
  return InvalidArgumentError(f.path() + ": this is part " + std::to_string(no + 1) + " of a " + std::to_string(count) +
                              "-part model; open the first part (PREFIX-00001-of-...)");
}

// A model split by gguf-split: the first part has split.count = N and split.no = 0; the other
// parts are opened beside it and checked to be parts 1..N-1 of the same split.
Status OpenSplitParts(const std::string& path, std::vector<std::unique_ptr<gguf::File>>* files) {
  const gguf::File& first = *files->front();
  LAZYLLM_ASSIGN_OR_RETURN(int64_t count, first.GetIntOr("split.count", 1));
  if (count == 1) return OkStatus();
  if (count < 1 || count > 9999)
    return InvalidArgumentError(path + ": split.count " + std::to_string(count) + " is outside 1..9999");
  int64_t tensors = static_cast<int64_t>(first.tensors().size());
  for (int64_t i = 1; i < count; ++i) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string part_path, SplitPartPath(path, count, i + 1));
    LAZYLLM_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> part, gguf::File::Open(part_path));
    LAZYLLM_ASSIGN_OR_RETURN(int64_t part_count, part->GetIntOr("split.count", 1));
    LAZYLLM_ASSIGN_OR_RETURN(int64_t part_no, part->GetIntOr("split.no", -1));
    if (part_count != count || part_no != i)
      return InvalidArgumentError(part_path + ": split.no " + std::to_string(part_no) + " of split.count " +
                                  std::to_string(part_count) + ", expected part " + std::to_string(i) + " of " +
                                  std::to_string(count));
    for (const gguf::TensorInfo& t : part->tensors())
      for (const auto& f : *files)
        if (f->FindTensor(t.name) != nullptr)
          return InvalidArgumentError(part_path + ": tensor '" + t.name + "' is also in " + f->path());
    tensors += static_cast<int64_t>(part->tensors().size());
    files->push_back(std::move(part));
  }
  if (first.Find("split.tensors.count")) {
    LAZYLLM_ASSIGN_OR_RETURN(int64_t want, first.GetInt("split.tensors.count"));
    if (want != tensors)
      return InvalidArgumentError(path + ": split.tensors.count is " + std::to_string(want) + " but the " +
                                  std::to_string(count) + " parts hold " + std::to_string(tensors) + " tensors");
  }
  return OkStatus();
}

}  // namespace

StatusOr<Model> Model::Load(const std::string& path, const LoadOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  LAZYLLM_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(path));
  LAZYLLM_RETURN_IF_ERROR(CheckFirstPart(*file));
  LAZYLLM_ASSIGN_OR_RETURN(Tokenizer tok, internal::TokenizerFromGguf(*file));
  auto impl = std::make_shared<Impl>(std::move(tok));
  impl->files.push_back(std::move(file));
  impl->config.vocab_size = impl->tokenizer.vocab_size();
  if (!options.vocab_only) {
    LAZYLLM_RETURN_IF_ERROR(OpenSplitParts(path, &impl->files));
    LAZYLLM_RETURN_IF_ERROR(ReadConfig(impl->meta(), impl.get()));
    LAZYLLM_RETURN_IF_ERROR(LoadWeights(impl.get()));
    impl->features = DescribeFeatures(*impl->arch, impl->arch_values, impl->config);
  } else if (impl->meta().Find("general.architecture")) {
    LAZYLLM_ASSIGN_OR_RETURN(std::string_view arch, impl->meta().GetString("general.architecture"));
    impl->config.architecture = std::string(arch);
  }
  impl->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return Model(std::move(impl));
}

const ModelConfig& Model::config() const { return impl_->config; }
const std::vector<ModelFeature>& Model::features() const { return impl_->features; }

std::string Model::matmul_activations(bool exact_activations) const {
  const simd::Kernels& k = simd::KernelsFor(simd::SelectedIsa());
  const bool quantized = std::any_of(impl_->matrices.begin(), impl_->matrices.end(),
                                     [&](const WeightMatrix* w) { return k.Row(w->dtype).int8_dot != nullptr; });
  if (!quantized) return "fp32";
  return exact_activations ? "fp32-exact" : "int8";
}
const Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
bool Model::has_weights() const { return impl_->has_weights; }
uint32_t Model::gguf_version() const { return impl_->meta().version(); }
int64_t Model::file_bytes() const {
  int64_t bytes = 0;
  for (const auto& f : impl_->files) bytes += static_cast<int64_t>(f->file_size());
  return bytes;
}
double Model::load_ms() const { return impl_->load_ms; }

std::string Model::chat_template() const {
  auto t = impl_->meta().GetString("tokenizer.chat_template");
  return t.ok() ? std::string(*t) : std::string();
}

std::vector<TensorSummary> Model::tensors() const {
  std::vector<TensorSummary> out;
  for (const auto& f : impl_->files)
    for (const gguf::TensorInfo& t : f->tensors())
      out.push_back({t.name, simd::FindDType(t.type_id)->name, std::vector<int64_t>(t.ne, t.ne + t.n_dims)});
  return out;
}

}  // namespace lazyllm
