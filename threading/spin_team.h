// A fork-join team for one unpinned arena: workers that spin between loops, so the many short
// loops of a decode step (a matmul every few microseconds) do not each wake a sleeping thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lazyllm::threading {

class SpinTeam {
 public:
  // A loop body: fn(ctx, begin, end) on one part of the range.
  using Body = void (*)(void* ctx, int64_t begin, int64_t end);

  // threads - 1 workers (threads <= 65535); the thread that runs a loop is the last member.
  explicit SpinTeam(int threads);
  ~SpinTeam();
  SpinTeam(const SpinTeam&) = delete;
  SpinTeam& operator=(const SpinTeam&) = delete;

  // Splits [begin, end) into at most `threads` parts of whole grains and runs body on each, on
  // the caller and the workers (a part goes to whoever claims it first; the caller claims until
  // none is left, so a loop never waits for a worker to wake up). Returns false, running nothing,
  // when the team is running another loop (a nested or concurrent call): the caller then runs
  // the loop some other way.
  bool TryRun(int64_t begin, int64_t end, int64_t grain, Body body, void* ctx);

  // How long an idle worker spins on the next loop before it sleeps.
  static constexpr int64_t kSpinMicros = 200;

 private:
  void WorkerLoop();
  // Claims and runs parts of loop `generation` until none is left (or another loop is current).
  void RunParts(uint64_t generation);

  const int threads_;
  std::mutex busy_;  // held by the thread running a loop
  // The current loop, written under busy_ before claim_ publishes it; read only by a thread that
  // has claimed one of its parts, so never while it is written.
  Body body_ = nullptr;
  void* ctx_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunks_ = 0, grain_ = 1;
  // The claim word: generation (loops published so far) << 32 | parts << 16 | next part. A claim
  // is a compare-and-swap of it, so it names the loop whose part it takes.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_parts_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
};

}  // namespace lazyllm::threading
