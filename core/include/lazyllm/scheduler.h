// A request scheduler over one Engine: requests submitted from any thread, run with continuous
// batching on the scheduler's own thread, their tokens and text delivered as they come. What a
// server puts under its endpoints; GenerateBatch is a use of it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/engine.h"
#include "lazyllm/generate.h"
#include "lazyllm/status.h"

namespace lazyllm {

// Why a generation ended.
enum class FinishReason {
  kStop,       // an end-of-generation token, a stop string, or the caller's on_token said stop
  kLength,     // max_new_tokens reached, or the context is full
  kTimeout,    // the request's timeout passed (it keeps what it generated)
  kCancelled,  // Cancel, or the scheduler shut down (status is kCancelled)
  kError,      // status says what failed
};
LAZYLLM_API std::string_view FinishReasonName(FinishReason r);  // "stop", "length", ...

// Text generated so far, as it becomes final: a piece ends on a whole UTF-8 character and never
// holds text that could still turn out to begin a stop string.
struct TokenEvent {
  int32_t token = 0;
  std::string text;  // may be empty (an incomplete character, a possible stop string)
};

// What a finished request produced.
struct Completion {
  Status status;  // OK unless finish is kError or kCancelled
  FinishReason finish = FinishReason::kError;
  std::vector<int32_t> tokens;  // every generated id (a stop string's tokens included)
  std::string text;             // the generated text, cut where a stop string begins
  Stats stats;                  // queue_ms and ttft_ms count from Submit
};

struct Request {
  std::vector<int32_t> prompt;
  // max_new_tokens, sampling, stop_at_eos and on_token (return false to stop: finish kStop).
  // prompt_logits and append are not supported.
  GenerationOptions generation;
  // Context length, pruning schedule, exact activations.
  SequenceOptions sequence;
  // Generation stops before the first of these strings in the text (it is not part of `text`).
  std::vector<std::string> stop;
  // Seconds from Submit after which the request ends with kTimeout; 0: none.
  double timeout_s = 0;
  // Called on the scheduler's thread for each generated token, then once when it ends. Keep
  // them short: the next step waits for them.
  std::function<void(const TokenEvent&)> on_token;
  std::function<void(const Completion&)> on_done;
};

struct SchedulerOptions {
  // Sequences in flight at once (a server's --parallel). Default 32.
  int max_batch = 32;
  // Requests waiting for admission at most; Submit refuses more with kResourceExhausted.
  // 0: no limit.
  int max_queue = 0;
  // The work one step gives a prefill, in rows × layers: a row through one layer's matmuls
  // counts 1, its attention at its flops on top. A prompt of n tokens with n × num_layers above
  // it is prefilled in parts of about that much work (StepItem::max_flops), each its own step
  // after a step of the other requests, so that their decoding does not wait for the whole
  // prefill. A part ends between layers or inside one (StepItem::max_flops says where), and runs
  // one range of rows at least. What the prefill computes is unchanged (its
  // selections, revivals and logits are those of the unsplit prefill, bit for bit). One such
  // prefill advances at a time: the one with the least work left. 0: never cut. The default,
  // 512, is half a layer of a 1,024-token prompt.
  int64_t step_budget = kDefaultStepBudget;
  static constexpr int64_t kDefaultStepBudget = 512;
};

// What the scheduler holds now.
struct SchedulerState {
  int64_t queued = 0;         // submitted, not admitted
  int64_t running = 0;        // admitted, not finished
  int64_t kv_held_bytes = 0;  // the engine's KV pool in use
  int64_t kv_limit_bytes = 0;
  int64_t steps = 0;          // engine steps run
  int64_t prefill_parts = 0;  // of them, parts of prefills cut by layers
};

// Requests are admitted in submission order while fewer than max_batch run and the engine's KV
// pool can set aside their prompt and max_new_tokens (a request that cannot fit even alone
// fails with kResourceExhausted). Each step is one Engine::Step over the admitted requests'
// prefills and one decode token of the others. A request's tokens do not depend on what else
// runs (see Engine::Step for the rounding bounds of mixed steps).
class LAZYLLM_API Scheduler {
 public:
  using Id = uint64_t;

  explicit Scheduler(const Engine& engine, const SchedulerOptions& options = {});
  // Cancels what is queued or running (their on_done report kCancelled) and joins the thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; InvalidArgument for a bad one (checked here: sampling, max_new_tokens,
  // an empty prompt), ResourceExhausted when the queue is full, Cancelled after Shutdown. On
  // error on_done is not called.
  StatusOr<Id> Submit(Request request);
  // Queues several at once, in order: none is admitted before all are queued, so the first step
  // sees all that fit. Each gets its id or its error.
  std::vector<StatusOr<Id>> Submit(std::vector<Request> requests);
  // Ends a queued or running request at the next step (or at the next layer of its prefill): its
  // KV pages return to the pool and on_done reports kCancelled. False when it already ended.
  bool Cancel(Id id);
  // Stops taking requests; those queued and running finish normally. Then, once every request
  // has ended or `grace_s` has passed, cancels what remains. Returns when all have ended.
  void Shutdown(double grace_s);
  // Blocks until nothing is queued or running.
  void WaitIdle();

  SchedulerState state() const;
  const Engine& engine() const;

  struct LAZYLLM_LOCAL Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lazyllm
