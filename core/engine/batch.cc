// GenerateBatch: a fixed list of requests through a Scheduler, results in input order.
#include <mutex>

#include "lazyllm/generate.h"
#include "lazyllm/scheduler.h"

namespace lazyllm {

std::vector<StatusOr<GenerationResult>> GenerateBatch(const Engine& engine, std::span<const BatchRequest> requests,
                                                      const BatchOptions& options) {
  std::vector<StatusOr<GenerationResult>> results(requests.size(), InternalError("not run"));
  std::mutex mu;  // on_done runs on the scheduler's thread, failed submissions on this one
  auto finish = [&](size_t i, StatusOr<GenerationResult> r) {
    std::lock_guard<std::mutex> lock(mu);
    results[i] = std::move(r);
    if (options.on_done) options.on_done(i, results[i]);
  };
  // Offline throughput: prefills are not cut by layers (nobody waits on a token stream).
  Scheduler scheduler(engine, {.max_batch = options.max_batch, .step_budget = 0});
  std::vector<Request> batch;
  for (size_t i = 0; i < requests.size(); ++i) {
    const BatchRequest& r = requests[i];
    batch.push_back({.prompt = r.prompt,
                     .generation = r.generation,
                     .sequence = r.sequence,
                     .on_done = [&finish, i](const Completion& c) {
                       if (c.status.ok())
                         finish(i, GenerationResult{c.tokens, c.stats});
                       else
                         finish(i, c.status);
                     }});
  }
  const std::vector<StatusOr<Scheduler::Id>> ids = scheduler.Submit(std::move(batch));
  for (size_t i = 0; i < ids.size(); ++i)
    if (!ids[i].ok()) finish(i, ids[i].status());
  scheduler.WaitIdle();
  return results;
}

}  // namespace lazyllm
