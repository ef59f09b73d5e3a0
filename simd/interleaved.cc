// The interleaved layout of Q8_0, Q4_0, Q4_K, Q5_K and Q6_K rows (see interleaved.h) and its scalar
// group kernels.
#include "simd/interleaved.h"

#include <cmath>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "simd/blocks.h"
#include "simd/check.h"

namespace lazyllm::simd {
namespace {

int64_t LevelBytes(DType t) { return t == DType::kQ8_0 ? kQ8_0GroupLevelBytes : kQ4_0GroupLevelBytes; }
bool IsKQuant(DType t) { return t == DType::kQ4_K || t == DType::kQ5_K; }
bool IsSuperBlock(DType t) { return IsKQuant(t) || t == DType::kQ6_K; }

// Where a run of a stored block's bytes goes in its column of the group: either 4-byte lanes of
// 64-byte vectors (stored byte e to at + e/4·stride + 4·r + e%4, xor flip) or one fp16 per row
// (to at + 2·r).
struct Segment {
  int stored, bytes;
  bool scales_base;  // `at` counts from the column's scales (or Q6_K's tail), else from its levels
  int64_t at;
  bool fp16;
  int64_t stride = 64;
  uint32_t flip = 0;  // Q8_0's levels: + 128
};

// The segments of dtype t's stored block, in the layout's order per dtype (interleaved.h).
constexpr KGroupColumn kQ4K = KGroupColumnOf(4), kQ5K = KGroupColumnOf(5);
constexpr Segment kQ8_0Segments[] = {{0, 2, true, 0, true}, {2, 32, false, 0, false, 64, 0x80808080u}};
constexpr Segment kQ4_0Segments[] = {{0, 2, true, 0, true}, {2, 16, false, 0, false}};
constexpr Segment kQ4_KSegments[] = {{0, 2, false, kQ4K.d, true},
                                     {2, 2, false, kQ4K.dmin, true},
                                     {4, 12, false, kQ4K.scales, false},
                                     {16, 128, false, KQsVectorAt(4, 0), false}};
constexpr Segment kQ5_KSegments[] = {{0, 2, false, kQ5K.d, true},
                                     {2, 2, false, kQ5K.dmin, true},
                                     {4, 12, false, kQ5K.scales, false},
                                     {16, 32, false, KQhVectorAt(0), false, 128},
                                     {48, 32, false, KQsVectorAt(5, 0), false, 128},
                                     {80, 96, false, KQsVectorAt(5, 8), false}};
constexpr Segment kQ6_KSegments[] = {{0, 32, false, Q6QlVectorAt(0), false, 128},  // ql: half 0
                                     {32, 32, false, Q6QlVectorAt(8), false},
                                     {64, 32, false, Q6QlVectorAt(16), false, 128},  // half 1
                                     {96, 32, false, Q6QlVectorAt(24), false},
                                     {128, 32, false, Q6QhVectorAt(0), false, 128},  // qh
                                     {160, 32, false, Q6QhVectorAt(8), false, 128},
                                     {192, 16, true, 0, false},  // scales
                                     {208, 2, true, 4 * 64, true}};
static_assert(kQ4K.bytes == kGroupRows * sizeof(BlockQ4_K) && kQ5K.bytes == kGroupRows * sizeof(BlockQ5_K));

std::span<const Segment> Segments(DType t) {
  switch (t) {
    case DType::kQ8_0:
      return kQ8_0Segments;
    case DType::kQ4_0:
      return kQ4_0Segments;
    case DType::kQ4_K:
      return kQ4_KSegments;
    case DType::kQ5_K:
      return kQ5_KSegments;
    case DType::kQ6_K:
      return kQ6_KSegments;
    default:
      return {};  // not interleavable (Move checks first)
  }
}

// The offsets of block column j within a group of `blocks` columns.
GroupColumn ColumnAt(DType t, int64_t j, int64_t blocks) {
  if (t == DType::kQ6_K) return Q6GroupColumnAt(j, blocks);
  if (!IsKQuant(t)) return GroupColumnAt(LevelBytes(t), j, blocks);
  const int64_t base = j * kGroupRows * InfoOf(t).block_bytes;
  return {base, base};
}

// Moves row r between the stored layout and the group, in either direction: `to_group`
// interleaves, else the group's row r is written back in the stored format.
void Move(DType t, uint8_t* group, uint8_t* row, int r, int64_t k, bool to_group) {
  const DTypeInfo& info = InfoOf(t);
  LAZYLLM_CHECK(Interleavable(t) && k % info.block_elems == 0) << info.name << " rows of " << k;
  const int64_t blocks = k / info.block_elems;
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn c = ColumnAt(t, j, blocks);
    uint8_t* stored = row + j * info.block_bytes;
    for (const Segment& s : Segments(t)) {
      uint8_t* base = group + (s.scales_base ? c.scales : c.levels) + s.at;
      for (int e = 0; e < s.bytes; e += s.fp16 ? 2 : 4) {
        uint8_t* g = s.fp16 ? base + 2 * r : base + e / 4 * s.stride + 4 * r;
        if (s.fp16) {
          std::memcpy(to_group ? g : stored + s.stored, to_group ? stored + s.stored : g, 2);
          continue;
        }
        uint32_t v;
        std::memcpy(&v, to_group ? stored + s.stored + e : g, 4);
        v ^= s.flip;
        std::memcpy(to_group ? g : stored + s.stored + e, &v, 4);
      }
    }
  }
}

// Level e (0..31) of row r in column c, unsigned (q + c).
uint8_t Level(DType t, const uint8_t* group, const GroupColumn& c, int r, int e) {
  if (t == DType::kQ8_0) return group[c.levels + e / 4 * 64 + 4 * r + e % 4];
  const int s = e % 16;  // the stored byte: levels s (low nibble) and s + 16 (high)
  const uint8_t b = group[c.levels + s / 4 * 64 + 4 * r + s % 4];
  return e < 16 ? b & 0x0F : b >> 4;
}

// Q8_0/Q4_0 twin, read from the layout itself.
void Int8GroupRef32(DType t, const uint8_t* g, const Int8Acts& x, float* y, int64_t ldy) {
  const int64_t blocks = x.k / 32;
  const float c = t == DType::kQ8_0 ? 128.0f : 8.0f;
  for (int64_t i = 0; i < x.n; ++i) {
    const auto* xr = x.Row<BlockQ8_0>(i);
    for (int r = 0; r < kGroupRows; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < blocks; ++j) {
        const GroupColumn col = GroupColumnAt(LevelBytes(t), j, blocks);
        int32_t sum = 0;
        for (int e = 0; e < 32; ++e) sum += Level(t, g, col, r, e) * xr[j].qs[e];
        const float dw = F16ToF32(reinterpret_cast<const uint16_t*>(g + col.scales)[r]);
        const float exact = std::fma(-c, x.sums32[i * blocks + j], static_cast<float>(sum));
        acc = std::fma(exact, dw * x.scales[i * blocks + j], acc);
      }
      y[i * ldy + r] = acc;
    }
  }
}

// The unsigned level (0..31) of element e of a Q4_K/Q5_K super-block, from its stored bytes.
template <class Block>
int KLevel(const Block& b, int e) {
  const int c = e / 64, l = e % 32, high = e % 64 / 32;
  int q = (b.qs[32 * c + l] >> (4 * high)) & 0xF;
  if constexpr (std::is_same_v<Block, BlockQ5_K>) q |= ((b.qh[l] >> (2 * c + high)) & 1) << 4;
  return q;
}

// One Q4_K/Q5_K super-block against its activation block, with its exact sums, as the group
// kernels' fp32 steps: acc = fma(Σ sc·Σ q·x, d·dx, acc), then fma(Σ m·Σx, −(dmin·dx), acc).
template <class Block>
float KBlockStep(const Block& b, const BlockQ8_K& a, float acc) {
  int32_t sum = 0, mins = 0;
  for (int s = 0; s < 8; ++s) {
    uint8_t scale, min;
    ScaleMinK4(s, b.scales, &scale, &min);
    int32_t dot = 0;
    for (int e = 32 * s; e < 32 * s + 32; ++e) dot += KLevel(b, e) * a.qs[e];
    sum += scale * dot;
    mins += min * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
  }
  acc = std::fma(static_cast<float>(sum), F16ToF32(b.d) * a.d, acc);
  return std::fma(static_cast<float>(mins), -(F16ToF32(b.dmin) * a.d), acc);
}

// One Q6_K super-block: acc = fma(Σ sc·Σ u·x − 32·Σ sc·Σx, d·dx, acc).
float Q6BlockStep(const BlockQ6_K& b, const BlockQ8_K& a, float acc) {
  int32_t sum = 0, offset = 0;
  for (int e = 0; e < kSuperBlock; ++e) {  // element 128h + 32k + l
    const int h = e / 128, k = e % 128 / 32, l = e % 32;
    const int low = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
    const int u = low | ((b.qh[32 * h + l] >> (2 * k)) & 3) << 4;
    sum += b.scales[e / 16] * u * a.qs[e];
  }
  for (int s = 0; s < 16; ++s) offset += b.scales[s] * a.bsums[s];
  return std::fma(static_cast<float>(sum - 32 * offset), F16ToF32(b.d) * a.d, acc);
}

// The super-block dtypes' twin: each row deinterleaved, then per activation row its stored
// super-blocks in order through `step`.
template <class Block, float (*kStep)(const Block&, const BlockQ8_K&, float)>
void Int8GroupRefSuper(DType t, const uint8_t* g, const Int8Acts& x, float* y, int64_t ldy) {
  const int64_t blocks = x.k / kSuperBlock;
  std::vector<Block> row(static_cast<size_t>(blocks));
  for (int r = 0; r < kGroupRows; ++r) {
    DeinterleaveRow(t, g, x.k, r, row.data());
    for (int64_t i = 0; i < x.n; ++i) {
      const auto* xr = x.Row<BlockQ8_K>(i);
      float acc = 0.0f;
      for (int64_t j = 0; j < blocks; ++j) acc = kStep(row[j], xr[j], acc);
      y[i * ldy + r] = acc;
    }
  }
}

}  // namespace

bool Interleavable(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0 || IsSuperBlock(t); }

void InterleaveRows(DType t, const void* rows, int64_t row_bytes, int64_t k, void* group) {
  for (int r = 0; r < kGroupRows; ++r)
    Move(t, static_cast<uint8_t*>(group), const_cast<uint8_t*>(static_cast<const uint8_t*>(rows) + r * row_bytes), r, k,
         true);
}

void DeinterleaveRow(DType t, const void* group, int64_t k, int r, void* row) {
  Move(t, const_cast<uint8_t*>(static_cast<const uint8_t*>(group)), static_cast<uint8_t*>(row), r, k, false);
}

void Int8GroupRef(DType t, const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  LAZYLLM_CHECK(Interleavable(t) && x.format == (IsSuperBlock(t) ? DType::kQ8_K : DType::kQ8_0)) << InfoOf(t).name;
  const auto* g = static_cast<const uint8_t*>(group);
  if (t == DType::kQ4_K)
    Int8GroupRefSuper<BlockQ4_K, KBlockStep<BlockQ4_K>>(t, g, x, y, ldy);
  else if (t == DType::kQ5_K)
    Int8GroupRefSuper<BlockQ5_K, KBlockStep<BlockQ5_K>>(t, g, x, y, ldy);
  else if (t == DType::kQ6_K)
    Int8GroupRefSuper<BlockQ6_K, Q6BlockStep>(t, g, x, y, ldy);
  else
    Int8GroupRef32(t, g, x, y, ldy);
}

}  // namespace lazyllm::simd
