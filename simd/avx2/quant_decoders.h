// AVX2 decoders of the quantized weight dtypes: one block's bit fields unpacked into int8 levels,
// 32 per vector operation, plus its group scales. Shared by the AVX2 and AVX-512 drivers; the
// including file must be compiled with AVX2 and F16C enabled. Everything here is local to the
// including translation unit.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void Store32(int8_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
inline float Half(uint16_t h) { return _cvtsh_ss(h); }

// The 8 six-bit scales and mins of a Q4_K/Q5_K super-block (ScaleMinK4 for all j at once), with
// the 12 bytes read as words a, b, c: scales 0-3 are a's low 6 bits per byte, mins 0-3 b's; scales
// 4-7 take c's low nibbles and a's top 2 bits, mins 4-7 c's high nibbles and b's top 2 bits.
inline void UnpackScaleMinK4(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  uint32_t a, b, c;
  std::memcpy(&a, packed, 4);
  std::memcpy(&b, packed + 4, 4);
  std::memcpy(&c, packed + 8, 4);
  const uint32_t s[2] = {a & 0x3f3f3f3fu, (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4};
  const uint32_t m[2] = {b & 0x3f3f3f3fu, ((c >> 4) & 0x0f0f0f0fu) | ((b >> 6) & 0x03030303u) << 4};
  std::memcpy(scales, s, 8);
  std::memcpy(mins, m, 8);
}
inline __m256i Bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

// A Q8_K block's sums over its 8 sub-blocks of 32, as int16 pairs: pairs[p] holds those of
// sub-blocks 2p (low half) and 2p + 1, the operand of a vpdpwssd against per-row pairs of mins.
inline void SubBlockSumPairs(const BlockQ8_K& a, int32_t* pairs) {
  const __m256i s = _mm256_madd_epi16(Load32(a.bsums), _mm256_set1_epi16(1));  // Σx of sub-blocks 0..7
  alignas(32) int32_t p[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(p), _mm256_packs_epi32(s, s));  // [0 1 2 3 0 1 2 3 | 4 5 6 7 ...]
  pairs[0] = p[0], pairs[1] = p[1], pairs[2] = p[4], pairs[3] = p[5];
}

// Σ over 8 groups of 32 of mins[g]·(bsums[2g] + bsums[2g+1]).
inline int32_t MinsDotBsums(const uint8_t* mins, const int16_t* bsums) {
  const __m128i b = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums)),
                                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8)));  // 8 group sums
  const __m128i m = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins)));
  __m128i p = _mm_madd_epi16(m, b);
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4E));
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
  return _mm_cvtsi128_si32(p);
}

// Bits k..k+1 (or k alone with mask 1) of every byte: 16-bit shifts never carry a bit across a
// byte boundary once masked.
inline __m256i BitsOf(__m256i v, int k, int mask) { return _mm256_and_si256(_mm256_srli_epi16(v, k), Bytes(mask)); }

// Q4_0-style nibbles of 16 bytes: [low nibbles of bytes 0..15, high nibbles of bytes 0..15].
inline __m256i Nibbles16(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// Byte j = 0x10 when bit j of the little-endian u32 at p is set, else 0.
inline __m256i FifthBits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  // Byte j takes byte j/8 of the word, then keeps bit j%8.
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), Bytes(0x10));
}

inline __m256i Iq4nlTable() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}

// The unsigned levels of chunk c (elements 64c .. 64c + 63) of a Q4_K (kBits = 4: 0..15) or
// Q5_K (kBits = 5: 0..31, the fifth bit from hbits, the block's qh) block: elements 64c .. 64c + 31
// in *lo, 64c + 32 .. 64c + 63 in *hi.
template <int kBits>
inline void LevelsK4(const uint8_t* qs, __m256i hbits, int c, __m256i* lo, __m256i* hi) {
  const __m256i q = Load32(qs + 32 * c);
  *lo = _mm256_and_si256(q, Bytes(0x0F));
  *hi = BitsOf(q, 4, 0x0F);
  if constexpr (kBits == 5) {
    *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(BitsOf(hbits, 2 * c, 1), 4));
    *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(BitsOf(hbits, 2 * c + 1, 1), 4));
  }
}

// The unsigned 6-bit levels (0..63, before Q6_K's -32) of half h of a Q6_K block: q[k] holds
// elements 128h + 32k .. 128h + 32k + 31.
inline void LevelsQ6K(const BlockQ6_K& b, int h, __m256i q[4]) {
  const __m256i ql0 = Load32(b.ql + 64 * h), ql1 = Load32(b.ql + 64 * h + 32), qh = Load32(b.qh + 32 * h);
  const __m256i low[4] = {_mm256_and_si256(ql0, Bytes(0x0F)), _mm256_and_si256(ql1, Bytes(0x0F)), BitsOf(ql0, 4, 0x0F),
                          BitsOf(ql1, 4, 0x0F)};
  for (int k = 0; k < 4; ++k) q[k] = _mm256_or_si256(low[k], _mm256_slli_epi16(BitsOf(qh, 2 * k, 3), 4));
}

// Q8_0 and Q4_0 as decoders (their row kernels have their own code; the GEMM's panels use these).
struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    std::memcpy(o->q, b.qs, 32);
    o->scale[0] = Half(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_sub_epi8(Nibbles16(b.qs), Bytes(8)));
    o->scale[0] = Half(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, Nibbles16(b.qs));
    o->scale[0] = Half(b.d);
    o->offset[0] = Half(b.m);
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_sub_epi8(_mm256_or_si256(Nibbles16(b.qs), FifthBits(b.qh)), Bytes(16)));
    o->scale[0] = Half(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_or_si256(Nibbles16(b.qs), FifthBits(b.qh)));
    o->scale[0] = Half(b.d);
    o->offset[0] = Half(b.m);
  }
};

struct IQ4_NL {
  using Block = BlockIQ4_NL;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_shuffle_epi8(Iq4nlTable(), Nibbles16(b.qs)));
    o->scale[0] = Half(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q2_K {
  using Block = BlockQ2_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int h = 0; h < 2; ++h) {
      const __m256i q = Load32(b.qs + 32 * h);
      for (int s = 0; s < 4; ++s) Store32(o->q + 128 * h + 32 * s, BitsOf(q, 2 * s, 3));
    }
    GroupScalesQ2K<Half>(b, o);
  }
};

struct Q3_K {
  using Block = BlockQ3_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i hm = Load32(b.hmask);
    for (int h = 0; h < 2; ++h) {
      const __m256i q = Load32(b.qs + 32 * h);
      for (int s = 0; s < 4; ++s) {
        // level - 4 + 4·(high bit)
        const __m256i high = _mm256_slli_epi16(BitsOf(hm, 4 * h + s, 1), 2);
        Store32(o->q + 128 * h + 32 * s, _mm256_add_epi8(_mm256_sub_epi8(BitsOf(q, 2 * s, 3), Bytes(4)), high));
      }
    }
    GroupScalesQ3K<Half>(b, o);
  }
};

struct Q4_K {
  using Block = BlockQ4_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      LevelsK4<4>(b.qs, _mm256_setzero_si256(), c, &lo, &hi);
      Store32(o->q + 64 * c, lo);
      Store32(o->q + 64 * c + 32, hi);
    }
    GroupScalesK4<Half>(b.scales, b.d, b.dmin, o);
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i qh = Load32(b.qh);
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      LevelsK4<5>(b.qs, qh, c, &lo, &hi);
      Store32(o->q + 64 * c, lo);
      Store32(o->q + 64 * c + 32, hi);
    }
    GroupScalesK4<Half>(b.scales, b.d, b.dmin, o);
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      LevelsQ6K(b, h, q);
      for (int k = 0; k < 4; ++k) Store32(o->q + 128 * h + 32 * k, _mm256_sub_epi8(q[k], Bytes(32)));
    }
    GroupScalesQ6K<Half>(b, o);
  }
};

struct IQ4_XS {
  using Block = BlockIQ4_XS;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i table = Iq4nlTable();
    for (int g = 0; g < 8; ++g) Store32(o->q + 32 * g, _mm256_shuffle_epi8(table, Nibbles16(b.qs + 16 * g)));
    GroupScalesIQ4XS<Half>(b, o);
  }
};

}  // namespace
}  // namespace lazyllm::simd
