// SpinTeam: a loop published by one claim word (generation, parts, next part), parts claimed by
// compare-and-swap on it; each part's slices taken from its front by its owner and from its back
// by the others, by compare-and-swap on the part's word; completed slices counted.
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

// A part's slices word: generation (its low 32 bits) << 32 | front << 16 | back.
constexpr uint64_t SlicesWord(uint64_t generation, uint64_t front, uint64_t back) {
  return (generation & 0xFFFFFFFF) << 32 | front << 16 | back;
}
constexpr int Front(uint64_t word) { return static_cast<int>((word >> 16) & 0xFFFF); }
constexpr int Back(uint64_t word) { return static_cast<int>(word & 0xFFFF); }
// Whether a slices word was published by the loop of this generation (and not an earlier one).
constexpr bool OfLoop(uint64_t word, uint64_t generation) { return word >> 32 == (generation & 0xFFFFFFFF); }

}  // namespace

SpinTeam::SpinTeam(int threads)
    : threads_(std::clamp(threads, 1, 0xFFFF)), part_slices_(static_cast<size_t>(threads_)) {
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
  parts_ = static_cast<int>(parts);
  slices_ = 0;
  done_slices_.store(0, std::memory_order_relaxed);
  const uint64_t generation = Generation(claim_.load(std::memory_order_relaxed)) + 1;
  for (int p = 0; p < parts_; ++p) {
    const int64_t slices = std::min<int64_t>(PartChunks(p), kSlices);
    slices_ += static_cast<int>(slices);
    part_slices_[p].word.store(SlicesWord(generation, 0, slices), std::memory_order_release);
  }
  claim_.store(generation << 32 | parts << 16, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    wake_.notify_all();
  }
  RunParts(generation);
  while (done_slices_.load(std::memory_order_acquire) < slices_) Pause();
  return true;
}

void SpinTeam::RunParts(uint64_t generation) {
  int done = 0;
  // The parts it claims, each from the front.
  uint64_t c = claim_.load(std::memory_order_acquire);
  while (Generation(c) == generation && NextPart(c) < Parts(c)) {
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    while (RunSlice(generation, NextPart(c), /*front=*/true)) ++done;
    c = claim_.load(std::memory_order_acquire);
  }
  // Then the back slice of the part with the most left, until none has any (or a later loop is
  // published: this one has then been completed by the others).
  if (Generation(c) == generation) {
    const int parts = Parts(c);
    for (;;) {
      int victim = -1, most = 0;
      for (int p = 0; p < parts; ++p) {
        const uint64_t w = part_slices_[p].word.load(std::memory_order_relaxed);
        if (!OfLoop(w, generation)) break;
        if (Back(w) - Front(w) > most) victim = p, most = Back(w) - Front(w);
      }
      if (victim < 0) break;
      if (RunSlice(generation, victim, /*front=*/false)) ++done;
    }
  }
  if (done > 0) done_slices_.fetch_add(done, std::memory_order_release);
}

int64_t SpinTeam::PartChunks(int p) const { return chunks_ * (p + 1) / parts_ - chunks_ * p / parts_; }

bool SpinTeam::RunSlice(uint64_t generation, int p, bool front) {
  std::atomic<uint64_t>& word = part_slices_[p].word;
  uint64_t w = word.load(std::memory_order_acquire);
  int s = 0;
  for (;;) {
    if (!OfLoop(w, generation) || Front(w) >= Back(w)) return false;
    s = front ? Front(w) : Back(w) - 1;
    const uint64_t taken = front ? w + (uint64_t{1} << 16) : w - 1;
    if (word.compare_exchange_weak(w, taken, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  // Part p: chunks [chunks·p/parts, chunks·(p+1)/parts); slice s of its `slices`: its chunks
  // [n·s/slices, n·(s+1)/slices), n the part's chunks. Whole grains.
  const int64_t first = chunks_ * p / parts_, n = PartChunks(p), slices = std::min<int64_t>(n, kSlices);
  const int64_t c0 = first + n * s / slices, c1 = first + n * (s + 1) / slices;
  body_(ctx_, begin_ + c0 * grain_, std::min(end_, begin_ + c1 * grain_));
  return true;
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
