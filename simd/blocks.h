// Block layouts of the quantized weight dtypes, byte for byte as GGUF stores them (ggml's
// definitions), with the value each stored element decodes to.
#pragma once

#include <cstdint>

namespace lazyllm::simd {

// Elements of a K-quant (and IQ4_XS) super-block.
constexpr int kSuperBlock = 256;

// Q8_0: 32 int8 values sharing one fp16 scale. Value i = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: 32 4-bit values sharing one fp16 scale. Byte j holds element j (low nibble) and
// element j+16 (high nibble); value = d * (nibble - 8).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1: as Q4_0 with an offset instead of the -8: value = d * nibble + m.
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: Q4_0's nibbles plus a fifth bit: bit j of the little-endian u32 qh is bit 4 of element j.
// value = d * (q - 16), q in 0..31.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: Q5_0's 5-bit q with an offset: value = d * q + m.
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// IQ4_NL: Q4_0's nibble layout, each nibble indexing the non-linear table kIq4nlValues:
// value = d * kIq4nlValues[nibble].
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Q2_K: 16 sub-blocks of 16. scales[s] holds sub-block s's 4-bit scale (low nibble) and 4-bit
// min (high nibble); value = d * scale * q - dmin * min, q in 0..3. The 2-bit q of element
// 128h + 32j' + 16i + l (half h, shift pair j', i in {0,1}) is bits 2j'..2j'+1 of qs[32h + 16i + l];
// its sub-block is 8h + 2j' + i.
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16 with 6-bit scales (packed in 12 bytes, stored +32); value =
// d * (scale - 32) * q, q = low 2 bits (Q2_K's qs layout) - 4 unless the element's hmask bit is
// set. hmask bit k of byte l (l < 32) belongs to element 32k + l.
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes (ScaleMinK4);
// value = d * scale * q - dmin * min. Element 64c + l (l < 32) is the low nibble of qs[32c + l],
// element 64c + 32 + l the high nibble.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: Q4_K plus a fifth bit: element 64c + l takes bit 2c of qh[l], element 64c + 32 + l
// bit 2c + 1.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 16 sub-blocks of 16 with int8 scales; value = d * scale * (q - 32), q 6 bits: in half h,
// element 128h + 32k + l (k < 4, l < 32) takes its low 4 bits from ql[64h + l + 32(k&1)]
// (low nibble for k < 2, high for k >= 2) and its high 2 bits from bits 2k..2k+1 of qh[32h + l].
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// IQ4_XS: 8 sub-blocks of 32, each a Q4_0-style nibble block through kIq4nlValues, with a
// 6-bit scale: low 4 bits in scales_l (nibble s%2 of byte s/2), high 2 bits at bit 2s of
// scales_h; value = d * (scale - 32) * kIq4nlValues[nibble].
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

// Q8_K: the activation format of the K-quants' integer dot products: 256 int8 values with an
// fp32 scale, and the sum of each 16 values.
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block: bytes 0..3 hold
// scales 0..3 (low 6 bits), 4..7 mins 0..3; scales/mins 4..7 take their low 4 bits from bytes
// 8..11 and their top 2 bits from the top bits of bytes 0..3 / 4..7.
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The 16 signed 6-bit scales (-32..31) of a Q3_K super-block.
inline void ScalesQ3K(const uint8_t* packed, int8_t* out) {
  for (int s = 0; s < 16; ++s) {
    const int low = s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4;
    const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    out[s] = static_cast<int8_t>((low | high << 4) - 32);
  }
}

}  // namespace lazyllm::simd
