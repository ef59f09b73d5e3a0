// KvPool accounting and KvCache storage.
#include "cache/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "simd/check.h"

namespace lazyllm::cache {

KvPool::KvPool(int64_t limit_bytes, int64_t page_rows, int64_t page_bytes)
    : limit_bytes_(limit_bytes), page_rows_(page_rows), page_bytes_(page_bytes) {}

bool KvPool::Take(int64_t n) {
  std::lock_guard lock(mu_);
  if (limit_bytes_ > 0 && (held_ + n) * page_bytes_ > limit_bytes_) return false;
  held_ += n;
  return true;
}

void KvPool::Give(int64_t n) {
  std::lock_guard lock(mu_);
  LAZYLLM_CHECK(n >= 0 && n <= held_) << "giving back " << n << " pages of the " << held_ << " held";
  held_ -= n;
}

int64_t KvPool::held_pages() const {
  std::lock_guard lock(mu_);
  return held_;
}

int64_t KvCache::PageRows(int64_t head_bytes) {
  constexpr int64_t kOsPage = 4096, kMinRows = 16;
  const int64_t rows = std::lcm(head_bytes, kOsPage) / head_bytes;
  return (kMinRows + rows - 1) / rows * rows;
}

KvCache::KvCache(std::shared_ptr<KvPool> pool, int64_t num_layers, int64_t max_slots, int64_t kv_heads,
                 int64_t head_dim, bool f16)
    : pool_(std::move(pool)),
      num_layers_(num_layers),
      max_slots_(max_slots),
      kv_heads_(kv_heads),
      head_dim_(head_dim),
      f16_(f16),
      head_bytes_(head_dim * elem_bytes()),
      row_of_(static_cast<size_t>(num_layers * max_slots), -1),
      rows_(static_cast<size_t>(num_layers), 0) {
  const int64_t page_rows = pool_->page_rows();
  head_stride_ = (max_slots + page_rows - 1) / page_rows * page_rows * head_bytes_;
  mapped_ = static_cast<size_t>(num_layers * 2 * kv_heads * head_stride_);
  void* p = mmap(nullptr, std::max<size_t>(mapped_, 1), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
}

KvCache::~KvCache() {
  pool_->Give(used_pages_ + reserved_pages_);
  if (base_ != nullptr) munmap(base_, std::max<size_t>(mapped_, 1));
}

int64_t KvCache::Assign(int64_t layer, int64_t slot) {
  int32_t& r = row_of_[Index(layer, slot)];
  if (r >= 0) return r;
  int64_t& n = rows_[layer];
  if (n % pool_->page_rows() == 0) {  // the layer's pages are full: take one more
    if (reserved_pages_ > 0) {
      --reserved_pages_;
    } else if (!pool_->Take(1)) {
      return -1;
    }
    ++used_pages_;
  }
  r = static_cast<int32_t>(n++);
  return r;
}

void KvCache::Write(int64_t layer, int64_t row, const float* k, const float* v,
                    void (*to_f16)(const float*, uint16_t*, int64_t)) {
  LAZYLLM_CHECK(row >= 0 && row < rows_[layer]) << "layer " << layer << " row " << row << " of " << rows_[layer];
  for (int64_t h = 0; h < kv_heads_; ++h) {
    void* kd = Head(layer, 0, h, row);
    void* vd = Head(layer, 1, h, row);
    if (f16_) {
      to_f16(k + h * head_dim_, static_cast<uint16_t*>(kd), head_dim_);
      to_f16(v + h * head_dim_, static_cast<uint16_t*>(vd), head_dim_);
    } else {
      std::memcpy(kd, k + h * head_dim_, static_cast<size_t>(head_bytes_));
      std::memcpy(vd, v + h * head_dim_, static_cast<size_t>(head_bytes_));
    }
  }
}

void KvCache::Read(int64_t layer, int64_t row, float* k, float* v, void (*to_f32)(const void*, float*, int64_t)) const {
  for (int64_t h = 0; h < kv_heads_; ++h) ReadHead(layer, h, row, 1, k + h * head_dim_, v + h * head_dim_, to_f32);
}

void KvCache::ReadHead(int64_t layer, int64_t head, int64_t row, int64_t n, float* k, float* v,
                       void (*to_f32)(const void*, float*, int64_t)) const {
  if (f16_) {
    to_f32(K(layer, head, row), k, n * head_dim_);
    to_f32(V(layer, head, row), v, n * head_dim_);
  } else {
    std::memcpy(k, K(layer, head, row), static_cast<size_t>(n * head_bytes_));
    std::memcpy(v, V(layer, head, row), static_cast<size_t>(n * head_bytes_));
  }
}

bool KvCache::ReserveAtLeast(int64_t pages) {
  if (pages <= reserved_pages_) return true;
  if (!pool_->Take(pages - reserved_pages_)) return false;
  reserved_pages_ = pages;
  return true;
}

void KvCache::TrimReserve(int64_t pages) {
  if (pages >= reserved_pages_) return;
  pool_->Give(reserved_pages_ - std::max<int64_t>(pages, 0));
  reserved_pages_ = std::max<int64_t>(pages, 0);
}

int64_t KvCache::PagesToAdd(int64_t rows, int64_t from_layer, int64_t rows_before) const {
  const int64_t pr = pool_->page_rows();
  int64_t pages = 0;
  for (int64_t l = 0; l < num_layers_; ++l) {
    const int64_t n = std::min(rows_[l] + (l < from_layer ? rows_before : rows), max_slots_);
    pages += (n + pr - 1) / pr - (rows_[l] + pr - 1) / pr;
  }
  return pages;
}

void KvCache::Clear() {
  std::fill(row_of_.begin(), row_of_.end(), -1);
  if (base_ != nullptr) {
    for (int64_t l = 0; l < num_layers_; ++l) {
      const auto used =
          std::min(static_cast<size_t>(rows_[l] * head_bytes_ + 4095) / 4096 * 4096, static_cast<size_t>(head_stride_));
      for (int kv = 0; kv < 2 && used > 0; ++kv)
        for (int64_t h = 0; h < kv_heads_; ++h) madvise(Head(l, kv, h, 0), used, MADV_DONTNEED);
    }
  }
  std::fill(rows_.begin(), rows_.end(), 0);
  pool_->Give(used_pages_);
  used_pages_ = 0;
}

}  // namespace lazyllm::cache
