// Items of unequal cost dealt to workers (threads, ranks) up front, for loops whose chunks are
// fixed before they run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lazyllm::threading {

struct Dealt {
  std::vector<std::vector<size_t>> items;  // per bin, its items in the order dealt
  std::vector<int64_t> load;               // per bin, the sum of its items' costs
  int64_t total = 0;
};

// The costliest item first (ties in item order), each to the bin with the least cost so far (ties
// to the lower bin): the longest-processing-time rule, whose fullest bin is within 4/3 of the
// best split's. Deterministic, so every caller given the same costs deals alike.
inline Dealt DealLargestFirst(const std::vector<int64_t>& costs, int64_t bins) {
  std::vector<size_t> order(costs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  Dealt d{std::vector<std::vector<size_t>>(static_cast<size_t>(bins)), std::vector<int64_t>(static_cast<size_t>(bins))};
  for (size_t i : order) {
    const auto least = static_cast<size_t>(std::min_element(d.load.begin(), d.load.end()) - d.load.begin());
    d.items[least].push_back(i);
    d.load[least] += costs[i];
    d.total += costs[i];
  }
  return d;
}

}  // namespace lazyllm::threading
