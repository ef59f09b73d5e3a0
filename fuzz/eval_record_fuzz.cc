// Fuzz target: one line of an `eval` set (a JSON record), parsed as the CLI does, in a set
// folder holding one prompt file; the prompt and continuation are tokenized with the sample
// model's tokenizer.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fuzz/records_fuzz.h"
#include "tools/records.h"

namespace {

namespace fs = std::filesystem;

struct Fixture {
  fs::path set_file;
  lazyllm::Model model;
};

const Fixture& GetFixture() {
  static const Fixture* f = [] {
    char dir[] = "/tmp/eval_record_fuzz.XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    std::ofstream(fs::path(dir) / "prompt.txt") << "Once upon a time";
    lazyllm::LoadOptions opts;
    opts.vocab_only = true;
    auto model = lazyllm::Model::Load(LAZYLLM_SOURCE_DIR "/models/stories260K/stories260K-f32-gguf-v3.gguf", opts);
    if (!model.ok()) std::abort();
    return new Fixture{fs::path(dir) / "set.jsonl", *model};
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = GetFixture();
  const std::string where = f.set_file.string() + ":1: ";
  lazyllm::fuzz::OnLine(data, size, [&](const std::string& line) {
    lazyllm::cli::EvalLine r;
    try {
      r = lazyllm::cli::ParseEvalLine(line, f.set_file, 1);
    } catch (const lazyllm::cli::CliError& e) {
      if (e.message.rfind(where, 0) != 0) std::abort();  // every refusal names FILE:LINE
      throw;
    }
    const lazyllm::Tokenizer& tok = f.model.tokenizer();
    (void)tok.Encode(r.prompt, true).ok();
    (void)tok.Encode(r.prompt + r.continuation, true).ok();
  });
  return 0;
}
