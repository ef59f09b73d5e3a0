// Locations of test inputs: the repo's sample model and ../shared/reference (optional).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace lazyllm::testing {

inline std::filesystem::path SourceDir() { return LAZYLLM_SOURCE_DIR; }
inline std::filesystem::path SharedDir() { return SourceDir().parent_path() / "shared"; }
inline std::filesystem::path ReferenceDir() { return SharedDir() / "reference"; }
inline std::filesystem::path SampleModel() { return SourceDir() / "models/stories260K/stories260K-f32-gguf-v3.gguf"; }

// The GGUF file a reference dump names: the bundled sample model, or ../shared/reference/models/.
// The architecture dumps name their model without the "tiny-" of its file name.
inline std::filesystem::path ReferenceModelPath(const std::string& file) {
  if (file.rfind("stories260K", 0) == 0) return SampleModel();
  const std::filesystem::path direct = ReferenceDir() / "models" / file;
  if (std::filesystem::exists(direct)) return direct;
  return ReferenceDir() / "models" / ("tiny-" + file);
}

// max |got - want| / max |want|: the distance measure of ../shared/reference/README.md.
template <typename Got, typename Want>
double MaxRelDiff(const Got& got, const Want& want) {
  double mx = 0, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mx = std::max(mx, std::abs(static_cast<double>(want[i])));
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])));
  }
  return diff / mx;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::json ReadJson(const std::filesystem::path& p) { return nlohmann::json::parse(ReadFile(p)); }

// Skips the current test when ../shared/reference is absent.
#define LAZYLLM_REQUIRE_REFERENCE()                                 \
  if (!std::filesystem::exists(::lazyllm::testing::ReferenceDir())) \
  GTEST_SKIP() << "../shared/reference not found next to the repository; skipping"

}  // namespace lazyllm::testing
