// Fuzz target: one line of a `run --batch-file` (a JSON request), parsed as the CLI does, its
// pruning spec resolved against a 32-layer model.
#include "fuzz/records_fuzz.h"
#include "tools/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lazyllm::fuzz::OnLine(data, size, [](const std::string& line) {
    const lazyllm::cli::BatchLine b = lazyllm::cli::ParseBatchLine(line, "batch.jsonl:1: ", 16, "paper");
    if (b.max_tokens < 0 || b.max_tokens > (1 << 24)) std::abort();
    (void)lazyllm::PruningOptions::Parse(b.prune, 32);
  });
  return 0;
}
