// The dtype registry: every GGML type id with its name and block geometry.
#include "simd/dtype.h"

#include <cctype>

namespace lazyllm::simd {
namespace {

constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 1, 4, 0},
    {DType::kF16, "F16", 1, 2, 1},
    {DType::kQ4_0, "Q4_0", 32, sizeof(BlockQ4_0), 2},
    {DType::kQ4_1, "Q4_1", 32, sizeof(BlockQ4_1), 3},
    {DType::kQ5_0, "Q5_0", 32, sizeof(BlockQ5_0), 8},
    {DType::kQ5_1, "Q5_1", 32, sizeof(BlockQ5_1), 9},
    {DType::kQ8_0, "Q8_0", 32, sizeof(BlockQ8_0), 7},
    {DType::kQ8_1, "Q8_1", 32, 36, -1},
    {DType::kQ2_K, "Q2_K", kSuperBlock, sizeof(BlockQ2_K), 10},
    {DType::kQ3_K, "Q3_K", kSuperBlock, sizeof(BlockQ3_K), 11},
    {DType::kQ4_K, "Q4_K", kSuperBlock, sizeof(BlockQ4_K), 14},
    {DType::kQ5_K, "Q5_K", kSuperBlock, sizeof(BlockQ5_K), 16},
    {DType::kQ6_K, "Q6_K", kSuperBlock, sizeof(BlockQ6_K), 18},
    {DType::kQ8_K, "Q8_K", kSuperBlock, sizeof(BlockQ8_K), -1},
    {DType::kIQ2_XXS, "IQ2_XXS", kSuperBlock, 66, 19},
    {DType::kIQ2_XS, "IQ2_XS", kSuperBlock, 74, 20},
    {DType::kIQ3_XXS, "IQ3_XXS", kSuperBlock, 98, 23},
    {DType::kIQ1_S, "IQ1_S", kSuperBlock, 50, 24},
    {DType::kIQ4_NL, "IQ4_NL", 32, sizeof(BlockIQ4_NL), 25},
    {DType::kIQ3_S, "IQ3_S", kSuperBlock, 110, 26},
    {DType::kIQ2_S, "IQ2_S", kSuperBlock, 82, 28},
    {DType::kIQ4_XS, "IQ4_XS", kSuperBlock, sizeof(BlockIQ4_XS), 30},
    {DType::kI8, "I8", 1, 1, -1},
    {DType::kI16, "I16", 1, 2, -1},
    {DType::kI32, "I32", 1, 4, -1},
    {DType::kI64, "I64", 1, 8, -1},
    {DType::kF64, "F64", 1, 8, -1},
    {DType::kIQ1_M, "IQ1_M", kSuperBlock, 56, 31},
    {DType::kBF16, "BF16", 1, 2, 32},
    {DType::kTQ1_0, "TQ1_0", kSuperBlock, 54, 36},
    {DType::kTQ2_0, "TQ2_0", kSuperBlock, 66, 37},
};

// Slot -> row index (or -1), built once.
struct Index {
  int slot[kDTypeSlots];
  constexpr Index() : slot() {
    for (uint32_t i = 0; i < kDTypeSlots; ++i) slot[i] = -1;
    for (int r = 0; r < static_cast<int>(std::size(kDTypes)); ++r) slot[static_cast<uint32_t>(kDTypes[r].id)] = r;
  }
};
constexpr Index kIndex;

}  // namespace

const DTypeInfo* FindDType(uint32_t id) {
  if (id >= kDTypeSlots || kIndex.slot[id] < 0) return nullptr;
  return &kDTypes[kIndex.slot[id]];
}

const DTypeInfo* FindDTypeByName(std::string_view name) {
  for (const DTypeInfo& d : kDTypes) {
    const std::string_view n = d.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i)
      same = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(n[i]);
    if (same) return &d;
  }
  return nullptr;
}

const DTypeInfo& InfoOf(DType t) { return *FindDType(static_cast<uint32_t>(t)); }

const DTypeInfo* AllDTypes(size_t* count) {
  *count = std::size(kDTypes);
  return kDTypes;
}

}  // namespace lazyllm::simd
