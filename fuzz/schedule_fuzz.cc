// Fuzz target: pruning schedule specs (`--prune`). The first byte chooses the model depth; the
// rest is the spec. A schedule that parses must print in a form that parses back to itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lazyllm/pruning.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int64_t layers = data[0] % 130;
  const std::string_view spec(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = lazyllm::PruningOptions::Parse(spec, layers, /*seed=*/7);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();
    return 0;
  }
  const std::string printed = parsed->ToString();
  auto again = lazyllm::PruningOptions::Parse(printed, layers, 7);
  if (!again.ok() || again->ToString() != printed || again->method != parsed->method ||
      again->steps.size() != parsed->steps.size())
    std::abort();  // the printed form does not parse back to the same schedule
  for (size_t i = 0; i < parsed->steps.size(); ++i)
    if (again->steps[i].layer != parsed->steps[i].layer || again->steps[i].k != parsed->steps[i].k) std::abort();
  (void)parsed->PrefillWorkFraction(layers, 1 + data[0]);
  return 0;
}
