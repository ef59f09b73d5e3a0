// Thread contexts and engines: creation, the weights placed once per (model, context), warm-up, and
// the step's entry point (the items checked, the serial choice, the failed items' contexts cleared).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <unordered_set>

#include "core/base/status_macros.h"
#include "core/engine/costs.h"
#include "core/engine/engine_impl.h"
#include "core/engine/sequence_impl.h"

namespace lazyllm {
namespace {

// An item the step can run: its tokens fit the sequence and the vocabulary.
Status CheckItem(const Sequence::Impl& s, const StepItem& item) {
  const auto n = static_cast<int64_t>(item.tokens.size());
  const bool prefill = item.kind == StepItem::Kind::kPrefill;
  if (item.max_layers < 0)
    return InvalidArgumentError("max_layers " + std::to_string(item.max_layers) + " must be >= 0");
  if (!(item.max_flops >= 0) || std::isinf(item.max_flops))
    return InvalidArgumentError("max_flops " + std::to_string(item.max_flops) + " must be finite and >= 0");
  if (item.kind == StepItem::Kind::kResume) {
    if (!s.parked) return InvalidArgumentError("resume without a prefill cut short (by max_layers or max_flops)");
    if (n != 0) return InvalidArgumentError("a resume runs the parked prefill's rows: it takes no tokens");
    if (item.all_logits != nullptr) return InvalidArgumentError("all_logits needs a whole prefill");
    return OkStatus();
  }
  if (!prefill && s.parked) return InvalidArgumentError("Append while a prefill cut short waits to resume");
  if (prefill && (item.max_layers > 0 || item.max_flops > 0) && item.all_logits != nullptr)
    return InvalidArgumentError("all_logits needs a whole prefill, not one cut by max_layers or max_flops");
  if (prefill) {
    if (n == 0) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
    if (n > s.max_ctx)
      return OutOfRangeError("prompt of " + std::to_string(n) + " tokens exceeds the context of " +
                             std::to_string(s.max_ctx) + " tokens");
  } else {
    if (s.pos == 0) return InvalidArgumentError("Append/DecodeStep before Prefill: the context is empty");
    if (n == 0) return InvalidArgumentError("Append of no tokens");
    if (s.pos + n > s.max_ctx)
      return OutOfRangeError("context is full: " + std::to_string(s.pos) + " + " + std::to_string(n) +
                             " tokens exceed the context of " + std::to_string(s.max_ctx));
    if (item.all_logits != nullptr) return InvalidArgumentError("all_logits needs a prefill, not an append");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (item.tokens[i] < 0 || item.tokens[i] >= s.m.config.vocab_size)
      return InvalidArgumentError("token id " + std::to_string(item.tokens[i]) + " at index " + std::to_string(i) +
                                  " is outside the vocabulary of " + std::to_string(s.m.config.vocab_size));
  }
  return OkStatus();
}

// Items that cannot be stepped together: a missing sequence, one of another engine, one
// sequence twice, mixed exact_activations.
Status CheckItems(const Engine::Impl& e, std::span<StepItem> items) {
  std::unordered_set<const Sequence::Impl*> seen;
  int exact = -1;
  const int64_t layers = e.model.config().num_layers;
  for (const StepItem& item : items) {
    const bool cut = item.kind == StepItem::Kind::kResume ||
                     (item.kind == StepItem::Kind::kPrefill &&
                      ((item.max_layers > 0 && item.max_layers < layers) || item.max_flops > 0));
    if (cut && items.size() > 1)
      return InvalidArgumentError("a prefill cut short (max_layers, max_flops, resume) runs alone in its step");
    const Sequence::Impl* s = item.sequence == nullptr ? nullptr : internal::SequenceAccess::Get(*item.sequence);
    if (s == nullptr) return InvalidArgumentError("step item without a sequence");
    if (s->engine.get() != &e) return InvalidArgumentError("a sequence of another engine in this step");
    if (!seen.insert(s).second) return InvalidArgumentError("one sequence twice in a step");
    if (exact >= 0 && exact != static_cast<int>(s->exact_activations))
      return InvalidArgumentError("sequences with and without exact_activations in one step");
    exact = s->exact_activations ? 1 : 0;
  }
  return OkStatus();
}

}  // namespace

std::shared_ptr<const PlacedWeights> ThreadContext::Impl::Place(const Model& model) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(placed_, [](const std::weak_ptr<const PlacedWeights>& p) { return p.expired(); });
  for (const auto& weak : placed_)
    if (auto p = weak.lock(); p != nullptr && &ModelImpl(p->model()) == &ModelImpl(model)) return p;
  auto p = std::make_shared<const PlacedWeights>(model, threads);
  placed_.push_back(p);
  return p;
}

StatusOr<ThreadContext> ThreadContext::Create(const ThreadingOptions& options) {
  return internal::CreateThreadContext(options, nullptr);
}

int ThreadContext::threads() const { return impl_->threads.pool().num_threads(); }
int ThreadContext::arenas() const { return impl_->threads.pool().num_arenas(); }

Engine::Impl::Impl(const Model& m, const ThreadContext& shared, const EngineOptions& o)
    : model(m),
      k(simd::KernelsFor(simd::SelectedIsa())),
      context(shared),
      threads(internal::EngineAccess::Get(shared).threads),
      placed(internal::EngineAccess::Get(shared).Place(m)),
      kv_f16(o.kv_type == KvType::kF16),
      attention(ModelAttention(ModelImpl(m), k)),
      profiling(o.profile) {
  const ModelConfig& c = m.config();
  const int64_t head_bytes = c.head_dim * (kv_f16 ? 2 : 4), row_bytes = c.num_kv_heads * head_bytes;
  const int64_t page_rows = cache::KvCache::PageRows(head_bytes);
  kv_pool = std::make_shared<cache::KvPool>(o.kv_mem_bytes, page_rows, 2 * page_rows * row_bytes);
  if (o.mem_limit_bytes > 0) {
    mem_limit_bytes = o.mem_limit_bytes;
    mem_limit_source = "the memory limit: mem_limit_bytes, --mem-limit";
  } else {
    mem_limit_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
    mem_limit_source = "the machine's physical memory";
  }
  if (const char* env = std::getenv("LAZYLLM_SERIAL_STEP_FLOPS")) serial_step_flops = std::strtod(env, nullptr);
}

StatusOr<Engine> Engine::Create(const Model& model, const EngineOptions& options) {
  return internal::CreateEngine(model, options, nullptr);
}

StatusOr<Engine> Engine::Create(const Model& model, const ThreadContext& context, const EngineOptions& options) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  if (options.kv_mem_bytes < 0)
    return InvalidArgumentError("kv_mem_bytes " + std::to_string(options.kv_mem_bytes) + " must be >= 0");
  if (options.mem_limit_bytes < 0)
    return InvalidArgumentError("mem_limit_bytes " + std::to_string(options.mem_limit_bytes) + " must be >= 0");
  return internal::EngineAccess::Make(std::make_shared<Engine::Impl>(model, context, options));
}

const Model& Engine::model() const { return impl_->model; }
const ThreadContext& Engine::thread_context() const { return impl_->context; }
int Engine::threads() const { return impl_->threads.pool().num_threads(); }
KvType Engine::kv_type() const { return impl_->kv_f16 ? KvType::kF16 : KvType::kF32; }

StepProfile Engine::profile() const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  return impl_->profile;
}

void Engine::ResetProfile() const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  impl_->profile = {};
}

void Engine::SetProfiling(bool on) const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  impl_->profiling = on;
}

const char* StepProfile::Name(Stage stage) {
  static constexpr const char* kNames[kStages] = {"embed",     "select", "norms", "qkv",    "rope_kv",
                                                  "attention", "output", "ffn",   "lm_head"};
  return stage >= 0 && stage < kStages ? kNames[stage] : "?";
}

Engine::KvPoolInfo Engine::kv_pool() const {
  const cache::KvPool& p = *impl_->kv_pool;
  return {p.page_bytes(), p.page_rows(), p.limit_bytes(), p.held_bytes()};
}

namespace internal {
StatusOr<ThreadContext> CreateThreadContext(const ThreadingOptions& options, const threading::Topology* topo) {
  if (options.threads < 0 || options.threads > 4096)
    return InvalidArgumentError("threads " + std::to_string(options.threads) + " is out of range 0..4096");
  return EngineAccess::MakeContext(std::make_shared<ThreadContext::Impl>(options, topo));
}

StatusOr<Engine> CreateEngine(const Model& model, const EngineOptions& options, const threading::Topology* topo) {
  if (!model.has_weights()) return InvalidArgumentError("model was loaded vocab-only; an engine needs its weights");
  LAZYLLM_ASSIGN_OR_RETURN(ThreadContext context,
                           CreateThreadContext({.threads = options.threads, .numa = options.numa}, topo));
  return Engine::Create(model, context, options);
}
}  // namespace internal

Status Engine::Warmup(int64_t tokens) const {
  const int64_t ctx = impl_->model.config().context_length;
  if (tokens <= 0) tokens = 64;
  tokens = std::max<int64_t>(1, std::min(tokens, ctx - 1));
  LAZYLLM_ASSIGN_OR_RETURN(Sequence seq, NewSequence({.max_context = tokens + 1}));
  // Ids spread over the vocabulary, so that the embedding rows touched are not all one page.
  const int64_t vocab = impl_->model.config().vocab_size;
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  for (int64_t i = 0; i < tokens; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % vocab);
  StepItem item{.sequence = &seq, .tokens = ids, .kind = StepItem::Kind::kPrefill};
  LAZYLLM_RETURN_IF_ERROR(Step({&item, 1}));
  LAZYLLM_RETURN_IF_ERROR(item.status);
  const int32_t next[1] = {ids[0]};
  item = {.sequence = &seq, .tokens = next};
  LAZYLLM_RETURN_IF_ERROR(Step({&item, 1}));
  return item.status;
}

Status Engine::Step(std::span<StepItem> items) const {
  std::lock_guard<std::mutex> lock(impl_->step_mu);
  LAZYLLM_RETURN_IF_ERROR(CheckItems(*impl_, items));
  // The sequences whose items can run, and the step's matmul and attention flops: a step this
  // small runs on the calling thread.
  std::vector<SeqStep>& seqs = impl_->scratch.seqs;
  size_t count = 0;
  double flops = 0;
  bool int8 = false, decode = true;  // decode: every item appends one token
  for (StepItem& item : items) {
    Sequence::Impl* s = internal::SequenceAccess::Get(*item.sequence);
    item.status = CheckItem(*s, item);
    if (!item.status.ok()) continue;
    if (seqs.size() <= count) seqs.resize(count + 1);
    SeqStep& q = seqs[count++];
    q.seq = s;
    q.item = &item;
    q.resume = item.kind == StepItem::Kind::kResume;
    q.prefill = item.kind == StepItem::Kind::kPrefill || q.resume;
    q.parked = false;
    q.failed = OkStatus();
    q.tokens = q.resume ? s->parked->tokens : static_cast<int64_t>(item.tokens.size());
    const int64_t layers = impl_->model.config().num_layers;
    q.first_layer = q.resume ? s->parked->layers_done : 0;
    q.last_layer = item.max_layers > 0 ? std::min(layers, q.first_layer + item.max_layers) : layers;
    q.at = {};
    q.ran = false;
    q.budget = item.max_flops > 0 ? item.max_flops : std::numeric_limits<double>::infinity();
    const int64_t n = q.tokens;
    flops += std::min(q.budget, EstimateStepFlops(impl_->model.config(), n, (q.prefill ? 0 : s->pos) + n) *
                                    static_cast<double>(q.last_layer - q.first_layer) / static_cast<double>(layers));
    int8 = !s->exact_activations;
    decode = decode && item.kind == StepItem::Kind::kAppend && n == 1;
  }
  if (count == 0) return OkStatus();
  const std::span<SeqStep> work(seqs.data(), count);
  const threading::Workers workers(impl_->threads, /*serial=*/flops < impl_->serial_step_flops);
  StepProfile::Phase* phase = nullptr;
  if (impl_->profiling) phase = decode ? &impl_->profile.decode : &impl_->profile.prefill;
  const Forward f = {
      ModelImpl(impl_->model), *impl_->placed, impl_->k, impl_->attention, impl_->rope, workers, int8, phase};
  const auto start = std::chrono::steady_clock::now();
  try {
    RunStep(f, work, impl_->scratch, impl_->act);
  } catch (const std::bad_alloc&) {
    for (SeqStep& q : work)
      q.failed = ResourceExhaustedError("out of memory for the activations of a step of " + std::to_string(count) +
                                        " sequences");
  }
  if (phase != nullptr) {
    phase->steps += 1;
    for (const SeqStep& q : work) phase->rows += q.tokens;
    phase->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  for (SeqStep& q : work) {
    Sequence::Impl& s = *q.seq;
    // Pages set aside for this step and not used go back; those of its promised tokens stay
    // (and a parked prefill's, for its prompt's rows at the layers still to run).
    s.kv_promised = q.future + (q.parked ? q.tokens : 0);
    s.kv.TrimReserve(s.kv.PagesToAdd(s.kv_promised));
    if (q.active()) continue;
    s.Forget();
    q.item->status = q.failed;
  }
  return OkStatus();
}

}  // namespace lazyllm
