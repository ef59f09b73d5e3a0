// The lazyllm command-line tool: its usage, --version, and the dispatch to each command (*_cmd.cc).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "lazyllm/lazyllm.h"
#include "tools/cli.h"
#include "tools/ranks.h"

namespace lazyllm::cli {
namespace {

// The commands, in the order the usage lists them.
struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};
constexpr Command kCommands[] = {
    {"run", Run, "generate from a prompt (or a JSONL batch of prompts); --compare measures LazyLLM"},
    {"chat", Chat, "an interactive chat on standard input, streaming each reply"},
    {"serve", Serve, "an OpenAI-compatible HTTP server with continuous batching"},
    {"bench", Bench, "a benchmark matrix of prefill and decode speed (md, csv or json)"},
    {"eval", Eval, "LazyLLM's quality and speed against the baseline on a JSONL eval set"},
    {"tokenize", Tokenize, "print the token ids of a text"},
    {"inspect", Inspect, "print a model's architecture, shapes, tokenizer and tensor types"},
    {"synth", Synth, "write a GGUF with random weights in a preset's shape"},
    {"quantize", Quantize, "rewrite an F32/F16/BF16 model in a quantized type"},
};

std::string Usage() {
  std::string u = "usage: lazyllm COMMAND [flags]      (lazyllm COMMAND --help: its flags)\n\ncommands:\n";
  for (const Command& c : kCommands) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-9s %s\n", c.name, c.summary);
    u += line;
  }
  return u + "\n  lazyllm --version   the version, commit, compiler, the ISA chosen and OpenBLAS's kernels\n";
}

// An unknown command's error, with the closest command when it looks like a misspelling.
int UnknownCommand(const std::string& cmd) {
  std::vector<std::string> names;
  std::string list;
  for (const Command& c : kCommands) {
    names.push_back(c.name);
    list += (list.empty() ? "" : ", ") + std::string(c.name);
  }
  names.insert(names.end(), {"--version", "--help"});
  const std::string near = ClosestMatch(cmd, names);
  std::fprintf(stderr, "lazyllm: error: unknown command '%s'%s (%s; see lazyllm --help)\n", cmd.c_str(),
               near.empty() ? "" : ("; did you mean '" + near + "'?").c_str(), list.c_str());
  return 2;
}

// Runs a command; output that could not be written (a full disk, a closed pipe) is an error, not
// success.
int RunCommand(const Command& c, int argc, char** argv) {
  const int rc = c.run(argc, argv);
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout)
    throw CliError{std::string("cannot write the output to standard output: ") + std::strerror(errno)};
  return rc;
}

}  // namespace

void PrintVersion() {
  const lazyllm::SystemInfo& info = lazyllm::GetSystemInfo();
  std::printf("lazyllm %s (commit %s)\n", info.version.c_str(), info.commit.c_str());
  std::printf("compiler  %s\n", info.compiler.c_str());
  std::printf("cpu       %s (%d cores, %d NUMA node%s, %d package%s)\n", info.cpu.c_str(), info.cores, info.numa_nodes,
              info.numa_nodes == 1 ? "" : "s", info.packages, info.packages == 1 ? "" : "s");
  std::printf("isa       %s kernels (the CPU supports %s; LAZYLLM_ISA=ref|avx2|avx512 lowers it)\n", info.isa.c_str(),
              info.cpu_isa.c_str());
  std::printf("openblas  %s kernels%s, %d thread%s\n", info.blas_core.c_str(),
              info.openblas_coretype.empty() ? "" : (" (OPENBLAS_CORETYPE=" + info.openblas_coretype + ")").c_str(),
              info.blas_threads, info.blas_threads == 1 ? "" : "s");
  std::printf("          %s\n", info.blas_config.c_str());
  std::printf("mpi       %s\n", Ranks::kBuiltWithMpi
                                    ? "yes: run --batch-file and eval split their lines across mpirun ranks"
                                    : "no (built without MPI): one process");
  if (const std::string w = lazyllm::BlasKernelWarning(info); !w.empty()) std::printf("warning   %s\n", w.c_str());
}

}  // namespace lazyllm::cli

int main(int argc, char** argv) {
  using namespace lazyllm::cli;
  if (argc < 2) {
    std::fputs(Usage().c_str(), stderr);
    return 2;
  }
  (void)Ranks::Job();  // under mpirun: every rank joins the job before anything can fail
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    PrintVersion();
    return 0;
  }
  try {
    for (const Command& c : kCommands)
      if (cmd == c.name) return RunCommand(c, argc, argv);
    return UnknownCommand(cmd);
  } catch (const CliExit& e) {
    return e.code;
  } catch (const CliError& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.message.c_str());
    if (Ranks::Job().size() > 1) Ranks::Job().Abort(1);  // no other rank waits for this one
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.what());
    if (Ranks::Job().size() > 1) Ranks::Job().Abort(1);
    return 1;
  }
}
