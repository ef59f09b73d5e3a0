// The paged KV cache: a pool of fixed-size pages shared by the sequences of one engine, and
// each sequence's K/V rows, filled densely per layer in the order the (token, layer) pairs are
// computed. A pair that LazyLLM never computes takes no KV memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lazyllm::cache {

// Page accounting for one engine. A page holds the K and V rows of page_rows consecutive
// cache rows of one layer of one sequence. Pages are held either in use (rows written) or
// reserved (set aside for a sequence's coming rows). Thread-safe.
class KvPool {
 public:
  // limit_bytes 0: unlimited.
  KvPool(int64_t limit_bytes, int64_t page_rows, int64_t page_bytes);

  int64_t page_rows() const { return page_rows_; }
  int64_t page_bytes() const { return page_bytes_; }
  int64_t limit_bytes() const { return limit_bytes_; }
  // Takes n pages when they fit under the limit; false (and nothing taken) otherwise.
  bool Take(int64_t n);
  void Give(int64_t n);
  // Pages held by every sequence (in use or reserved).
  int64_t held_pages() const;
  int64_t held_bytes() const { return held_pages() * page_bytes_; }

 private:
  const int64_t limit_bytes_, page_rows_, page_bytes_;
  mutable std::mutex mu_;
  int64_t held_ = 0;
};

// One sequence's K/V (after RoPE), as fp32 or IEEE half. Layer l's rows are numbered 0, 1, ...
// in the order its pairs were computed; row_of(l, slot) maps a token position to its row.
// Storage is one virtual reservation, mapped without backing, laid out per (layer, K or V) and
// then per KV head: row r of KV head h of layer l lies at a fixed address, so one KV head's rows
// computed in position order are one contiguous matrix (head_dim wide) that attention reads in
// place, whole cache lines at a time. Memory becomes resident only as pages are written (on the
// NUMA node of the worker that writes them first). Distinct rows may be written in parallel;
// Assign is serial.
class KvCache {
 public:
  // Rows per page for a KV head's row of head_bytes: at least 16, and a whole number of 4 KiB
  // pages of every KV head.
  static int64_t PageRows(int64_t head_bytes);

  KvCache(std::shared_ptr<KvPool> pool, int64_t num_layers, int64_t max_slots, int64_t kv_heads, int64_t head_dim,
          bool f16);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Whether the address space could be reserved.
  bool ok() const { return base_ != nullptr; }
  const KvPool& pool() const { return *pool_; }
  bool f16() const { return f16_; }
  int64_t kv_dim() const { return kv_heads_ * head_dim_; }
  int64_t kv_heads() const { return kv_heads_; }
  int64_t max_slots() const { return max_slots_; }

  // The row of (layer, slot), or -1 when it has none.
  int64_t row_of(int64_t layer, int64_t slot) const { return row_of_[Index(layer, slot)]; }
  // Gives (layer, slot) a row: its own when it has one, else the layer's next row, taking a
  // page from this sequence's reservation or else from the pool. -1 when neither has a page.
  int64_t Assign(int64_t layer, int64_t slot);
  // Stores kv_dim floats of K and of V (KV head h at columns h·head_dim) into an assigned row,
  // converted to half for an f16 cache.
  void Write(int64_t layer, int64_t row, const float* k, const float* v,
             void (*to_f16)(const float*, uint16_t*, int64_t));
  // Reads a row back as kv_dim floats of K and of V (to_f32 converts an f16 cache's halves).
  void Read(int64_t layer, int64_t row, float* k, float* v, void (*to_f32)(const void*, float*, int64_t)) const;
  // Reads KV head h's rows [row, row + n) back as n·head_dim floats of K and of V.
  void ReadHead(int64_t layer, int64_t head, int64_t row, int64_t n, float* k, float* v,
                void (*to_f32)(const void*, float*, int64_t)) const;
  // Raw storage of KV head h's row (float or uint16_t elements); the head's next row follows it
  // head_dim elements on, and KV head h + 1's rows begin head_stride() elements after h's.
  const void* K(int64_t layer, int64_t head, int64_t row) const { return Head(layer, 0, head, row); }
  const void* V(int64_t layer, int64_t head, int64_t row) const { return Head(layer, 1, head, row); }
  int64_t head_stride() const { return head_stride_ / elem_bytes(); }

  // Grows the pages set aside for coming rows to `pages`; false (nothing taken) when the pool
  // cannot hold them. Reserved pages are used before the pool is asked again.
  bool ReserveAtLeast(int64_t pages);
  // Shrinks the reservation to `pages`, giving the rest back; ReleaseReserve gives back all.
  void TrimReserve(int64_t pages);
  void ReleaseReserve() { TrimReserve(0); }
  int64_t reserved_pages() const { return reserved_pages_; }
  int64_t used_pages() const { return used_pages_; }
  // Pages that adding `rows` rows to every layer from `from_layer` on, and `rows_before` rows to
  // the layers before it, takes, given the rows already there.
  int64_t PagesToAdd(int64_t rows, int64_t from_layer = 0, int64_t rows_before = 0) const;

  // Forgets every row and gives their pages back (memory released to the OS); the reservation
  // stays. The destructor gives back both.
  void Clear();
  // Bytes of the pages in use (rows written or assigned), and of the reservation.
  int64_t bytes() const { return used_pages_ * pool_->page_bytes(); }
  int64_t reserved_bytes() const { return reserved_pages_ * pool_->page_bytes(); }
  int64_t rows(int64_t layer) const { return rows_[layer]; }

 private:
  size_t Index(int64_t layer, int64_t slot) const { return static_cast<size_t>(layer * max_slots_ + slot); }
  int64_t elem_bytes() const { return f16_ ? 2 : 4; }
  void* Head(int64_t layer, int kv, int64_t head, int64_t row) const {
    return base_ + ((layer * 2 + kv) * kv_heads_ + head) * head_stride_ + row * head_bytes_;
  }

  std::shared_ptr<KvPool> pool_;
  int64_t num_layers_, max_slots_, kv_heads_, head_dim_;
  bool f16_;
  int64_t head_bytes_, head_stride_;  // bytes per KV head's row; bytes per (layer, K or V, KV head) region
  uint8_t* base_ = nullptr;
  size_t mapped_ = 0;
  std::vector<int32_t> row_of_;  // [layer][slot]
  std::vector<int64_t> rows_;    // per layer: rows assigned
  int64_t used_pages_ = 0, reserved_pages_ = 0;
};

}  // namespace lazyllm::cache
