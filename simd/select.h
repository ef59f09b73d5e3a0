// Selection helper for LazyLLM: which candidates to drop (the k lowest scores).
#pragma once

#include <cstdint>

namespace lazyllm::simd {

// Marks drop[i] = 1 for the num_drop candidates with the lowest scores among the first n-1
// (the last candidate, the newest token, is never dropped); others get 0. Ties drop the lower
// position first. pos must be ascending. Requires 0 <= num_drop <= n-1 (or n == 0).
// `scratch` holds n int64 values. O(n) expected time.
void SelectLowest(const float* scores, const int64_t* pos, int64_t n, int64_t num_drop, int64_t* scratch,
                  uint8_t* drop);

}  // namespace lazyllm::simd
