// Runs the lazyllm binary: JSON output against references, and clear errors for bad flags and files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/test_paths.h"

namespace lazyllm {
namespace {

struct Result {
  int exit_code;
  std::string out, err;
};

Result RunCli(const std::string& args) {
  // One file per test process: ctest runs tests in parallel processes.
  const std::string err_path = ::testing::TempDir() + "/lazyllm_cli_err." + std::to_string(getpid()) + ".txt";
  const std::string cmd = std::string(LAZYLLM_CLI) + " " + args + " 2>" + err_path;
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.err = testing::ReadFile(err_path);
  std::remove(err_path.c_str());
  return r;
}

std::string Model() { return testing::SampleModel().string(); }

// A one-record eval set file with the given line (per test process; removed when it exits).
std::string BadSet(const std::string& line) {
  struct Files {
    std::vector<std::string> paths;
    ~Files() {
      for (const std::string& p : paths) std::remove(p.c_str());
    }
  };
  static Files files;
  const std::string path = ::testing::TempDir() + "/lazyllm_bad_set." + std::to_string(getpid()) + "." +
                           std::to_string(files.paths.size()) + ".jsonl";
  std::ofstream(path) << line << "\n";
  files.paths.push_back(path);
  return path;
}

// The project's version from CMakeLists.txt.
std::string ProjectVersion() {
  std::ifstream in(testing::SourceDir() / "CMakeLists.txt");
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("project(lazyllm VERSION ");
    if (at != std::string::npos) {
      std::istringstream rest(line.substr(at + 24));
      std::string v;
      rest >> v;
      return v;
    }
  }
  return "?";
}

// The ISA lazyllm's kernels should pick on this machine, from /proc/cpuinfo's flags (what the
// kernel reports, not lazyllm's own CPUID probe), unless LAZYLLM_ISA lowers it.
std::string ExpectedIsa() {
  if (const char* forced = std::getenv("LAZYLLM_ISA")) return forced;
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  auto has = [&](std::initializer_list<const char*> fs) {
    for (const char* f : fs)
      if (!flags.count(f)) return false;
    return true;
  };
  if (has({"avx512f", "avx512bw", "avx512vl", "avx2", "fma", "f16c"})) return "avx512";
  if (has({"avx2", "fma", "f16c"})) return "avx2";
  return "ref";
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      std::string name = line.substr(line.find(':') + 1);
      return name.substr(name.find_first_not_of(" \t"));
    }
  return "unknown";
}

TEST(CliTest, RunJsonMatchesFloat64Reference) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto ref = testing::ReadJson(testing::ReferenceDir() / "float64/stories260K.short.json");
  const Result r = RunCli("run -m " + Model() + " -f " + (testing::ReferenceDir() / "prompts/short.txt").string() +
                          " -n 64 --temp 0 --json --logits -t 2 --prune off");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_tokens"], ref["prompt_tokens"]);
  EXPECT_EQ(j["argmax_per_position"], ref["argmax_per_position"]);
  std::vector<int> tokens = j["tokens"], want = ref["greedy_tokens"];
  EXPECT_EQ(tokens, want);
  EXPECT_EQ(j["last_logits"].size(), 512u);
  EXPECT_EQ(j["stats"]["prompt_tokens"], ref["prompt_tokens"].size());
  EXPECT_EQ(j["stats"]["generated_tokens"], 64);
  for (const char* k : {"load_ms", "ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s"})
    EXPECT_GT(j["stats"][k].get<double>(), 0.0) << k;
}

TEST(CliTest, PrintsTextAndStopsAfterPrefillWithNZero) {
  Result r = RunCli("run -m " + Model() + " -p 'Once upon a time' -n 12 --temp 0 --prune off");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 26), ", there was a little girl ");
  r = RunCli("run -m " + Model() + " -p 'Once upon a time' -n 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["tokens"].empty());
  // The streamed text is the JSON's text (Decode of the generated ids), for any prompt.
  for (const std::string p : {"'Once upon a time'", "'The dog'", "'She said'"}) {
    const std::string args = "run -m " + Model() + " -p " + p + " -n 24 --temp 0 --prune off";
    const Result text = RunCli(args), js = RunCli(args + " --json");
    ASSERT_EQ(text.exit_code, 0) << text.err;
    ASSERT_EQ(js.exit_code, 0) << js.err;
    EXPECT_EQ(text.out, nlohmann::json::parse(js.out)["text"].get<std::string>() + "\n") << p;
  }
}

TEST(CliTest, PruneStatsAndCompareAgainstReference) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto ref = testing::ReadJson(testing::ReferenceDir() / "lazyllm/stories260K.long.paper.json");
  const std::string prompt = (testing::ReferenceDir() / "prompts/long.txt").string();
  // default: paper (with its revival bound, which the reference does not have)
  Result r = RunCli("run -m " + Model() + " -f " + prompt + " -n 64 --temp 0 --json --revive-budget inf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prune"], "1:0.3,3:0.3,4:0.3");
  EXPECT_EQ(j["stats"]["kept_per_layer"], ref["kept_per_layer"]);
  EXPECT_NEAR(j["stats"]["prompt_tokens_computed_pct_prefill"].get<double>(),
              ref["prompt_tokens_computed_pct_prefill"].get<double>(), 1e-3);
  EXPECT_EQ(j["tokens"], ref["greedy_tokens"]);
  EXPECT_EQ(j["stats"]["revived_tokens"], ref["revived_tokens"]);

  r = RunCli("run -m " + Model() + " -f " + prompt + " -n 16 --temp 0 --json --compare --prune 2:0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  const auto base = testing::ReadJson(testing::ReferenceDir() / "float64/stories260K.long.json");
  EXPECT_EQ(j["baseline"]["tokens"],
            std::vector<int>(base["greedy_tokens"].begin(), base["greedy_tokens"].begin() + 16));
  EXPECT_EQ(j["pruned"]["stats"]["kept_per_layer"], (std::vector<int>{396, 396, 198, 198, 198}));
  EXPECT_GT(j["ttft_speedup"].get<double>(), 0.0);
  EXPECT_NEAR(j["ideal_speedup"].get<double>(), 1.0 / 0.7, 1e-9);
  const auto a = j["baseline"]["tokens"].get<std::vector<int>>(), b = j["pruned"]["tokens"].get<std::vector<int>>();
  size_t agree = 0;
  while (agree < a.size() && agree < b.size() && a[agree] == b[agree]) ++agree;
  EXPECT_EQ(j["agreeing_prefix_tokens"], agree);
  EXPECT_EQ(j["outputs_agree"], a == b);
}

TEST(CliTest, TokenizeAndInspect) {
  Result r = RunCli("tokenize -m " + Model() + " -p 'Once upon a time' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"], nlohmann::json({1, 403, 407, 261, 378}));
  r = RunCli("tokenize -m " + Model() + " -p 'Once upon a time' --no-bos");
  EXPECT_EQ(r.out, "403 407 261 378\n");
  r = RunCli("inspect -m " + Model() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["num_layers"], 5);
  EXPECT_EQ(j["num_kv_heads"], 4);
  EXPECT_EQ(j["tensor_count"], 48);
  EXPECT_EQ(j["tokenizer"]["model"], "llama");
  EXPECT_EQ(j["features"]["rope"], "adjacent");
  EXPECT_EQ(j["features"]["ffn"], "swiglu");
  EXPECT_EQ(j["features"]["sliding_window"], 0);
}

// run --chat renders the prompt as a chat (chatml for a model without a template, with a warning):
// the prompt ids are those of the formatted text with its special tokens parsed.
TEST(CliTest, RunChatFormatsThePrompt) {
  Result r = RunCli("run -m " + Model() + " -p Hello --chat --system Hi -n 1 --temp 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("formatting the chat as chatml"), std::string::npos) << r.err;
  const auto chat_ids = nlohmann::json::parse(r.out)["prompt_tokens"].get<std::vector<int32_t>>();
  const std::string formatted = ::testing::TempDir() + "/lazyllm_chat." + std::to_string(getpid()) + ".txt";
  std::ofstream(formatted)
      << "<|im_start|>system\nHi<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
  const Result t = RunCli("tokenize -m " + Model() + " -f " + formatted + " --json");
  std::remove(formatted.c_str());
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(chat_ids, nlohmann::json::parse(t.out)["tokens"].get<std::vector<int32_t>>());
  r = RunCli("run -m " + Model() + " -p Hello --chat --chat-template llama3 -n 1 --temp 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

// chat: two turns from standard input; the second is appended to the session, not prefilled
// again (the rendered history starts with the tokens in context).
TEST(CliTest, ChatAppendsLaterTurns) {
  const std::string input = ::testing::TempDir() + "/lazyllm_chat_in." + std::to_string(getpid()) + ".txt";
  std::ofstream(input) << "Once upon a time\nWhat did the dog do?\n/exit\nnever read\n";
  const Result r = RunCli("chat -m " + Model() + " -n 8 --temp 0 -t 2 --chat-template chatml < " + input);
  std::remove(input.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[turn 1: prefilled"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[turn 2: appended"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("[turn 3"), std::string::npos) << r.err;  // /exit ended the chat
  EXPECT_FALSE(r.out.empty());
}

// inspect names each architecture's features: gemma2's file says soft-caps 50/30 and window 32;
// gemma2 slides on even layers (13 of 26); qwen2 has QKV biases.
TEST(CliTest, InspectShowsArchitectureFeatures) {
  if (!std::filesystem::exists(testing::ReferenceDir())) GTEST_SKIP() << "../shared/reference not found";
  Result r = RunCli("inspect -m " + (testing::ReferenceDir() / "models/tiny-gemma2.gguf").string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = nlohmann::json::parse(r.out)["features"];
  EXPECT_EQ(f["rope"], "neox");
  EXPECT_EQ(f["ffn"], "geglu");
  EXPECT_EQ(f["attn_softcap"], 50.0);
  EXPECT_EQ(f["final_softcap"], 30.0);
  EXPECT_EQ(f["sliding_window"], 32);
  EXPECT_EQ(f["sliding_layers"], 13);
  r = RunCli("inspect -m " + (testing::ReferenceDir() / "models/tiny-qwen2.gguf").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("features        NEOX RoPE, QKV biases, SwiGLU"), std::string::npos) << r.out;
}

// bench: one row per case of the matrix, every statistic present, and % computed matching the
// schedule (100% with pruning off, less with paper); synth output loads and bench runs on it.
TEST(CliTest, BenchMatrixAndSynth) {
  const std::string out = ::testing::TempDir() + "/lazyllm_cli_synth." + std::to_string(getpid()) + ".gguf";
  const Result synth = RunCli("synth --preset tiny-gqa --dtype q8_0 --layers 2 -o " + out);
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const Result r = RunCli("bench -m " + out + " -p 64,128 -n 0,4 -t 1 --prune 'off;1:0.5' -r 2 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 8u);  // 2 prompts × 2 gens × 2 schedules
  for (const auto& c : j) {
    EXPECT_EQ(c["threads"], 1);
    EXPECT_EQ(c["prefill_tokens_per_s"]["samples"].size(), 2u);
    EXPECT_GT(c["ttft_ms"]["mean"].get<double>(), 0.0);
    EXPECT_EQ(c.contains("decode_tokens_per_s"), c["n_gen"].get<int>() > 0);
    const double pct = c["prompt_tokens_computed_pct"]["mean"];
    if (c["prune"] == "off") {
      EXPECT_EQ(pct, 100.0);
    } else {
      EXPECT_LT(pct, 100.0);
    }
  }
  // Repeated values are one case; --numa takes a plain list.
  const Result md = RunCli("bench -m " + out + " -p 32,32 -n 2 -t 1 -r 1 --numa off,off");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  // The environment line, a blank line, the header, the rule and one case.
  EXPECT_EQ(std::count(md.out.begin(), md.out.end(), '\n'), 5) << md.out;
  EXPECT_EQ(md.out.rfind("lazyllm ", 0), 0u) << md.out;
  EXPECT_NE(md.out.find("| off | off |"), std::string::npos) << md.out;
  EXPECT_NE(md.err.find("bench: rep 1/1 case 1/1"), std::string::npos) << "progress on stderr";
  std::remove(out.c_str());
}

// bench -f FILE takes its prompt tokens from the file while -p stays the list of lengths.
// -c beyond the trained context (512 for the sample model) runs, and says so once on stderr.
TEST(CliTest, ContextBeyondTrainedWarns) {
  const Result r = RunCli("run -m " + Model() + " -p hi -n 2 --temp 0 -c 2048");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: -c 2048 exceeds the model's trained context of 512 tokens"), std::string::npos)
      << r.err;
  const Result ok = RunCli("run -m " + Model() + " -p hi -n 2 --temp 0 -c 512");
  EXPECT_EQ(ok.err.find("warning: -c"), std::string::npos) << ok.err;
  // This workplace pins OpenBLAS to its AVX2 kernels (OPENBLAS_CORETYPE=Haswell); on an AVX-512
  // CPU, run says so once, after its output.
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  if (core != nullptr && std::string(core) == "Haswell" && ExpectedIsa() == "avx512") {
    const std::string w =
        "warning: OpenBLAS runs its Haswell kernels (OPENBLAS_CORETYPE=Haswell is set) although this CPU supports "
        "avx512";
    EXPECT_NE(ok.err.find(w), std::string::npos) << ok.err;
    EXPECT_EQ(ok.err.find(w), ok.err.rfind(w)) << "once";
  }
}

TEST(CliTest, PlotThatCannotBeWrittenFails) {
  const Result r =
      RunCli("eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"Once\"}") + " -n 2 -r 1 --plot /dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot write plot '/dev/full'"), std::string::npos) << r.err;
}

TEST(CliTest, BenchTakesPromptFileWithLengths) {
  const Result r = RunCli("bench -m " + Model() + " -p 16,32 -n 0 -r 1 -t 1 -o json -f " +
                          (testing::SourceDir() / "models/stories260K/long_prompt.txt").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["n_prompt"], 16);
  EXPECT_EQ(j[1]["n_prompt"], 32);
}

// bench --batch: llama-batched-bench's shape, one record per (schedule, prompt, gen, B); KV bytes
// of B unpruned sequences = B × layers × (p + n) pairs × 2 · kv_dim · 4 bytes up to page rounding
// (at most 64 rows per layer), and fewer with pruning.
TEST(CliTest, BenchBatchRecords) {
  const Result info = RunCli("inspect -m " + Model() + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto m = nlohmann::json::parse(info.out);
  const int64_t layers = m["num_layers"], kv_dim = m["num_kv_heads"].get<int64_t>() * m["head_dim"].get<int64_t>();
  const Result r = RunCli("bench -m " + Model() + " --batch 1,3 -p 200 -n 2 -t 1 -r 2 --prune 'off;paper' -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  std::map<int64_t, double> off_kv;
  for (const auto& c : j) {
    const int64_t b = c["batch"];
    EXPECT_EQ(c["n_prompt"], 200);
    EXPECT_EQ(c["n_gen"], 2);
    for (const char* k : {"prefill_tokens_per_s", "decode_tokens_per_s", "total_tokens_per_s"}) {
      EXPECT_EQ(c[k]["samples"].size(), 2u) << k;
      EXPECT_GT(c[k]["mean"].get<double>(), 0.0) << k;
    }
    const double kv = c["kv_bytes"]["mean"];
    if (c["prune"] == "off") {
      // The last decoded token's K/V is written too: p + n positions per sequence.
      const double pairs_bytes = static_cast<double>(b * layers * 202 * 2 * kv_dim * 4);
      EXPECT_GE(kv, pairs_bytes);
      EXPECT_LT(kv, pairs_bytes + static_cast<double>(b * layers * 64 * 2 * kv_dim * 4));
      off_kv[b] = kv;
    } else {
      ASSERT_TRUE(off_kv.count(b));  // off's records come first
      EXPECT_LT(kv, off_kv[b]);
    }
  }
  const Result bad = RunCli("bench -m " + Model() + " --batch 1 -p 16 -n 2 -t 1,2");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--batch takes one -t"), std::string::npos) << bad.err;
}

// bench's single-sequence cases keep K/V as --kv-type asks (read back from the session's engine).
TEST(CliTest, BenchKvType) {
  for (const std::string kv : {"", "f32", "f16"}) {
    const Result r =
        RunCli("bench -m " + Model() + " -p 16 -n 2 -t 1 -r 1 -o json" + (kv.empty() ? "" : " --kv-type " + kv));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["kv_type"], kv.empty() ? "f32" : kv);
    EXPECT_GT(j[0]["decode_tokens_per_s"]["mean"].get<double>(), 0.0);
  }
  const Result md = RunCli("bench -m " + Model() + " -p 16 -n 2 -t 1 -r 1 --kv-type f16");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| kv |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| f16 |"), std::string::npos) << md.out;
}

// run --profile: a table per phase on stderr naming every stage, and in --json the same counts;
// each stage of the layers ran once per layer and step. Refused with --compare.
TEST(CliTest, RunProfile) {
  const Result md = RunCli("run -m " + Model() + " -p \"Once upon a time\" -n 6 --temp 0 -t 2 --prune off --profile");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  for (const char* text :
       {"profile, prefill: 1 steps", "profile, decode: ", "| embed |", "| select |", "| norms |", "| qkv |",
        "| rope_kv |", "| attention |", "| output |", "| ffn |", "| lm_head |", "| other |"})
    EXPECT_NE(md.err.find(text), std::string::npos) << text << "\n" << md.err;
  const Result js = RunCli("run -m " + Model() + " -p \"Once upon a time\" -n 6 --temp 0 -t 2 --profile --json");
  ASSERT_EQ(js.exit_code, 0) << js.err;
  const auto j = nlohmann::json::parse(js.out);
  const Result info = RunCli("inspect -m " + Model());  // "layers          N"
  const size_t at = info.out.find("\nlayers");
  ASSERT_NE(at, std::string::npos) << info.out;
  const int64_t layers = std::stoll(info.out.substr(info.out.find_first_of("0123456789", at)));
  const auto& decode = j["profile"]["decode"];
  const int64_t steps = decode["steps"];
  EXPECT_EQ(steps, j["stats"]["generated_tokens"].get<int64_t>() - 1);
  EXPECT_EQ(decode["stages"]["attention"]["calls"], layers * steps);
  EXPECT_GT(decode["stages"]["ffn"]["weight_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(j["profile"]["prefill"]["steps"], 1);
  const Result both = RunCli("run -m " + Model() + " -p hi --profile --compare");
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("--profile"), std::string::npos) << both.err;
}

// bench --profile: each case's timed repetitions only (not the warm-up), in JSON and as tables
// on stderr; a batched case's decode steps carry B rows each.
TEST(CliTest, BenchProfile) {
  const Result r = RunCli("bench -m " + Model() + " -p 16 -n 4 -t 2 -r 2 --profile -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["profile"]["prefill"]["steps"], 2);
  EXPECT_EQ(j[0]["profile"]["prefill"]["rows"], 2 * 16);
  EXPECT_EQ(j[0]["profile"]["decode"]["steps"], 2 * 3);  // the first token comes from the prefill
  const Result b = RunCli("bench -m " + Model() + " --batch 3 -p 8 -n 2 -t 2 -r 1 --profile -o json");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(jb[0]["profile"]["prefill"]["rows"], 3 * 8);
  EXPECT_EQ(jb[0]["profile"]["decode"]["steps"], 2);
  EXPECT_EQ(jb[0]["profile"]["decode"]["rows"], 2 * 3);
  const Result md = RunCli("bench -m " + Model() + " -p 16 -n 4 -t 2 -r 1 --profile");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.err.find("p=16 n=4 t=2"), std::string::npos) << md.err;
  EXPECT_NE(md.err.find("| ffn |"), std::string::npos) << md.err;
  const Result plain = RunCli("bench -m " + Model() + " -p 16 -n 4 -t 2 -r 1 -o json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out)[0].contains("profile"));
}

// eval on the built-in sets: the baseline is exactly faithful to itself, the matched static and
// random baselines compute the same prefill share as LazyLLM, and every metric is present.
TEST(CliTest, EvalBuiltInSets) {
  const Result r = RunCli("eval -m " + Model() + " --set " +
                          (testing::SourceDir() / "models/stories260K/eval").string() + " -n 8 -t 2 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);  // baseline, paper, static and random at paper's budget
  EXPECT_EQ(j[0]["prune"], "off");
  EXPECT_EQ(j[0]["first_token_kl"]["mean"].get<double>(), 0.0);
  EXPECT_EQ(j[0]["first_token_top1"]["mean"].get<double>(), 1.0);
  EXPECT_EQ(j[0]["greedy_equal_fraction"]["mean"].get<double>(), 1.0);
  EXPECT_EQ(j[0]["greedy_common_prefix"]["mean"].get<double>(), 8.0);
  EXPECT_EQ(j[0]["perplexity_ratio"]["mean"].get<double>(), 1.0);
  size_t records = 0;  // one per non-empty line of the set's .jsonl files
  for (const auto& e : std::filesystem::directory_iterator(testing::SourceDir() / "models/stories260K/eval")) {
    if (e.path().extension() != ".jsonl") continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) records += !line.empty();
  }
  EXPECT_EQ(j[0]["records"], records);
  EXPECT_EQ(j[1]["method"], "LazyLLM");
  EXPECT_EQ(j[2]["method"], "static");
  EXPECT_EQ(j[3]["method"], "random");
  const double lazy_pct = j[1]["prompt_computed_pct_prefill"]["mean"];
  for (int m : {2, 3}) {
    EXPECT_NEAR(j[m]["prompt_computed_pct_prefill"]["mean"].get<double>(), lazy_pct, 1.0) << j[m]["prune"];
    EXPECT_EQ(j[m]["revived_tokens"]["mean"].get<double>(), 0.0) << "static and random never revive";
  }
  for (const auto& m : j)
    for (const char* k :
         {"first_token_kl", "perplexity", "task_score", "ttft_speedup", "ideal_speedup", "prompt_computed_pct_final"})
      EXPECT_TRUE(m.contains(k)) << m["prune"] << " lacks " << k;
  // The ideal speedup beside each measured one is 1 / the prefill work fraction, which the
  // session's own count of computed (token, layer) pairs gives independently.
  for (const auto& m : j) {
    const auto& ideal = m["ideal_speedup"]["values"];
    const auto& pct = m["prompt_computed_pct_prefill"]["values"];
    ASSERT_EQ(ideal.size(), pct.size());
    for (size_t i = 0; i < ideal.size(); ++i)
      EXPECT_NEAR(ideal[i].get<double>(), 100.0 / pct[i].get<double>(), 1e-9) << m["prune"] << " record " << i;
  }
  const Result md =
      RunCli("eval -m " + Model() + " --set " +
             (testing::SourceDir() / "models/stories260K/eval/continuation.jsonl").string() + " -n 4 --no-match");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| baseline | off | 0.0000 ± 0.0000 | 100.0 ± 0.0 |"), std::string::npos) << md.out;
  EXPECT_EQ(md.out.find("| static |"), std::string::npos) << "--no-match adds no baselines";
}

// --sweep: LazyLLM, static and random at five matched prefill budgets; --plot: an SVG with one
// line per method.
TEST(CliTest, EvalSweepAndPlot) {
  const std::string svg = ::testing::TempDir() + "/lazyllm_eval_plot." + std::to_string(getpid()) + ".svg";
  const Result r = RunCli("eval -m " + Model() + " --set " +
                          (testing::SourceDir() / "models/stories260K/eval/continuation.jsonl").string() +
                          " -n 4 -t 2 --sweep --plot " + svg + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 19u);  // baseline, paper and its matched pair, 5 budgets × 3 methods
  // Sweep entries come in (LazyLLM, static, random) triples at one budget each: 90% .. 50%.
  for (size_t t = 0; t < 5; ++t) {
    const auto& lazy = j[2 + 3 * t];
    ASSERT_EQ(lazy["method"], "LazyLLM") << t;
    const double pct = lazy["prompt_computed_pct_prefill"]["mean"];
    EXPECT_NEAR(pct, 90.0 - 10.0 * static_cast<double>(t), 2.0) << lazy["prune"];
    for (size_t m = 1; m <= 2; ++m)
      EXPECT_NEAR(j[2 + 3 * t + m]["prompt_computed_pct_prefill"]["mean"].get<double>(), pct, 1.5)
          << j[2 + 3 * t + m]["prune"];
  }
  const std::string plot = testing::ReadFile(svg);
  EXPECT_EQ(plot.rfind("<svg", 0), 0u);
  size_t lines = 0;
  for (size_t at = 0; (at = plot.find("<polyline", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 4u) << "baseline, LazyLLM, static and random";
  for (const char* name : {">LazyLLM<", ">static<", ">random<", ">baseline<"})
    EXPECT_NE(plot.find(name), std::string::npos) << name;
  std::remove(svg.c_str());
}

// --batch-file: the float64 reference's greedy tokens for the reference prompt in every slot,
// whatever else runs beside it; per-line overrides; outputs in input order; bad lines named.
// Issue 14, end to end: synth --preset needle, eval --make-set needle (the same set twice for a
// seed), and eval on it: the baseline and LazyLLM answer every question, the first in the prompt
// and the later ones as followups, and LazyLLM revives tokens to do it.
TEST(CliTest, EvalOnANeedleSet) {
  const std::string dir = ::testing::TempDir() + "/lazyllm_needle." + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const Result synth = RunCli("synth --preset needle --layers 8 --context 1024 -o " + dir + "/needle.gguf");
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const std::string make = "eval --make-set needle --length 300 --records 3 --facts 5 --questions 5 --seed 9";
  const Result set = RunCli(make), again = RunCli(make);
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out, again.out);
  EXPECT_EQ(std::count(set.out.begin(), set.out.end(), '\n'), 3);
  std::ofstream(dir + "/set.jsonl") << set.out;
  const Result r = RunCli("eval -m " + dir + "/needle.gguf --set " + dir + "/set.jsonl -n 1 -r 1 -c 1024 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_GE(j.size(), 3u);
  EXPECT_EQ(j[0]["method"], "baseline");
  EXPECT_EQ(j[1]["method"], "LazyLLM");
  for (int m : {0, 1}) {
    EXPECT_EQ(j[m]["task_score"]["mean"], 1.0) << j[m].dump();
    EXPECT_EQ(j[m]["followup_score"]["mean"], 1.0) << j[m].dump();
  }
  EXPECT_GT(j[1]["revived_tokens"]["mean"].get<double>(), 0.0);
  std::filesystem::remove_all(dir);
}

TEST(CliTest, RunBatchFileMatchesReferenceInInputOrder) {
  LAZYLLM_REQUIRE_REFERENCE();
  const auto ref = testing::ReadJson(testing::ReferenceDir() / "float64/stories260K.short.json");
  const std::string short_prompt = testing::ReadFile(testing::ReferenceDir() / "prompts/short.txt");
  std::vector<int> want = ref["greedy_tokens"];
  want.resize(24);
  nlohmann::json line_ref = {{"prompt", short_prompt}, {"prune", "off"}, {"max_tokens", 24}};
  const std::string path =
      BadSet(line_ref.dump() + "\n" + nlohmann::json{{"prompt", "Tom had a dog."}}.dump() + "\n" +
             nlohmann::json{{"prompt", "The sun"}, {"max_tokens", 3}, {"prune", "static:2:0.5"}}.dump() + "\n" +
             line_ref.dump());
  const Result r = RunCli("run -m " + Model() + " --batch-file " + path + " -n 10 --temp 0 --json -t 2 --max-batch 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["tokens"].get<std::vector<int>>(), want);
  EXPECT_EQ(lines[3]["tokens"].get<std::vector<int>>(), want);
  EXPECT_EQ(lines[0]["prompt_tokens"], ref["prompt_tokens"]);
  EXPECT_EQ(lines[1]["stats"]["generated_tokens"], 10);
  EXPECT_EQ(lines[1]["prune"], "1:0.3,3:0.3,4:0.3,revive:2");  // --prune's default, paper
  EXPECT_EQ(lines[2]["stats"]["generated_tokens"], 3);
  EXPECT_EQ(lines[2]["prune"], "static:2:0.5");
  for (const auto& l : lines) EXPECT_GT(l["stats"]["kv_bytes"].get<int64_t>(), 0);
  EXPECT_NE(r.err.find("4 requests (0 failed)"), std::string::npos) << r.err;

  for (const auto& [line, message] : std::vector<std::pair<std::string, std::string>>{
           {"{\"prompt\": 3}", "\"prompt\" must be a string"},
           {"{\"prompt\": \"a\", \"max_token\": 3}", "unknown key 'max_token'"},
           {"{\"prompt\": \"a\", \"prune\": \"9:0.5\"}", "request 1"},
           {"not json", ":1: not a JSON object"}}) {
    const Result bad = RunCli("run -m " + Model() + " --batch-file " + BadSet(line));
    EXPECT_EQ(bad.exit_code, 1) << line;
    EXPECT_NE(bad.err.find(message), std::string::npos) << line << ": " << bad.err;
  }
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--batch-file " + path + " --kv-mem 12X", "is not a byte count"},
           {"--batch-file " + path + " --kv-type f8", "expected f32 or f16"},
           {"--batch-file " + path + " -p hi", "--batch-file replaces -p and -f"},
           {"-p hi --kv-mem 1GiB", "--kv-mem bounds the KV pool of --batch-file"},
           {"-p hi --max-batch 2", "--max-batch is a flag of --batch-file"}}) {
    const Result bad = RunCli("run -m " + Model() + " " + args);
    EXPECT_EQ(bad.exit_code, 1) << args;
    EXPECT_NE(bad.err.find(message), std::string::npos) << args << ": " << bad.err;
  }
}

TEST(CliTest, HelpVersionAndFlagForms) {
  // Every command's --help: exit 0, its usage line and a line per flag it accepts.
  const std::map<std::string, std::vector<std::string>> flags = {
      {"run",
       {"-m MODEL",
        "-p TEXT",
        "-f FILE",
        "-n N",
        "-t N",
        "-c N",
        "--temp T",
        "--top-k K",
        "--top-p P",
        "--seed S",
        "--no-bos",
        "--json",
        "--logits",
        "--prune SPEC",
        "--revive-budget R|inf",
        "--compare",
        "-r N",
        "--numa on|off",
        "--exact",
        "--kv-type f32|f16",
        "--mem-limit BYTES",
        "--chat",
        "--system TEXT",
        "--chat-template NAME",
        "--batch-file FILE",
        "--max-batch N",
        "--kv-mem BYTES"}},
      {"chat", {"-m MODEL", "-n N", "--temp T", "--system TEXT", "--prune SPEC", "--mem-limit BYTES"}},
      {"bench",
       {"-m MODEL", "-p N,N,...", "-n N,N,...", "-t N,N,...", "--numa on,off", "--prune SPECS", "--batch B,B,...",
        "-r N", "-o md|csv|json", "-f FILE", "--seed S", "--exact", "--kv-type f32|f16", "--revive-budget R|inf"}},
      {"eval",
       {"-m MODEL", "--set FILE|DIR", "--prune SPECS", "-n N", "-o md|csv|json", "-r N", "--sweep", "--plot OUT.svg",
        "--no-match", "--seed S", "-t N", "--revive-budget R|inf"}},
      {"tokenize", {"-m MODEL", "-p TEXT", "-f FILE", "--no-bos", "--json"}},
      {"inspect", {"-m MODEL", "--json"}},
      {"synth", {"--preset NAME", "--dtype DTYPE", "-o OUT.gguf", "--layers N", "--seed S"}},
      {"quantize", {"-t N", "-v"}},
  };
  for (const auto& [cmd, names] : flags) {
    const Result r = RunCli(cmd + " --help");
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("Usage: lazyllm " + cmd), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
    for (const std::string& f : names) {
      const size_t at = r.out.find("\n  " + f + " ");
      EXPECT_NE(at, std::string::npos) << cmd << " --help lacks a line for " << f << ":\n" << r.out;
      if (at == std::string::npos) continue;
      const std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
      EXPECT_GT(line.size(), 4 + f.size() + 10) << "no help text: " << line;
    }
  }
  EXPECT_NE(RunCli("quantize -h").out.find("Usage: lazyllm quantize IN.gguf OUT.gguf TYPE"), std::string::npos);

  const Result v = RunCli("--version");
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(v.out.rfind("lazyllm " + ProjectVersion() + " (commit ", 0), 0u) << v.out;
#if defined(__clang__)
  EXPECT_NE(v.out.find("compiler  Clang"), std::string::npos) << v.out;
#else
  EXPECT_NE(v.out.find("compiler  GCC " + std::to_string(__GNUC__) + "."), std::string::npos) << v.out;
#endif
  EXPECT_NE(v.out.find("cpu       " + CpuModel()), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("isa       " + ExpectedIsa() + " kernels"), std::string::npos) << v.out;
  if (const char* core = std::getenv("OPENBLAS_CORETYPE")) {
    EXPECT_NE(v.out.find("(OPENBLAS_CORETYPE=" + std::string(core) + ")"), std::string::npos) << v.out;
  }
  EXPECT_NE(v.out.find("openblas  "), std::string::npos) << v.out;

  // --flag=value is --flag value.
  const std::string base = "run -m " + Model() + " -p 'Once upon a time' -n 8 --prune off";
  const Result spaced = RunCli(base + " --temp 0 --seed 7");
  const Result equals = RunCli(base + " --temp=0 --seed=7");
  ASSERT_EQ(spaced.exit_code, 0) << spaced.err;
  ASSERT_EQ(equals.exit_code, 0) << equals.err;
  EXPECT_EQ(spaced.out, equals.out);
  EXPECT_EQ(spaced.out.substr(0, 10), ", there wa");

  // A misspelled flag gets a suggestion; a switch given a value and a stray argument are refused.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {base + " --tmep 0", "unknown flag '--tmep'; did you mean '--temp'?"},
           {base + " --prnue=off", "unknown flag '--prnue'; did you mean '--prune'?"},
           {base + " --zzzzzz", "unknown flag '--zzzzzz' (see lazyllm run --help)"},
           {base + " stray", "unexpected argument 'stray'"},
           {base + " --seed 1 --seed=2", "flag '--seed' given twice"},
           {"bnech -m x", "unknown command 'bnech'; did you mean 'bench'?"},
           {base + " --json=off", "flag '--json' takes no value"},
           {"--verison", "unknown command '--verison'; did you mean '--version'?"}}) {
    const Result bad = RunCli(args);
    EXPECT_NE(bad.exit_code, 0) << args;
    EXPECT_NE(bad.err.find(message), std::string::npos) << args << ": " << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  }
}

// Every bench record carries the environment it was measured in.
TEST(CliTest, BenchRecordsCarryTheEnvironment) {
  for (const std::string extra : {"", " --batch 2"}) {
    const Result r = RunCli("bench -m " + Model() + " -p 16 -n 2 -t 1 -r 1 -o json" + extra);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    const auto& c = j[0];
    EXPECT_EQ(c["cpu"], CpuModel());
    EXPECT_GT(c["cores"].get<int>(), 0);
    EXPECT_LE(c["cores"].get<int>(), static_cast<int>(std::thread::hardware_concurrency()));
    EXPECT_EQ(c["numa_nodes"], 1);
    EXPECT_EQ(c["isa"], ExpectedIsa());
    EXPECT_FALSE(c["blas_core"].get<std::string>().empty());
    EXPECT_EQ(c["blas_threads"], 1) << "lazyllm keeps OpenBLAS single-threaded";
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    EXPECT_EQ(c["openblas_coretype"], core ? core : "");
    if (core) {
      EXPECT_EQ(c["blas_core"], core) << "OpenBLAS runs the kernels the variable names";
    }
    EXPECT_EQ(c["lazyllm_version"], ProjectVersion());
    EXPECT_FALSE(c["lazyllm_commit"].get<std::string>().empty());
  }
  const Result csv = RunCli("bench -m " + Model() + " -p 16 -n 2 -t 1 -r 1 -o csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::string header = csv.out.substr(0, csv.out.find('\n'));
  EXPECT_NE(header.find(",cpu,cores,numa_nodes,isa,cpu_isa,blas_core,blas_threads,openblas_coretype,lazyllm_version,"
                        "lazyllm_commit"),
            std::string::npos)
      << header;
}

TEST(CliTest, BadInputGivesOneLineErrorAndNonZeroExit) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run -m " + Model() + " -p hi --bogus", "unknown flag '--bogus'"},
      {"run -m " + Model() + " -p hi -n abc", "'abc' is not a valid number"},
      {"run -m " + Model() + " -p hi -n -3", "out of range"},
      {"run -m " + Model() + " -p hi --top-p 2", "out of range"},
      {"run -m " + Model() + " -p hi -t", "needs a value"},
      {"run -m " + Model(), "give exactly one of -p TEXT or -f FILE"},
      {"run -m /nonexistent.gguf -p hi", "/nonexistent.gguf: cannot open"},
      {"run -m " + Model() + " -f /nonexistent.txt", "cannot read prompt file"},
      {"run -m " + Model() + " -p 'a b c d e f g h i j k l' -c 4", "exceeds the context of 4 tokens"},
      {"frobnicate", "unknown command 'frobnicate'"},
      {"run -m " + Model() + " -p hi --prune 9:0.3", "layer 9 is outside 1..4"},
      {"run -m " + Model() + " -p hi --prune 2:1.5", "outside [0, 1)"},
      {"run -m " + Model() + " -p hi --prune 2:0.3,2:0.2", "appears twice"},
      {"run -m " + Model() + " -p hi --prune junk", "not LAYER:FRACTION"},
      {"run -m " + Model() + " -p hi --json --logits", "--logits needs --prune off"},
      {"run -m " + Model() + " -p hi -r 3", "-r is a flag of --compare"},
      {"run -m " + Model() + " -p hi --compare -r 0", "out of range"},
      {"run -m " + Model() + " -p hi --numa maybe", "expected on or off"},
      {"bench -m " + Model() + " -p 12x", "'12x' is not a valid number"},
      // Issue 12 defect 9: numbers only out of range say so; an empty list is refused; output
      // that cannot be written fails.
      {"run -m " + Model() + " -p hi -n 99999999999999999999", "is out of range [0, 16777216]"},
      {"bench -m " + Model() + " -p 99999999999999999999", "is out of range"},
      {"bench -m " + Model() + " -p 16 -n 2 --numa ''", "got an empty one"},
      {"tokenize -m " + Model() + " -p hi > /dev/full", "cannot write the output to standard output"},
      // Issue 12 defect 6: reads are bounded to regular files; prompt_file stays in its set's folder.
      {"run -m " + Model() + " -f /dev/zero", "'/dev/zero': not a regular file"},
      {"run -m " + Model() + " -f " + ::testing::TempDir(), "not a regular file"},
      {"run -m " + Model() + " --batch-file /dev/zero", "'/dev/zero': not a regular file"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt_file\": \"/etc/hostname\"}"),
       "is outside the set's folder"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt_file\": \"../../etc/hostname\"}"),
       "is outside the set's folder"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"hi\", \"id\": 3}"),
       ".jsonl:1: [json.exception.type_error"},

      {"bench -m " + Model() + " -p 500 -n 100", "exceeds the model's context of 512 tokens"},
      {"bench -m " + Model() + " -o xml", "expected md, csv or json"},
      {"bench -m " + Model() + " --prune off,bogus", "flag '--prune'"},
      {"synth --dtype f32 -o /tmp/x.gguf", "missing --preset NAME"},
      {"synth --preset gpt-5 -o /tmp/x.gguf", "unknown preset 'gpt-5'"},
      {"synth --preset tiny-gqa --dtype q7_k -o /tmp/x.gguf", "unknown dtype 'q7_k'"},
      {"synth --preset tiny-gqa -o /nonexistent-dir/x.gguf", "cannot create"},
      {"run -m " + Model() + " -p hi --system 'be nice'", "--system and --chat-template are flags of --chat"},
      {"run -m " + Model() + " -p hi --chat --chat-template alpaca", "unknown chat template 'alpaca'"},
      {"chat -m " + Model() + " --chat-template alpaca", "unknown chat template 'alpaca'"},
      {"chat -m " + Model() + " -n 0", "out of range"},
      {"quantize " + Model(), "usage: lazyllm quantize IN.gguf OUT.gguf TYPE"},
      {"quantize " + Model() + " /tmp/x.gguf q4_k_xl", "unknown file type 'q4_k_xl'"},
      {"quantize " + Model() + " " + Model() + " q6_k", "are the same file"},
      {"quantize /nonexistent.gguf /tmp/x.gguf q6_k", "/nonexistent.gguf"},
      {"quantize " + Model() + " /tmp/x.gguf q6_k --bogus", "unknown flag '--bogus'"},
      {"eval -m " + Model(), "missing --set FILE|DIR"},
      {"eval -m " + Model() + " --set /nonexistent.jsonl", "does not exist"},
      {"eval -m " + Model() + " --set /dev/zero", "not a regular file"},
      {"run -m " + Model() + " -p hi --mem-limit 1MiB", "a sequence of 512 tokens needs up to"},
      {"chat -m " + Model() + " --chat-template chatml --mem-limit 1MiB", "more than the 1048576 bytes allowed"},
      {"run -m " + Model() + " -p hi --mem-limit 1x", "'1x' is not a byte count"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"hi\", \"metric\": \"bleu\"}"), "metric 'bleu'"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"hi\""), "not valid JSON"},
      {"eval -m " + Model() + " --set " + BadSet("{\"continuation\": \"x\"}"), "exactly one of"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt_file\": \"missing.txt\"}"),
       ".jsonl:1: cannot read prompt_file"},
      // Issue 14: needle sets and followups.
      {"eval --make-set haystack", "unknown set 'haystack' (expected needle)"},
      {"eval --make-set needle --facts 0", "flag '--facts': 0 is out of range [1, 48]"},
      {"eval --make-set needle --facts 49", "is out of range [1, 48]"},
      {"eval --make-set needle --facts 2 --questions 3", "flag '--questions': 3 is out of range [1, 2]"},
      {"eval --make-set needle --length 20 --facts 4", "flag '--length': 20 is out of range [24, 65536]"},
      {"eval -m " + Model() + " --set x.jsonl --length 100", "flag '--length' needs --make-set"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"hi\", \"followups\": {}}"),
       "\"followups\" must be an array"},
      {"eval -m " + Model() + " --set " + BadSet("{\"prompt\": \"hi\", \"followups\": [{\"text\": \"x\"}]}"),
       "followups[0]: expected {\"text\": TEXT, \"answer\": TEXT}"},
      {"eval -m " + Model() + " --set " +
           BadSet("{\"prompt\": \"hi\", \"followups\": [{\"text\": \"x\", \"answer\": \"\"}]}"),
       "followups[0]: \"answer\" is empty"},
      {"eval -m " + Model() + " -c 8 --set " +
           BadSet("{\"prompt\": \"hi\", \"followups\": [{\"text\": \" Once upon a time there was\", \"answer\": \" a "
                  "girl\"}]}"),
       "prompt and followups come to"},
      {"synth --preset needle --layers 1 -o /tmp/x.gguf", "--layers 1 is out of range 2..1024 for preset needle"},
      {"synth --preset needle --context 100000 -o /tmp/x.gguf", "--context 100000 is out of range 16..65536"},
  };
  for (const auto& [args, expect] : cases) {
    SCOPED_TRACE(args);
    const Result r = RunCli(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace lazyllm
