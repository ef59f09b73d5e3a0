// `lazyllm eval`: fidelity, perplexity and task scores of pruning methods against the unpruned
// baseline, prompt by prompt, with TTFT speedup and the share of prompt tokens computed.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "tools/cli.h"
#include "tools/eval_metrics.h"
#include "tools/needle_set.h"
#include "tools/ranks.h"
#include "tools/records.h"
#include "tools/report.h"

namespace lazyllm::cli {
namespace {

namespace fs = std::filesystem;

const CommandSpec kEvalSpec = {
    .name = "eval",
    .summary = "Measures LazyLLM's quality and speed against the baseline (pruning off) on a JSONL eval set.",
    .shared = {"-m", "-t", "-c", "--revive-budget"},
    .own = {{"--set", "FILE|DIR", "the eval set: a .jsonl file, or a folder of them"},
            {"--prune", "SPECS", "the schedules to compare, separated by ';' (default paper)"},
            {"-n", "N", "greedy tokens compared per prompt (default 16)"},
            {"-o", "md|csv|json", "output format (default md)"},
            {"-r", "N",
             "TTFT speedup is the median of N interleaved baseline/method pairs per prompt (default 3; each sample "
             "lasts >= 20 ms)"},
            {"--seed", "S", "seed of random pruning, and of --make-set's records (default 1)"},
            {"--no-match", "", "do not add static and random pruning at each schedule's prefill budget"},
            {"--sweep", "", "add LazyLLM, static and random pruning at 90/80/70/60/50% of the prefill work"},
            {"--plot", "OUT.svg", "plot greedy-token agreement against TTFT speedup per method"},
            {"--make-set", "needle",
             "write an eval set for the needle model (lazyllm synth --preset needle) to stdout"},
            {"--length", "N", "with --make-set: prompt tokens per record, BOS included (default 1024)"},
            {"--records", "K", "with --make-set: records (default 10)"},
            {"--facts", "F", "with --make-set: key-value facts per record, at random depths (default 1, at most 48)"},
            {"--questions", "Q",
             "with --make-set: questions per record, the first in the prompt, the others as followups (default 1, "
             "at most F)"}},
    .notes = R"(Records are lines with "prompt" or "prompt_file", optional "continuation", "answers" and "metric"
(exact|contains|f1), and "followups" (later questions, teacher forced). Per method, against the
baseline on the same prompt: first-token KL
divergence and top-1 agreement, greedy-token agreement over -n tokens, continuation perplexity
(teacher forced), task score, followups answered, TTFT speedup beside its ideal (1 / the prefill
work fraction) and the % of prompt tokens computed, as mean ± 95% interval. Every model is warmed
up before timing. --make-set needle --length N --records K [--facts F] [--questions Q] [--seed S]
writes a set instead, the same for the same flags (docs/needle.md).)"};

// One line of an eval set (JSONL).
struct Record {
  std::string id;
  std::vector<int32_t> prompt;        // BOS + the prompt's tokens
  std::vector<int32_t> continuation;  // teacher-forced tokens, may be empty
  std::vector<std::string> answers;   // accepted answers, may be empty
  std::string metric;                 // exact | contains | f1
  // Later questions, teacher forced after the prompt: per followup, its text's tokens and its
  // answer's (the tokens as they follow everything before them).
  std::vector<std::vector<int32_t>> followup_text, followup_answer;
};

// The tokens of `piece` as it follows `text` (whose tokens, BOS first, are `before`): taken from
// the joint encoding when `before` is its prefix (a separate encoding would give a SentencePiece
// tokenizer's space prefix a token of its own), else encoded alone.
std::vector<int32_t> TokensAfter(const Tokenizer& tok, const std::string& text, const std::vector<int32_t>& before,
                                 const std::string& piece) {
  const std::vector<int32_t> joint = Tokens(tok, text + piece, "the prompt and continuation", true);
  if (joint.size() > before.size() && std::equal(before.begin(), before.end(), joint.begin()))
    return {joint.begin() + static_cast<std::ptrdiff_t>(before.size()), joint.end()};
  return Tokens(tok, piece, "the continuation", false);
}

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
    std::istringstream in(ReadTextFile(file.string(), "eval set file"));
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = file.string() + ":" + std::to_string(line_no);
      EvalLine text_line = ParseEvalLine(line, file, line_no);
      Record r;
      r.id = std::move(text_line.id);
      r.answers = std::move(text_line.answers);
      r.metric = std::move(text_line.metric);
      const std::string& prompt = text_line.prompt;
      const std::string& continuation = text_line.continuation;
      r.prompt = Tokens(tok, prompt, where + ": the prompt", true);
      if (!continuation.empty()) r.continuation = TokensAfter(tok, prompt, r.prompt, continuation);
      if (static_cast<int64_t>(r.prompt.size()) > max_prompt)
        throw CliError{where + ": prompt of " + std::to_string(r.prompt.size()) +
                       " tokens leaves no room in the context of " + std::to_string(max_prompt + 1) +
                       " tokens (-c sets it)"};
      std::string text = prompt;
      std::vector<int32_t> tokens = r.prompt;
      for (const Followup& f : text_line.followups) {
        for (const std::string* piece : {&f.text, &f.answer}) {
          std::vector<int32_t> t = TokensAfter(tok, text, tokens, *piece);
          text += *piece;
          tokens.insert(tokens.end(), t.begin(), t.end());
          (piece == &f.text ? r.followup_text : r.followup_answer).push_back(std::move(t));
        }
      }
      if (static_cast<int64_t>(tokens.size()) > max_prompt + 1)
        throw CliError{where + ": prompt and followups come to " + std::to_string(tokens.size()) +
                       " tokens, more than the context of " + std::to_string(max_prompt + 1) + " (-c sets it)"};
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
  double speedup = 1;  // TTFT speedup over the baseline (MedianSpeedup)
  double pct_prefill = 100, pct_final = 100;
  int64_t revived = 0;
  std::vector<double> cont_log_probs;
  int64_t followups_right = 0;  // followups whose every answer token was the most likely one
};

// An outcome as bytes, for sending between ranks, and back.
template <class T>
void Put(std::string& out, const std::vector<T>& v) {
  const auto n = static_cast<int64_t>(v.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  if (n > 0) out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
template <class T>
void Take(const std::string& in, size_t& at, std::vector<T>& v) {
  int64_t n = 0;
  std::memcpy(&n, in.data() + at, sizeof n);
  at += sizeof n;
  v.resize(static_cast<size_t>(n));
  if (n > 0) std::memcpy(v.data(), in.data() + at, v.size() * sizeof(T));
  at += v.size() * sizeof(T);
}
std::string Packed(const Outcome& o) {
  std::string out;
  Put(out, o.first_logits);
  Put(out, o.tokens);
  Put(out, o.cont_log_probs);
  Put(out, std::vector<double>{o.speedup, o.pct_prefill, o.pct_final});
  Put(out, std::vector<int64_t>{o.revived, o.followups_right});
  return out;
}
Outcome Unpacked(const std::string& in, size_t& at) {
  Outcome o;
  Take(in, at, o.first_logits);
  Take(in, at, o.tokens);
  Take(in, at, o.cont_log_probs);
  std::vector<double> d;
  Take(in, at, d);
  std::vector<int64_t> i;
  Take(in, at, i);
  o.speedup = d.at(0), o.pct_prefill = d.at(1), o.pct_final = d.at(2), o.revived = i.at(0), o.followups_right = i.at(1);
  return o;
}

// Milliseconds of `count` back-to-back prefills of `prompt`.
double TimedPrefills(Session& s, const std::vector<int32_t>& prompt, int count) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i)
    if (auto st = s.Prefill(prompt); !st.ok()) throw CliError{st.message()};
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// A timed sample lasts at least this long: a short prompt's prefill (a millisecond or less on a
// small model) is repeated within the sample, so that timer resolution and scheduler noise do
// not decide the ratio.
constexpr double kMinSampleMs = 20.0;

// The TTFT speedup of `method` over `base` on one prompt: the median over `reps` pairs of
// back-to-back samples of the baseline's time over the method's, so that both sides of each ratio
// see the same machine state. The order alternates within pairs (baseline first, then method
// first), so that what running second gains or loses falls on both sides alike.
// `inner` prefills make one sample (SampleLength).
double MedianSpeedup(Session& base, Session& method, const std::vector<int32_t>& prompt, int reps, int inner) {
  std::vector<double> ratios;
  for (int i = 0; i < reps; ++i) {
    double b = 0, m = 0;
    if (i % 2 == 0) {
      b = TimedPrefills(base, prompt, inner);
      m = TimedPrefills(method, prompt, inner);
    } else {
      m = TimedPrefills(method, prompt, inner);
      b = TimedPrefills(base, prompt, inner);
    }
    ratios.push_back(b / m);
  }
  std::sort(ratios.begin(), ratios.end());
  const size_t h = ratios.size() / 2;
  return ratios.size() % 2 ? ratios[h] : 0.5 * (ratios[h - 1] + ratios[h]);
}

// How many back-to-back prefills of `prompt` make a sample of at least kMinSampleMs.
int SampleLength(Session& base, const std::vector<int32_t>& prompt) {
  const double one = TimedPrefills(base, prompt, 1);
  return static_cast<int>(std::clamp(std::ceil(kMinSampleMs / std::max(one, 1e-3)), 1.0, 1000.0));
}

// Teacher forcing of the followups from the session's current state (just after the prompt):
// how many were answered, every token of the answer being the most likely one at its place.
int64_t RunFollowups(Session& s, const Record& r) {
  int64_t right = 0;
  for (size_t f = 0; f < r.followup_text.size(); ++f) {
    bool ok = true;
    for (const auto* piece : {&r.followup_text[f], &r.followup_answer[f]}) {
      for (size_t i = 0; i < piece->size(); ++i) {
        const int32_t t = (*piece)[i];
        if (piece == &r.followup_answer[f] && Argmax(s.logits()) != t) ok = false;
        const bool last = f + 1 == r.followup_text.size() && piece == &r.followup_answer[f] && i + 1 == piece->size();
        if (last) break;  // nothing is asked after it
        if (auto st = s.DecodeStep(t); !st.ok()) throw CliError{st.message()};
      }
    }
    right += ok ? 1 : 0;
  }
  return right;
}

// Greedy generation after the prompt, then teacher forcing of the followups and of the
// continuation (pruning applied to the prompt as in the prefill). With -n 1 nothing was decoded
// after the prompt, so the followups go on from the same prefill.
Outcome RunRecord(Session& s, const Record& r, int n) {
  Outcome o;
  if (auto st = s.Prefill(r.prompt); !st.ok()) throw CliError{st.message()};
  o.first_logits.assign(s.logits().begin(), s.logits().end());
  o.pct_prefill = s.pruning_stats().prompt_tokens_computed_pct_prefill;
  for (int i = 0; i < n && s.position() < s.max_context(); ++i) {
    const int32_t next = Argmax(s.logits());
    o.tokens.push_back(next);
    if (i + 1 < n) {
      if (auto st = s.DecodeStep(next); !st.ok()) throw CliError{st.message()};
    }
  }
  if (!r.followup_text.empty()) {
    if (s.position() != static_cast<int64_t>(r.prompt.size())) {
      if (auto e = s.Prefill(r.prompt); !e.ok()) throw CliError{e.message()};
    }
    o.followups_right = RunFollowups(s, r);
  }
  const PruningStats st = s.pruning_stats();
  o.pct_final = st.prompt_tokens_computed_pct;
  o.revived = st.revived_tokens;
  if (!r.continuation.empty()) {
    if (auto e = s.Prefill(r.prompt); !e.ok()) throw CliError{e.message()};
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
  std::vector<double> kl, top1, prefix, equal, ppl, ppl_ratio, score, followups, speedup, ideal, pct_prefill, pct_final,
      revived;
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
  const double ks = std::clamp(
      1.0 - (f * static_cast<double>(layers) - static_cast<double>(l0)) / static_cast<double>(layers - l0), 0.0, 0.99);
  const double kr = std::clamp(1.0 - f, 0.0, 0.99);
  std::vector<PruningOptions> out;
  char buf[64];
  std::snprintf(buf, sizeof buf, "static:%lld:%.3f", static_cast<long long>(l0), ks);
  if (auto p = PruningOptions::Parse(buf, layers, seed); p.ok()) out.push_back(*p);
  std::snprintf(buf, sizeof buf, "random:%.3f", kr);
  if (auto p = PruningOptions::Parse(buf, layers, seed); p.ok()) out.push_back(*p);
  return out;
}

// Prefill work fractions of the sweep, and its schedules: for each, LazyLLM with one k at the
// `paper` layers (solved by bisection on the longest prompt), then static and random matched.
constexpr double kSweepBudgets[] = {0.9, 0.8, 0.7, 0.6, 0.5};

std::vector<PruningOptions> SweepMethods(int64_t layers, int64_t n, uint64_t seed) {
  const auto paper = PruningOptions::Parse("paper", layers, seed);
  if (!paper.ok() || paper->steps.empty()) return {};
  auto lazy_at = [&](double k) {
    std::string spec;
    char buf[32];
    for (const auto& st : paper->steps) {
      std::snprintf(buf, sizeof buf, "%s%lld:%.4f", spec.empty() ? "" : ",", static_cast<long long>(st.layer), k);
      spec += buf;
    }
    return PruningOptions::Parse(spec, layers, seed);
  };
  std::vector<PruningOptions> out;
  for (double f : kSweepBudgets) {
    double lo = 0.0, hi = 0.99;  // the work fraction falls as k grows
    for (int it = 0; it < 40; ++it) {
      const double mid = (lo + hi) / 2;
      auto p = lazy_at(mid);
      if (p.ok() && p->PrefillWorkFraction(layers, n) > f)
        lo = mid;
      else
        hi = mid;
    }
    auto lazy = lazy_at(hi);
    if (!lazy.ok()) continue;
    out.push_back(*lazy);
    for (const PruningOptions& b : MatchedBaselines(*lazy, layers, n, seed)) out.push_back(b);
  }
  return out;
}

// Score against TTFT speedup, one line per method, as an SVG a person can read at a glance.
struct Point {
  double x, y;
  double budget;  // % of prompt work computed in the prefill: the order along a method's line
};
void WriteSvg(const std::string& path, const std::map<std::string, std::vector<Point>>& series,
              const std::string& y_label, const std::string& title) {
  double x_max = 1.0, y_min = 100.0;
  for (const auto& [name, pts] : series)
    for (const Point& p : pts) x_max = std::max(x_max, p.x), y_min = std::min(y_min, p.y);
  x_max = std::ceil(x_max * 2) / 2 + 0.25;
  y_min = std::max(0.0, std::floor(y_min / 10) * 10 - 10);
  const double W = 640, H = 420, L = 70, R = 160, T = 40, B = 60;
  auto X = [&](double v) { return L + (v - 1.0) / (x_max - 1.0) * (W - L - R); };
  auto Y = [&](double v) { return T + (100.0 - v) / (100.0 - y_min) * (H - T - B); };
  std::ofstream out(path);
  if (!out) throw CliError{"cannot write plot '" + path + "'"};
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << title << "</text>\n";
  for (double v = 1.0; v <= x_max + 1e-9; v += 0.25) {
    out << "<line x1=\"" << X(v) << "\" y1=\"" << T << "\" x2=\"" << X(v) << "\" y2=\"" << H - B
        << "\" stroke=\"#eee\"/>\n<text x=\"" << X(v) << "\" y=\"" << H - B + 18 << "\" text-anchor=\"middle\">" << v
        << "×</text>\n";
  }
  for (double v = y_min; v <= 100.0 + 1e-9; v += 10) {
    out << "<line x1=\"" << L << "\" y1=\"" << Y(v) << "\" x2=\"" << W - R << "\" y2=\"" << Y(v)
        << "\" stroke=\"#eee\"/>\n<text x=\"" << L - 8 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << v
        << "</text>\n";
  }
  out << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 18
      << "\" text-anchor=\"middle\">TTFT speedup over the baseline</text>\n";
  out << "<text transform=\"translate(18," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << y_label
      << "</text>\n";
  const std::map<std::string, std::string> colors = {
      {"baseline", "#000000"}, {"LazyLLM", "#d62728"}, {"static", "#1f77b4"}, {"random", "#7f7f7f"}};
  int legend = 0;
  for (const auto& [name, pts] : series) {
    const std::string col = colors.count(name) ? colors.at(name) : "#2ca02c";
    std::vector<Point> sorted = pts;
    std::sort(sorted.begin(), sorted.end(), [](const Point& a, const Point& b) { return a.budget > b.budget; });
    out << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\" points=\"";
    for (const Point& p : sorted) out << X(p.x) << "," << Y(p.y) << " ";
    out << "\"/>\n";
    for (const Point& p : sorted)
      out << "<circle cx=\"" << X(p.x) << "\" cy=\"" << Y(p.y) << "\" r=\"4\" fill=\"" << col << "\"/>\n";
    const double ly = T + 10 + 20 * legend++;
    out << "<line x1=\"" << W - R + 15 << "\" y1=\"" << ly << "\" x2=\"" << W - R + 40 << "\" y2=\"" << ly
        << "\" stroke=\"" << col << "\" stroke-width=\"2\"/>\n<text x=\"" << W - R + 46 << "\" y=\"" << ly + 4 << "\">"
        << name << "</text>\n";
  }
  out << "</svg>\n";
  out.close();
  if (!out) throw CliError{"cannot write plot '" + path + "': " + std::strerror(errno)};
}

const char* MethodName(const PruningOptions& p) {
  switch (p.method) {
    case PruningOptions::Method::kOff:
      return "baseline";
    case PruningOptions::Method::kLazy:
      return "LazyLLM";
    case PruningOptions::Method::kStatic:
      return "static";
    case PruningOptions::Method::kRandom:
      return "random";
  }
  return "?";
}

// `--make-set needle`: an eval set for the needle model, to stdout.
int MakeSet(const Flags& flags) {
  const std::string kind = *flags.Get("--make-set");
  if (kind != "needle") throw CliError{"flag '--make-set': unknown set '" + kind + "' (expected needle)"};
  NeedleSetOptions o;
  o.length = flags.Number<int64_t>("--length", 1024, 0, int64_t{1} << 30);  // MakeNeedleSet says what fits
  o.records = flags.Number<int64_t>("--records", 10, 1, 1 << 20);
  o.facts = flags.Number<int64_t>("--facts", 1, 0, 1 << 20);
  o.questions = flags.Number<int64_t>("--questions", 1, 0, 1 << 20);
  o.seed = flags.Number<uint64_t>("--seed", 1, 0, UINT64_MAX);
  for (const NeedleRecord& r : MakeNeedleSet(o)) std::cout << NeedleRecordJson(r) << "\n";
  std::cout.flush();
  if (!std::cout) throw CliError{"writing the set to stdout failed"};
  return 0;
}

// The methods: the baseline first, then the listed schedules, then (with --sweep) the sweep's,
// then (unless --no-match) static and random at the prefill budget of each LazyLLM schedule, on
// the longest prompt's length; each once.
std::vector<PruningOptions> Methods(const Flags& flags, int64_t layers, int64_t longest, uint64_t seed) {
  std::vector<PruningOptions> methods = {PruningOptions()};
  std::set<std::string> seen = {"off"};
  auto add = [&](const PruningOptions& p) {
    if (seen.insert(p.ToString()).second) methods.push_back(p);
  };
  for (const std::string& spec : PruneList(flags.Get("--prune").value_or("paper"))) {
    auto p = PruningOptions::Parse(spec, layers, seed);
    if (!p.ok()) throw CliError{"flag '--prune': " + p.status().message()};
    ApplyReviveBudget(flags, &*p);
    add(*p);
  }
  if (flags.Has("--sweep"))
    for (const PruningOptions& p : SweepMethods(layers, longest, seed)) add(p);
  if (!flags.Has("--no-match")) {
    const std::vector<PruningOptions> listed = methods;
    for (const PruningOptions& p : listed)
      if (p.method == PruningOptions::Method::kLazy && !p.steps.empty())
        for (const PruningOptions& b : MatchedBaselines(p, layers, longest, seed)) add(b);
  }
  return methods;
}

// Every method on every record: its sessions on one engine, warmed up for the longest prompt
// (workers, weights, BLAS) and each session's first prefill untimed; then, record by record,
// every method's TTFT is measured in pairs with the baseline's. outcomes[method][record].
std::vector<std::vector<Outcome>> Measure(const Model& model, int threads, int64_t ctx, int64_t longest,
                                          const std::vector<PruningOptions>& methods,
                                          const std::vector<Record>& records, int n, int reps) {
  auto engine = Engine::Create(model, {.threads = threads});
  if (!engine.ok()) throw CliError{engine.status().message()};
  if (Status st = engine->Warmup(longest); !st.ok()) throw CliError{st.message()};
  std::vector<Session> sessions;
  for (const PruningOptions& m : methods) {
    auto session = Session::Create(*engine, {.max_context = ctx, .pruning = m});
    if (!session.ok()) throw CliError{session.status().message()};
    if (Status st = session->Prefill(records.front().prompt); !st.ok()) throw CliError{st.message()};
    sessions.push_back(std::move(session).value());
  }
  std::vector<std::vector<Outcome>> outcomes(methods.size());
  for (size_t ri = 0; ri < records.size(); ++ri) {
    const int inner = methods.size() > 1 ? SampleLength(sessions[0], records[ri].prompt) : 1;
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      std::fprintf(stderr, "\reval: record %zu/%zu, method %zu/%zu (%s)      ", ri + 1, records.size(), mi + 1,
                   methods.size(), methods[mi].ToString().c_str());
      const double speedup = mi == 0 ? 1.0 : MedianSpeedup(sessions[0], sessions[mi], records[ri].prompt, reps, inner);
      outcomes[mi].push_back(RunRecord(sessions[mi], records[ri], n));
      outcomes[mi].back().speedup = speedup;
    }
  }
  std::fprintf(stderr, "\n");
  return outcomes;
}

// A method's outcomes record by record against the baseline's.
Row CompareWithBaseline(const std::vector<Outcome>& base, const std::vector<Outcome>& method,
                        const std::vector<Record>& records, const PruningOptions& schedule, int64_t layers,
                        const Tokenizer& tok) {
  Row row;
  for (size_t ri = 0; ri < records.size(); ++ri) {
    const Outcome& b = base[ri];
    const Outcome& o = method[ri];
    const Record& r = records[ri];
    row.kl.push_back(eval::KlDivergence(b.first_logits, o.first_logits));
    row.top1.push_back(Argmax(b.first_logits) == Argmax(o.first_logits) ? 1.0 : 0.0);
    const eval::Agreement a = eval::CompareTokens(b.tokens, o.tokens);
    row.prefix.push_back(static_cast<double>(a.common_prefix));
    row.equal.push_back(a.equal_fraction);
    if (!o.cont_log_probs.empty()) {
      row.ppl.push_back(eval::Perplexity(o.cont_log_probs));
      row.ppl_ratio.push_back(eval::Perplexity(o.cont_log_probs) / eval::Perplexity(b.cont_log_probs));
    }
    if (!r.answers.empty()) row.score.push_back(Score(r, GeneratedText(tok, o.tokens)));
    if (!r.followup_text.empty())
      row.followups.push_back(static_cast<double>(o.followups_right) / static_cast<double>(r.followup_text.size()));
    row.speedup.push_back(o.speedup);
    row.ideal.push_back(1.0 / schedule.PrefillWorkFraction(layers, static_cast<int64_t>(r.prompt.size())));
    row.pct_prefill.push_back(o.pct_prefill);
    row.pct_final.push_back(o.pct_final);
    row.revived.push_back(static_cast<double>(o.revived));
  }
  return row;
}

// Greedy-token agreement with the baseline against TTFT speedup, per method family.
void Plot(const std::string& path, const std::vector<Row>& rows, const std::vector<PruningOptions>& methods,
          size_t records) {
  std::map<std::string, std::vector<Point>> series;
  for (size_t mi = 0; mi < methods.size(); ++mi)
    series[MethodName(methods[mi])].push_back({eval::MeanCi95(rows[mi].speedup).mean,
                                               100.0 * eval::MeanCi95(rows[mi].equal).mean,
                                               eval::MeanCi95(rows[mi].pct_prefill).mean});
  WriteSvg(path, series, "greedy tokens equal to the baseline's (%)",
           "Fidelity against TTFT speedup (" + std::to_string(records) + " prompts)");
}

// One report record per method: its means with 95% intervals (percentages scaled in Markdown),
// the TTFT speedup beside its ideal, and the share computed from the prefill to the end.
ReportRecord MethodRecord(const PruningOptions& m, const Row& r, size_t records, int n) {
  auto stat = [](const char* key, const char* csv, const char* md, const std::vector<double>& v, const char* format,
                 int precision, double scale = 1.0) {
    return SamplesCell(key, csv, md, v,
                       {.spread = Spread::kCi95,
                        .csv_format = format,
                        .csv_spread = false,
                        .md_precision = precision,
                        .md_scale = scale});
  };
  Cell speedup = stat("ttft_speedup", "ttft_speedup", "TTFT speedup (ideal)", r.speedup, "%.3f", 2);
  speedup.md_text += " (" + Fixed("%.2f", eval::MeanCi95(r.ideal).mean) + ")";
  Cell prefill = stat("prompt_computed_pct_prefill", "computed_pct_prefill", "computed % (prefill → end)",
                      r.pct_prefill, "%.2f", 1);
  prefill.md_text += " → " + SamplesText(r.pct_final, Spread::kCi95, 1);
  return {TextCell("method", MethodName(m), "method", false),
          TextCell("prune", m.ToString(), "prune", true),
          IntCell("records", static_cast<int64_t>(records), ""),
          Cell{"n", n},
          stat("first_token_kl", "kl", "first-token KL", r.kl, "%.6g", 4),
          stat("first_token_top1", "top1", "top-1 agree %", r.top1, "%.4f", 1, 100),
          stat("greedy_common_prefix", "prefix", "greedy prefix", r.prefix, "%.3f", 1),
          stat("greedy_equal_fraction", "equal", "equal tokens %", r.equal, "%.4f", 1, 100),
          stat("perplexity", "perplexity", "perplexity", r.ppl, "%.4f", 2),
          stat("perplexity_ratio", "perplexity_ratio", "ppl ratio", r.ppl_ratio, "%.4f", 3),
          stat("task_score", "task_score", "task score %", r.score, "%.4f", 1, 100),
          stat("followup_score", "followup_score", "follow-ups %", r.followups, "%.4f", 1, 100),
          speedup,
          stat("ideal_speedup", "ideal_speedup", "", r.ideal, "%.3f", 2),
          prefill,
          stat("prompt_computed_pct_final", "computed_pct_final", "", r.pct_final, "%.2f", 1),
          stat("revived_tokens", "revived", "revived", r.revived, "%.2f", 1)};
}

}  // namespace

int Eval(int argc, char** argv) {
  Flags flags(kEvalSpec, argc, argv);
  if (flags.Has("--make-set")) return MakeSet(flags);
  for (const char* f : {"--length", "--records", "--facts", "--questions"})
    if (flags.Has(f)) throw CliError{std::string("flag '") + f + "' needs --make-set"};
  if (!flags.Has("--set")) throw CliError{"missing --set FILE|DIR"};
  const int n = flags.Number<int>("-n", 16, 1, 1 << 16);
  const Format format = ParseFormat(flags);
  const uint64_t seed = flags.Number<uint64_t>("--seed", 1, 0, UINT64_MAX);
  const int threads = flags.Number<int>("-t", 0, 0, 4096);
  const int reps = flags.Number<int>("-r", 3, 1, 100);
  Model model = LoadModel(flags, /*vocab_only=*/false);
  const ModelConfig& c = model.config();
  const int64_t ctx = flags.Has("-c") ? flags.Number<int64_t>("-c", 0, 2, int64_t{1} << 22)
                                      : std::min<int64_t>(c.context_length, SessionOptions::kDefaultMaxContext);
  WarnIfBeyondTrainedContext(model, ctx, "eval");
  const std::vector<Record> records = LoadSet(*flags.Get("--set"), model.tokenizer(), ctx - 1);
  int64_t longest = 0;
  for (const Record& r : records) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.prompt.size()));
  const std::vector<PruningOptions> methods = Methods(flags, c.num_layers, longest, seed);
  // Under mpirun each rank measures a share of the records balanced by their tokens; rank 0
  // gathers every record's outcomes and writes the report of all, as one process would.
  const Ranks& ranks = Ranks::Job();
  std::vector<int64_t> costs;
  for (const Record& r : records) costs.push_back(static_cast<int64_t>(r.prompt.size() + r.continuation.size()) + n);
  const std::vector<size_t> mine = ranks.Mine(costs);
  std::vector<Record> my_records;
  for (size_t i : mine) my_records.push_back(records[i]);
  const auto measured = my_records.empty() ? std::vector<std::vector<Outcome>>(methods.size())
                                           : Measure(model, threads, ctx, longest, methods, my_records, n, reps);
  std::vector<std::pair<int64_t, std::string>> pieces;
  for (size_t k = 0; k < mine.size(); ++k) {
    std::string bytes;
    for (size_t mi = 0; mi < methods.size(); ++mi) bytes += Packed(measured[mi][k]);
    pieces.emplace_back(mine[k], std::move(bytes));
  }
  pieces = ranks.Gather(pieces);
  if (!ranks.writes()) return 0;
  std::vector<std::vector<Outcome>> outcomes(methods.size());
  for (const auto& [item, bytes] : pieces) {
    size_t at = 0;
    for (size_t mi = 0; mi < methods.size(); ++mi) outcomes[mi].push_back(Unpacked(bytes, at));
  }
  std::vector<Row> rows;
  for (size_t mi = 0; mi < methods.size(); ++mi)
    rows.push_back(
        CompareWithBaseline(outcomes[0], outcomes[mi], records, methods[mi], c.num_layers, model.tokenizer()));
  if (auto plot = flags.Get("--plot")) Plot(*plot, rows, methods, records.size());
  std::vector<ReportRecord> report;
  for (size_t mi = 0; mi < methods.size(); ++mi)
    report.push_back(MethodRecord(methods[mi], rows[mi], records.size(), n));
  WriteReport(format, report,
              std::to_string(records.size()) + " records, " + std::to_string(n) +
                  " greedy tokens each; mean ± 95% interval over records",
              /*env=*/false);
  return 0;
}

}  // namespace lazyllm::cli
