// Placing a model's matrices on a context's arenas: row slices, node-local copies.
#include "core/forward/placed_weights.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "core/forward/matmul.h"
#include "simd/check.h"
#include "simd/kernels.h"

namespace lazyllm {

NodeBuffer::NodeBuffer(size_t n) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes = (std::max<size_t>(n, 1) + page - 1) / page * page;
  // Mapped kHugePage bytes longer, then trimmed to start on a huge page boundary: a region
  // granted transparent huge pages only where it covers whole aligned 2 MiB.
  void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return;
  const auto lo = reinterpret_cast<uintptr_t>(raw), start = (lo + kHugePage - 1) / kHugePage * kHugePage;
  if (start > lo) munmap(raw, start - lo);
  munmap(reinterpret_cast<void*>(start + bytes), lo + kHugePage - start);
  p = reinterpret_cast<void*>(start);
  // Transparent huge pages where the system grants them: decode streams every weight once per
  // token, and 4 KiB pages stop the hardware prefetchers at every page and cost a TLB miss each.
  madvise(p, bytes, MADV_HUGEPAGE);
}

NodeBuffer::~NodeBuffer() {
  if (p != MAP_FAILED) munmap(p, bytes);
}

namespace {

// Whether the A/B switch `name` is on: unset, or anything but "0".
bool SwitchOn(const char* name) {
  const char* env = std::getenv(name);
  return env == nullptr || std::string_view(env) != "0";
}

// LAZYLLM_REPACK=0 keeps every matrix in its stored layout (an A/B switch for benchmarks: the
// same binary with and without the interleaved layouts).
bool RepackAllowed() {
  static const bool allowed = SwitchOn("LAZYLLM_REPACK");
  return allowed;
}

// LAZYLLM_PAD_ROWS=0 copies F32 rows unpadded (an A/B switch for benchmarks, like the others).
bool PadAllowed() {
  static const bool allowed = SwitchOn("LAZYLLM_PAD_ROWS");
  return allowed;
}

// Whether a matrix nothing else asks to copy is copied into huge pages: where the system grants
// them, unless LAZYLLM_COPY_WEIGHTS=0 (an A/B switch, and for hosts where processes should share
// the file's pages).
bool CopyForHugePages() {
  static const bool copy = HugePagesGranted() && SwitchOn("LAZYLLM_COPY_WEIGHTS");
  return copy;
}

// Where copied slices start in their arena's buffer: on cache lines.
constexpr size_t kSliceBytesAlign = 64;
size_t AlignedBytes(size_t n) { return (n + kSliceBytesAlign - 1) / kSliceBytesAlign * kSliceBytesAlign; }

}  // namespace

// How a matrix is placed: its row ranges, one per arena, and whether they are copies (then
// interleaved where the int8 kernels read the dtype so, or with padded rows) or the mapped file
// itself.
struct PlacedWeights::Plan {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  bool copy = false, interleave = false;
  int64_t stride = 0;  // of the copies' rows
};

// F32 rows a multiple of this apart are padded (PaddedStride): the same column of every 4th row or
// closer falls in one L1 set (whose index repeats every 4 KiB).
constexpr int64_t kAliasingStride = 1024;

int64_t PaddedStride(const WeightMatrix& w) {
  if (w.dtype != simd::DType::kF32 || w.row_bytes % kAliasingStride != 0 || !PadAllowed()) return w.row_bytes;
  return w.row_bytes + 64;
}

PlacedWeights::Plan PlacedWeights::PlanOf(const WeightMatrix& w, const threading::Context& threads) {
  Plan plan;
  plan.interleave = simd::KernelsFor(simd::SelectedIsa()).Row(w.dtype).int8_group != nullptr &&
                    simd::Interleavable(w.dtype) && w.rows >= simd::kGroupRows && RepackAllowed();
  plan.copy = threads.pool().num_arenas() > 1 || plan.interleave || CopyForHugePages();
  plan.stride = plan.copy && !plan.interleave ? PaddedStride(w) : w.row_bytes;
  plan.ranges = threads.pool().num_arenas() == 1 ? std::vector<std::pair<int64_t, int64_t>>{{0, w.rows}}
                                                 : threading::SplitRows(w.rows, threads.plan(), kSliceAlign);
  return plan;
}

PlacedWeights::PlacedWeights(const Model& model, const threading::Context& threads) : model_(model) {
  const Model::Impl& m = ModelImpl(model_);
  // One buffer per arena for all its copies, so that the weights lie in whole huge pages.
  std::vector<Plan> plans;
  std::vector<size_t> arena_bytes(static_cast<size_t>(threads.pool().num_arenas()));
  for (const WeightMatrix* w : m.matrices) {
    plans.push_back(PlanOf(*w, threads));
    if (plans.back().copy)
      for (size_t a = 0; a < plans.back().ranges.size(); ++a) {
        const auto& [begin, end] = plans.back().ranges[a];
        arena_bytes[a] += AlignedBytes(static_cast<size_t>((end - begin) * plans.back().stride));
      }
  }
  std::vector<uint8_t*> next;  // per arena: where its next copy goes (null: no memory for copies)
  for (const size_t bytes : arena_bytes) {
    buffers_.push_back(std::make_unique<NodeBuffer>(bytes));
    next.push_back(buffers_.back()->p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(buffers_.back()->p));
  }
  for (size_t i = 0; i < m.matrices.size(); ++i) {
    const WeightMatrix& w = *m.matrices[i];
    LAZYLLM_CHECK(w.index == static_cast<int32_t>(slices_.size())) << "matrix index " << w.index;
    slices_.push_back(Place(w, plans[i], threads, next));
  }
}

std::vector<WeightSlice> PlacedWeights::Place(const WeightMatrix& w, const Plan& plan,
                                              const threading::Context& threads, std::vector<uint8_t*>& next) {
  if (!plan.copy) return {{0, w.rows, w.data}};
  std::vector<WeightSlice> out;
  for (const auto& [begin, end] : plan.ranges) {
    const int a = static_cast<int>(out.size());
    const uint8_t* src = w.data + begin * w.row_bytes;
    if (next[a] == nullptr) {  // no memory for a copy: compute from the mapped file
      out.push_back({begin, end, src});
      continue;
    }
    uint8_t* dst = next[a];
    next[a] += AlignedBytes(static_cast<size_t>((end - begin) * plan.stride));
    WeightSlice slice = {begin, end, dst, -1, plan.interleave, plan.stride};
    // Tasks of kGroupRows rows: a group interleaved, or (the rows past the last group, or every
    // row of a matrix not interleaved) copied as stored, each at its padded place if need be (the
    // padding stays as the fresh mapping has it: zeros).
    const int64_t groups = slice.grouped() / simd::kGroupRows, rows = end - begin;
    int toucher = -1;
    threads.pool().ParallelForIn(
        a, 0, (rows + simd::kGroupRows - 1) / simd::kGroupRows, 1, [&](int64_t t0, int64_t t1) {
          if (t0 == 0) toucher = threading::ThreadPool::CurrentArena();
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t r0 = t * simd::kGroupRows, r1 = std::min(rows, r0 + simd::kGroupRows);
            if (t < groups)
              simd::InterleaveRows(w.dtype, src + r0 * w.row_bytes, w.row_bytes, w.cols, dst + r0 * w.row_bytes);
            else
              for (int64_t r = r0; r < r1; ++r)
                std::memcpy(dst + r * plan.stride, src + r * w.row_bytes, static_cast<size_t>(w.row_bytes));
          }
        });
    slice.toucher = toucher;
    out.push_back(slice);
  }
  // The copies replace the mapped pages (which stay valid and are read again on demand).
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto lo = (reinterpret_cast<uintptr_t>(w.data) + page - 1) / page * page;
  const auto hi = (reinterpret_cast<uintptr_t>(w.data) + static_cast<uintptr_t>(w.rows * w.row_bytes)) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  return out;
}

bool GrantsHugePages(std::string_view thp_enabled) {
  return thp_enabled.find("[always]") != std::string_view::npos ||
         thp_enabled.find("[madvise]") != std::string_view::npos;
}

bool HugePagesGranted() {
  static const bool granted = [] {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    return std::getline(f, line) && GrantsHugePages(line);
  }();
  return granted;
}

const uint8_t* StoredRow(const WeightMatrix& w, const WeightSlice& s, int64_t r, uint8_t* buf) {
  const uint8_t* row = s.data + r * s.RowStride(w);
  if (r >= s.grouped()) return row;
  const int64_t g = r / simd::kGroupRows * simd::kGroupRows;
  simd::DeinterleaveRow(w.dtype, s.data + g * s.RowStride(w), w.cols, static_cast<int>(r - g), buf);
  return buf;
}

}  // namespace lazyllm
