// Flags on CLI11, and the help lines of the flags several commands share.
#include "tools/flags.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "lazyllm/pruning.h"

namespace lazyllm::cli {
namespace {

// Flags with one meaning across commands.
const std::vector<FlagDef>& SharedFlags() {
  static const std::vector<FlagDef> kFlags = {
      {"-m", "MODEL", "the GGUF model file (for a split model, its first part)"},
      {"-p", "TEXT", "the prompt"},
      {"-f", "FILE", "a text file holding the prompt"},
      {"-n", "N", "tokens to generate (default 64; 0 stops after the prefill)"},
      {"-t", "N", "worker threads (default 0: one per core)"},
      {"-c", "N", "context length in tokens (default: the model's trained context, at most 4096)"},
      {"--temp", "T", "sampling temperature (default 0.8; 0 is greedy decoding)"},
      {"--top-k", "K", "sample among the K most likely tokens (default 40; 0: no limit)"},
      {"--top-p", "P", "sample within the smallest set of tokens of probability P (default 0.95)"},
      {"--seed", "S", "random seed of sampling and of random pruning (default 4294967295)"},
      {"--no-bos", "", "do not prepend the beginning-of-sequence token"},
      {"--json", "", "print one JSON object instead of text"},
      {"--prune", "SPEC",
       "LazyLLM token pruning (default paper): off | paper | LAYER:FRACTION[,LAYER:FRACTION...] | "
       "static:LAYER:FRACTION | random:FRACTION; a LazyLLM schedule may end with ,revive:R (its revival bound)"},
      {"--numa", "on|off", "NUMA placement of workers and weights (default on; matters with several NUMA nodes)"},
      {"--revive-budget", "R|inf",
       "LazyLLM's revival bound: at most R revivals per pruning layer per decode step (default: the schedule's; "
       "paper's is " +
           std::string(lazyllm::PruningOptions::kPaperReviveBudget < 0
                           ? "inf"
                           : std::to_string(lazyllm::PruningOptions::kPaperReviveBudget)) +
           "; a spec sets it with ,revive:R)"},
      {"--exact", "",
       "matmuls on quantized weights keep fp32 activations and dequantize weights exactly (default: 8-bit "
       "activations and integer dot products, as llama.cpp; faster)"},
      {"--kv-type", "f32|f16", "K/V cache storage: f32 (default, exact) or f16 (half the bytes)"},
      {"--profile", "",
       "time the forward pass's stages (embedding, LazyLLM's selections, norms, q/k/v, RoPE and K/V writes, "
       "attention, output projection, FFN, LM head) and print where prefill and decode spent their time"},
      {"--mem-limit", "BYTES",
       "memory one sequence may come to need (e.g. 512MiB, 4GiB; default: physical memory); more is refused up front"},
      {"--system", "TEXT", "the system message of the chat"},
      {"--chat-template", "NAME",
       "chat template family (chatml, llama2, mistral-v1/v3/v3-tekken/v7, llama3, phi3, phi4, gemma, deepseek3); "
       "default: the model's own"},
  };
  return kFlags;
}

// Edit distance with adjacent transpositions (optimal string alignment), for suggestions:
// "--tmep" is one edit from "--temp".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// "name: 1 required N missing" (CLI11's ArgumentMismatch) -> "name".
std::string FlagOfMismatch(const std::string& what) { return what.substr(0, what.find(':')); }

}  // namespace

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // A plausible misspelling: a third of the longer word's letters or fewer differ.
  const size_t len = std::max(word.size(), best.size());
  return best_d != std::string::npos && best_d > 0 && best_d * 3 <= len ? best : "";
}

Flags::Flags(const CommandSpec& spec, int argc, char** argv, int first) {
  // CLI11's usage line is "Usage: NAME [OPTIONS]": the positional arguments go in the name.
  CLI::App app(spec.summary, "lazyllm " + spec.name + (spec.positional.empty() ? "" : " " + spec.positional));
  app.allow_extras();
  app.set_help_flag("-h,--help", "print this help and exit");
  app.get_formatter()->column_width(26);
  if (!spec.notes.empty()) app.footer(spec.notes + "\n");

  std::vector<FlagDef> defs;
  for (const std::string& name : spec.shared) {
    const auto& table = SharedFlags();
    auto it = std::find_if(table.begin(), table.end(), [&](const FlagDef& d) { return d.name == name; });
    if (it == table.end()) {  // a programming error in a command's spec
      std::fprintf(stderr, "lazyllm: internal error: flag '%s' is not in the shared table\n", name.c_str());
      std::abort();
    }
    defs.push_back(*it);
  }
  defs.insert(defs.end(), spec.own.begin(), spec.own.end());

  std::map<std::string, std::vector<std::string>> taken;
  std::map<std::string, CLI::Option*> switches;
  std::vector<std::string> names;
  for (const FlagDef& d : defs) {
    names.push_back(d.name);
    if (d.value.empty()) {
      switches[d.name] = app.add_flag(d.name)->description(d.help)->disable_flag_override();
    } else {
      app.add_option(d.name, taken[d.name], d.help)
          ->type_name(d.value)
          ->expected(1)
          ->allow_extra_args(false)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
  }

  std::vector<std::string> args(argv + first, argv + argc);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    throw CliExit{0};
  } catch (const CLI::ArgumentMismatch& e) {
    const std::string what = e.what();
    if (what.find("disallowed flag override") != std::string::npos) {  // "json was given ..."
      const std::string bare = what.substr(0, what.find(' '));
      for (const auto& [name, opt] : switches)
        if (name.substr(name.find_first_not_of('-')) == bare) throw CliError{"flag '" + name + "' takes no value"};
    }
    throw CliError{"flag '" + FlagOfMismatch(what) + "' needs a value"};
  } catch (const CLI::ParseError& e) {
    throw CliError{e.what()};
  }

  for (const std::string& extra : app.remaining()) {
    const bool is_flag = extra.size() > 1 && extra[0] == '-';
    if (!is_flag && positional_.size() < spec.max_positional) {
      positional_.push_back(extra);
      continue;
    }
    if (!is_flag) throw CliError{"unexpected argument '" + extra + "' (see lazyllm " + spec.name + " --help)"};
    const std::string name = extra.substr(0, extra.find('='));
    const std::string near = ClosestMatch(name, names);
    throw CliError{"unknown flag '" + name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                   " (see lazyllm " + spec.name + " --help)"};
  }
  for (const auto& [name, values] : taken) {
    if (values.size() > 1) throw CliError{"flag '" + name + "' given twice"};
    if (values.size() == 1) values_[name] = values[0];
  }
  for (const auto& [name, opt] : switches) {
    if (opt->count() > 1) throw CliError{"flag '" + name + "' given twice"};
    if (opt->count() == 1) values_[name] = "";
  }
}

}  // namespace lazyllm::cli
