// `lazyllm bench`: a llama-bench-style matrix of prefill and decode runs.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <vector>

#include "tools/cli.h"

namespace lazyllm::cli {
namespace {

// "512,2048" -> {512, 2048}, each in [lo, hi].
std::vector<int64_t> NumberList(const Flags& flags, const std::string& f, const std::string& def, int64_t lo,
                                int64_t hi) {
  const std::string s = flags.Get(f).value_or(def);
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    const std::string item = s.substr(start, comma - start);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec == std::errc::result_out_of_range && p == item.data() + item.size())
      throw CliError{"flag '" + f + "': " + item + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]"};
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      throw CliError{"flag '" + f + "': '" + item + "' is not a valid number"};
    if (v < lo || v > hi)
      throw CliError{"flag '" + f + "': " + item + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]"};
    out.push_back(v);
    start = comma + 1;
  }
  return out;
}

// Drops repeated values, keeping the first of each (a repeated value would be one case twice).
template <typename T>
std::vector<T> Unique(std::vector<T> v) {
  std::vector<T> out;
  for (T& x : v)
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(std::move(x));
  return out;
}

// The environment columns every CSV row ends with (EnvFields), header and values.
std::string CsvEnvHeader() {
  std::string h;
  for (const auto& [k, v] : EnvFields()) h += "," + k;
  return h;
}
std::string CsvEnvRow() {
  std::string r;
  for (const auto& [k, v] : EnvFields()) r += "," + (v.is_string() ? "\"" + v.get<std::string>() + "\"" : v.dump());
  return r;
}
void AddEnv(json& j) {
  for (const auto& [k, v] : EnvFields()) j[k] = v;
}

struct Summary {
  double mean = 0, stddev = 0;
};
Summary Summarize(const std::vector<double>& v) {
  Summary s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

struct Case {
  int64_t prompt, gen;
  int requested_threads;
  int threads;  // as the session ran them (0 requests every hardware thread)
  std::string numa;
  std::string prune;
  std::vector<double> prefill_tps, ttft_ms, decode_tps, computed_pct;
};

std::string PlusMinus(const Summary& s, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", prec, s.mean, prec, s.stddev);
  return buf;
}

// One batched case (shaped like llama-batched-bench): B prompts of n_prompt tokens prefilled in
// one step, then n_gen decode steps of B tokens.
struct BatchCase {
  int64_t batch, prompt, gen;
  std::string prune;
  PruningOptions pruning;
  std::vector<double> prefill_tps, decode_tps, total_tps, kv_bytes, computed_pct;
};

// One repetition of a batched case; appends its measurements unless `record` is false.
void RunBatchCase(const Engine& engine, BatchCase& cs,
                  const std::function<std::vector<int32_t>(int64_t, int64_t)>& prompt_of, bool int8, bool record) {
  using Clock = std::chrono::steady_clock;
  std::vector<Sequence> seqs;
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t b = 0; b < cs.batch; ++b) {
    auto s =
        engine.NewSequence({.max_context = cs.prompt + cs.gen + 1, .pruning = cs.pruning, .int8_activations = int8});
    if (!s.ok()) throw CliError{s.status().message()};
    seqs.push_back(std::move(*s));
    prompts.push_back(prompt_of(cs.prompt, b));
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
    items[b] = {.sequence = &seqs[b], .tokens = prompts[b], .kind = StepItem::Kind::kPrefill};
  const auto t0 = Clock::now();
  step();
  const auto t1 = Clock::now();
  for (int64_t g = 0; g < cs.gen; ++g) {
    for (size_t b = 0; b < items.size(); ++b) items[b] = {.sequence = &seqs[b], .tokens = {&next[b], 1}};
    step();
  }
  const auto t2 = Clock::now();
  if (!record) return;
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

}  // namespace

int Bench(int argc, char** argv) {
  const CommandSpec spec = {
      .name = "bench",
      .summary = "A benchmark matrix of prefill and decode speed over every combination of the values given.",
      .shared = {"-m", "--int8-act", "--kv-type"},
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
bytes held at the end; --kv-type f16 halves the KV.)"};
  Flags flags(spec, argc, argv);
  const std::vector<int64_t> prompts = Unique(NumberList(flags, "-p", "512", 1, int64_t{1} << 22));
  const std::vector<int64_t> gens = Unique(NumberList(flags, "-n", "32", 0, 1 << 20));
  const std::vector<int64_t> threads = Unique(NumberList(flags, "-t", "0", 0, 4096));
  std::vector<std::string> numas;
  std::stringstream numa_list(flags.Get("--numa").value_or("on"));
  for (std::string v; std::getline(numa_list, v, ',');) numas.push_back(v);
  numas = Unique(numas);
  if (numas.empty()) throw CliError{"flag '--numa': expected a list of on and off, got an empty one"};
  const int reps = flags.Number<int>("-r", 3, 1, 1000);
  const std::string format = flags.Get("-o").value_or("md");
  if (format != "md" && format != "csv" && format != "json")
    throw CliError{"flag '-o': expected md, csv or json, got '" + format + "'"};
  for (const auto& n : numas)
    if (n != "on" && n != "off") throw CliError{"flag '--numa': expected on or off, got '" + n + "'"};
  const uint64_t seed = flags.Number<uint64_t>("--seed", 42, 0, UINT64_MAX);

  Model model = LoadModel(flags, /*vocab_only=*/false);
  const ModelConfig& c = model.config();
  std::vector<PruningOptions> prunings;
  for (const std::string& spec : PruneList(flags.Get("--prune").value_or("off"))) {
    auto p = PruningOptions::Parse(spec, c.num_layers, seed);
    if (!p.ok()) throw CliError{"flag '--prune': " + p.status().message()};
    const bool seen = std::any_of(prunings.begin(), prunings.end(),
                                  [&](const PruningOptions& q) { return q.ToString() == p->ToString(); });
    if (!seen) prunings.push_back(*p);
  }
  int64_t max_prompt = 0, max_gen = 0;
  for (int64_t p : prompts) max_prompt = std::max(max_prompt, p);
  for (int64_t g : gens) max_gen = std::max(max_gen, g);
  if (max_prompt + max_gen > c.context_length)
    throw CliError{"-p " + std::to_string(max_prompt) + " plus -n " + std::to_string(max_gen) +
                   " exceeds the model's context of " + std::to_string(c.context_length) + " tokens"};

  // The prompt: BOS then random vocabulary ids (as llama-bench does), or a text file's tokens
  // repeated to length.
  std::vector<int32_t> base;
  const Tokenizer& tok = model.tokenizer();
  if (flags.Has("-f")) {
    // -f only (bench's -p is the list of prompt lengths, not a text).
    base = tok.Encode(ReadTextFile(*flags.Get("-f"), "prompt file"), /*add_bos=*/false);
    if (base.empty()) throw CliError{"the -f prompt tokenizes to nothing"};
  } else {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(c.vocab_size - 1));
    for (int i = 0; i < 4096; ++i) base.push_back(pick(rng));
  }
  auto prompt_of = [&](int64_t n) {
    std::vector<int32_t> ids;
    if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
    while (static_cast<int64_t>(ids.size()) < n) ids.push_back(base[(ids.size() - 1) % base.size()]);
    ids.resize(static_cast<size_t>(n));
    return ids;
  };

  if (flags.Has("--batch")) {
    const std::vector<int64_t> batches = Unique(NumberList(flags, "--batch", "1", 1, 4096));
    if (threads.size() != 1 || numas.size() != 1) throw CliError{"--batch takes one -t and one --numa value"};
    const KvType kv_type = ParseKvType(flags);
    auto engine =
        Engine::Create(model, {.threads = static_cast<int>(threads[0]), .numa = numas[0] == "on", .kv_type = kv_type});
    if (!engine.ok()) throw CliError{engine.status().message()};
    if (Status st = engine->Warmup(max_prompt); !st.ok()) throw CliError{st.message()};
    // Sequence b's prompt: BOS, then the token stream from offset 97·b, so prompts differ.
    auto batch_prompt = [&](int64_t n, int64_t b) {
      std::vector<int32_t> ids;
      if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
      for (int64_t i = 0; static_cast<int64_t>(ids.size()) < n; ++i)
        ids.push_back(base[static_cast<size_t>(97 * b + i) % base.size()]);
      ids.resize(static_cast<size_t>(n));
      return ids;
    };
    std::vector<BatchCase> bcases;
    for (const auto& pr : prunings)
      for (int64_t p : prompts)
        for (int64_t g : gens)
          for (int64_t b : batches) bcases.push_back({b, p, g, pr.ToString(), pr, {}, {}, {}, {}, {}});
    // Repetitions interleave the cases (rep 0 warms every case up), so drift hits them alike.
    WarnIfBlasBelowCpu("bench");
    for (int rep = 0; rep <= reps; ++rep) {
      for (size_t i = 0; i < bcases.size(); ++i) {
        BatchCase& cs = bcases[i];
        std::fprintf(stderr, "\rbench: rep %d/%d case %zu/%zu  B=%lld p=%lld n=%lld prune=%s      ", rep, reps, i + 1,
                     bcases.size(), static_cast<long long>(cs.batch), static_cast<long long>(cs.prompt),
                     static_cast<long long>(cs.gen), cs.prune.c_str());
        RunBatchCase(*engine, cs, batch_prompt, flags.Has("--int8-act"), rep > 0);
      }
    }
    std::fprintf(stderr, "\n");
    const std::string name = c.name.empty() ? *flags.Get("-m") : c.name;
    const char* kv_name = kv_type == KvType::kF16 ? "f16" : "f32";
    if (format == "json") {
      json all = json::array();
      for (const BatchCase& cs : bcases) {
        json j = {{"model", name},
                  {"file_bytes", model.file_bytes()},
                  {"threads", engine->threads()},
                  {"numa", numas[0]},
                  {"kv_type", kv_name},
                  {"prune", cs.prune},
                  {"batch", cs.batch},
                  {"n_prompt", cs.prompt},
                  {"n_gen", cs.gen},
                  {"repetitions", reps}};
        auto add = [&](const char* key, const std::vector<double>& v) {
          if (v.empty()) return;
          const Summary sm = Summarize(v);
          j[key] = {{"mean", sm.mean}, {"stddev", sm.stddev}, {"samples", v}};
        };
        add("prefill_tokens_per_s", cs.prefill_tps);
        add("decode_tokens_per_s", cs.decode_tps);
        add("total_tokens_per_s", cs.total_tps);
        add("kv_bytes", cs.kv_bytes);
        add("prompt_tokens_computed_pct", cs.computed_pct);
        AddEnv(j);
        all.push_back(j);
      }
      std::cout << Dump(all) << "\n";
      return 0;
    }
    if (format == "csv") {
      std::printf(
          "model,threads,kv_type,prune,batch,n_prompt,n_gen,prefill_tps_mean,prefill_tps_sd,decode_tps_mean,"
          "decode_tps_sd,total_tps_mean,total_tps_sd,kv_bytes_mean,computed_pct_mean%s\n",
          CsvEnvHeader().c_str());
      for (const BatchCase& cs : bcases) {
        const Summary pf = Summarize(cs.prefill_tps), dc = Summarize(cs.decode_tps), tt = Summarize(cs.total_tps);
        std::printf("\"%s\",%d,%s,\"%s\",%lld,%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.0f,%.2f%s\n", name.c_str(),
                    engine->threads(), kv_name, cs.prune.c_str(), static_cast<long long>(cs.batch),
                    static_cast<long long>(cs.prompt), static_cast<long long>(cs.gen), pf.mean, pf.stddev, dc.mean,
                    dc.stddev, tt.mean, tt.stddev, Summarize(cs.kv_bytes).mean, Summarize(cs.computed_pct).mean,
                    CsvEnvRow().c_str());
      }
      return 0;
    }
    std::printf("%s\n\n", EnvLine().c_str());
    std::printf(
        "| model | threads | kv | prune | B | prompt | gen | prefill t/s | decode t/s | total t/s | KV MiB | prompt "
        "computed %% |\n");
    std::printf("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const BatchCase& cs : bcases) {
      std::printf("| %s | %d | %s | %s | %lld | %lld | %lld | %s | %s | %s | %.2f | %.1f |\n", name.c_str(),
                  engine->threads(), kv_name, cs.prune.c_str(), static_cast<long long>(cs.batch),
                  static_cast<long long>(cs.prompt), static_cast<long long>(cs.gen),
                  PlusMinus(Summarize(cs.prefill_tps), 1).c_str(),
                  cs.decode_tps.empty() ? "-" : PlusMinus(Summarize(cs.decode_tps), 1).c_str(),
                  PlusMinus(Summarize(cs.total_tps), 1).c_str(), Summarize(cs.kv_bytes).mean / 1048576.0,
                  Summarize(cs.computed_pct).mean);
    }
    return 0;
  }
  if (flags.Has("--kv-type")) throw CliError{"--kv-type is a flag of --batch"};

  // One session per (threads, numa, prune), each engine warmed up for the longest prompt; then
  // every repetition runs every case once (rep 0 an untimed warm-up), so that drift over the run
  // hits all cases alike.
  struct Runner {
    int64_t threads;
    std::string numa, prune;
    Session session;
  };
  std::vector<Runner> runners;
  std::vector<Case> cases;
  std::vector<size_t> runner_of;  // per case
  for (int64_t t : threads) {
    for (const auto& numa : numas) {
      for (const auto& pr : prunings) {
        SessionOptions so;
        so.threads = static_cast<int>(t);
        so.numa = numa == "on";
        so.max_context = max_prompt + max_gen;
        so.pruning = pr;
        so.int8_activations = flags.Has("--int8-act");
        auto session = Session::Create(model, so);
        if (!session.ok()) throw CliError{session.status().message()};
        if (Status st = session->Warmup(max_prompt); !st.ok()) throw CliError{st.message()};
        for (int64_t p : prompts) {
          for (int64_t g : gens) {
            cases.push_back({p, g, static_cast<int>(t), session->threads(), numa, pr.ToString(), {}, {}, {}, {}});
            runner_of.push_back(runners.size());
          }
        }
        runners.push_back({t, numa, pr.ToString(), std::move(session).value()});
      }
    }
  }
  WarnIfBlasBelowCpu("bench");
  for (int rep = 0; rep <= reps; ++rep) {
    for (size_t i = 0; i < cases.size(); ++i) {
      Case& cs = cases[i];
      Session& session = runners[runner_of[i]].session;
      std::fprintf(stderr, "\rbench: %s %d/%d case %zu/%zu  p=%lld n=%lld t=%d numa=%s prune=%s      ",
                   rep == 0 ? "warm-up" : "rep", rep, reps, i + 1, cases.size(), static_cast<long long>(cs.prompt),
                   static_cast<long long>(cs.gen), cs.threads, cs.numa.c_str(), cs.prune.c_str());
      GenerationOptions gen;
      gen.max_new_tokens = static_cast<int>(cs.gen);
      gen.sampling.temperature = 0;
      gen.stop_at_eos = false;
      auto r = Generate(session, prompt_of(cs.prompt), gen);
      if (!r.ok()) throw CliError{r.status().message()};
      if (rep == 0) continue;
      cs.prefill_tps.push_back(r->stats.prefill_tokens_per_s);
      cs.ttft_ms.push_back(r->stats.ttft_ms);
      if (cs.gen > 0) cs.decode_tps.push_back(r->stats.decode_tokens_per_s);
      cs.computed_pct.push_back(r->stats.pruning.prompt_tokens_computed_pct);
    }
  }
  std::fprintf(stderr, "\n");

  const std::string model_name = c.name.empty() ? *flags.Get("-m") : c.name;
  const double size_gib = static_cast<double>(model.file_bytes()) / (1024.0 * 1024.0 * 1024.0);
  if (format == "json") {
    json all = json::array();
    for (const Case& cs : cases) {
      json j = {{"model", model_name},   {"file_bytes", model.file_bytes()},
                {"threads", cs.threads}, {"numa", cs.numa},
                {"prune", cs.prune},     {"n_prompt", cs.prompt},
                {"n_gen", cs.gen},       {"repetitions", reps}};
      auto add = [&](const char* name, const std::vector<double>& v) {
        if (v.empty()) return;
        const Summary s = Summarize(v);
        j[name] = {{"mean", s.mean}, {"stddev", s.stddev}, {"samples", v}};
      };
      add("prefill_tokens_per_s", cs.prefill_tps);
      add("ttft_ms", cs.ttft_ms);
      add("decode_tokens_per_s", cs.decode_tps);
      add("prompt_tokens_computed_pct", cs.computed_pct);
      AddEnv(j);
      all.push_back(j);
    }
    std::cout << Dump(all) << "\n";
    return 0;
  }
  if (format == "csv") {
    std::printf(
        "model,file_bytes,threads,numa,prune,n_prompt,n_gen,prefill_tps_mean,prefill_tps_sd,ttft_ms_mean,"
        "ttft_ms_sd,decode_tps_mean,decode_tps_sd,computed_pct_mean%s\n",
        CsvEnvHeader().c_str());
    for (const Case& cs : cases) {
      const Summary pf = Summarize(cs.prefill_tps), tt = Summarize(cs.ttft_ms), dc = Summarize(cs.decode_tps),
                    pc = Summarize(cs.computed_pct);
      std::printf("\"%s\",%lld,%d,%s,\"%s\",%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.2f%s\n", model_name.c_str(),
                  static_cast<long long>(model.file_bytes()), cs.threads, cs.numa.c_str(), cs.prune.c_str(),
                  static_cast<long long>(cs.prompt), static_cast<long long>(cs.gen), pf.mean, pf.stddev, tt.mean,
                  tt.stddev, dc.mean, dc.stddev, pc.mean, CsvEnvRow().c_str());
    }
    return 0;
  }
  std::printf("%s\n\n", EnvLine().c_str());
  std::printf(
      "| model | size | threads | numa | prune | prompt | gen | prefill t/s | TTFT ms | decode t/s | prompt computed "
      "%% |\n");
  std::printf("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Case& cs : cases) {
    std::printf("| %s | %.2f GiB | %d | %s | %s | %lld | %lld | %s | %s | %s | %.1f |\n", model_name.c_str(), size_gib,
                cs.threads, cs.numa.c_str(), cs.prune.c_str(), static_cast<long long>(cs.prompt),
                static_cast<long long>(cs.gen), PlusMinus(Summarize(cs.prefill_tps), 1).c_str(),
                PlusMinus(Summarize(cs.ttft_ms), 1).c_str(),
                cs.decode_tps.empty() ? "-" : PlusMinus(Summarize(cs.decode_tps), 2).c_str(),
                Summarize(cs.computed_pct).mean);
  }
  return 0;
}

}  // namespace lazyllm::cli
