// The interleaved layout of Q8_0 and Q4_0 rows (see interleaved.h) and its scalar group kernel.
#include "simd/interleaved.h"

#include <cmath>
#include <cstring>

#include "simd/blocks.h"
#include "simd/check.h"

namespace lazyllm::simd {
namespace {

int64_t LevelBytes(DType t) { return t == DType::kQ8_0 ? kQ8_0GroupLevelBytes : kQ4_0GroupLevelBytes; }

// The stored block of row r in column j (both dtypes: a uint16 scale, then the bytes).
template <class Block>
Block& StoredBlock(void* rows, int64_t row_bytes, int r, int64_t j) {
  return reinterpret_cast<Block*>(static_cast<uint8_t*>(rows) + r * row_bytes)[j];
}

// Moves one row between the stored layout and the group, in either direction: `to_group`
// interleaves, else the group's row r is written back in the stored format.
template <class Block>
void MoveRow(DType t, uint8_t* group, uint8_t* row, int r, int64_t k, bool to_group) {
  const int64_t blocks = k / 32;
  constexpr int kBytes = sizeof(Block) - 2;  // level bytes per block: 32 (Q8_0) or 16 (Q4_0)
  auto* b = reinterpret_cast<Block*>(row);
  for (int64_t j = 0; j < blocks; ++j) {
    const GroupColumn c = GroupColumnAt(LevelBytes(t), j, blocks);
    auto* scale = reinterpret_cast<uint16_t*>(group + c.scales) + r;
    auto* qs = reinterpret_cast<uint8_t*>(b[j].qs);
    if (to_group)
      *scale = b[j].d;
    else
      b[j].d = *scale;
    const uint32_t bias = t == DType::kQ8_0 ? 0x80808080u : 0;  // Q8_0: level + 128
    for (int e = 0; e < kBytes; e += 4) {                       // 4 bytes of the row: one 4-level lane of vector e/4
      uint8_t* g = group + c.levels + e / 4 * 64 + 4 * r;
      uint32_t v;
      std::memcpy(&v, to_group ? qs + e : g, 4);
      v ^= bias;
      std::memcpy(to_group ? g : qs + e, &v, 4);
    }
  }
}

void Move(DType t, uint8_t* group, uint8_t* row, int r, int64_t k, bool to_group) {
  LAZYLLM_CHECK(Interleavable(t) && k % 32 == 0) << InfoOf(t).name << " rows of " << k;
  if (t == DType::kQ8_0)
    MoveRow<BlockQ8_0>(t, group, row, r, k, to_group);
  else
    MoveRow<BlockQ4_0>(t, group, row, r, k, to_group);
}

// Level e (0..31) of row r in column c, unsigned (q + c).
uint8_t Level(DType t, const uint8_t* group, const GroupColumn& c, int r, int e) {
  if (t == DType::kQ8_0) return group[c.levels + e / 4 * 64 + 4 * r + e % 4];
  const int s = e % 16;  // the stored byte: levels s (low nibble) and s + 16 (high)
  const uint8_t b = group[c.levels + s / 4 * 64 + 4 * r + s % 4];
  return e < 16 ? b & 0x0F : b >> 4;
}

}  // namespace

bool Interleavable(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

void InterleaveRows(DType t, const void* rows, int64_t row_bytes, int64_t k, void* group) {
  for (int r = 0; r < kGroupRows; ++r)
    Move(t, static_cast<uint8_t*>(group), const_cast<uint8_t*>(static_cast<const uint8_t*>(rows) + r * row_bytes), r, k,
         true);
}

void DeinterleaveRow(DType t, const void* group, int64_t k, int r, void* row) {
  Move(t, const_cast<uint8_t*>(static_cast<const uint8_t*>(group)), static_cast<uint8_t*>(row), r, k, false);
}

void Int8GroupRef(DType t, const void* group, const Int8Acts& x, float* y, int64_t ldy) {
  LAZYLLM_CHECK(Interleavable(t) && x.format == DType::kQ8_0) << InfoOf(t).name;
  const auto* g = static_cast<const uint8_t*>(group);
  const int64_t blocks = x.k / 32, xb = x.row_bytes();
  const float c = t == DType::kQ8_0 ? 128.0f : 8.0f;
  for (int64_t i = 0; i < x.n; ++i) {
    const auto* xr = reinterpret_cast<const BlockQ8_0*>(&x.blocks[i * xb]);
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

}  // namespace lazyllm::simd
