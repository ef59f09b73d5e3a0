// Command-line flags of one lazyllm command, parsed by CLI11: `--flag value`, `--flag=value`,
// per-command --help with a line per flag, suggestions for misspelled flags, one-line errors.
#pragma once

#include <charconv>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lazyllm::cli {

// A user-facing error: printed as one line on stderr, exit status 1.
struct CliError {
  std::string message;
};

// Not an error: the command printed what was asked (--help) and exits with `code`.
struct CliExit {
  int code = 0;
};

// One flag: its name, the placeholder of its value ("" for a switch) and its help line.
struct FlagDef {
  std::string name, value, help;
};

// A command: its name, what it does (the first help line), its flags (by name from the shared
// table in flags.cc, or spelled out where a command means something of its own), up to
// `max_positional` plain arguments named by `positional` in the usage line, and notes printed
// after the flags.
struct CommandSpec {
  std::string name;
  std::string summary;
  std::vector<std::string> shared;  // names in the shared table
  std::vector<FlagDef> own;         // flags this command defines itself
  std::string notes;
  std::string positional;  // e.g. "IN.gguf OUT.gguf TYPE"
  size_t max_positional = 0;
};

class Flags {
 public:
  // Parses argv[first..]; --help (-h) prints the command's help to stdout and throws CliExit{0}.
  Flags(const CommandSpec& spec, int argc, char** argv, int first = 2);

  bool Has(const std::string& f) const { return values_.count(f) > 0; }
  const std::vector<std::string>& Positional() const { return positional_; }
  std::optional<std::string> Get(const std::string& f) const {
    auto it = values_.find(f);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  // The flag's value as a number in [lo, hi], or `def` when the flag is absent.
  template <typename T>
  T Number(const std::string& f, T def, T lo, T hi) const {
    auto v = Get(f);
    if (!v) return def;
    T out{};
    const char* b = v->data();
    const char* e = b + v->size();
    auto [p, ec] = std::from_chars(b, e, out);
    if (ec == std::errc::result_out_of_range && p == e) throw OutOfRange(f, *v, std::to_string(lo), std::to_string(hi));
    if (ec != std::errc() || p != e || v->empty())
      throw CliError{"flag '" + f + "': '" + *v + "' is not a valid number"};
    if (out < lo || out > hi) throw OutOfRange(f, *v, std::to_string(lo), std::to_string(hi));
    return out;
  }

 private:
  static CliError OutOfRange(const std::string& f, const std::string& v, const std::string& lo, const std::string& hi) {
    return CliError{"flag '" + f + "': " + v + " is out of range [" + lo + ", " + hi + "]"};
  }

  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// The closest of `candidates` to `word` when it is a plausible misspelling, else "".
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace lazyllm::cli
