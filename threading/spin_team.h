// A fork-join team for one unpinned arena: workers that spin between loops, so the many short
// loops of a decode step (a matmul every few microseconds) do not each wake a sleeping thread.
//
// A loop is cut into one part per thread, and each part into up to kSlices slices of whole grains.
// A member runs its part's slices from the front; a member whose part is done takes slices from
// the back of the part with the most left. So a member that runs slower (a virtual CPU its host
// slows down, a smaller core, an interrupt) hands the end of its part to the others instead of
// holding up the loop, and every member still reads its memory front to back in runs of at least
// a slice.
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

  // Splits [begin, end) into at most `threads` parts of whole grains, each into at most kSlices
  // slices of whole grains, and runs body on every slice, on the caller and the workers (a part
  // goes to whoever claims it first; the caller claims until none is left, so a loop never waits
  // for a worker to wake up; then each member takes slices left in others' parts, from their
  // back). Returns false, running nothing, when the team is running another loop (a nested or
  // concurrent call): the caller then runs the loop some other way.
  bool TryRun(int64_t begin, int64_t end, int64_t grain, Body body, void* ctx);

  // How long an idle worker spins on the next loop before it sleeps.
  static constexpr int64_t kSpinMicros = 200;
  // Slices per part: the finest share of a part that another member can take over.
  static constexpr int kSlices = 16;

 private:
  // A part's slices not yet taken, [front, back), in the word of the loop's generation:
  // generation << 32 | front << 16 | back. Its owner takes the front slice, others the back one,
  // each by compare-and-swap of the word, which fails once a later loop has rewritten it.
  struct alignas(64) Slices {
    std::atomic<uint64_t> word{0};
  };

  void WorkerLoop();
  // Runs loop `generation`'s slices: those of the parts it claims, then others' from the back.
  void RunParts(uint64_t generation);
  // Takes part p's front (or back) slice of loop `generation` and runs it; false when none is left.
  bool RunSlice(uint64_t generation, int p, bool front);
  // The chunks of part p of the current loop.
  int64_t PartChunks(int p) const;

  const int threads_;
  std::mutex busy_;  // held by the thread running a loop
  // The current loop, written under busy_ before claim_ publishes it; read only by a thread that
  // has claimed one of its parts, so never while it is written.
  Body body_ = nullptr;
  void* ctx_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunks_ = 0, grain_ = 1;
  int parts_ = 0, slices_ = 0;  // this loop's parts and slices in all
  // The claim word: generation (loops published so far) << 32 | parts << 16 | next part. A claim
  // is a compare-and-swap of it, so it names the loop whose part it takes.
  std::atomic<uint64_t> claim_{0};
  std::vector<Slices> part_slices_;  // one per part (threads)
  std::atomic<int> done_slices_{0};  // added by each member once it finds no slice left
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
};

}  // namespace lazyllm::threading
