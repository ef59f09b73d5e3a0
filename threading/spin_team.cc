// SpinTeam: a loop published by one claim word (generation, parts, next part), parts claimed by
// compare-and-swap on it, completion counted.
#include "threading/spin_team.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lazyllm::threading {
namespace {

inline void Pause() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

constexpr uint64_t Generation(uint64_t claim) { return claim >> 32; }
constexpr int Parts(uint64_t claim) { return static_cast<int>((claim >> 16) & 0xFFFF); }
constexpr int NextPart(uint64_t claim) { return static_cast<int>(claim & 0xFFFF); }

}  // namespace

SpinTeam::SpinTeam(int threads) : threads_(std::clamp(threads, 1, 0xFFFF)) {
  for (int w = 1; w < threads_; ++w) workers_.emplace_back([this] { WorkerLoop(); });
}

SpinTeam::~SpinTeam() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_.store(true, std::memory_order_seq_cst);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool SpinTeam::TryRun(int64_t begin, int64_t end, int64_t grain, Body body, void* ctx) {
  std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
  if (!busy.owns_lock()) return false;
  grain_ = std::max<int64_t>(grain, 1);
  chunks_ = (end - begin + grain_ - 1) / grain_;
  const auto parts = static_cast<uint64_t>(std::min<int64_t>(threads_, chunks_));
  body_ = body;
  ctx_ = ctx;
  begin_ = begin;
  end_ = end;
  done_parts_.store(0, std::memory_order_relaxed);
  const uint64_t generation = Generation(claim_.load(std::memory_order_relaxed)) + 1;
  claim_.store(generation << 32 | parts << 16, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    wake_.notify_all();
  }
  RunParts(generation);
  while (done_parts_.load(std::memory_order_acquire) < static_cast<int>(parts)) Pause();
  return true;
}

void SpinTeam::RunParts(uint64_t generation) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  while (Generation(c) == generation && NextPart(c) < Parts(c)) {
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // Part p: chunks [chunks·p/parts, chunks·(p+1)/parts), in whole grains.
    const int p = NextPart(c), parts = Parts(c);
    const int64_t c0 = chunks_ * p / parts, c1 = chunks_ * (p + 1) / parts;
    body_(ctx_, begin_ + c0 * grain_, std::min(end_, begin_ + c1 * grain_));
    done_parts_.fetch_add(1, std::memory_order_release);
    c = claim_.load(std::memory_order_acquire);
  }
}

void SpinTeam::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin for the next loop, then sleep until one is published.
    const auto published = [&] {
      return Generation(claim_.load(std::memory_order_seq_cst)) != seen || stop_.load(std::memory_order_seq_cst);
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int i = 1; !published(); ++i) {
      Pause();
      if (i % 256 == 0 && std::chrono::steady_clock::now() > deadline) {
        std::unique_lock<std::mutex> lock(sleep_mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, published);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = Generation(claim_.load(std::memory_order_acquire));
    RunParts(seen);
  }
}

}  // namespace lazyllm::threading
