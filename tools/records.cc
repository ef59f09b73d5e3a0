#include "tools/records.h"

#include <algorithm>

namespace lazyllm::cli {

namespace fs = std::filesystem;

BatchLine ParseBatchLine(const std::string& line, const std::string& where, int default_max,
                         const std::string& default_prune) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw CliError{where + "not a JSON object"};
  for (const auto& [key, value] : j.items())
    if (key != "prompt" && key != "max_tokens" && key != "prune")
      throw CliError{where + "unknown key '" + key + "' (expected prompt, max_tokens, prune)"};
  if (!j.contains("prompt") || !j["prompt"].is_string()) throw CliError{where + "\"prompt\" must be a string"};
  BatchLine b{j["prompt"].get<std::string>(), default_max, default_prune};
  if (j.contains("max_tokens")) {
    const json& m = j["max_tokens"];
    const bool in_range =
        (m.is_number_unsigned() && m.get<uint64_t>() <= (1u << 24)) ||
        (m.is_number_integer() && !m.is_number_unsigned() && m.get<int64_t>() >= 0 && m.get<int64_t>() <= (1 << 24));
    if (!in_range) throw CliError{where + "\"max_tokens\" must be an integer in [0, 16777216]"};
    b.max_tokens = m.get<int>();
  }
  if (j.contains("prune")) {
    if (!j["prune"].is_string()) throw CliError{where + "\"prune\" must be a string"};
    b.prune = j["prune"].get<std::string>();
  }
  return b;
}

EvalLine ParseEvalLine(const std::string& line, const fs::path& file, int line_no) {
  const std::string where = file.string() + ":" + std::to_string(line_no);
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    throw CliError{where + ": not valid JSON (" + e.what() + ")"};
  }
  if (!j.is_object()) throw CliError{where + ": a record must be a JSON object"};
  if (j.contains("prompt") == j.contains("prompt_file"))
    throw CliError{where + ": give exactly one of \"prompt\" or \"prompt_file\""};
  EvalLine r;
  try {
    r.id = j.contains("id") ? j["id"].get<std::string>() : file.stem().string() + ":" + std::to_string(line_no);
    if (j.contains("prompt")) {
      r.prompt = j["prompt"].get<std::string>();
    } else {
      // A prompt_file is a relative path inside the set's folder, to a regular file.
      const fs::path rel = j["prompt_file"].get<std::string>();
      const fs::path dir = fs::weakly_canonical(file.parent_path());
      const fs::path pf = fs::weakly_canonical(dir / rel);
      const auto [end, _] = std::mismatch(dir.begin(), dir.end(), pf.begin(), pf.end());
      if (rel.is_absolute() || end != dir.end())
        throw CliError{where + ": prompt_file '" + rel.string() + "' is outside the set's folder " + dir.string()};
      try {
        r.prompt = ReadTextFile(pf.string(), "prompt_file");
      } catch (const CliError& e) {
        throw CliError{where + ": " + e.message};
      }
    }
    if (j.contains("continuation")) r.continuation = j["continuation"].get<std::string>();
    if (j.contains("answers")) r.answers = j["answers"].get<std::vector<std::string>>();
    r.metric = j.contains("metric") ? j["metric"].get<std::string>() : "contains";
    if (j.contains("followups")) {
      const json& fs = j["followups"];
      if (!fs.is_array()) throw CliError{where + ": \"followups\" must be an array"};
      for (size_t i = 0; i < fs.size(); ++i) {
        const json& f = fs[i];
        const std::string at = where + ": followups[" + std::to_string(i) + "]";
        if (!f.is_object() || !f.contains("text") || !f.contains("answer"))
          throw CliError{at + ": expected {\"text\": TEXT, \"answer\": TEXT}"};
        Followup fu{f["text"].get<std::string>(), f["answer"].get<std::string>()};
        if (fu.answer.empty()) throw CliError{at + ": \"answer\" is empty"};
        r.followups.push_back(std::move(fu));
      }
    }
  } catch (const json::exception& e) {
    throw CliError{where + ": " + e.what()};
  } catch (const fs::filesystem_error& e) {
    throw CliError{where + ": prompt_file: " + e.code().message()};
  }
  if (r.metric != "exact" && r.metric != "contains" && r.metric != "f1")
    throw CliError{where + ": metric '" + r.metric + "' is not exact, contains or f1"};
  return r;
}

}  // namespace lazyllm::cli
