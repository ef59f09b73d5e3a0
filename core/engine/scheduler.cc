// Scheduler: requests from any thread, continuous batching on one thread over an engine's steps.
#include "lazyllm/scheduler.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/base/status_macros.h"
#include "core/engine/costs.h"
#include "core/engine/generation.h"

namespace lazyllm {

std::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kTimeout:
      return "timeout";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

namespace {

Status CheckRequest(const Request& r) {
  LAZYLLM_RETURN_IF_ERROR(Validate(r.generation.sampling));
  if (r.generation.max_new_tokens < 0)
    return InvalidArgumentError("max_new_tokens " + std::to_string(r.generation.max_new_tokens) + " must be >= 0");
  if (r.generation.prompt_logits != nullptr || r.generation.append)
    return InvalidArgumentError("prompt_logits and append are not supported in a batch");
  if (r.prompt.empty()) return InvalidArgumentError("prompt is empty: prefill needs at least one token");
  for (const std::string& s : r.stop)
    if (s.empty()) return InvalidArgumentError("a stop string is empty");
  if (!(r.timeout_s >= 0)) return InvalidArgumentError("timeout " + std::to_string(r.timeout_s) + " must be >= 0");
  return OkStatus();
}

// The generated text and the part of it already delivered: stop strings end it, and text that
// could still begin one is held back.
class StopText {
 public:
  StopText(const Tokenizer& tok, const std::vector<std::string>& stop) : decoder_(tok), stop_(stop) {
    for (const std::string& s : stop_) longest_ = std::max(longest_, s.size());
  }

  // Adds `piece`; true when a stop string appeared (the text is then cut before it).
  bool Add(const std::string& piece) {
    const size_t from = text_.size() > longest_ ? text_.size() - longest_ + 1 : 0;
    text_ += piece;
    size_t cut = std::string::npos;
    for (const std::string& s : stop_) cut = std::min(cut, text_.find(s, from));
    if (cut == std::string::npos) return false;
    text_.resize(cut);
    return true;
  }
  bool Next(int32_t token) { return Add(decoder_.Next(token)); }
  bool Flush() { return Add(decoder_.Flush()); }

  // The text not yet delivered that no stop string can claim any more (all of it when `final`).
  std::string Take(bool final) {
    size_t end = text_.size();
    if (!final) end -= HeldBack();
    std::string out = text_.substr(delivered_, end > delivered_ ? end - delivered_ : 0);
    delivered_ = std::max(delivered_, end);
    return out;
  }
  std::string& text() { return text_; }

 private:
  // The longest end of the text that is a proper beginning of a stop string.
  size_t HeldBack() const {
    size_t held = 0;
    for (const std::string& s : stop_)
      for (size_t n = std::min(s.size() - 1, text_.size()); n > held; --n)
        if (text_.compare(text_.size() - n, n, s, 0, n) == 0) {
          held = n;
          break;
        }
    return held;
  }

  StreamDecoder decoder_;
  const std::vector<std::string>& stop_;
  size_t longest_ = 0;
  std::string text_;
  size_t delivered_ = 0;
};

}  // namespace

// One request from Submit to on_done.
struct Job {
  Scheduler::Id id = 0;
  Request req;
  Clock::time_point submitted, first_token;
  std::optional<Clock::time_point> deadline;
  std::optional<Sequence> seq;
  std::optional<StopText> text;
  Completion out;
  int decode_steps = 0;
  bool cut = false;  // its prefill runs in parts of about `part_flops`
  double part_flops = 0;
  double prefill_ms = 0;
  bool done = false;
  std::atomic<bool> cancel{false};  // set by Cancel from any thread

  bool Expired(Clock::time_point now) const { return deadline && now >= *deadline; }
};

// A prefill (or a part of one) ends at the next layer when its request is cancelled or its time
// runs out; the request's own on_prefill_layer is asked too.
std::function<bool(int64_t, int64_t)> PrefillProgress(Job& j) {
  return [&j, user = j.req.generation.on_prefill_layer](int64_t done, int64_t layers) {
    if (j.cancel || j.Expired(Clock::now())) return false;
    return !user || user(done, layers);
  };
}

struct Scheduler::Impl {
  Impl(const Engine& e, const SchedulerOptions& o) : engine(e), options(o) {}

  const Engine engine;
  const SchedulerOptions options;

  mutable std::mutex mu;
  std::condition_variable work;  // something to do (or stop)
  std::condition_variable idle;  // something ended
  std::deque<std::unique_ptr<Job>> queue;
  std::vector<std::unique_ptr<Job>> running;  // the driver's; read under mu by state()
  std::unordered_map<Id, Job*> live;          // queued and running, for Cancel
  Id next_id = 1;
  bool accepting = true;
  bool stop = false;
  int64_t steps = 0, prefill_parts = 0;
  std::thread driver;

  void Loop();
  std::vector<std::unique_ptr<Job>> TakeEnded(Clock::time_point now);
  void Admit(std::vector<std::unique_ptr<Job>>& ended);
  void Step();
  void StepPrefillPart();
  void Advance(Job& j, const StepItem& item, const Status& status, double step_ms);
  void Deliver(Job& j, int32_t token, bool final);
  void End(Job& j, FinishReason why, Status status = OkStatus());
};

void Scheduler::Impl::End(Job& j, FinishReason why, Status status) {
  j.done = true;
  j.out.finish = why;
  j.out.status = std::move(status);
  if (j.text) {
    if (why == FinishReason::kLength || why == FinishReason::kTimeout || why == FinishReason::kStop) {
      if (j.text->Flush() && why != FinishReason::kStop) j.out.finish = FinishReason::kStop;
      Deliver(j, -1, /*final=*/true);
    }
    j.out.text = std::move(j.text->text());
  }
  if (j.seq) {
    const auto generated = static_cast<int64_t>(j.out.tokens.size());
    const double decode_ms = generated > 0 ? Ms(Clock::now() - j.first_token) : 0.0;
    CloseStats(*j.seq, generated, j.decode_steps, decode_ms, j.out.stats);
    j.seq.reset();  // its KV pages go back to the pool now
  }
}

void Scheduler::Impl::Deliver(Job& j, int32_t token, bool final) {
  std::string piece = j.text->Take(final);
  if (j.req.on_token && (token >= 0 || !piece.empty())) j.req.on_token(TokenEvent{token, std::move(piece)});
}

// Cancelled and timed-out requests end: those queued leave the queue and are returned, those
// running stay in `running`, done.
std::vector<std::unique_ptr<Job>> Scheduler::Impl::TakeEnded(Clock::time_point now) {
  std::vector<std::unique_ptr<Job>> ended;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = queue.begin(); it != queue.end();) {
      if ((*it)->cancel || (*it)->Expired(now)) {
        ended.push_back(std::move(*it));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto end = [&](Job& j) {
    if (j.cancel)
      End(j, FinishReason::kCancelled, CancelledError("request " + std::to_string(j.id) + " was cancelled"));
    else if (j.Expired(now))
      End(j, FinishReason::kTimeout);
  };
  for (auto& j : ended) end(*j);
  for (auto& j : running) end(*j);
  return ended;
}

// Admits queued requests in order while there is room in the batch and the KV pool can set aside
// their prompt and max_new_tokens (one that cannot fit even alone fails).
void Scheduler::Impl::Admit(std::vector<std::unique_ptr<Job>>& ended) {
  const auto width = static_cast<size_t>(std::max(options.max_batch, 1));
  std::unique_lock<std::mutex> lock(mu);
  while (!queue.empty() && running.size() < width) {
    Job& j = *queue.front();  // only this thread takes jobs out of the queue
    const Request& r = j.req;
    // The engine's calls take its lock: not under ours, which a callback running inside a step
    // (on_prefill_layer) may take to submit.
    lock.unlock();
    StatusOr<Sequence> seq = engine.NewSequence(r.sequence);
    Status st = seq.status();
    if (st.ok()) {
      const auto need = static_cast<int64_t>(r.prompt.size()) + r.generation.max_new_tokens;
      st = seq->ReserveKv(std::min(need, seq->max_context()));
    }
    if (st.ok()) st = seq->SetSampling(r.generation.sampling);
    lock.lock();
    if (st.code() == StatusCode::kResourceExhausted && !running.empty()) break;  // wait for a running request to end
    if (!st.ok()) {
      End(j, FinishReason::kError, st);
      ended.push_back(std::move(queue.front()));
      queue.pop_front();
      continue;
    }
    j.seq.emplace(std::move(*seq));
    j.text.emplace(engine.model().tokenizer(), j.req.stop);
    const auto n = static_cast<int64_t>(r.prompt.size());
    const int64_t layers = engine.model().config().num_layers;
    j.cut = options.step_budget > 0 && n * layers > options.step_budget;
    j.part_flops = static_cast<double>(options.step_budget) * EstimateLayerFlops(engine.model().config()).row();
    Stats& stats = j.out.stats;
    stats.prompt_tokens = static_cast<int64_t>(r.prompt.size());
    stats.queue_ms = Ms(Clock::now() - j.submitted);
    stats.load_ms = engine.model().load_ms();
    running.push_back(std::move(queue.front()));
    queue.pop_front();
  }
}

// One engine step: the prefills of the requests just admitted and a decode token of the others.
void Scheduler::Impl::Step() {
  std::vector<StepItem> items;
  std::vector<Job*> jobs;
  for (const auto& jp : running) {
    Job& j = *jp;
    if (j.done) continue;
    StepItem it{.sequence = &*j.seq};
    if (j.out.tokens.empty()) {
      if (j.cut) continue;  // StepPrefillPart runs it
      it.tokens = j.req.prompt;
      it.kind = StepItem::Kind::kPrefill;
      it.on_layer = PrefillProgress(j);
    } else {
      it.tokens = {&j.out.tokens.back(), 1};
    }
    items.push_back(std::move(it));
    jobs.push_back(&j);
  }
  if (!items.empty()) {
    const auto s0 = Clock::now();
    const Status step = engine.Step(items);
    const double step_ms = Ms(Clock::now() - s0);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++steps;
    }
    for (size_t i = 0; i < items.size(); ++i) Advance(*jobs[i], items[i], step.ok() ? items[i].status : step, step_ms);
  }
  StepPrefillPart();
}

// The next part of a prefill cut short, alone in its step; the last part gives the request its
// first token. Of several, the one with the least work left goes first (the oldest of equals):
// a short prompt that arrives during a long one's prefill waits a few parts, not all of them.
void Scheduler::Impl::StepPrefillPart() {
  const int64_t layers = engine.model().config().num_layers;
  Job* next = nullptr;
  int64_t least = 0;
  for (const auto& jp : running) {
    if (jp->done || !jp->cut || !jp->out.tokens.empty()) continue;
    const int64_t left = static_cast<int64_t>(jp->req.prompt.size()) * (layers - jp->seq->prefill_layers_done());
    if (next == nullptr || left < least) next = jp.get(), least = left;
  }
  if (next == nullptr) return;
  Job& j = *next;
  StepItem item{.sequence = &*j.seq, .max_flops = j.part_flops, .on_layer = PrefillProgress(j)};
  if (j.seq->prefill_pending()) {  // an earlier part stopped there
    item.kind = StepItem::Kind::kResume;
  } else {
    item.tokens = j.req.prompt;
    item.kind = StepItem::Kind::kPrefill;
  }
  const auto s0 = Clock::now();
  const Status step = engine.Step({&item, 1});
  j.prefill_ms += Ms(Clock::now() - s0);
  {
    std::lock_guard<std::mutex> lock(mu);
    ++steps;
    ++prefill_parts;
  }
  const Status& status = step.ok() ? item.status : step;
  if (status.ok() && j.seq->prefill_pending()) return;  // more parts to come
  Advance(j, item, status, j.prefill_ms);
}

// A request after a step: it fails, or samples its next token, or ends.
void Scheduler::Impl::Advance(Job& j, const StepItem& item, const Status& status, double step_ms) {
  if (!status.ok()) {
    if (status.code() == StatusCode::kCancelled && !j.cancel && j.Expired(Clock::now()))
      End(j, FinishReason::kTimeout);
    else if (status.code() == StatusCode::kCancelled && j.cancel)
      End(j, FinishReason::kCancelled, status);
    else
      End(j, FinishReason::kError, status);
    return;
  }
  const GenerationOptions& g = j.req.generation;
  Stats& st = j.out.stats;
  const bool prefill = item.kind != StepItem::Kind::kAppend;  // a whole prefill, or a cut one's last part
  if (prefill) {
    st.prefill_ms = step_ms;
    st.prefill_tokens_per_s = st.prompt_tokens / (st.prefill_ms / 1000.0);
  } else {
    ++j.decode_steps;
  }
  if (g.max_new_tokens == 0) return End(j, FinishReason::kLength);
  const int32_t token = j.seq->Sample();
  j.out.tokens.push_back(token);
  if (prefill) {
    j.first_token = Clock::now();
    st.ttft_ms = Ms(j.first_token - j.submitted);
  }
  const bool stopped = j.text->Next(token);  // a stop string appeared
  Deliver(j, token, /*final=*/false);
  if (stopped) return End(j, FinishReason::kStop);
  const auto generated = static_cast<int64_t>(j.out.tokens.size());
  if (const auto why = EndsAfter(g, engine.model().tokenizer(), token, generated, *j.seq)) End(j, *why);
}

void Scheduler::Impl::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      work.wait(lock, [&] { return stop || !queue.empty() || !running.empty(); });
      if (stop && queue.empty() && running.empty()) return;
    }
    std::vector<std::unique_ptr<Job>> ended = TakeEnded(Clock::now());
    Admit(ended);
    Step();
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& j : running)
        if (j->done) ended.push_back(std::move(j));
      std::erase(running, nullptr);
    }
    if (ended.empty()) continue;
    // Their sequences are gone (pages returned); report outside the lock so that on_done may
    // submit or cancel, then let WaitIdle and Shutdown see them gone.
    for (const auto& j : ended)
      if (j->req.on_done) j->req.on_done(j->out);
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& j : ended) live.erase(j->id);
    idle.notify_all();
  }
}

Scheduler::Scheduler(const Engine& engine, const SchedulerOptions& options)
    : impl_(std::make_unique<Impl>(engine, options)) {
  impl_->driver = std::thread([this] { impl_->Loop(); });
}

Scheduler::~Scheduler() { Shutdown(0); }

StatusOr<Scheduler::Id> Scheduler::Submit(Request request) {
  std::vector<Request> one;
  one.push_back(std::move(request));
  return std::move(Submit(std::move(one)).front());
}

std::vector<StatusOr<Scheduler::Id>> Scheduler::Submit(std::vector<Request> requests) {
  Impl& s = *impl_;
  const auto now = Clock::now();
  std::vector<StatusOr<Id>> ids;
  std::lock_guard<std::mutex> lock(s.mu);
  for (Request& r : requests) {
    Status st = CheckRequest(r);
    if (st.ok() && !s.accepting) st = CancelledError("the scheduler is shutting down");
    if (st.ok() && s.options.max_queue > 0 && std::ssize(s.queue) >= s.options.max_queue)
      st = ResourceExhaustedError("the queue is full (" + std::to_string(s.options.max_queue) + " requests waiting)");
    if (!st.ok()) {
      ids.emplace_back(st);
      continue;
    }
    auto j = std::make_unique<Job>();
    j->id = s.next_id++;
    j->submitted = now;
    if (r.timeout_s > 0)
      j->deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(r.timeout_s));
    j->req = std::move(r);
    s.live[j->id] = j.get();
    ids.emplace_back(j->id);
    s.queue.push_back(std::move(j));
  }
  s.work.notify_one();
  return ids;
}

bool Scheduler::Cancel(Id id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto it = impl_->live.find(id);
  if (it == impl_->live.end()) return false;
  it->second->cancel = true;
  impl_->work.notify_one();
  return true;
}

void Scheduler::WaitIdle() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->idle.wait(lock, [&] { return impl_->live.empty(); });
}

void Scheduler::Shutdown(double grace_s) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.accepting = false;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace_s));
  if (!s.idle.wait_until(lock, until, [&] { return s.live.empty(); })) {
    for (auto& [id, job] : s.live) job->cancel = true;
    s.work.notify_one();
    s.idle.wait(lock, [&] { return s.live.empty(); });
  }
  if (!s.driver.joinable()) return;
  s.stop = true;
  s.work.notify_one();
  lock.unlock();
  s.driver.join();
}

SchedulerState Scheduler::state() const {
  const Engine::KvPoolInfo kv = impl_->engine.kv_pool();
  std::lock_guard<std::mutex> lock(impl_->mu);
  return {.queued = std::ssize(impl_->queue),
          .running = std::ssize(impl_->running),
          .kv_held_bytes = kv.held_bytes,
          .kv_limit_bytes = kv.limit_bytes,
          .steps = impl_->steps,
          .prefill_parts = impl_->prefill_parts};
}

const Engine& Scheduler::engine() const { return impl_->engine; }

}  // namespace lazyllm
