// Parsers of the CLI's JSONL inputs, one line at a time: `run --batch-file` requests and `eval`
// set records. Separate from the commands so that the fuzz targets drive exactly this code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace lazyllm::cli {

// One line of a --batch-file: {"prompt": TEXT} with optional "max_tokens" and "prune".
struct BatchLine {
  std::string prompt;
  int max_tokens;
  std::string prune;
};

// Parses one non-blank --batch-file line; `where` ("FILE:LINE: ") prefixes every error. Throws
// CliError.
BatchLine ParseBatchLine(const std::string& line, const std::string& where, int default_max,
                         const std::string& default_prune);

// A later question of an eval record, asked by teacher forcing: after the prompt (and the
// followups before it), `text` is fed as it stands, and the question is answered when every token
// of `answer` is the model's most likely next token.
struct Followup {
  std::string text, answer;
};

// One line of an eval set, as text: {"prompt": TEXT} or {"prompt_file": PATH}, with optional
// "id", "continuation", "answers", "metric" (exact | contains | f1; default contains) and
// "followups" ([{"text": TEXT, "answer": TEXT}, ...]). Other keys are information, ignored.
struct EvalLine {
  std::string id;
  std::string prompt;  // the prompt_file's contents when the record names one
  std::string continuation;
  std::vector<std::string> answers;
  std::string metric;
  std::vector<Followup> followups;
};

// Parses one non-blank line (number `line_no`) of the set file `file`. A prompt_file must be a
// relative path inside the file's folder, to a regular file. Errors name FILE:LINE; throws CliError.
EvalLine ParseEvalLine(const std::string& line, const std::filesystem::path& file, int line_no);

}  // namespace lazyllm::cli
