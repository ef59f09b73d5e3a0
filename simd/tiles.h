// Register-tiled kernels over a runtime number of input rows: whole tiles of a compile-time
// size, then one tile of the rows left, its size a template argument too.
#pragma once

#include <cstdint>

namespace lazyllm::simd {

namespace internal {
template <int R, class Run>
inline void LastTile(int64_t rest, int64_t i, Run& run) {
  if constexpr (R > 0) {
    if (rest == R)
      run.template operator()<R>(i);
    else
      LastTile<R - 1>(rest, i, run);
  }
}
}  // namespace internal

// run.template operator()<T>(i) for i = 0, T, 2T, ... while a whole tile fits in [0, n), then
// run.template operator()<R>(i) once for the R = 1..T-1 rows left, if any. run is typically a
// lambda `[&]<int NI>(int64_t i) { ... }`.
template <int T, class Run>
inline void ForEachTile(int64_t n, Run&& run) {
  int64_t i = 0;
  for (; i + T <= n; i += T) run.template operator()<T>(i);
  internal::LastTile<T - 1>(n - i, i, run);
}

// ForEachTile over n rows of a matrix, row j at m + (rows ? rows[j] : j)·ld:
// run.template operator()<NT>(j, p) with p[0, NT) the pointers of the tile's rows j, j+1, ...
template <int T, class Run>
inline void ForEachRowTile(const float* m, int64_t ld, const int64_t* rows, int64_t n, Run&& run) {
  ForEachTile<T>(n, [&]<int NT>(int64_t j) {
    const float* p[NT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) p[t] = m + (rows ? rows[j + t] : j + t) * ld;
    run.template operator()<NT>(j, p);
  });
}

}  // namespace lazyllm::simd
