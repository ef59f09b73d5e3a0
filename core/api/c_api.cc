// The C API (lazyllm/lazyllm_c.h) over the C++ one: handles own C++ objects, every entry point
// turns a Status (or an exception) into a lazyllm_status and a thread-local message.
#include <cstring>
#include <new>
#include <string>

#include "lazyllm/lazyllm.h"
#include "lazyllm/lazyllm_c.h"

struct lazyllm_model {
  lazyllm::Model model;
};
struct lazyllm_engine {
  lazyllm::Engine engine;
};
struct lazyllm_session {
  lazyllm::Session session;
};

namespace {

thread_local std::string last_error;

lazyllm_status Fail(lazyllm::StatusCode code, std::string message) {
  last_error = std::move(message);
  return static_cast<lazyllm_status>(code);
}

lazyllm_status Report(const lazyllm::Status& st) {
  if (st.ok()) {
    last_error.clear();
    return LAZYLLM_OK;
  }
  return Fail(st.code(), st.message());
}

lazyllm_status NullArgument(const char* what) {
  return Fail(lazyllm::StatusCode::kInvalidArgument, std::string(what) + " is NULL");
}

// Runs `body` (returning lazyllm_status) with no exception escaping into C.
template <typename F>
lazyllm_status Guard(F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(lazyllm::StatusCode::kResourceExhausted, "out of memory");
  } catch (const std::exception& e) {
    return Fail(lazyllm::StatusCode::kInternal, e.what());
  } catch (...) {
    return Fail(lazyllm::StatusCode::kInternal, "unknown C++ exception");
  }
}

// lazyllm_session_prefill and _append.
lazyllm_status RunTokens(lazyllm_session* s, const int32_t* tokens, int64_t n, bool append) {
  return Guard([&] {
    if (s == nullptr) return NullArgument("session");
    if (tokens == nullptr && n > 0) return NullArgument("tokens");
    if (n < 0) return Fail(lazyllm::StatusCode::kInvalidArgument, "n is negative");
    const std::span<const int32_t> ids(tokens, static_cast<size_t>(n));
    return Report(append ? s->session.Append(ids) : s->session.Prefill(ids));
  });
}

}  // namespace

extern "C" {

const char* lazyllm_version(void) { return lazyllm::GetSystemInfo().version.c_str(); }
const char* lazyllm_last_error(void) { return last_error.c_str(); }

const char* lazyllm_status_name(lazyllm_status status) {
  // StatusCodeName's views point at string literals, so .data() is NUL-terminated.
  return lazyllm::StatusCodeName(static_cast<lazyllm::StatusCode>(status)).data();
}

lazyllm_status lazyllm_model_load(const char* path, int vocab_only, lazyllm_model** out) {
  return Guard([&] {
    if (out == nullptr) return NullArgument("out");
    *out = nullptr;
    if (path == nullptr) return NullArgument("path");
    auto model = lazyllm::Model::Load(path, {.vocab_only = vocab_only != 0});
    if (!model.ok()) return Report(model.status());
    *out = new lazyllm_model{std::move(model).value()};
    return Report(lazyllm::OkStatus());
  });
}

void lazyllm_model_free(lazyllm_model* model) { delete model; }

int64_t lazyllm_model_n_layers(const lazyllm_model* m) { return m ? m->model.config().num_layers : 0; }
int64_t lazyllm_model_n_vocab(const lazyllm_model* m) { return m ? m->model.config().vocab_size : 0; }
int64_t lazyllm_model_n_ctx_train(const lazyllm_model* m) { return m ? m->model.config().context_length : 0; }
const char* lazyllm_model_architecture(const lazyllm_model* m) {
  return m ? m->model.config().architecture.c_str() : "";
}
int32_t lazyllm_token_bos(const lazyllm_model* m) { return m ? m->model.tokenizer().bos_id() : -1; }
int32_t lazyllm_token_eos(const lazyllm_model* m) { return m ? m->model.tokenizer().eos_id() : -1; }
int lazyllm_token_is_eog(const lazyllm_model* m, int32_t token) {
  return m != nullptr && m->model.tokenizer().IsEndOfGeneration(token) ? 1 : 0;
}

int64_t lazyllm_tokenize(const lazyllm_model* m, const char* text, size_t text_len, int add_special, int parse_special,
                         int32_t* ids, int64_t capacity) {
  int64_t n = -1;
  Guard([&] {
    if (m == nullptr) return NullArgument("model");
    if (text == nullptr && text_len > 0) return NullArgument("text");
    if (ids == nullptr && capacity > 0) return NullArgument("ids");
    const auto out =
        m->model.tokenizer().Encode(std::string_view(text ? text : "", text_len), add_special != 0, parse_special != 0);
    if (!out.ok()) return Report(out.status());
    n = static_cast<int64_t>(out->size());
    if (capacity > 0) std::memcpy(ids, out->data(), static_cast<size_t>(std::min(n, capacity)) * sizeof(int32_t));
    return Report(lazyllm::OkStatus());
  });
  return n;
}

int64_t lazyllm_detokenize(const lazyllm_model* m, const int32_t* ids, int64_t n, char* text, int64_t capacity) {
  int64_t len = -1;
  Guard([&] {
    if (m == nullptr) return NullArgument("model");
    if (ids == nullptr && n > 0) return NullArgument("ids");
    if (text == nullptr && capacity > 0) return NullArgument("text");
    if (n < 0) return Fail(lazyllm::StatusCode::kInvalidArgument, "n is negative");
    const std::string out = m->model.tokenizer().Decode(std::span<const int32_t>(ids, static_cast<size_t>(n)));
    len = static_cast<int64_t>(out.size());
    if (capacity > 0) {
      const auto copy = static_cast<size_t>(std::min(len, capacity));
      std::memcpy(text, out.data(), copy);
      if (len < capacity) text[len] = '\0';
    }
    return Report(lazyllm::OkStatus());
  });
  return len;
}

lazyllm_engine_options lazyllm_engine_default_options(void) {
  const lazyllm::EngineOptions d;
  return {.threads = d.threads, .numa = d.numa ? 1 : 0, .kv_f16 = 0, .mem_limit_bytes = d.mem_limit_bytes};
}

lazyllm_session_options lazyllm_session_default_options(void) {
  return {.max_context = 0, .prune = nullptr, .prune_seed = 0, .exact_activations = 0};
}

lazyllm_status lazyllm_engine_create(const lazyllm_model* m, const lazyllm_engine_options* options,
                                     lazyllm_engine** out) {
  return Guard([&] {
    if (out == nullptr) return NullArgument("out");
    *out = nullptr;
    if (m == nullptr) return NullArgument("model");
    const lazyllm_engine_options o = options ? *options : lazyllm_engine_default_options();
    auto engine =
        lazyllm::Engine::Create(m->model, {.threads = o.threads,
                                           .numa = o.numa != 0,
                                           .kv_type = o.kv_f16 ? lazyllm::KvType::kF16 : lazyllm::KvType::kF32,
                                           .mem_limit_bytes = o.mem_limit_bytes});
    if (!engine.ok()) return Report(engine.status());
    *out = new lazyllm_engine{std::move(engine).value()};
    return Report(lazyllm::OkStatus());
  });
}

void lazyllm_engine_free(lazyllm_engine* engine) { delete engine; }

lazyllm_status lazyllm_engine_warmup(lazyllm_engine* engine, int64_t tokens) {
  return Guard([&] { return engine ? Report(engine->engine.Warmup(tokens)) : NullArgument("engine"); });
}

lazyllm_status lazyllm_engine_set_profiling(lazyllm_engine* engine, int on) {
  return Guard([&] {
    if (engine == nullptr) return NullArgument("engine");
    engine->engine.SetProfiling(on != 0);
    return Report(lazyllm::OkStatus());
  });
}

lazyllm_status lazyllm_engine_reset_profile(lazyllm_engine* engine) {
  return Guard([&] {
    if (engine == nullptr) return NullArgument("engine");
    engine->engine.ResetProfile();
    return Report(lazyllm::OkStatus());
  });
}

lazyllm_status lazyllm_engine_profile_phase(const lazyllm_engine* engine, int decode, lazyllm_profile_phase* out) {
  return Guard([&] {
    if (engine == nullptr) return NullArgument("engine");
    if (out == nullptr) return NullArgument("out");
    const lazyllm::StepProfile p = engine->engine.profile();
    const lazyllm::StepProfile::Phase& phase = decode ? p.decode : p.prefill;
    *out = {.steps = phase.steps, .rows = phase.rows, .seconds = phase.seconds};
    return Report(lazyllm::OkStatus());
  });
}

lazyllm_status lazyllm_engine_profile_stage(const lazyllm_engine* engine, int decode, int stage,
                                            lazyllm_profile_stage* out) {
  return Guard([&] {
    if (engine == nullptr) return NullArgument("engine");
    if (out == nullptr) return NullArgument("out");
    if (stage < 0 || stage >= lazyllm::StepProfile::kStages)
      return Report(lazyllm::OutOfRangeError("profile stage " + std::to_string(stage) + " is out of range 0.." +
                                             std::to_string(lazyllm::StepProfile::kStages - 1)));
    const lazyllm::StepProfile p = engine->engine.profile();
    const auto s = static_cast<lazyllm::StepProfile::Stage>(stage);
    const lazyllm::StepProfile::Totals& t = (decode ? p.decode : p.prefill).stages[s];
    *out = {
        .name = lazyllm::StepProfile::Name(s), .seconds = t.seconds, .calls = t.calls, .weight_bytes = t.weight_bytes};
    return Report(lazyllm::OkStatus());
  });
}

lazyllm_status lazyllm_session_create(lazyllm_engine* engine, const lazyllm_session_options* options,
                                      lazyllm_session** out) {
  return Guard([&] {
    if (out == nullptr) return NullArgument("out");
    *out = nullptr;
    if (engine == nullptr) return NullArgument("engine");
    const lazyllm_session_options o = options ? *options : lazyllm_session_default_options();
    auto pruning = lazyllm::PruningOptions::Parse(o.prune ? o.prune : "off", engine->engine.model().config().num_layers,
                                                  o.prune_seed);
    if (!pruning.ok()) return Report(pruning.status());
    auto session = lazyllm::Session::Create(
        engine->engine,
        {.exact_activations = o.exact_activations != 0, .max_context = o.max_context, .pruning = *pruning});
    if (!session.ok()) return Report(session.status());
    *out = new lazyllm_session{std::move(session).value()};
    return Report(lazyllm::OkStatus());
  });
}

void lazyllm_session_free(lazyllm_session* session) { delete session; }

lazyllm_status lazyllm_session_prefill(lazyllm_session* s, const int32_t* tokens, int64_t n) {
  return RunTokens(s, tokens, n, /*append=*/false);
}

lazyllm_status lazyllm_session_append(lazyllm_session* s, const int32_t* tokens, int64_t n) {
  return RunTokens(s, tokens, n, /*append=*/true);
}

const float* lazyllm_session_logits(const lazyllm_session* s) { return s ? s->session.logits().data() : nullptr; }
int64_t lazyllm_session_position(const lazyllm_session* s) { return s ? s->session.position() : 0; }

lazyllm_generate_options lazyllm_generate_default_options(void) {
  const lazyllm::GenerationOptions d;
  return {.max_new_tokens = d.max_new_tokens,
          .temperature = d.sampling.temperature,
          .top_k = d.sampling.top_k,
          .top_p = d.sampling.top_p,
          .seed = d.sampling.seed,
          .stop_at_eos = d.stop_at_eos ? 1 : 0,
          .on_token = nullptr,
          .on_prefill_layer = nullptr,
          .user_data = nullptr};
}

lazyllm_status lazyllm_generate(lazyllm_session* s, const int32_t* prompt, int64_t n_prompt,
                                const lazyllm_generate_options* options, int32_t* tokens, int64_t capacity,
                                int64_t* n_generated, lazyllm_stats* stats) {
  return Guard([&] {
    if (n_generated != nullptr) *n_generated = 0;
    if (s == nullptr) return NullArgument("session");
    if (prompt == nullptr && n_prompt > 0) return NullArgument("prompt");
    if (tokens == nullptr && capacity > 0) return NullArgument("tokens");
    if (n_prompt < 0) return Fail(lazyllm::StatusCode::kInvalidArgument, "n_prompt is negative");
    const lazyllm_generate_options o = options ? *options : lazyllm_generate_default_options();
    lazyllm::GenerationOptions gen;
    gen.max_new_tokens = o.max_new_tokens;
    gen.sampling = {.temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p, .seed = o.seed};
    gen.stop_at_eos = o.stop_at_eos != 0;
    lazyllm::StreamDecoder stream(s->session.model().tokenizer());
    if (o.on_token != nullptr) {
      gen.on_token = [&](int32_t id) {
        const std::string text = stream.Next(id);
        return o.on_token(id, text.data(), text.size(), o.user_data) != 0;
      };
    }
    if (o.on_prefill_layer != nullptr)
      gen.on_prefill_layer = [&](int64_t done, int64_t of) { return o.on_prefill_layer(done, of, o.user_data) != 0; };
    auto r = lazyllm::Generate(s->session, std::span<const int32_t>(prompt, static_cast<size_t>(n_prompt)), gen);
    if (!r.ok()) return Report(r.status());
    if (o.on_token != nullptr) {
      const std::string rest = stream.Flush();
      if (!rest.empty()) o.on_token(-1, rest.data(), rest.size(), o.user_data);
    }
    const auto n = static_cast<int64_t>(r->tokens.size());
    if (capacity > 0)
      std::memcpy(tokens, r->tokens.data(), static_cast<size_t>(std::min(n, capacity)) * sizeof(int32_t));
    if (n_generated != nullptr) *n_generated = n;
    if (stats != nullptr) {
      const lazyllm::Stats& st = r->stats;
      *stats = {.prompt_tokens = st.prompt_tokens,
                .generated_tokens = st.generated_tokens,
                .ttft_ms = st.ttft_ms,
                .prefill_tokens_per_s = st.prefill_tokens_per_s,
                .decode_tokens_per_s = st.decode_tokens_per_s,
                .prompt_computed_pct_prefill = st.pruning.prompt_tokens_computed_pct_prefill,
                .prompt_computed_pct_final = st.pruning.prompt_tokens_computed_pct,
                .revived_tokens = st.pruning.revived_tokens,
                .kv_bytes = st.kv_bytes};
    }
    return Report(lazyllm::OkStatus());
  });
}

}  // extern "C"
