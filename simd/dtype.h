// The dtype registry (GGML type ids, names, block geometry) and exact scalar fp16/bf16 conversions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "simd/blocks.h"

namespace lazyllm::simd {

// Every GGML tensor type id a GGUF file can name. Values equal the ids in GGUF tensor tables.
// Ids 4, 5, 31..33 and 36..38 were retired by ggml and are not listed.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};
// One past the largest id: tables indexed by id have this many slots.
constexpr uint32_t kDTypeSlots = 36;

// The registry row of a dtype: its name and block geometry. Every listed id's geometry is known,
// so a file holding a type lazyllm cannot compute still parses, and loading it names the type.
// Whether lazyllm computes with a dtype is a property of the kernel tables (simd/kernels.h:
// Kernels::Row(t).to_f32 set), so adding a weight type is a block layout plus its kernels.
struct DTypeInfo {
  DType id;
  const char* name;     // GGML's spelling, upper case: "Q4_K", "IQ4_NL", "BF16"
  int64_t block_elems;  // elements per block (1 for plain numbers)
  int64_t block_bytes;  // bytes per block
  // general.file_type (llama.cpp's llama_ftype) of a file whose weights are all of this dtype;
  // -1 when llama.cpp names no such file type.
  int32_t file_type;
};

// The row for a raw GGUF type id; nullptr when the id is unknown.
const DTypeInfo* FindDType(uint32_t id);
// The row for a dtype by name, case-insensitive ("q4_k_m" is a file type, not a dtype); nullptr
// when unknown.
const DTypeInfo* FindDTypeByName(std::string_view name);
// The row of a listed dtype.
const DTypeInfo& InfoOf(DType t);
// Every listed dtype, in id order.
const DTypeInfo* AllDTypes(size_t* count);

// Bytes that n elements take in dtype t (n a multiple of the block size).
inline int64_t RowBytes(DType t, int64_t n) {
  const DTypeInfo& i = InfoOf(t);
  return n / i.block_elems * i.block_bytes;
}

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
  if (abs < 0x38800000u) {                                               // subnormal or zero
    const float scaled = F32FromBits(abs) * 16777216.0f;                 // 2^24: half subnormal ulp is 2^-24
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
