// Session: an Engine and one Sequence, driven one step at a time.
#include "lazyllm/session.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/base/status_macros.h"
#include "core/engine/engine_impl.h"
#include "core/engine/sequence_impl.h"
#include "core/engine/session_hooks.h"

namespace lazyllm {

struct Session::Impl {
  Engine engine;
  Sequence seq;
  Sequence::Impl& s;

  Impl(Engine e, Sequence q) : engine(std::move(e)), seq(std::move(q)), s(*internal::SequenceAccess::Get(seq)) {}

  std::function<bool(int64_t, int64_t)> on_layer;

  Status Run(std::span<const int32_t> ids, StepItem::Kind kind, std::vector<float>* all_logits) {
    StepItem item{.sequence = &seq, .tokens = ids, .kind = kind, .all_logits = all_logits, .on_layer = on_layer};
    LAZYLLM_RETURN_IF_ERROR(engine.Step({&item, 1}));
    return item.status;
  }
};

namespace internal {

struct SessionAccess {
  static Session::Impl& Get(const Session& s) { return *s.impl_; }
  static Session Make(std::unique_ptr<Session::Impl> impl) { return Session(std::move(impl)); }
};

}  // namespace internal

StatusOr<Session> Session::Create(const Model& model, const SessionOptions& options) {
  return internal::CreateSession(model, options, nullptr);
}

StatusOr<Session> Session::Create(const Engine& engine, const SessionOptions& options) {
  return internal::CreateSessionOn(engine, options);
}

namespace internal {
StatusOr<Session> CreateSession(const Model& model, const SessionOptions& options, const threading::Topology* topo) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; a session needs its weights");
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  LAZYLLM_ASSIGN_OR_RETURN(Engine engine, CreateEngine(model,
                                                       {.threads = options.threads,
                                                        .numa = options.numa,
                                                        .kv_type = options.kv_type,
                                                        .mem_limit_bytes = options.mem_limit_bytes,
                                                        .profile = options.profile},
                                                       topo));
  return CreateSessionOn(engine, options);
}

StatusOr<Session> CreateSessionOn(const Engine& engine, const SessionOptions& options) {
  LAZYLLM_ASSIGN_OR_RETURN(Sequence seq, engine.NewSequence({.max_context = options.max_context,
                                                             .pruning = options.pruning,
                                                             .exact_activations = options.exact_activations}));
  return SessionAccess::Make(std::make_unique<Session::Impl>(engine, std::move(seq)));
}
}  // namespace internal

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Status Session::Prefill(std::span<const int32_t> ids, std::vector<float>* all_logits) {
  return impl_->Run(ids, StepItem::Kind::kPrefill, all_logits);
}

Status Session::DecodeStep(int32_t token) {
  const int32_t tok[1] = {token};
  return Append(tok);
}

Status Session::Append(std::span<const int32_t> tokens) { return impl_->Run(tokens, StepItem::Kind::kAppend, nullptr); }

std::function<bool(int64_t, int64_t)> Session::SetLayerCallback(std::function<bool(int64_t, int64_t)> callback) {
  return std::exchange(impl_->on_layer, std::move(callback));
}

Status Session::Warmup(int64_t tokens) {
  if (tokens <= 0) tokens = 64;
  return impl_->engine.Warmup(std::min(tokens, impl_->seq.max_context()));
}

std::span<const float> Session::logits() const { return impl_->seq.logits(); }
int64_t Session::position() const { return impl_->seq.position(); }
int64_t Session::max_context() const { return impl_->seq.max_context(); }
int Session::threads() const { return impl_->engine.threads(); }
const Model& Session::model() const { return impl_->engine.model(); }
const PruningOptions& Session::pruning() const { return impl_->seq.pruning(); }
PruningStats Session::pruning_stats() const { return impl_->seq.pruning_stats(); }
int64_t Session::kv_bytes() const { return impl_->seq.kv_bytes(); }
const Engine& Session::engine() const { return impl_->engine; }
Sequence& Session::sequence() { return impl_->seq; }

namespace internal {

PruningHooks& Hooks(Session& session) { return SessionAccess::Get(session).s.pruning.hooks; }

bool HasKv(const Session& session, int64_t layer, int64_t slot) {
  return SessionAccess::Get(session).s.pruning.tokens.HasKv(layer, slot);
}

std::vector<float> CachedK(const Session& session, int64_t layer, int64_t slot) {
  const cache::KvCache& kv = SessionAccess::Get(session).s.kv;
  const int64_t row = kv.row_of(layer, slot);
  if (row < 0) return {};
  const int64_t head_dim = kv.kv_dim() / kv.kv_heads();
  const simd::ToF32Fn to_f32 = simd::RefKernels().Row(kv.f16() ? simd::DType::kF16 : simd::DType::kF32).to_f32;
  std::vector<float> k(static_cast<size_t>(kv.kv_dim()));
  for (int64_t h = 0; h < kv.kv_heads(); ++h) to_f32(kv.K(layer, h, row), &k[h * head_dim], head_dim);
  return k;
}

Placement WeightPlacement(const Session& session) {
  const Engine::Impl& e = EngineImpl(SessionAccess::Get(session).engine);
  const Model::Impl& m = ModelImpl(e.model);
  Placement p;
  const threading::ThreadPool& pool = e.threads.pool();
  for (int a = 0; a < pool.num_arenas(); ++a) p.arena_threads.push_back(pool.arena_threads(a));
  const auto& lw = m.layers[0];
  for (const WeightMatrix* w : {&lw.wq, &lw.w_down, &m.output}) {
    std::vector<Placement::Slice> out;
    if (w->index < 0) {  // a matrix the model does not have (w_down of a mixture of experts)
      p.matrices.push_back(std::move(out));
      continue;
    }
    std::vector<uint8_t> buf(static_cast<size_t>(w->row_bytes));
    for (const auto& sl : e.placed->Slices(*w)) {
      bool equal = true;  // every row, deinterleaved if need be, as in the file
      for (int64_t r = 0; r < sl.end - sl.begin && equal; ++r)
        equal = std::memcmp(StoredRow(*w, sl, r, buf.data()), w->Row(sl.begin + r), buf.size()) == 0;
      out.push_back({sl.begin, sl.end, sl.data != w->data + sl.begin * w->row_bytes, sl.toucher, equal, sl.interleaved,
                     sl.RowStride(*w)});
    }
    p.matrices.push_back(std::move(out));
  }
  return p;
}

}  // namespace internal
}  // namespace lazyllm
