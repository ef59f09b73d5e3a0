// `lazyllm eval`: fidelity, perplexity and task scores of pruning methods against the unpruned
// baseline, prompt by prompt, with TTFT speedup and the share of prompt tokens computed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "tools/cli.h"
#include "tools/eval_metrics.h"

namespace lazyllm::cli {
namespace {

namespace fs = std::filesystem;

// One line of an eval set (JSONL).
struct Record {
  std::string id;
  std::vector<int32_t> prompt;        // BOS + the prompt's tokens
  std::vector<int32_t> continuation;  // teacher-forced tokens, may be empty
  std::vector<std::string> answers;   // accepted answers, may be empty
  std::string metric;                 // exact | contains | f1
};

std::vector<fs::path> SetFiles(const std::string& set) {
  if (!fs::exists(set)) throw CliError{"eval set '" + set + "' does not exist"};
  if (!fs::is_directory(set)) return {set};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(set))
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw CliError{"eval set directory '" + set + "' has no .jsonl files"};
  return files;
}

std::vector<Record> LoadSet(const std::string& set, const Tokenizer& tok, int64_t max_prompt) {
  std::vector<Record> out;
  for (const fs::path& file : SetFiles(set)) {
    std::ifstream in(file);
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = file.string() + ":" + std::to_string(line_no);
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        throw CliError{where + ": not valid JSON (" + e.what() + ")"};
      }
      if (!j.is_object()) throw CliError{where + ": a record must be a JSON object"};
      Record r;
      r.id = j.contains("id") ? j["id"].get<std::string>() : file.stem().string() + ":" + std::to_string(line_no);
      std::string prompt;
      if (j.contains("prompt") == j.contains("prompt_file"))
        throw CliError{where + ": give exactly one of \"prompt\" or \"prompt_file\""};
      try {
        if (j.contains("prompt")) {
          prompt = j["prompt"].get<std::string>();
        } else {
          const fs::path pf = file.parent_path() / j["prompt_file"].get<std::string>();
          std::ifstream pin(pf, std::ios::binary);
          if (!pin) throw CliError{where + ": cannot read prompt_file '" + pf.string() + "'"};
          std::stringstream ss;
          ss << pin.rdbuf();
          prompt = ss.str();
        }
        if (j.contains("continuation")) r.continuation = tok.Encode(j["continuation"].get<std::string>(), false);
        if (j.contains("answers")) r.answers = j["answers"].get<std::vector<std::string>>();
        r.metric = j.contains("metric") ? j["metric"].get<std::string>() : "contains";
      } catch (const json::exception& e) {
        throw CliError{where + ": " + e.what()};
      }
      if (r.metric != "exact" && r.metric != "contains" && r.metric != "f1")
        throw CliError{where + ": metric '" + r.metric + "' is not exact, contains or f1"};
      r.prompt = tok.Encode(prompt, true);
      if (static_cast<int64_t>(r.prompt.size()) > max_prompt)
        throw CliError{where + ": prompt of " + std::to_string(r.prompt.size()) +
                       " tokens leaves no room in the context of " + std::to_string(max_prompt) + " tokens"};
      out.push_back(std::move(r));
    }
  }
  if (out.empty()) throw CliError{"eval set '" + set + "' has no records"};
  return out;
}

// What one method did on one record.
struct Outcome {
  std::vector<float> first_logits;
  std::vector<int32_t> tokens;
  double ttft_ms = 0;
  double pct_prefill = 100, pct_final = 100;
  int64_t revived = 0;
  std::vector<double> cont_log_probs;
};

double TimedPrefill(Session& s, const std::vector<int32_t>& prompt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (auto st = s.Prefill(prompt); !st.ok()) throw CliError{st.message()};
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Outcome RunRecord(Session& s, const Record& r, int n) {
  Outcome o;
  // Greedy generation after the prompt.
  o.ttft_ms = TimedPrefill(s, r.prompt);
  o.first_logits.assign(s.logits().begin(), s.logits().end());
  o.pct_prefill = s.pruning_stats().prompt_tokens_computed_pct_prefill;
  for (int i = 0; i < n && s.position() < s.max_context(); ++i) {
    const int32_t next = Argmax(s.logits());
    o.tokens.push_back(next);
    if (i + 1 < n) {
      if (auto st = s.DecodeStep(next); !st.ok()) throw CliError{st.message()};
    }
  }
  const PruningStats st = s.pruning_stats();
  o.pct_final = st.prompt_tokens_computed_pct;
  o.revived = st.revived_tokens;
  // Teacher forcing of the continuation, pruning applied to the prompt as above. The second
  // prefill also gives a second TTFT sample; the smaller one is kept.
  if (!r.continuation.empty()) {
    o.ttft_ms = std::min(o.ttft_ms, TimedPrefill(s, r.prompt));
    for (size_t i = 0; i < r.continuation.size() && s.position() < s.max_context(); ++i) {
      o.cont_log_probs.push_back(eval::LogProb(s.logits(), r.continuation[i]));
      if (i + 1 < r.continuation.size()) {
        if (auto e = s.DecodeStep(r.continuation[i]); !e.ok()) throw CliError{e.message()};
      }
    }
  }
  return o;
}

// Per-record comparison of a method with the baseline.
struct Row {
  std::vector<double> kl, top1, prefix, equal, ppl, ppl_ratio, score, speedup, pct_prefill, pct_final, revived;
};

double Score(const Record& r, const std::string& text) {
  if (r.metric == "exact") return eval::ExactMatch(text, r.answers);
  if (r.metric == "f1") return eval::TokenF1(text, r.answers);
  return eval::Contains(text, r.answers);
}

// A static or random schedule doing the same share of prompt token-layer work in the prefill
// as `lazy` (the paper's matched-budget baselines). Static prunes once, at lazy's first layer.
std::vector<PruningOptions> MatchedBaselines(const PruningOptions& lazy, int64_t layers, int64_t n, uint64_t seed) {
  const double f = lazy.PrefillWorkFraction(layers, n);
  const int64_t l0 = lazy.steps.front().layer;
  // Static: (l0 + (layers - l0)(1 - k)) / layers = f.
  const double ks = std::clamp(1.0 - (f * static_cast<double>(layers) - static_cast<double>(l0)) /
                                         static_cast<double>(layers - l0), 0.0, 0.99);
  const double kr = std::clamp(1.0 - f, 0.0, 0.99);
  std::vector<PruningOptions> out;
  char buf[64];
  std::snprintf(buf, sizeof buf, "static:%lld:%.3f", static_cast<long long>(l0), ks);
  if (auto p = PruningOptions::Parse(buf, layers, seed); p.ok()) out.push_back(*p);
  std::snprintf(buf, sizeof buf, "random:%.3f", kr);
  if (auto p = PruningOptions::Parse(buf, layers, seed); p.ok()) out.push_back(*p);
  return out;
}

std::string Ci(const std::vector<double>& v, int prec, double scale = 1.0) {
  if (v.empty()) return "-";
  const eval::Interval i = eval::MeanCi95(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", prec, i.mean * scale, prec, i.half_width * scale);
  return buf;
}

const char* MethodName(const PruningOptions& p) {
  switch (p.method) {
    case PruningOptions::Method::kOff: return "baseline";
    case PruningOptions::Method::kLazy: return "LazyLLM";
    case PruningOptions::Method::kStatic: return "static";
    case PruningOptions::Method::kRandom: return "random";
  }
  return "?";
}

}  // namespace

int Eval(int argc, char** argv) {
  Flags flags(argc, argv, 2,
              {{"-m", true}, {"--set", true}, {"--prune", true}, {"-n", true}, {"-o", true}, {"-t", true},
               {"--seed", true}, {"--no-match", false}});
  if (!flags.Has("--set")) throw CliError{"missing --set FILE|DIR"};
  const int n = flags.Number<int>("-n", 16, 1, 1 << 16);
  const std::string format = flags.Get("-o").value_or("md");
  if (format != "md" && format != "csv" && format != "json") throw CliError{"flag '-o': expected md, csv or json, got '" + format + "'"};
  const uint64_t seed = flags.Number<uint64_t>("--seed", 1, 0, UINT64_MAX);
  const int threads = flags.Number<int>("-t", 0, 0, 4096);
  Model model = LoadModel(flags, /*vocab_only=*/false);
  const ModelConfig& c = model.config();
  const int64_t ctx = std::min<int64_t>(c.context_length, SessionOptions::kDefaultMaxContext);
  const std::vector<Record> records = LoadSet(*flags.Get("--set"), model.tokenizer(), ctx - 1);

  // Methods: the baseline first, then the listed schedules, then (unless --no-match) static and
  // random at the prefill budget of each LazyLLM schedule, on the longest prompt's length.
  int64_t longest = 0;
  for (const Record& r : records) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.prompt.size()));
  std::vector<PruningOptions> methods = {PruningOptions()};
  std::set<std::string> seen = {"off"};
  auto add = [&](const PruningOptions& p) {
    if (seen.insert(p.ToString()).second) methods.push_back(p);
  };
  for (const std::string& spec : PruneList(flags.Get("--prune").value_or("paper"))) {
    auto p = PruningOptions::Parse(spec, c.num_layers, seed);
    if (!p.ok()) throw CliError{"flag '--prune': " + p.status().message()};
    add(*p);
  }
  if (!flags.Has("--no-match")) {
    const std::vector<PruningOptions> listed = methods;
    for (const PruningOptions& p : listed)
      if (p.method == PruningOptions::Method::kLazy && !p.steps.empty())
        for (const PruningOptions& b : MatchedBaselines(p, c.num_layers, longest, seed)) add(b);
  }

  std::vector<std::vector<Outcome>> outcomes(methods.size());
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    SessionOptions so;
    so.threads = threads;
    so.max_context = ctx;
    so.pruning = methods[mi];
    auto session = Session::Create(model, so);
    if (!session.ok()) throw CliError{session.status().message()};
    for (size_t ri = 0; ri < records.size(); ++ri) {
      std::fprintf(stderr, "\reval: method %zu/%zu (%s), record %zu/%zu   ", mi + 1, methods.size(),
                   methods[mi].ToString().c_str(), ri + 1, records.size());
      outcomes[mi].push_back(RunRecord(*session, records[ri], n));
    }
  }
  std::fprintf(stderr, "\n");

  const Tokenizer& tok = model.tokenizer();
  auto text_of = [&](const std::vector<int32_t>& ids) {
    std::string t;
    for (int32_t id : ids)
      if (!tok.IsEndOfGeneration(id)) t += tok.TokenBytes(id);
    return t;
  };
  std::vector<Row> rows(methods.size());
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    for (size_t ri = 0; ri < records.size(); ++ri) {
      const Outcome& b = outcomes[0][ri];
      const Outcome& o = outcomes[mi][ri];
      Row& row = rows[mi];
      row.kl.push_back(eval::KlDivergence(b.first_logits, o.first_logits));
      row.top1.push_back(Argmax(b.first_logits) == Argmax(o.first_logits) ? 1.0 : 0.0);
      const eval::Agreement a = eval::CompareTokens(b.tokens, o.tokens);
      row.prefix.push_back(static_cast<double>(a.common_prefix));
      row.equal.push_back(a.equal_fraction);
      if (!o.cont_log_probs.empty()) {
        row.ppl.push_back(eval::Perplexity(o.cont_log_probs));
        row.ppl_ratio.push_back(eval::Perplexity(o.cont_log_probs) / eval::Perplexity(b.cont_log_probs));
      }
      if (!records[ri].answers.empty()) row.score.push_back(Score(records[ri], text_of(o.tokens)));
      row.speedup.push_back(b.ttft_ms / o.ttft_ms);
      row.pct_prefill.push_back(o.pct_prefill);
      row.pct_final.push_back(o.pct_final);
      row.revived.push_back(static_cast<double>(o.revived));
    }
  }

  if (format == "json") {
    json all = json::array();
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const Row& r = rows[mi];
      json j = {{"method", MethodName(methods[mi])}, {"prune", methods[mi].ToString()}, {"records", records.size()},
                {"n", n}};
      auto put = [&](const char* k, const std::vector<double>& v) {
        if (v.empty()) return;
        const eval::Interval i = eval::MeanCi95(v);
        j[k] = {{"mean", i.mean}, {"ci95", i.half_width}, {"values", v}};
      };
      put("first_token_kl", r.kl);
      put("first_token_top1", r.top1);
      put("greedy_common_prefix", r.prefix);
      put("greedy_equal_fraction", r.equal);
      put("perplexity", r.ppl);
      put("perplexity_ratio", r.ppl_ratio);
      put("task_score", r.score);
      put("ttft_speedup", r.speedup);
      put("prompt_computed_pct_prefill", r.pct_prefill);
      put("prompt_computed_pct_final", r.pct_final);
      put("revived_tokens", r.revived);
      all.push_back(j);
    }
    std::cout << Dump(all) << "\n";
    return 0;
  }
  if (format == "csv") {
    std::printf("method,prune,records,kl,top1,prefix,equal,perplexity,perplexity_ratio,task_score,ttft_speedup,"
                "computed_pct_prefill,computed_pct_final,revived\n");
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const Row& r = rows[mi];
      auto m = [](const std::vector<double>& v) { return v.empty() ? NAN : eval::MeanCi95(v).mean; };
      std::printf("%s,\"%s\",%zu,%.6g,%.4f,%.3f,%.4f,%.4f,%.4f,%.4f,%.3f,%.2f,%.2f,%.2f\n", MethodName(methods[mi]),
                  methods[mi].ToString().c_str(), records.size(), m(r.kl), m(r.top1), m(r.prefix), m(r.equal), m(r.ppl),
                  m(r.ppl_ratio), m(r.score), m(r.speedup), m(r.pct_prefill), m(r.pct_final), m(r.revived));
    }
    return 0;
  }
  std::printf("%zu records, %d greedy tokens each; mean ± 95%% interval over records\n\n", records.size(), n);
  std::printf("| method | prune | first-token KL | top-1 agree %% | greedy prefix | equal tokens %% | perplexity | "
              "ppl ratio | task score %% | TTFT speedup | computed %% (prefill → end) | revived |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    const Row& r = rows[mi];
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s → %s | %s |\n", MethodName(methods[mi]),
                methods[mi].ToString().c_str(), Ci(r.kl, 4).c_str(), Ci(r.top1, 1, 100).c_str(), Ci(r.prefix, 1).c_str(),
                Ci(r.equal, 1, 100).c_str(), Ci(r.ppl, 2).c_str(), Ci(r.ppl_ratio, 3).c_str(), Ci(r.score, 1, 100).c_str(),
                Ci(r.speedup, 2).c_str(), Ci(r.pct_prefill, 1).c_str(), Ci(r.pct_final, 1).c_str(), Ci(r.revived, 1).c_str());
  }
  return 0;
}

}  // namespace lazyllm::cli
