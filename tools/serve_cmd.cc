// `lazyllm serve`: an OpenAI-compatible HTTP server over one engine and its scheduler. It listens
// first (/health says "loading"), loads the model, then serves until SIGINT or SIGTERM, when it
// drains: new work gets 503 while running requests finish (within --grace), then it exits 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tools/cli.h"
#include "tools/server/server.h"

namespace lazyllm::cli {

int Serve(int argc, char** argv) {
  const CommandSpec spec = {
      .name = "serve",
      .summary = "An OpenAI-compatible HTTP server (completions, chat, streaming) with continuous batching.",
      .shared = {"-m", "-t", "-c", "--prune", "--revive-budget", "--numa", "--exact", "--kv-type", "--chat-template"},
      .own = {{"--host", "ADDR", "address to listen on (default 127.0.0.1; anything else exposes the server)"},
              {"--port", "N", "TCP port (default 8080; 0: any free port, printed)"},
              {"--parallel", "N", "requests generating at once (default 8)"},
              {"--queue", "N", "requests waiting for a slot at most; more get 503 (default 64)"},
              {"--step-budget", "N",
               "rows x layers of work a step gives one prefill: a longer prompt is prefilled in parts (between layers "
               "or inside one, in 256-row ranges) between the other requests' decode steps, computing the same "
               "(default 512; 0: never cut)"},
              {"--kv-mem", "BYTES", "KV cache pool of all requests together (e.g. 2GiB; default: no limit)"},
              {"--timeout", "S",
               "seconds a request may run; then it ends with finish_reason timeout (default 0: none)"},
              {"--api-key", "KEY", "require 'Authorization: Bearer KEY' (default: $LAZYLLM_API_KEY, else none)"},
              {"--alias", "NAME", "the model name clients use (default: the file name without .gguf)"},
              {"--grace", "S", "on SIGINT/SIGTERM, seconds running requests get to finish (default 30)"},
              {"--max-body", "BYTES", "largest request body; larger gets 413 (default 8MiB)"}},
      .notes = R"(Endpoints: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health,
POST /tokenize, POST /detokenize, GET /metrics (Prometheus). A request may carry "prune" (a
schedule, default --prune's, which is off); responses carry a "lazyllm" object with TTFT, queue
time and what pruning computed.)"};
  Flags flags(spec, argc, argv);
  server::ServerOptions so;
  so.host = flags.Get("--host").value_or("127.0.0.1");
  so.port = flags.Number<int>("--port", 8080, 0, 65535);
  so.timeout_s = flags.Number<double>("--timeout", 0, 0, 1e9);
  so.max_body_bytes = static_cast<size_t>(ParseBytes("--max-body", flags.Get("--max-body").value_or("8MiB")));
  if (so.max_body_bytes == 0) throw CliError{"flag '--max-body': must be more than 0 bytes"};
  if (auto key = flags.Get("--api-key"))
    so.api_key = *key;
  else if (const char* env = std::getenv("LAZYLLM_API_KEY"))
    so.api_key = env;
  const int parallel = flags.Number<int>("--parallel", 8, 1, 4096);
  const int queue = flags.Number<int>("--queue", 64, 1, 1 << 20);
  const int64_t step_budget =
      flags.Number<int64_t>("--step-budget", SchedulerOptions::kDefaultStepBudget, 0, int64_t{1} << 40);
  so.http_threads = parallel + queue + 8;
  const double grace = flags.Number<double>("--grace", 30, 0, 1e6);
  const std::string prune = flags.Get("--prune").value_or("off");
  EngineOptions eo;
  eo.threads = flags.Number<int>("-t", 0, 0, 4096);
  eo.numa = ParseOnOff(flags, "--numa", true);
  eo.kv_type = ParseKvType(flags);
  eo.kv_mem_bytes = flags.Has("--kv-mem") ? ParseBytes("--kv-mem", *flags.Get("--kv-mem")) : 0;
  const int64_t ctx_flag = flags.Number<int64_t>("-c", 0, 0, int64_t{1} << 22);

  // SIGINT and SIGTERM wait for sigwait below, in no other thread; a client that hangs up must
  // not kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  server::Server http(so);
  auto port = http.Start();
  if (!port.ok()) throw CliError{port.status().message()};
  std::fprintf(stderr, "lazyllm serve: listening on http://%s:%d (loading the model)\n", so.host.c_str(), *port);

  Model model = LoadModel(flags, /*vocab_only=*/false);
  WarnIfBeyondTrainedContext(model, ctx_flag, "serve");
  auto engine = Engine::Create(model, eo);
  if (!engine.ok()) throw CliError{engine.status().message()};
  server::ServedModel served;
  served.model = &model;
  served.exact_activations = flags.Has("--exact");
  served.id = flags.Get("--alias").value_or(std::filesystem::path(*flags.Get("-m")).stem().string());
  served.context =
      ctx_flag > 0 ? ctx_flag : std::min<int64_t>(model.config().context_length, SequenceOptions::kDefaultMaxContext);
  if (auto name = flags.Get("--chat-template")) {
    auto t = ChatTemplateByName(*name);
    if (!t.ok()) throw CliError{t.status().message()};
    served.chat_template = *t;
  } else if (const ChatTemplate t = DetectChatTemplate(model.chat_template()); t != ChatTemplate::kUnknown) {
    served.chat_template = t;
  }
  auto pruning = PruningOptions::Parse(prune, model.config().num_layers, 0);
  if (!pruning.ok()) throw CliError{"flag '--prune': " + pruning.status().message()};
  ApplyReviveBudget(flags, &*pruning);
  served.default_prune = pruning->ToString();
  if (Status st = engine->Warmup(std::min<int64_t>(served.context, 256)); !st.ok()) throw CliError{st.message()};
  Scheduler scheduler(*engine, {.max_batch = parallel, .max_queue = queue, .step_budget = step_budget});
  http.SetReady(served, scheduler);
  std::fprintf(stderr, "lazyllm serve: ready: %s, context %lld, --parallel %d, --prune %s, chat template %s\n",
               served.id.c_str(), static_cast<long long>(served.context), parallel, served.default_prune.c_str(),
               served.chat_template ? std::string(ChatTemplateName(*served.chat_template)).c_str() : "none");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "lazyllm serve: %s: draining (%g s grace)\n", sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
  http.Drain(grace);
  std::fprintf(stderr, "lazyllm serve: stopped\n");
  return 0;
}

}  // namespace lazyllm::cli
