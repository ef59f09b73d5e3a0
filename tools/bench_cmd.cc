// `lazyllm bench`: a llama-bench-style matrix of prefill and decode runs.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

#include "tools/cli.h"
#include "tools/report.h"

namespace lazyllm::cli {
namespace {

const CommandSpec kBenchSpec = {
    .name = "bench",
    .summary = "A benchmark matrix of prefill and decode speed over every combination of the values given.",
    .shared = {"-m", "--exact", "--kv-type", "--revive-budget", "--profile"},
    .own = {{"-p", "N,N,...", "prompt lengths in tokens (default 512)"},
            {"-n", "N,N,...", "tokens to generate (default 32)"},
            {"-t", "N,N,...", "worker threads (default 0: one per core)"},
            {"--numa", "on,off", "NUMA placement (default on)"},
            {"--prune", "SPECS", "pruning schedules, separated by ',' or ';' (default off)"},
            {"--batch", "B,B,...",
             "llama-batched-bench's shape: B prompts prefilled in one step, then -n steps of B tokens"},
            {"-r", "N", "repetitions per case (default 3), interleaved across cases after a warm-up"},
            {"-o", "md|csv|json", "output format (default md)"},
            {"-f", "FILE", "a text whose tokens, repeated to length, make the prompt (default: random ids)"},
            {"--seed", "S", "seed of the random prompt and of random pruning (default 42)"}},
    .notes = R"(Per case: the mean ± standard deviation over -r repetitions of prefill tokens/s, TTFT, decode
tokens/s and the % of prompt token-layer pairs computed. Load time is excluded. The header (md) and
every record (csv, json) carry the environment: CPU, cores, NUMA nodes, the ISA chosen, OpenBLAS's
kernels and threads, OPENBLAS_CORETYPE when set, lazyllm's version and commit.
--batch reports prefill tokens/s (all prompts), aggregate decode tokens/s, total tokens/s and the KV
bytes held at the end. --kv-type f16 halves the KV, with or without --batch.)"};

// "512,2048" -> {512, 2048}, each in [lo, hi]; a repeated value is one case, kept once.
std::vector<int64_t> NumberList(const Flags& flags, const std::string& f, const std::string& def, int64_t lo,
                                int64_t hi) {
  const std::string s = flags.Get(f).value_or(def);
  std::vector<int64_t> out;
  for (size_t start = 0; start <= s.size();) {
    const size_t comma = std::min(s.find(',', start), s.size());
    const std::string item = s.substr(start, comma - start);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    const bool whole = p == item.data() + item.size();
    if (!item.empty() && whole && (ec == std::errc::result_out_of_range || (ec == std::errc() && (v < lo || v > hi))))
      throw CliError{"flag '" + f + "': " + item + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]"};
    if (item.empty() || ec != std::errc() || !whole)
      throw CliError{"flag '" + f + "': '" + item + "' is not a valid number"};
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    start = comma + 1;
  }
  return out;
}

// The matrix the flags ask for.
struct Plan {
  std::vector<int64_t> prompts, gens, threads, batches;
  std::vector<std::string> numas;
  std::vector<PruningOptions> prunings;
  int reps = 3;
  uint64_t seed = 42;
  bool exact = false, profile = false;
  KvType kv_type = KvType::kF32;
  int64_t max_prompt = 0, max_gen = 0;
};

// The flags checked and read, but --prune: its schedules need the model's depth (AddSchedules).
Plan ReadPlan(const Flags& flags) {
  Plan plan;
  plan.prompts = NumberList(flags, "-p", "512", 1, int64_t{1} << 22);
  plan.gens = NumberList(flags, "-n", "32", 0, 1 << 20);
  plan.threads = NumberList(flags, "-t", "0", 0, 4096);
  std::stringstream numa_list(flags.Get("--numa").value_or("on"));
  for (std::string v; std::getline(numa_list, v, ',');) {
    if (v != "on" && v != "off") throw CliError{"flag '--numa': expected on or off, got '" + v + "'"};
    if (std::find(plan.numas.begin(), plan.numas.end(), v) == plan.numas.end()) plan.numas.push_back(v);
  }
  if (plan.numas.empty()) throw CliError{"flag '--numa': expected a list of on and off, got an empty one"};
  plan.reps = flags.Number<int>("-r", 3, 1, 1000);
  plan.seed = flags.Number<uint64_t>("--seed", 42, 0, UINT64_MAX);
  plan.exact = flags.Has("--exact");
  plan.profile = flags.Has("--profile");
  plan.kv_type = ParseKvType(flags);
  plan.max_prompt = *std::max_element(plan.prompts.begin(), plan.prompts.end());
  plan.max_gen = *std::max_element(plan.gens.begin(), plan.gens.end());
  if (flags.Has("--batch")) {
    plan.batches = NumberList(flags, "--batch", "1", 1, 4096);
    if (plan.threads.size() != 1 || plan.numas.size() != 1) throw CliError{"--batch takes one -t and one --numa value"};
  }
  return plan;
}

// The --prune schedules for the model's depth (each once), and the longest case checked against
// its context.
void AddSchedules(const Flags& flags, const ModelConfig& c, Plan* plan) {
  for (const std::string& spec : PruneList(flags.Get("--prune").value_or("off"))) {
    auto p = PruningOptions::Parse(spec, c.num_layers, plan->seed);
    if (!p.ok()) throw CliError{"flag '--prune': " + p.status().message()};
    ApplyReviveBudget(flags, &*p);
    const bool seen = std::any_of(plan->prunings.begin(), plan->prunings.end(),
                                  [&](const PruningOptions& q) { return q.ToString() == p->ToString(); });
    if (!seen) plan->prunings.push_back(*p);
  }
  if (plan->max_prompt + plan->max_gen > c.context_length)
    throw CliError{"-p " + std::to_string(plan->max_prompt) + " plus -n " + std::to_string(plan->max_gen) +
                   " exceeds the model's context of " + std::to_string(c.context_length) + " tokens"};
}

// The prompts: BOS then a stream of tokens, random vocabulary ids (as llama-bench does) or a
// text file's tokens (-f) repeated; sequence b of a batch starts 97·b tokens into the stream, so
// that prompts differ.
class Prompts {
 public:
  Prompts(const Flags& flags, const Tokenizer& tok, uint64_t seed) : bos_(tok.bos_id()) {
    if (flags.Has("-f")) {  // -f only: bench's -p is the list of prompt lengths, not a text
      stream_ = Tokens(tok, ReadTextFile(*flags.Get("-f"), "prompt file"), "the -f prompt", /*add_special=*/false);
      if (stream_.empty()) throw CliError{"the -f prompt tokenizes to nothing"};
      return;
    }
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> pick(0, tok.vocab_size() - 1);
    for (int i = 0; i < 4096; ++i) stream_.push_back(pick(rng));
  }

  std::vector<int32_t> Get(int64_t n, int64_t b = 0) const {
    std::vector<int32_t> ids;
    if (bos_ >= 0) ids.push_back(bos_);
    for (int64_t i = 0; static_cast<int64_t>(ids.size()) < n; ++i)
      ids.push_back(stream_[static_cast<size_t>(97 * b + i) % stream_.size()]);
    ids.resize(static_cast<size_t>(n));
    return ids;
  }

 private:
  int32_t bos_;
  std::vector<int32_t> stream_;
};

// One case of the matrix and its measurements.
struct Case {
  int64_t prompt, gen;
  int threads;                  // as the session ran them (-t 0 asks for every hardware thread)
  std::string numa, kv, prune;  // kv: the K/V storage its session's engine keeps
  size_t session;               // its Session in the runners
  std::vector<double> prefill_tps, ttft_ms, decode_tps, computed_pct;
  StepProfile profile;  // --profile: its timed repetitions' stages
};

// Every case's repetitions: one session per (threads, numa, prune), each warmed up for the
// longest prompt; then every repetition runs every case once (repetition 0 an untimed warm-up),
// so that drift over the run hits all cases alike.
std::vector<Case> RunCases(const Plan& plan, const Model& model, const Prompts& prompts) {
  std::vector<Session> sessions;
  std::vector<Case> cases;
  for (int64_t t : plan.threads)
    for (const std::string& numa : plan.numas)
      for (const PruningOptions& pr : plan.prunings) {
        auto s = Session::Create(model, {.threads = static_cast<int>(t),
                                         .numa = numa == "on",
                                         .exact_activations = plan.exact,
                                         .max_context = plan.max_prompt + plan.max_gen,
                                         .kv_type = plan.kv_type,
                                         .pruning = pr,
                                         .profile = plan.profile});
        if (!s.ok()) throw CliError{s.status().message()};
        if (Status st = s->Warmup(plan.max_prompt); !st.ok()) throw CliError{st.message()};
        for (int64_t p : plan.prompts)
          for (int64_t g : plan.gens)
            cases.push_back({p, g, s->threads(), numa, KvName(s->engine().kv_type()), pr.ToString(), sessions.size()});
        sessions.push_back(std::move(*s));
      }
  WarnIfBlasBelowCpu("bench");
  for (int rep = 0; rep <= plan.reps; ++rep) {
    for (size_t i = 0; i < cases.size(); ++i) {
      Case& cs = cases[i];
      std::fprintf(stderr, "\rbench: %s %d/%d case %zu/%zu  p=%lld n=%lld t=%d numa=%s prune=%s      ",
                   rep == 0 ? "warm-up" : "rep", rep, plan.reps, i + 1, cases.size(), static_cast<long long>(cs.prompt),
                   static_cast<long long>(cs.gen), cs.threads, cs.numa.c_str(), cs.prune.c_str());
      GenerationOptions gen{.max_new_tokens = static_cast<int>(cs.gen), .stop_at_eos = false};
      gen.sampling.temperature = 0;
      const Engine& engine = sessions[cs.session].engine();
      engine.ResetProfile();
      auto r = Generate(sessions[cs.session], prompts.Get(cs.prompt), gen);
      if (!r.ok()) throw CliError{r.status().message()};
      if (rep == 0) continue;
      AddProfile(engine.profile(), &cs.profile);
      cs.prefill_tps.push_back(r->stats.prefill_tokens_per_s);
      cs.ttft_ms.push_back(r->stats.ttft_ms);
      if (cs.gen > 0) cs.decode_tps.push_back(r->stats.decode_tokens_per_s);
      cs.computed_pct.push_back(r->stats.pruning.prompt_tokens_computed_pct);
    }
  }
  std::fprintf(stderr, "\n");
  return cases;
}

// --profile: the case's stages in JSON (with Markdown and CSV, Bench prints tables on stderr).
Cell ProfileCell(const StepProfile& profile, const Plan& plan) {
  Cell c;
  if (plan.profile) {
    c.json_key = "profile";
    c.json_value = ProfileJson(profile);
  }
  return c;
}

// The share of prompt pairs computed: a mean with one decimal in Markdown, two in CSV.
Cell ComputedCell(const std::vector<double>& samples) {
  return SamplesCell("prompt_tokens_computed_pct", "computed_pct_mean", "prompt computed %", samples,
                     {.csv_format = "%.2f", .csv_spread = false, .md_spread = false});
}

std::vector<ReportRecord> CaseRecords(const std::vector<Case>& cases, const std::string& name, const Model& model,
                                      const Plan& plan) {
  const Cell activations = TextCell("activations", model.matmul_activations(plan.exact), "act", false);
  const double gib = static_cast<double>(model.file_bytes()) / (1024.0 * 1024.0 * 1024.0);
  std::vector<ReportRecord> out;
  for (const Case& cs : cases) {
    Cell size = IntCell("file_bytes", model.file_bytes(), "size");
    size.md_text = Fixed("%.2f GiB", gib);
    out.push_back({TextCell("model", name, "model", true), size, activations, IntCell("threads", cs.threads, "threads"),
                   TextCell("kv_type", cs.kv, "kv", false), TextCell("numa", cs.numa, "numa", false),
                   TextCell("prune", cs.prune, "prune", true), IntCell("n_prompt", cs.prompt, "prompt"),
                   IntCell("n_gen", cs.gen, "gen"), Cell{"repetitions", plan.reps},
                   SamplesCell("prefill_tokens_per_s", "prefill_tps", "prefill t/s", cs.prefill_tps, {}),
                   SamplesCell("ttft_ms", "ttft_ms", "TTFT ms", cs.ttft_ms, {}),
                   SamplesCell("decode_tokens_per_s", "decode_tps", "decode t/s", cs.decode_tps, {.md_precision = 2}),
                   ComputedCell(cs.computed_pct), ProfileCell(cs.profile, plan)});
  }
  return out;
}

// One batched case (shaped like llama-batched-bench): B prompts of n_prompt tokens prefilled in
// one step, then n_gen decode steps of B tokens.
struct BatchCase {
  int64_t batch, prompt, gen;
  PruningOptions pruning;
  std::vector<double> prefill_tps, decode_tps, total_tps, kv_bytes, computed_pct;
  StepProfile profile;  // --profile: its timed repetitions' stages
};

// One repetition of a batched case; appends its measurements unless `record` is false.
void RunBatchCase(const Engine& engine, BatchCase& cs, const Prompts& prompts, bool exact, bool record) {
  using Clock = std::chrono::steady_clock;
  std::vector<Sequence> seqs;
  std::vector<std::vector<int32_t>> ids;
  for (int64_t b = 0; b < cs.batch; ++b) {
    auto s =
        engine.NewSequence({.max_context = cs.prompt + cs.gen + 1, .pruning = cs.pruning, .exact_activations = exact});
    if (!s.ok()) throw CliError{s.status().message()};
    seqs.push_back(std::move(*s));
    ids.push_back(prompts.Get(cs.prompt, b));
  }
  std::vector<StepItem> items(static_cast<size_t>(cs.batch));
  std::vector<int32_t> next(static_cast<size_t>(cs.batch));
  auto step = [&] {
    if (Status st = engine.Step(items); !st.ok()) throw CliError{st.message()};
    for (size_t b = 0; b < items.size(); ++b) {
      if (!items[b].status.ok()) throw CliError{items[b].status.message()};
      next[b] = Argmax(seqs[b].logits());
    }
  };
  for (size_t b = 0; b < items.size(); ++b)
    items[b] = {.sequence = &seqs[b], .tokens = ids[b], .kind = StepItem::Kind::kPrefill};
  engine.ResetProfile();
  const auto t0 = Clock::now();
  step();
  const auto t1 = Clock::now();
  for (int64_t g = 0; g < cs.gen; ++g) {
    for (size_t b = 0; b < items.size(); ++b) items[b] = {.sequence = &seqs[b], .tokens = {&next[b], 1}};
    step();
  }
  const auto t2 = Clock::now();
  if (!record) return;
  AddProfile(engine.profile(), &cs.profile);
  const double pp_s = std::chrono::duration<double>(t1 - t0).count(),
               tg_s = std::chrono::duration<double>(t2 - t1).count();
  const auto b = static_cast<double>(cs.batch);
  cs.prefill_tps.push_back(b * static_cast<double>(cs.prompt) / pp_s);
  if (cs.gen > 0) cs.decode_tps.push_back(b * static_cast<double>(cs.gen) / tg_s);
  cs.total_tps.push_back(b * static_cast<double>(cs.prompt + cs.gen) / (pp_s + tg_s));
  double kv = 0, pct = 0;
  for (const Sequence& s : seqs) {
    kv += static_cast<double>(s.kv_bytes());
    pct += s.pruning_stats().prompt_tokens_computed_pct;
  }
  cs.kv_bytes.push_back(kv);
  cs.computed_pct.push_back(pct / b);
}

// Every batched case's repetitions on one engine, interleaved (repetition 0 warms every case up).
std::vector<BatchCase> RunBatchCases(const Plan& plan, const Engine& engine, const Prompts& prompts) {
  std::vector<BatchCase> cases;
  for (const PruningOptions& pr : plan.prunings)
    for (int64_t p : plan.prompts)
      for (int64_t g : plan.gens)
        for (int64_t b : plan.batches) cases.push_back({b, p, g, pr});
  WarnIfBlasBelowCpu("bench");
  for (int rep = 0; rep <= plan.reps; ++rep) {
    for (size_t i = 0; i < cases.size(); ++i) {
      BatchCase& cs = cases[i];
      std::fprintf(stderr, "\rbench: rep %d/%d case %zu/%zu  B=%lld p=%lld n=%lld prune=%s      ", rep, plan.reps,
                   i + 1, cases.size(), static_cast<long long>(cs.batch), static_cast<long long>(cs.prompt),
                   static_cast<long long>(cs.gen), cs.pruning.ToString().c_str());
      RunBatchCase(engine, cs, prompts, plan.exact, rep > 0);
    }
  }
  std::fprintf(stderr, "\n");
  return cases;
}

std::vector<ReportRecord> BatchRecords(const std::vector<BatchCase>& cases, const std::string& name, const Model& model,
                                       const Engine& engine, const Plan& plan) {
  const std::string kv = KvName(engine.kv_type());
  const Cell activations = TextCell("activations", model.matmul_activations(plan.exact), "act", false);
  std::vector<ReportRecord> out;
  for (const BatchCase& cs : cases) {
    out.push_back({TextCell("model", name, "model", true), Cell{"file_bytes", model.file_bytes()}, activations,
                   IntCell("threads", engine.threads(), "threads"), Cell{"numa", plan.numas[0]},
                   TextCell("kv_type", kv, "kv", false), TextCell("prune", cs.pruning.ToString(), "prune", true),
                   IntCell("batch", cs.batch, "B"), IntCell("n_prompt", cs.prompt, "prompt"),
                   IntCell("n_gen", cs.gen, "gen"), Cell{"repetitions", plan.reps},
                   SamplesCell("prefill_tokens_per_s", "prefill_tps", "prefill t/s", cs.prefill_tps, {}),
                   SamplesCell("decode_tokens_per_s", "decode_tps", "decode t/s", cs.decode_tps, {}),
                   SamplesCell("total_tokens_per_s", "total_tps", "total t/s", cs.total_tps, {}),
                   SamplesCell("kv_bytes", "kv_bytes_mean", "KV MiB", cs.kv_bytes,
                               {.csv_format = "%.0f",
                                .csv_spread = false,
                                .md_precision = 2,
                                .md_scale = 1.0 / 1048576.0,
                                .md_spread = false}),
                   ComputedCell(cs.computed_pct), ProfileCell(cs.profile, plan)});
  }
  return out;
}

}  // namespace

int Bench(int argc, char** argv) {
  Flags flags(kBenchSpec, argc, argv);
  Plan plan = ReadPlan(flags);
  const Format format = ParseFormat(flags);
  Model model = LoadModel(flags, /*vocab_only=*/false);
  AddSchedules(flags, model.config(), &plan);
  const Prompts prompts(flags, model.tokenizer(), plan.seed);
  const std::string name = model.config().name.empty() ? *flags.Get("-m") : model.config().name;
  std::vector<ReportRecord> records;
  std::string profiles;  // --profile's tables, per case, for stderr (JSON carries them in its records)
  const bool profile_tables = plan.profile && format != Format::kJson;
  const auto add_profile = [&](const std::string& title, const StepProfile& profile) {
    profiles += "\n" + title + ":\n" + ProfileTables(profile);
  };
  if (plan.batches.empty()) {
    const std::vector<Case> cases = RunCases(plan, model, prompts);
    records = CaseRecords(cases, name, model, plan);
    if (profile_tables)
      for (const Case& cs : cases)
        add_profile("p=" + std::to_string(cs.prompt) + " n=" + std::to_string(cs.gen) +
                        " t=" + std::to_string(cs.threads) + " numa=" + cs.numa + " kv=" + cs.kv + " prune=" + cs.prune,
                    cs.profile);
  } else {
    auto engine = Engine::Create(model, {.threads = static_cast<int>(plan.threads[0]),
                                         .numa = plan.numas[0] == "on",
                                         .kv_type = plan.kv_type,
                                         .profile = plan.profile});
    if (!engine.ok()) throw CliError{engine.status().message()};
    if (Status st = engine->Warmup(plan.max_prompt); !st.ok()) throw CliError{st.message()};
    const std::vector<BatchCase> cases = RunBatchCases(plan, *engine, prompts);
    records = BatchRecords(cases, name, model, *engine, plan);
    if (profile_tables)
      for (const BatchCase& cs : cases)
        add_profile("B=" + std::to_string(cs.batch) + " p=" + std::to_string(cs.prompt) +
                        " n=" + std::to_string(cs.gen) + " prune=" + cs.pruning.ToString(),
                    cs.profile);
  }
  WriteReport(format, records, EnvLine(), /*env=*/true);
  if (profile_tables)
    std::fprintf(stderr, "\nwhere the timed repetitions spent their time (--profile), summed over them:%s",
                 profiles.c_str());
  return 0;
}

}  // namespace lazyllm::cli
