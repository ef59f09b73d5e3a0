// Shared by the JSONL record fuzz targets: the input is one line of a file.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

#include "tools/cli.h"

namespace lazyllm::fuzz {

// Runs `parse` on the input as one line; a CliError must carry a message, anything else thrown
// escapes (and the fuzzer reports it).
template <typename Parse>
void OnLine(const uint8_t* data, size_t size, Parse&& parse) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  try {
    parse(line);
  } catch (const lazyllm::cli::CliError& e) {
    if (e.message.empty()) std::abort();
  }
}

}  // namespace lazyllm::fuzz
