// The lazyllm command-line tool: its usage, --version, and the dispatch to each command (*_cmd.cc).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "lazyllm/lazyllm.h"
#include "tools/cli.h"

namespace lazyllm::cli {
namespace {

constexpr const char* kUsage = R"(usage: lazyllm COMMAND [flags]      (lazyllm COMMAND --help: its flags)

commands:
  run       generate from a prompt (or a JSONL batch of prompts); --compare measures LazyLLM
  chat      an interactive chat on standard input, streaming each reply
  bench     a benchmark matrix of prefill and decode speed (md, csv or json)
  eval      LazyLLM's quality and speed against the baseline on a JSONL eval set
  tokenize  print the token ids of a text
  inspect   print a model's architecture, shapes, tokenizer and tensor types
  synth     write a GGUF with random weights in a preset's shape
  quantize  rewrite an F32/F16/BF16 model in a quantized type

  lazyllm --version   the version, commit, compiler, the ISA chosen and OpenBLAS's kernels
)";

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
  if (const std::string w = lazyllm::BlasKernelWarning(info); !w.empty()) std::printf("warning   %s\n", w.c_str());
}

}  // namespace lazyllm::cli

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(lazyllm::cli::kUsage, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(lazyllm::cli::kUsage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    lazyllm::cli::PrintVersion();
    return 0;
  }
  try {
    using namespace lazyllm::cli;
    int rc = -1;
    if (cmd == "run")
      rc = Run(argc, argv);
    else if (cmd == "bench")
      rc = Bench(argc, argv);
    else if (cmd == "synth")
      rc = Synth(argc, argv);
    else if (cmd == "quantize")
      rc = Quantize(argc, argv);
    else if (cmd == "chat")
      rc = Chat(argc, argv);
    else if (cmd == "eval")
      rc = Eval(argc, argv);
    else if (cmd == "tokenize")
      rc = Tokenize(argc, argv);
    else if (cmd == "inspect")
      rc = Inspect(argc, argv);
    if (rc >= 0) {
      // Output that could not be written (a full disk, a closed pipe) is an error, not success.
      std::cout.flush();
      if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout)
        throw CliError{std::string("cannot write the output to standard output: ") + std::strerror(errno)};
      return rc;
    }
    const std::string near = ClosestMatch(
        cmd, {"run", "chat", "bench", "synth", "quantize", "eval", "tokenize", "inspect", "--version", "--help"});
    std::fprintf(stderr,
                 "lazyllm: error: unknown command '%s'%s (run, chat, bench, synth, quantize, eval, tokenize, inspect; "
                 "see lazyllm --help)\n",
                 cmd.c_str(), near.empty() ? "" : ("; did you mean '" + near + "'?").c_str());
    return 2;
  } catch (const lazyllm::cli::CliExit& e) {
    return e.code;
  } catch (const lazyllm::cli::CliError& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.message.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lazyllm %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
