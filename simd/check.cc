// The failure path of LAZYLLM_CHECK.
#include "simd/check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lazyllm::internal {

namespace {
// The path from the source root (core/engine/step.cc), not the build's absolute one: from the
// first of the project's top-level folders in it.
const char* SourcePath(const char* file) {
  const char* first = nullptr;
  for (const char* folder : {"/simd/", "/threading/", "/cache/", "/core/", "/tools/", "/tests/", "/bench/", "/fuzz/"})
    if (const char* at = std::strstr(file, folder); at != nullptr && (first == nullptr || at < first)) first = at;
  return first != nullptr ? first + 1 : file;
}
}  // namespace

CheckFailure::CheckFailure(const char* file, int line, const char* condition)
    : where_(std::string(SourcePath(file)) + ":" + std::to_string(line) + ": " + condition) {}

// "lazyllm: internal check failed at core/engine/step.cc:120: row >= 0 (layer 3 slot 57)".
CheckFailure::~CheckFailure() {
  const std::string values = values_.str();
  std::fprintf(stderr, "lazyllm: internal check failed at %s%s%s%s\n", where_.c_str(), values.empty() ? "" : " (",
               values.c_str(), values.empty() ? "" : ")");
  std::fflush(stderr);
  std::abort();
}

}  // namespace lazyllm::internal
