// `lazyllm eval --make-set needle`: eval sets for the needle model (tools/synth/needle.h). Each record
// is filler text of an exact token length with F facts "the KEY is VALUE ." at random depths,
// ending with a question "the KEY is" whose exact answer is the fact's value; with Q questions,
// the later ones follow as a teacher-forced continuation (the eval set's "followups").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lazyllm::cli {

struct NeedleSetOptions {
  int64_t length = 1024;  // prompt tokens, BOS included
  int64_t records = 10;
  int64_t facts = 1;      // distinct keys per record, at most 48
  int64_t questions = 1;  // questions per record (the prompt's, then followups), at most `facts`
  uint64_t seed = 1;
};

struct NeedleFact {
  std::string key, value;
  int64_t position = 0;  // the value's token position in the prompt (BOS is 0)
};

struct NeedleRecord {
  std::string id;
  std::string prompt;                         // ends with the first question, "the KEY is"
  std::string answer;                         // its value
  std::vector<std::string> followup_texts;    // " VALUE . the KEY is": the previous answer, the next question
  std::vector<std::string> followup_answers;  // " VALUE"
  std::vector<NeedleFact> facts;              // in prompt order
};

// Record i depends on the seed and i only (not on `records`). Throws CliError on bad options.
std::vector<NeedleRecord> MakeNeedleSet(const NeedleSetOptions& options);

// One JSONL line in the eval-set format (tools/records.h), with the facts as information.
std::string NeedleRecordJson(const NeedleRecord& record);

}  // namespace lazyllm::cli
