// The prefill-then-decode generation loop over a session, and continuous batching over an engine.
#include "lazyllm/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/base/status_macros.h"

namespace lazyllm {

namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void FillPruningStats(const PruningStats& ps, int64_t kv_bytes, Stats& st) {
  st.pruning = ps;
  st.kv_bytes = kv_bytes;
}

}  // namespace

StatusOr<GenerationResult> Generate(Session& session, std::span<const int32_t> prompt,
                                    const GenerationOptions& options) {
  LAZYLLM_RETURN_IF_ERROR(Validate(options.sampling));
  if (options.max_new_tokens < 0)
    return InvalidArgumentError("max_new_tokens " + std::to_string(options.max_new_tokens) + " must be >= 0");
  GenerationResult result;
  Stats& st = result.stats;
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  st.load_ms = session.model().load_ms();
  Sequence& seq = session.sequence();
  LAZYLLM_RETURN_IF_ERROR(seq.SetSampling(options.sampling));
  const Tokenizer& tok = session.model().tokenizer();

  const auto t0 = Clock::now();
  // options.on_prefill_layer stands in for the session's own layer callback during the prefill.
  std::function<bool(int64_t, int64_t)> saved;
  if (options.on_prefill_layer) saved = session.SetLayerCallback(options.on_prefill_layer);
  Status prefilled;
  if (options.append && session.position() > 0) {
    prefilled = options.prompt_logits != nullptr ? InvalidArgumentError("prompt_logits needs a prefill, not an append")
                                                 : session.Append(prompt);
  } else {
    prefilled = session.Prefill(prompt, options.prompt_logits);
  }
  if (options.on_prefill_layer) session.SetLayerCallback(std::move(saved));
  LAZYLLM_RETURN_IF_ERROR(prefilled);
  const auto t1 = Clock::now();
  st.prefill_ms = st.ttft_ms = Ms(t1 - t0);
  st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);

  int decode_steps = 0;
  const auto d0 = Clock::now();
  for (int i = 0; i < options.max_new_tokens; ++i) {
    if (i > 0) {
      LAZYLLM_RETURN_IF_ERROR(session.DecodeStep(result.tokens.back()));
      ++decode_steps;
    }
    const int32_t next = seq.Sample();
    result.tokens.push_back(next);
    if (options.on_token && !options.on_token(next)) break;
    if (options.stop_at_eos && tok.IsEndOfGeneration(next)) break;
    if (session.position() >= session.max_context()) break;  // no room for another step
  }
  st.decode_ms = Ms(Clock::now() - d0);
  st.generated_tokens = static_cast<int64_t>(result.tokens.size());
  st.decode_tokens_per_s = decode_steps > 0 ? decode_steps / (st.decode_ms / 1000.0) : 0.0;
  FillPruningStats(session.pruning_stats(), session.kv_bytes(), st);
  return result;
}

namespace {

// A request in flight: its sequence and result so far.
struct InFlight {
  size_t index;
  Sequence seq;
  GenerationResult result;
  Clock::time_point admitted, first_token;
  int decode_steps = 0;
  bool done = false;
};

Status CheckRequest(const BatchRequest& r) {
  LAZYLLM_RETURN_IF_ERROR(Validate(r.generation.sampling));
  if (r.generation.max_new_tokens < 0)
    return InvalidArgumentError("max_new_tokens " + std::to_string(r.generation.max_new_tokens) + " must be >= 0");
  if (r.generation.prompt_logits != nullptr || r.generation.append)
    return InvalidArgumentError("prompt_logits and append are not supported in a batch");
  if (r.prompt.empty()) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
  return OkStatus();
}

}  // namespace

std::vector<StatusOr<GenerationResult>> GenerateBatch(const Engine& engine, std::span<const BatchRequest> requests,
                                                      const BatchOptions& options) {
  std::vector<StatusOr<GenerationResult>> results(requests.size(), InternalError("not run"));
  const Tokenizer& tok = engine.model().tokenizer();
  const auto t0 = Clock::now();
  auto finish = [&](size_t i, StatusOr<GenerationResult> r) {
    results[i] = std::move(r);
    if (options.on_done) options.on_done(i, results[i]);
  };
  const size_t width = static_cast<size_t>(std::max(options.max_batch, 1));
  std::vector<std::unique_ptr<InFlight>> active;
  size_t next = 0;
  while (next < requests.size() || !active.empty()) {
    // Admit in order while there is room in the batch and in the KV pool.
    std::vector<InFlight*> joining;
    while (next < requests.size() && active.size() < width) {
      const BatchRequest& r = requests[next];
      if (Status st = CheckRequest(r); !st.ok()) {
        finish(next++, st);
        continue;
      }
      StatusOr<Sequence> seq = engine.NewSequence(r.sequence);
      if (!seq.ok()) {
        finish(next++, seq.status());
        continue;
      }
      const auto need = static_cast<int64_t>(r.prompt.size()) + r.generation.max_new_tokens;
      if (Status st = seq->ReserveKv(std::min(need, seq->max_context())); !st.ok()) {
        if (!active.empty() || !joining.empty()) break;  // wait for a request in flight to end
        finish(next++, st);                              // it cannot fit even alone
        continue;
      }
      if (Status st = seq->SetSampling(r.generation.sampling); !st.ok()) {
        finish(next++, st);
        continue;
      }
      auto f = std::make_unique<InFlight>(InFlight{next, std::move(*seq), {}, Clock::now(), {}});
      f->result.stats.prompt_tokens = static_cast<int64_t>(r.prompt.size());
      f->result.stats.queue_ms = Ms(f->admitted - t0);
      f->result.stats.load_ms = engine.model().load_ms();
      joining.push_back(f.get());
      active.push_back(std::move(f));
      ++next;
    }
    // One step: the prefills of the joining requests and a decode token of the others.
    std::vector<StepItem> items;
    std::vector<InFlight*> owners;
    for (auto& f : active) {
      const BatchRequest& r = requests[f->index];
      StepItem it{.sequence = &f->seq};
      if (f->result.tokens.empty()) {
        it.tokens = r.prompt;
        it.kind = StepItem::Kind::kPrefill;
        it.on_layer = r.generation.on_prefill_layer;
      } else {
        it.tokens = {&f->result.tokens.back(), 1};
      }
      items.push_back(it);
      owners.push_back(f.get());
    }
    const auto s0 = Clock::now();
    const Status step = engine.Step(items);
    const auto s1 = Clock::now();
    for (size_t j = 0; j < items.size(); ++j) {
      InFlight& f = *owners[j];
      const BatchRequest& r = requests[f.index];
      const GenerationOptions& g = r.generation;
      Stats& st = f.result.stats;
      const Status& item_status = step.ok() ? items[j].status : step;
      if (!item_status.ok()) {
        f.done = true;
        finish(f.index, item_status);
        continue;
      }
      const bool prefill = items[j].kind == StepItem::Kind::kPrefill;
      if (prefill) {
        st.prefill_ms = Ms(s1 - s0);
        st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);
      } else {
        ++f.decode_steps;
      }
      bool stop = g.max_new_tokens == 0;
      if (!stop) {
        const int32_t next_token = f.seq.Sample();
        f.result.tokens.push_back(next_token);
        if (prefill) {
          f.first_token = Clock::now();
          st.ttft_ms = Ms(f.first_token - t0);
        }
        stop = (g.on_token && !g.on_token(next_token)) || (g.stop_at_eos && tok.IsEndOfGeneration(next_token)) ||
               static_cast<int>(f.result.tokens.size()) >= g.max_new_tokens || f.seq.position() >= f.seq.max_context();
      }
      if (!stop) continue;
      f.done = true;
      st.generated_tokens = static_cast<int64_t>(f.result.tokens.size());
      if (st.generated_tokens > 0) st.decode_ms = Ms(Clock::now() - f.first_token);
      st.decode_tokens_per_s = f.decode_steps > 0 ? f.decode_steps / (st.decode_ms / 1000.0) : 0.0;
      FillPruningStats(f.seq.pruning_stats(), f.seq.kv_bytes(), st);
      finish(f.index, std::move(f.result));
    }
    std::erase_if(active, [](const std::unique_ptr<InFlight>& f) { return f->done; });
  }
  return results;
}

}  // namespace lazyllm
