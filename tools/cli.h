// Shared pieces of the lazyllm CLI commands: flag parsing, user-facing errors, model loading.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lazyllm/lazyllm.h"
#include "tools/flags.h"

namespace lazyllm::cli {

using nlohmann::json;

// "a, b, c".
std::string Join(const std::vector<std::string>& v);

// Text files given to the CLI (prompts, eval prompt files) are at most this big: far more than
// any context holds, and a bound on what a device or a huge file can make it read.
constexpr std::uintmax_t kMaxTextFileBytes = std::uintmax_t{256} << 20;

// The contents of a regular file of at most kMaxTextFileBytes; `what` names it in errors.
std::string ReadTextFile(const std::string& path, const std::string& what);

// The prompt of -p TEXT or -f FILE (exactly one of them).
std::string ReadPrompt(const Flags& flags);

// The model of -m MODEL (its vocabulary only, for tokenize).
lazyllm::Model LoadModel(const Flags& flags, bool vocab_only);

// The tokens of `text` (Tokenizer::Encode), or a CliError naming `what` (e.g. "the prompt") and
// the byte the vocabulary cannot encode.
std::vector<int32_t> Tokens(const lazyllm::Tokenizer& tok, std::string_view text, const std::string& what,
                            bool add_special, bool parse_special = false);

// Compact JSON, invalid UTF-8 replaced.
std::string Dump(const json& j);

// -c beyond the model's trained context is allowed (RoPE extrapolates) but said once on stderr.
void WarnIfBeyondTrainedContext(const lazyllm::Model& model, int64_t ctx, const char* cmd);

// An on|off flag.
bool ParseOnOff(const Flags& flags, const std::string& f, bool def);

// A byte count: a plain number of bytes, or one with a K/M/G/T suffix (KiB, MiB, GiB, TiB;
// "2G", "2GiB" and "2GB" all mean 2·2³⁰), e.g. --kv-mem 4GiB. 0 means no limit.
int64_t ParseBytes(const std::string& flag, const std::string& v);

// --mem-limit BYTES: what one sequence may come to need; 0 (absent) means physical memory.
int64_t ParseMemLimit(const Flags& flags);

// --kv-type f32|f16.
lazyllm::KvType ParseKvType(const Flags& flags);
// --kv-type's name of a K/V storage.
std::string KvName(lazyllm::KvType t);

// Pruning specs are separated by ';' or by ',' between specs; a spec itself may contain commas
// (8:0.5,15:0.5), so "off,paper" splits on commas that start a new spec word.
std::vector<std::string> PruneList(const std::string& s);
// Applies --revive-budget R|inf (when given) to a LazyLLM schedule.
void ApplyReviveBudget(const Flags& flags, lazyllm::PruningOptions* p);

// The chat template family: --chat-template NAME, else the model's tokenizer.chat_template, else
// chatml with a warning on stderr.
lazyllm::ChatTemplate ChooseChatTemplate(const Flags& flags, const lazyllm::Model& model);

// The environment a measurement ran in, as the fields every bench record carries (in this order):
// cpu, cores, numa_nodes, isa, cpu_isa, blas_core, blas_threads, openblas_coretype ("" when
// unset), lazyllm_version, lazyllm_commit.
std::vector<std::pair<std::string, json>> EnvFields();

// One line of the same, for a Markdown report's header.
std::string EnvLine();

// Says on stderr, once, when OpenBLAS runs kernels below what the CPU supports.
void WarnIfBlasBelowCpu(const char* cmd);

// --profile: an engine's stage times as Markdown tables (one per phase that ran: each stage's
// time, share, time a step, calls and the weight GB/s of its matmuls), and as JSON.
std::string ProfileTables(const lazyllm::StepProfile& profile);
json ProfileJson(const lazyllm::StepProfile& profile);
// into += from, phase by phase and stage by stage.
void AddProfile(const lazyllm::StepProfile& from, lazyllm::StepProfile* into);

// The text of generated tokens (Decode), without end-of-generation tokens.
std::string GeneratedText(const Tokenizer& tok, const std::vector<int32_t>& ids);

// Writes streamed text to standard output at once.
void WriteStdout(const std::string& s);

// `lazyllm --version`.
void PrintVersion();

// The commands, each in its own *_cmd.cc.
int Run(int argc, char** argv);
int Tokenize(int argc, char** argv);
int Inspect(int argc, char** argv);
int Synth(int argc, char** argv);
int Quantize(int argc, char** argv);
int Chat(int argc, char** argv);
int Bench(int argc, char** argv);
int Eval(int argc, char** argv);
int Serve(int argc, char** argv);

}  // namespace lazyllm::cli
