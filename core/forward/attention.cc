// Tiled (prefill) and direct (decode) causal attention, and the last-row score reduction.
#include "core/forward/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "simd/check.h"
#include "simd/gemm.h"

namespace lazyllm {

Attention::Attention(const simd::Kernels& kernels, AttentionShape shape)
    : k_(kernels),
      s_(shape),
      group_(shape.heads / shape.kv_heads),
      // About 256 packed query rows (rows × heads of the group) per task.
      query_block_(std::clamp<int64_t>(256 / (shape.heads / shape.kv_heads), 8, 64)),
      scale_(shape.scale > 0 ? shape.scale : 1.0f / std::sqrt(static_cast<float>(shape.head_dim))),
      softcap_(shape.softcap) {}

namespace {

// Keys [j0, ...) of one KV head (its columns from `column` on), as the decode kernels take them.
struct HeadKeys {
  const float* k;
  const float* v;
  int64_t ld;
  const int64_t* rows;
};
HeadKeys HeadKeysFrom(const KeyMatrix& keys, int64_t j0, int64_t kvh, int64_t column = 0) {
  const int64_t at = kvh * keys.head_stride + column;
  if (keys.rows != nullptr) return {keys.k + at, keys.v + at, keys.ld, keys.rows + j0};
  return {keys.k + j0 * keys.ld + at, keys.v + j0 * keys.ld + at, keys.ld, nullptr};
}

}  // namespace

void Attention::SoftCap(float* s, int64_t n) const {
  if (softcap_ <= 0) return;
  for (int64_t j = 0; j < n; ++j) s[j] = softcap_ * std::tanh(s[j] / softcap_);
}

void Attention::Run(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count,
                    KeyMatrix keys, float* out, const int64_t* key_begin, std::vector<float>& probs) const {
  if (n >= kTiledMinRows)
    Tiled(workers, q, n, key_count, key_begin, keys, out);
  else
    Direct(workers, q, n, key_count, key_begin, keys, out, probs);
}

void Attention::Tiled(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count,
                      const int64_t* key_begin, KeyMatrix keys, float* out) const {
  LAZYLLM_CHECK(keys.rows == nullptr) << "the tiled form reads keys in place, not through rows";
  const int64_t hd = s_.head_dim, q_stride = s_.heads * hd;
  const int64_t blocks = (n + query_block_ - 1) / query_block_;
  const int64_t max_m = query_block_ * group_;
  // Tasks in zigzag block order (0, last, 1, last-1, ...), so that any run of consecutive tasks
  // (what a static partition hands one worker) mixes cheap early blocks with costly late ones.
  workers.ParallelFor(blocks * s_.kv_heads, 1, [&](int64_t t0, int64_t t1) {
    float* qp = workers.Scratch(max_m * (2 * hd + kKeyTile + 2));
    float* o = qp + max_m * hd;
    float* sc = o + max_m * hd;
    float* mx = sc + max_m * kKeyTile;
    float* sum = mx + max_m;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ord = t / s_.kv_heads, kvh = t % s_.kv_heads;
      const int64_t b = ord % 2 == 0 ? ord / 2 : blocks - 1 - ord / 2;
      const int64_t i0 = b * query_block_, i1 = std::min(n, i0 + query_block_);
      const int64_t m = (i1 - i0) * group_;  // packed row r = (i - i0)·group + g
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t g = 0; g < group_; ++g) {
          float* dst = qp + ((i - i0) * group_ + g) * hd;
          std::memcpy(dst, q + i * q_stride + (kvh * group_ + g) * hd, static_cast<size_t>(hd) * sizeof(float));
          k_.scale(dst, scale_, hd);
        }
      }
      std::fill_n(o, m * hd, 0.0f);
      std::fill_n(mx, m, -std::numeric_limits<float>::infinity());
      std::fill_n(sum, m, 0.0f);
      const int64_t nk = key_count[i1 - 1];
      // Tiles start at the block's first visible key (sliding windows skip the ones before).
      const int64_t first = key_begin ? key_begin[i0] / kKeyTile * kKeyTile : 0;
      for (int64_t j0 = first; j0 < nk; j0 += kKeyTile) {
        const int64_t w = std::min(kKeyTile, nk - j0);
        simd::SgemmNT(m, w, hd, qp, hd, keys.k + j0 * keys.ld + kvh * keys.head_stride, keys.ld, sc, kKeyTile);
        for (int64_t r = 0; r < m; ++r) {
          float* srow = sc + r * kKeyTile;
          const int64_t row = i0 + r / group_;
          const int64_t valid = std::clamp<int64_t>(key_count[row] - j0, 0, w);
          const int64_t lo = key_begin ? std::clamp<int64_t>(key_begin[row] - j0, 0, valid) : 0;
          std::fill(srow + valid, srow + w, 0.0f);  // keys after the row's position
          std::fill(srow, srow + lo, 0.0f);         // keys before its window
          if (valid == lo) continue;
          SoftCap(srow + lo, valid - lo);
          const float c = k_.online_softmax(srow + lo, valid - lo, &mx[r], &sum[r]);
          if (c != 1.0f) k_.scale(o + r * hd, c, hd);
        }
        simd::SgemmNN(m, hd, w, sc, kKeyTile, keys.v + j0 * keys.ld + kvh * keys.head_stride, keys.ld, o, hd,
                      /*accumulate=*/true);
      }
      for (int64_t r = 0; r < m; ++r) {
        const int64_t i = i0 + r / group_, g = r % group_;
        float* dst = out + i * q_stride + (kvh * group_ + g) * hd;
        std::memcpy(dst, o + r * hd, static_cast<size_t>(hd) * sizeof(float));
        k_.scale(dst, 1.0f / sum[r], hd);
      }
    }
  });
}

void Attention::DirectHeads(const DirectJob& job, int64_t i, int64_t h0, int64_t heads, float* s) const {
  const int64_t hd = s_.head_dim, q_stride = s_.heads * hd;
  const int64_t j0 = job.key_begin ? job.key_begin[i] : 0, n = job.key_count[i] - j0;
  const HeadKeys head = HeadKeysFrom(job.keys, j0, h0 / group_);
  k_.dots_f32(job.q + i * q_stride + h0 * hd, hd, heads, head.k, head.ld, head.rows, n, hd, scale_, s, n);
  for (int64_t g = 0; g < heads; ++g) {
    SoftCap(s + g * n, n);
    k_.softmax(s + g * n, n);
  }
  float* o = job.out + i * q_stride + h0 * hd;
  std::fill_n(o, heads * hd, 0.0f);
  k_.weighted_sum_f32(s, n, heads, head.v, head.ld, head.rows, n, hd, o, hd);
}

void Attention::Direct(const threading::Workers& workers, const float* q, int64_t n, const int64_t* key_count,
                       const int64_t* key_begin, KeyMatrix keys, float* out, std::vector<float>& probs) const {
  const DirectJob job{q, n, key_count, key_begin, keys, out};
  RunDirectMany(workers, {&job, 1}, probs);
}

namespace {

// Tasks numbered job by job: count(j) of them for job j.
class JobTasks {
 public:
  template <class Count>
  JobTasks(size_t jobs, Count count) : first_(jobs + 1, 0) {
    for (size_t j = 0; j < jobs; ++j) first_[j + 1] = first_[j] + count(j);
  }
  int64_t size() const { return first_.back(); }
  // Task t's job, and its number within that job.
  std::pair<size_t, int64_t> Locate(int64_t t) const {
    const auto j = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), t) - first_.begin()) - 1;
    return {j, t - first_[j]};
  }

 private:
  std::vector<int64_t> first_;
};

}  // namespace

void Attention::RunDirectMany(const threading::Workers& workers, std::span<const DirectJob> jobs,
                              std::vector<float>& probs) const {
  const int64_t hd = s_.head_dim, heads = s_.heads, q_stride = heads * hd;
  // Keys of each job (its last row sees the most) and where its probabilities go: row i, head h
  // at probs[offset[j] + (i·heads + h)·keys[j]].
  std::vector<int64_t> keys(jobs.size()), offset(jobs.size() + 1, 0);
  for (size_t j = 0; j < jobs.size(); ++j) {
    keys[j] = jobs[j].key_count[jobs[j].n - 1];
    offset[j + 1] = offset[j] + jobs[j].n * heads * keys[j];
  }
  const auto key_begin = [](const DirectJob& job, int64_t i) { return job.key_begin ? job.key_begin[i] : 0; };
  const int64_t max_keys = *std::ranges::max_element(keys);

  // Few keys: one loop over (job, KV head, share of its query heads, row), each task all of
  // DirectHeads. The group's heads are split into as few shares as give every thread a task.
  if (max_keys <= kKeyBlock) {
    int64_t rows = 0;
    for (const DirectJob& job : jobs) rows += job.n;
    int64_t shares = 1;
    while (shares < group_ && rows * s_.kv_heads * shares < workers.num_threads()) ++shares;
    const int64_t share = (group_ + shares - 1) / shares;  // heads per share, the last one's fewer
    shares = (group_ + share - 1) / share;
    const JobTasks tasks(jobs.size(), [&](size_t j) { return s_.kv_heads * shares * jobs[j].n; });
    workers.ParallelFor(tasks.size(), 1, [&](int64_t t0, int64_t t1) {
      float* s = workers.Scratch(share * max_keys);
      for (int64_t t = t0; t < t1; ++t) {
        const auto [j, local] = tasks.Locate(t);
        const int64_t i = local % jobs[j].n, part = local / jobs[j].n;  // part: KV head · shares + share
        const int64_t g0 = part % shares * share;
        DirectHeads(jobs[j], i, part / shares * group_ + g0, std::min(share, group_ - g0), s);
      }
    });
    for (size_t j = 0; j < jobs.size(); ++j) {
      const DirectJob& job = jobs[j];
      if (job.mean_probs == nullptr) continue;
      if (static_cast<int64_t>(probs.size()) < heads * keys[j]) probs.resize(static_cast<size_t>(heads * keys[j]));
      MeanHeadProbs(workers, job.q + (job.n - 1) * q_stride, keys[j], job.keys, job.mean_probs, probs.data(),
                    key_begin(job, job.n - 1));
    }
    return;
  }

  if (static_cast<int64_t>(probs.size()) < offset.back()) probs.resize(static_cast<size_t>(offset.back()));
  float* const p = probs.data();
  const auto row_probs = [&](size_t j, int64_t i, int64_t h) { return p + offset[j] + (i * heads + h) * keys[j]; };

  // 1. Scores: tasks (job, KV head, block of kScoreBlock keys), each over the block's keys for every
  // row's query heads of the group, so a key is read once per KV head.
  const auto blocks = [&](size_t j) { return (keys[j] + kScoreBlock - 1) / kScoreBlock; };
  const JobTasks score_tasks(jobs.size(), [&](size_t j) { return s_.kv_heads * blocks(j); });
  workers.ParallelFor(score_tasks.size(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const auto [j, local] = score_tasks.Locate(t);
      const DirectJob& job = jobs[j];
      const int64_t kvh = local / blocks(j), b0 = local % blocks(j) * kScoreBlock,
                    b1 = std::min(keys[j], b0 + kScoreBlock);
      for (int64_t i = 0; i < job.n; ++i) {
        const int64_t lo = std::max(b0, key_begin(job, i)), hi = std::min(b1, job.key_count[i]);
        if (lo >= hi) continue;
        const HeadKeys head = HeadKeysFrom(job.keys, lo, kvh);
        for (int64_t h = kvh * group_; h < (kvh + 1) * group_; ++h)
          k_.dots_f32(job.q + i * q_stride + h * hd, hd, 1, head.k, head.ld, head.rows, hi - lo, hd, scale_,
                      row_probs(j, i, h) + lo, keys[j]);
      }
    }
  });

  // 2. Probabilities: tasks (job, row, head).
  const JobTasks row_tasks(jobs.size(), [&](size_t j) { return jobs[j].n * heads; });
  workers.ParallelFor(row_tasks.size(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const auto [j, local] = row_tasks.Locate(t);
      const int64_t i = local / heads, lo = key_begin(jobs[j], i), hi = jobs[j].key_count[i];
      float* s = row_probs(j, i, local % heads);
      SoftCap(s + lo, hi - lo);
      k_.softmax(s + lo, hi - lo);
    }
  });
  // The last rows' probabilities are MeanHeadProbs's before averaging.
  for (size_t j = 0; j < jobs.size(); ++j) {
    const DirectJob& job = jobs[j];
    if (job.mean_probs != nullptr)
      AverageHeads(row_probs(j, job.n - 1, 0), keys[j], key_begin(job, job.n - 1), keys[j], job.mean_probs);
  }

  // 3. Weighted sums: tasks (job, KV head, chunk of a head's columns), each over all keys for every
  // row's query heads of the group, so a value row's cache lines are read once per KV head. A
  // chunk is the whole head, halved down to 8 columns (the kernel's step) while the tasks are fewer
  // than the threads: in the cache, whose KV heads are matrices of their own, a whole head reads
  // consecutive rows (llama3.2-1b's shape at 4,096 keys from memory in core_bench's
  // DecodeAttentionLayers: 8.4 ms, against 11.0 in chunks of 32 columns). The keys go in blocks
  // of kScoreBlock, every row's heads summing a block before the next, so the rows after the first
  // read the block's values from L1; each sum still takes its keys in order (the same bits).
  int64_t width = hd;
  while (width > 8 && width % 16 == 0 &&
         static_cast<int64_t>(jobs.size()) * s_.kv_heads * (hd / width) < workers.num_threads())
    width /= 2;
  const int64_t chunks = hd / width;
  const JobTasks sum_tasks(jobs.size(), [&](size_t) { return s_.kv_heads * chunks; });
  workers.ParallelFor(sum_tasks.size(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const auto [j, local] = sum_tasks.Locate(t);
      const DirectJob& job = jobs[j];
      const int64_t kvh = local / chunks, column = local % chunks * width;
      const int64_t h = kvh * group_;  // the group's heads, whose probabilities are keys[j] apart
      for (int64_t i = 0; i < job.n; ++i)
        for (int64_t g = 0; g < group_; ++g) std::fill_n(job.out + i * q_stride + (h + g) * hd + column, width, 0.0f);
      for (int64_t b0 = 0; b0 < keys[j]; b0 += kScoreBlock) {
        for (int64_t i = 0; i < job.n; ++i) {
          const int64_t lo = std::max(b0, key_begin(job, i)), hi = std::min(b0 + kScoreBlock, job.key_count[i]);
          if (lo >= hi) continue;
          const HeadKeys head = HeadKeysFrom(job.keys, lo, kvh, column);
          k_.weighted_sum_f32(row_probs(j, i, h) + lo, keys[j], group_, head.v, head.ld, head.rows, hi - lo, width,
                              job.out + i * q_stride + h * hd + column, hd);
        }
      }
    }
  });
}

void Attention::MeanHeadProbs(const threading::Workers& workers, const float* q_row, int64_t nk, KeyMatrix keys,
                              float* scores, float* head_probs, int64_t begin) const {
  const int64_t hd = s_.head_dim;
  // Each head's probabilities get their own row, then averaged.
  workers.ParallelFor(s_.heads, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      float* s = &head_probs[h * nk];
      const int64_t kvh = h / group_;
      const HeadKeys head = HeadKeysFrom(keys, begin, kvh);
      k_.dots_f32(q_row + h * hd, hd, 1, head.k, head.ld, head.rows, nk - begin, hd, scale_, s + begin, nk);
      SoftCap(s + begin, nk - begin);
      k_.softmax(s + begin, nk - begin);
    }
  });
  AverageHeads(head_probs, nk, begin, nk, scores);
}

void Attention::AverageHeads(const float* head_probs, int64_t stride, int64_t begin, int64_t nk, float* scores) const {
  // Summed in head order, so the result is the same for any thread count.
  std::fill_n(scores, nk, 0.0f);
  for (int64_t h = 0; h < s_.heads; ++h) k_.add(scores + begin, head_probs + h * stride + begin, nk - begin);
  k_.scale(scores, 1.0f / static_cast<float>(s_.heads), nk);
}

}  // namespace lazyllm
