// GenerateBatch: continuous batching of many requests over one engine's steps.
#include <algorithm>
#include <memory>

#include "core/base/status_macros.h"
#include "core/engine/generation.h"

namespace lazyllm {
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

// One GenerateBatch: the requests, their results, and those in flight.
class Batch {
 public:
  Batch(const Engine& engine, std::span<const BatchRequest> requests, const BatchOptions& options)
      : engine_(engine),
        requests_(requests),
        options_(options),
        results_(requests.size(), InternalError("not run")),
        width_(static_cast<size_t>(std::max(options.max_batch, 1))),
        t0_(Clock::now()) {}

  std::vector<StatusOr<GenerationResult>> Run() {
    while (next_ < requests_.size() || !active_.empty()) {
      Admit();
      Step();
      std::erase_if(active_, [](const std::unique_ptr<InFlight>& f) { return f->done; });
    }
    return std::move(results_);
  }

 private:
  void Finish(size_t i, StatusOr<GenerationResult> r) {
    results_[i] = std::move(r);
    if (options_.on_done) options_.on_done(i, results_[i]);
  }

  // Admits requests in order while there is room in the batch and the KV pool can set aside
  // their prompt and max_new_tokens (a request that cannot fit even alone fails).
  void Admit() {
    while (next_ < requests_.size() && active_.size() < width_) {
      const BatchRequest& r = requests_[next_];
      const Status valid = CheckRequest(r);
      StatusOr<Sequence> seq = valid.ok() ? engine_.NewSequence(r.sequence) : StatusOr<Sequence>(valid);
      if (!seq.ok()) {
        Finish(next_++, seq.status());
        continue;
      }
      const auto need = static_cast<int64_t>(r.prompt.size()) + r.generation.max_new_tokens;
      if (Status st = seq->ReserveKv(std::min(need, seq->max_context())); !st.ok()) {
        if (!active_.empty()) break;  // wait for a request in flight to end
        Finish(next_++, st);
        continue;
      }
      if (Status st = seq->SetSampling(r.generation.sampling); !st.ok()) {
        Finish(next_++, st);
        continue;
      }
      auto f = std::make_unique<InFlight>(InFlight{next_, std::move(*seq), {}, Clock::now(), {}});
      f->result.stats.prompt_tokens = static_cast<int64_t>(r.prompt.size());
      f->result.stats.queue_ms = Ms(f->admitted - t0_);
      f->result.stats.load_ms = engine_.model().load_ms();
      active_.push_back(std::move(f));
      ++next_;
    }
  }

  // One engine step: the prefills of the requests just admitted and a decode token of the others.
  void Step() {
    std::vector<StepItem> items;
    for (const auto& f : active_) {
      const BatchRequest& r = requests_[f->index];
      StepItem it{.sequence = &f->seq};
      if (f->result.tokens.empty()) {
        it.tokens = r.prompt;
        it.kind = StepItem::Kind::kPrefill;
        it.on_layer = r.generation.on_prefill_layer;
      } else {
        it.tokens = {&f->result.tokens.back(), 1};
      }
      items.push_back(it);
    }
    const auto s0 = Clock::now();
    const Status step = engine_.Step(items);
    const double step_ms = Ms(Clock::now() - s0);
    for (size_t j = 0; j < items.size(); ++j)
      Advance(*active_[j], items[j], step.ok() ? items[j].status : step, step_ms);
  }

  // A request after a step: it fails, or samples its next token, or ends.
  void Advance(InFlight& f, const StepItem& item, const Status& status, double step_ms) {
    if (!status.ok()) {
      f.done = true;
      Finish(f.index, status);
      return;
    }
    const GenerationOptions& g = requests_[f.index].generation;
    Stats& st = f.result.stats;
    const bool prefill = item.kind == StepItem::Kind::kPrefill;
    if (prefill) {
      st.prefill_ms = step_ms;
      st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);
    } else {
      ++f.decode_steps;
    }
    if (g.max_new_tokens > 0) {
      const int32_t token = f.seq.Sample();
      f.result.tokens.push_back(token);
      if (prefill) {
        f.first_token = Clock::now();
        st.ttft_ms = Ms(f.first_token - t0_);
      }
      if (!EndsAfter(g, engine_.model().tokenizer(), token, static_cast<int64_t>(f.result.tokens.size()), f.seq))
        return;
    }
    f.done = true;
    const auto generated = static_cast<int64_t>(f.result.tokens.size());
    CloseStats(f.seq, generated, f.decode_steps, generated > 0 ? Ms(Clock::now() - f.first_token) : 0.0, st);
    Finish(f.index, std::move(f.result));
  }

  const Engine& engine_;
  std::span<const BatchRequest> requests_;
  const BatchOptions& options_;
  std::vector<StatusOr<GenerationResult>> results_;
  const size_t width_;
  const Clock::time_point t0_;
  std::vector<std::unique_ptr<InFlight>> active_;
  size_t next_ = 0;  // the first request not admitted yet
};

}  // namespace

std::vector<StatusOr<GenerationResult>> GenerateBatch(const Engine& engine, std::span<const BatchRequest> requests,
                                                      const BatchOptions& options) {
  return Batch(engine, requests, options).Run();
}

}  // namespace lazyllm
