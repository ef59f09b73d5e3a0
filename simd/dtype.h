// Stored weight dtypes (GGML type ids) and exact scalar conversions of their elements to fp32.
#pragma once

#include <cstdint>
#include <cstring>

namespace lazyllm::simd {

// Values equal the GGML type ids used in GGUF tensor tables.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kBF16 = 30,
};

// Elements per block and bytes per block of a dtype (1 element per "block" for plain floats).
struct DTypeTraits {
  int64_t block_elems;
  int64_t block_bytes;
  const char* name;
};

constexpr DTypeTraits TraitsOf(DType t) {
  switch (t) {
    case DType::kF32: return {1, 4, "F32"};
    case DType::kF16: return {1, 2, "F16"};
    case DType::kBF16: return {1, 2, "BF16"};
    case DType::kQ8_0: return {32, 34, "Q8_0"};
    case DType::kQ4_0: return {32, 18, "Q4_0"};
  }
  return {1, 4, "?"};
}

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

inline float F32FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint32_t BitsFromF32(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// IEEE half -> float, exact for every input including subnormals, infinities and NaN.
inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return F32FromBits(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return F32FromBits(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return F32FromBits(sign);
  // Subnormal half: normalise into a float.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  return F32FromBits(sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13));
}

// float -> IEEE half, round to nearest even (used by tests and the model synthesiser).
inline uint16_t F32ToF16(float f) {
  const uint32_t x = BitsFromF32(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                              // subnormal or zero
    const float scaled = F32FromBits(abs) * 16777216.0f;  // 2^24: half subnormal ulp is 2^-24
    const uint32_t m = static_cast<uint32_t>(scaled);
    const float rem = scaled - static_cast<float>(m);
    uint32_t r = m + (rem > 0.5f || (rem == 0.5f && (m & 1u)) ? 1u : 0u);
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = abs - 0x38000000u;  // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

inline float BF16ToF32(uint16_t h) { return F32FromBits(static_cast<uint32_t>(h) << 16); }

inline uint16_t F32ToBF16(float f) {
  uint32_t x = BitsFromF32(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace lazyllm::simd
