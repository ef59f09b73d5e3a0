// Shared pieces of the lazyllm CLI commands (see cli.h).
#include "tools/cli.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "tools/report.h"

namespace lazyllm::cli {

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string ReadTextFile(const std::string& path, const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw CliError{"cannot read " + what + " '" + path + "': no such file"};
  if (!std::filesystem::is_regular_file(status))
    throw CliError{"cannot read " + what + " '" + path + "': not a regular file"};
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw CliError{"cannot read " + what + " '" + path + "'"};
  if (size > kMaxTextFileBytes)
    throw CliError{what + " '" + path + "' is " + std::to_string(size) + " bytes, more than the limit of " +
                   std::to_string(kMaxTextFileBytes)};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError{"cannot read " + what + " '" + path + "'"};
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::string ReadPrompt(const Flags& flags) {
  const bool has_p = flags.Has("-p"), has_f = flags.Has("-f");
  if (has_p == has_f) throw CliError{"give exactly one of -p TEXT or -f FILE"};
  if (has_p) return *flags.Get("-p");
  return ReadTextFile(*flags.Get("-f"), "prompt file");
}

lazyllm::Model LoadModel(const Flags& flags, bool vocab_only) {
  auto path = flags.Get("-m");
  if (!path) throw CliError{"missing -m MODEL"};
  lazyllm::LoadOptions opts;
  opts.vocab_only = vocab_only;
  auto model = lazyllm::Model::Load(*path, opts);
  if (!model.ok()) throw CliError{model.status().message()};
  return std::move(model).value();
}

std::vector<int32_t> Tokens(const lazyllm::Tokenizer& tok, std::string_view text, const std::string& what,
                            bool add_special, bool parse_special) {
  auto ids = tok.Encode(text, add_special, parse_special);
  if (!ids.ok()) throw CliError{what + ": " + ids.status().message()};
  return *std::move(ids);
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void WarnIfBeyondTrainedContext(const lazyllm::Model& model, int64_t ctx, const char* cmd) {
  const int64_t trained = model.config().context_length;
  if (ctx > trained)
    std::fprintf(stderr,
                 "lazyllm %s: warning: -c %lld exceeds the model's trained context of %lld tokens; positions past it "
                 "are extrapolated and the output may degrade\n",
                 cmd, static_cast<long long>(ctx), static_cast<long long>(trained));
}

bool ParseOnOff(const Flags& flags, const std::string& f, bool def) {
  auto v = flags.Get(f);
  if (!v) return def;
  if (*v == "on") return true;
  if (*v == "off") return false;
  throw CliError{"flag '" + f + "': expected on or off, got '" + *v + "'"};
}

int64_t ParseBytes(const std::string& flag, const std::string& v) {
  double num = 0;
  const char* b = v.data();
  const char* e = b + v.size();
  auto [p, ec] = std::from_chars(b, e, num);
  std::string unit(p, e);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  static const std::map<std::string, double> kScale = {
      {"", 1}, {"B", 1}, {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}, {"T", 1099511627776.0}};
  auto it = kScale.find(unit);
  if (ec != std::errc() || v.empty() || it == kScale.end() || !(num >= 0) || num * it->second > 9e18)
    throw CliError{"flag '" + flag + "': '" + v + "' is not a byte count (e.g. 1073741824, 512MiB, 4GiB)"};
  return static_cast<int64_t>(num * it->second);
}

int64_t ParseMemLimit(const Flags& flags) {
  return flags.Has("--mem-limit") ? ParseBytes("--mem-limit", *flags.Get("--mem-limit")) : 0;
}

lazyllm::KvType ParseKvType(const Flags& flags) {
  const std::string v = flags.Get("--kv-type").value_or("f32");
  if (v == "f32") return lazyllm::KvType::kF32;
  if (v == "f16") return lazyllm::KvType::kF16;
  throw CliError{"flag '--kv-type': expected f32 or f16, got '" + v + "'"};
}

std::string KvName(lazyllm::KvType t) { return t == lazyllm::KvType::kF16 ? "f16" : "f32"; }

std::vector<std::string> PruneList(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  auto starts_spec = [](const std::string& rest) {
    for (const char* w : {"off", "paper", "static:", "random:"})
      if (rest.rfind(w, 0) == 0) return true;
    return false;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (ch == ';' || (ch == ',' && starts_spec(s.substr(i + 1)))) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

void ApplyReviveBudget(const Flags& flags, lazyllm::PruningOptions* p) {
  if (!flags.Has("--revive-budget") || p->method != lazyllm::PruningOptions::Method::kLazy) return;
  p->revive_budget =
      *flags.Get("--revive-budget") == "inf" ? -1 : flags.Number<int64_t>("--revive-budget", -1, 0, int64_t{1} << 40);
}

lazyllm::ChatTemplate ChooseChatTemplate(const Flags& flags, const lazyllm::Model& model) {
  if (auto name = flags.Get("--chat-template")) {
    auto named = lazyllm::ChatTemplateByName(*name);
    if (!named.ok()) throw CliError{named.status().message()};
    return *named;
  }
  const lazyllm::ChatTemplate family = lazyllm::DetectChatTemplate(model.chat_template());
  if (family == lazyllm::ChatTemplate::kUnknown)
    std::fprintf(stderr, "lazyllm: warning: %s; formatting the chat as chatml\n",
                 model.chat_template().empty() ? "the model has no tokenizer.chat_template"
                                               : "the model's chat template is not a known family");
  return family;
}

std::vector<std::pair<std::string, json>> EnvFields() {
  const SystemInfo& i = GetSystemInfo();
  return {{"cpu", i.cpu},
          {"cores", i.cores},
          {"numa_nodes", i.numa_nodes},
          {"isa", i.isa},
          {"cpu_isa", i.cpu_isa},
          {"blas_core", i.blas_core},
          {"blas_threads", i.blas_threads},
          {"openblas_coretype", i.openblas_coretype},
          {"lazyllm_version", i.version},
          {"lazyllm_commit", i.commit}};
}

std::string EnvLine() {
  const SystemInfo& i = GetSystemInfo();
  return "lazyllm " + i.version + " (" + i.commit + "), " + i.cpu + ", " + std::to_string(i.cores) + " cores, " +
         std::to_string(i.numa_nodes) + " NUMA node" + (i.numa_nodes == 1 ? "" : "s") + ", " + i.isa +
         " kernels, OpenBLAS " + i.blas_core + " kernels" +
         (i.openblas_coretype.empty() ? "" : " (OPENBLAS_CORETYPE=" + i.openblas_coretype + ")") + ", " +
         std::to_string(i.blas_threads) + " BLAS thread" + (i.blas_threads == 1 ? "" : "s");
}

void WarnIfBlasBelowCpu(const char* cmd) {
  static bool said = false;
  if (said) return;
  said = true;
  if (const std::string w = BlasKernelWarning(GetSystemInfo()); !w.empty())
    std::fprintf(stderr, "lazyllm %s: warning: %s\n", cmd, w.c_str());
}

namespace {

// The phases of a profile that ran, by name.
std::vector<std::pair<const char*, const StepProfile::Phase*>> PhasesRun(const StepProfile& p) {
  std::vector<std::pair<const char*, const StepProfile::Phase*>> phases;
  if (p.prefill.steps > 0) phases.emplace_back("prefill", &p.prefill);
  if (p.decode.steps > 0) phases.emplace_back("decode", &p.decode);
  return phases;
}

// A phase's wall time outside its stages: the steps' bookkeeping.
double OtherSeconds(const StepProfile::Phase& phase) {
  double staged = 0;
  for (const StepProfile::Totals& t : phase.stages) staged += t.seconds;
  return std::max(0.0, phase.seconds - staged);
}

}  // namespace

std::string ProfileTables(const StepProfile& profile) {
  std::string out;
  char line[256];
  for (const auto& named : PhasesRun(profile)) {
    const char* name = named.first;
    const StepProfile::Phase* phase = named.second;  // (a plain pointer: the lambda below captures it)
    const double ms = phase->seconds * 1e3, steps = static_cast<double>(phase->steps);
    std::snprintf(line, sizeof(line), "profile, %s: %lld steps, %lld rows, %.1f ms (%.3f ms a step)\n", name,
                  static_cast<long long>(phase->steps), static_cast<long long>(phase->rows), ms, ms / steps);
    out += line;
    out += "| stage | ms | share | ms a step | calls | weights GB/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
    const auto row = [&](const char* stage, double seconds, const std::string& calls, const std::string& rate) {
      std::snprintf(line, sizeof(line), "| %s | %.1f | %.1f%% | %.3f | %s | %s |\n", stage, seconds * 1e3,
                    phase->seconds > 0 ? 100.0 * seconds / phase->seconds : 0.0, seconds * 1e3 / steps, calls.c_str(),
                    rate.c_str());
      out += line;
    };
    for (int i = 0; i < StepProfile::kStages; ++i) {
      const StepProfile::Totals& t = phase->stages[i];
      if (t.calls == 0) continue;
      const std::string rate =
          t.weight_bytes > 0 && t.seconds > 0 ? Fixed("%.1f", t.weight_bytes / t.seconds / 1e9) : "";
      row(StepProfile::Name(static_cast<StepProfile::Stage>(i)), t.seconds, std::to_string(t.calls), rate);
    }
    row("other", OtherSeconds(*phase), "", "");
  }
  return out;
}

json ProfileJson(const StepProfile& profile) {
  json j = json::object();
  for (const auto& [name, phase] : PhasesRun(profile)) {
    json stages = json::object();
    for (int i = 0; i < StepProfile::kStages; ++i) {
      const StepProfile::Totals& t = phase->stages[i];
      if (t.calls == 0) continue;
      stages[StepProfile::Name(static_cast<StepProfile::Stage>(i))] = {
          {"ms", t.seconds * 1e3}, {"calls", t.calls}, {"weight_bytes", t.weight_bytes}};
    }
    j[name] = {{"steps", phase->steps},
               {"rows", phase->rows},
               {"ms", phase->seconds * 1e3},
               {"other_ms", OtherSeconds(*phase) * 1e3},
               {"stages", stages}};
  }
  return j;
}

void AddProfile(const StepProfile& from, StepProfile* into) {
  for (auto [src, dst] : {std::pair(&from.prefill, &into->prefill), std::pair(&from.decode, &into->decode)}) {
    dst->steps += src->steps;
    dst->rows += src->rows;
    dst->seconds += src->seconds;
    for (int i = 0; i < StepProfile::kStages; ++i) {
      dst->stages[i].seconds += src->stages[i].seconds;
      dst->stages[i].calls += src->stages[i].calls;
      dst->stages[i].weight_bytes += src->stages[i].weight_bytes;
    }
  }
}

std::string GeneratedText(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<int32_t> kept;
  for (int32_t id : ids)
    if (!tok.IsEndOfGeneration(id)) kept.push_back(id);
  return tok.Decode(kept);
}

void WriteStdout(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace lazyllm::cli
