// SelectLowest: nth_element over (score, position).
#include "simd/select.h"

#include <algorithm>
#include <numeric>

namespace lazyllm::simd {

void SelectLowest(const float* scores, const int64_t* pos, int64_t n, int64_t num_drop, int64_t* scratch,
                  uint8_t* drop) {
  std::fill(drop, drop + n, uint8_t{0});
  if (n <= 1 || num_drop <= 0) return;
  num_drop = std::min(num_drop, n - 1);
  std::iota(scratch, scratch + (n - 1), int64_t{0});
  auto lower = [&](int64_t a, int64_t b) {
    return scores[a] < scores[b] || (scores[a] == scores[b] && pos[a] < pos[b]);
  };
  std::nth_element(scratch, scratch + (num_drop - 1), scratch + (n - 1), lower);
  for (int64_t i = 0; i < num_drop; ++i) drop[scratch[i]] = 1;
}

}  // namespace lazyllm::simd
