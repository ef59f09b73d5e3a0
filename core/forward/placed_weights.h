// Placed weights: every matrix the forward pass multiplies by, split by output rows into one
// slice per arena of a threading context; built once per (model, context) and shared by the
// engines of that pair. With several NUMA nodes each slice is a copy in its node's memory.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/model/model_impl.h"
#include "simd/interleaved.h"
#include "threading/context.h"

namespace lazyllm {

// Rows [begin, end) of a weight matrix as computed by one arena; data points at row `begin`.
struct WeightSlice {
  int64_t begin, end;
  const uint8_t* data;
  int toucher = -1;  // arena whose worker first wrote a node-local copy (-1: the mapped file itself)
  // Whether the slice's first grouped() rows are interleaved in groups of simd::kGroupRows
  // (simd/interleaved.h); the rest are stored as in the file, at the same offsets.
  bool interleaved = false;
  // Bytes from one row to the next; 0: the matrix's row_bytes, as in the file. A copy of F32 rows
  // is padded (PaddedStride) so that the rows a kernel reads side by side do not share cache sets.
  int64_t stride = 0;
  int64_t grouped() const { return interleaved ? (end - begin) / simd::kGroupRows * simd::kGroupRows : 0; }
  int64_t RowStride(const WeightMatrix& w) const { return stride != 0 ? stride : w.row_bytes; }
};

// Row r of a slice in the stored format: in place, or written to buf (w.row_bytes bytes).
const uint8_t* StoredRow(const WeightMatrix& w, const WeightSlice& s, int64_t r, uint8_t* buf);

// The row stride of a copy of w's rows: row_bytes, except for F32 rows of a multiple of 1 KiB,
// which get one cache line more (an odd number of lines). The small-batch kernel reads 4 rows at
// a time at the same column and prefetches the next 4; rows a multiple of 4 KiB apart put all of
// those lines in one L1 set, and 1 KiB apart in a few. Padded, llama3.2-1b F32 (8 KiB rows)
// decodes 8–17% more tokens/s at B = 8 and ~7% at B = 32 (LAZYLLM_PAD_ROWS=0 against the default,
// alternating, 2026-12-05: docs/performance.md); prefill and one-row decode are level. The
// copies grow by 64 bytes a row (0.6% there).
int64_t PaddedStride(const WeightMatrix& w);

// Whether the kernel grants transparent huge pages to memory that asks for them, from the line of
// /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise] never": the mode in brackets).
bool GrantsHugePages(std::string_view thp_enabled);
// GrantsHugePages of this system's line, read once (false where there is none).
bool HugePagesGranted();

// Anonymous memory, mapped untouched so that the first thread to write a page places it (Linux's
// default first-touch policy): the copy into it runs on the owning node's pinned workers. It starts
// on a huge page boundary and asks for transparent huge pages.
struct NodeBuffer {
  static constexpr size_t kHugePage = size_t{2} << 20;
  void* p = MAP_FAILED;
  size_t bytes = 0;
  explicit NodeBuffer(size_t n);
  ~NodeBuffer();
  NodeBuffer(const NodeBuffer&) = delete;
  NodeBuffer& operator=(const NodeBuffer&) = delete;
};

// Immutable once built; it keeps its model alive.
class PlacedWeights {
 public:
  // With several arenas each slice is copied into memory first written by its arena's pinned
  // workers, so it lives on their node. With one, the slice is the whole matrix, copied where the
  // system grants transparent huge pages (HugePagesGranted; LAZYLLM_COPY_WEIGHTS=0 leaves it
  // mapped): decode streams every weight once per token, and reads huge pages faster than the
  // file's 4 KiB ones (llama3.2-1b F32: 4-8% more tokens/s at B = 8, 8-17% at B = 1). Matrices
  // whose dtype the int8 kernels read interleaved (DTypeKernels::int8_group) are always copied,
  // interleaved. An arena's copies share one buffer (whole huge pages, not a partial one at each
  // matrix's ends). A copied matrix's mapped pages are released (they stay valid and are read
  // again on demand), so memory stays one copy of the weights.
  PlacedWeights(const Model& model, const threading::Context& threads);
  PlacedWeights(const PlacedWeights&) = delete;
  PlacedWeights& operator=(const PlacedWeights&) = delete;

  const Model& model() const { return model_; }
  // The slices of w, a matrix of the model (w.index >= 0); slice a is computed by arena a.
  const std::vector<WeightSlice>& Slices(const WeightMatrix& w) const { return slices_[w.index]; }

 private:
  struct Plan;
  static Plan PlanOf(const WeightMatrix& w, const threading::Context& threads);
  // Copies w's slices to next[a] (advancing it) where the plan says so.
  std::vector<WeightSlice> Place(const WeightMatrix& w, const Plan& plan, const threading::Context& threads,
                                 std::vector<uint8_t*>& next);

  Model model_;
  std::vector<std::vector<WeightSlice>> slices_;      // by WeightMatrix::index
  std::vector<std::unique_ptr<NodeBuffer>> buffers_;  // one per arena
};

}  // namespace lazyllm
