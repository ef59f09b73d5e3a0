/* The C API from a C program, against the shared library: the sample model's golden tokens and
 * continuation (from its provenance note), streaming, pruning statistics, cancellation, and
 * errors for bad input and NULL handles. Exits 0 when every check holds; prints each failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lazyllm/lazyllm_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_OK(expr)                                                                                    \
  do {                                                                                                    \
    lazyllm_status st_ = (expr);                                                                          \
    if (st_ != LAZYLLM_OK) {                                                                              \
      fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, lazyllm_status_name(st_), \
              lazyllm_last_error());                                                                      \
      ++failures;                                                                                         \
    }                                                                                                     \
  } while (0)

/* Streaming: the pieces, concatenated. */
struct Stream {
  char text[4096];
  size_t len;
  int calls;
};

static int OnToken(int32_t token, const char* text, size_t len, void* user) {
  struct Stream* s = (struct Stream*)user;
  (void)token;
  if (s->len + len < sizeof s->text) {
    memcpy(s->text + s->len, text, len);
    s->len += len;
  }
  ++s->calls;
  return 1;
}

static int CancelAfterTwoLayers(int64_t done, int64_t of, void* user) {
  (void)of;
  *(int64_t*)user = done;
  return done < 2;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_api_test MODEL.gguf\n");
    return 2;
  }
  CHECK(strcmp(lazyllm_status_name(LAZYLLM_NOT_FOUND), "NOT_FOUND") == 0);
  CHECK(strlen(lazyllm_version()) > 0);

  /* A missing file: an error naming it, no handle. */
  lazyllm_model* model = (lazyllm_model*)1;
  CHECK(lazyllm_model_load("/nonexistent/dir/m.gguf", 0, &model) == LAZYLLM_NOT_FOUND);
  CHECK(model == NULL);
  CHECK(strstr(lazyllm_last_error(), "/nonexistent/dir/m.gguf") != NULL);
  CHECK(lazyllm_model_load(NULL, 0, &model) == LAZYLLM_INVALID_ARGUMENT);

  CHECK_OK(lazyllm_model_load(argv[1], 0, &model));
  if (model == NULL) return 1;
  CHECK(strcmp(lazyllm_last_error(), "") == 0);
  CHECK(lazyllm_model_n_layers(model) == 5);
  CHECK(lazyllm_model_n_vocab(model) == 512);
  CHECK(strcmp(lazyllm_model_architecture(model), "llama") == 0);
  CHECK(lazyllm_token_bos(model) == 1);
  CHECK(lazyllm_token_is_eog(model, lazyllm_token_eos(model)));

  /* Tokens of the provenance note's prompt; a short buffer reports the size it needs. */
  const char* text = "Once upon a time";
  int32_t ids[64];
  const int32_t want[] = {1, 403, 407, 261, 378};
  CHECK(lazyllm_tokenize(model, text, strlen(text), 1, 0, ids, 2) == 5);
  CHECK(ids[0] == 1 && ids[1] == 403);
  const int64_t n = lazyllm_tokenize(model, text, strlen(text), 1, 0, ids, 64);
  CHECK(n == 5);
  CHECK(memcmp(ids, want, sizeof want) == 0);
  char back[64];
  CHECK(lazyllm_detokenize(model, ids, n, back, sizeof back) == (int64_t)strlen(text));
  CHECK(strcmp(back, text) == 0);
  CHECK(lazyllm_detokenize(model, ids, n, back, 4) == (int64_t)strlen(text)); /* too small: length */

  lazyllm_engine* engine = NULL;
  lazyllm_engine_options eo = lazyllm_engine_default_options();
  eo.threads = 2;
  CHECK_OK(lazyllm_engine_create(model, &eo, &engine));
  CHECK_OK(lazyllm_engine_warmup(engine, 32));

  /* Greedy generation: the provenance note's continuation, streamed in pieces that add up to
   * the detokenized ids. */
  lazyllm_session* base = NULL;
  lazyllm_session_options so = lazyllm_session_default_options();
  CHECK_OK(lazyllm_session_create(engine, &so, &base));
  struct Stream stream = {{0}, 0, 0};
  lazyllm_generate_options go = lazyllm_generate_default_options();
  go.max_new_tokens = 20;
  go.temperature = 0;
  go.on_token = OnToken;
  go.user_data = &stream;
  int32_t out[32];
  int64_t n_out = 0;
  lazyllm_stats stats;
  CHECK_OK(lazyllm_generate(base, ids, n, &go, out, 32, &n_out, &stats));
  CHECK(n_out == 20);
  CHECK(stream.calls >= 20);
  char generated[4096];
  const int64_t glen = lazyllm_detokenize(model, out, n_out, generated, sizeof generated);
  CHECK(glen > 0 && (size_t)glen == stream.len && memcmp(generated, stream.text, stream.len) == 0);
  const char* golden = ", there was a little girl named Lily";
  CHECK(strncmp(generated, golden, strlen(golden)) == 0);
  CHECK(stats.prompt_tokens == 5 && stats.generated_tokens == 20);
  CHECK(stats.ttft_ms > 0 && stats.prompt_computed_pct_final == 100.0);
  CHECK(stats.kv_bytes > 0);

  /* The same through the step interface: prefill, then the logits' argmax is the first token;
   * these two steps profiled (the timers are off until asked for). */
  lazyllm_profile_phase phase;
  CHECK_OK(lazyllm_engine_profile_phase(engine, 1, &phase));
  CHECK(phase.steps == 0 && phase.seconds == 0);
  CHECK_OK(lazyllm_engine_set_profiling(engine, 1));
  CHECK_OK(lazyllm_session_prefill(base, ids, n));
  CHECK(lazyllm_session_position(base) == 5);
  const float* logits = lazyllm_session_logits(base);
  int32_t best = 0;
  for (int32_t i = 1; i < 512; ++i)
    if (logits[i] > logits[best]) best = i;
  CHECK(best == out[0]);
  CHECK_OK(lazyllm_session_append(base, &best, 1));
  CHECK(lazyllm_session_position(base) == 6);
  CHECK_OK(lazyllm_engine_set_profiling(engine, 0));
  CHECK_OK(lazyllm_engine_profile_phase(engine, 0, &phase));
  CHECK(phase.steps == 1 && phase.rows == 5 && phase.seconds > 0);
  CHECK_OK(lazyllm_engine_profile_phase(engine, 1, &phase));
  CHECK(phase.steps == 1 && phase.rows == 1 && phase.seconds > 0);
  const int64_t layers = lazyllm_model_n_layers(model);
  int stages = 0;
  lazyllm_profile_stage stage;
  for (; lazyllm_engine_profile_stage(engine, 1, stages, &stage) == LAZYLLM_OK; ++stages) {
    CHECK(stage.seconds >= 0 && stage.seconds <= phase.seconds);
    if (strcmp(stage.name, "attention") == 0) CHECK(stage.calls == layers && stage.weight_bytes == 0);
    if (strcmp(stage.name, "lm_head") == 0) CHECK(stage.calls == 1 && stage.weight_bytes > 0);
  }
  CHECK(stages == 9);
  CHECK(lazyllm_engine_profile_stage(engine, 1, -1, &stage) == LAZYLLM_OUT_OF_RANGE);
  CHECK(lazyllm_engine_profile_stage(engine, 1, 0, NULL) == LAZYLLM_INVALID_ARGUMENT);
  CHECK_OK(lazyllm_engine_reset_profile(engine));
  CHECK_OK(lazyllm_engine_profile_phase(engine, 1, &phase));
  CHECK(phase.steps == 0 && phase.rows == 0);
  CHECK(lazyllm_engine_set_profiling(NULL, 1) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(lazyllm_engine_profile_phase(NULL, 1, &phase) == LAZYLLM_INVALID_ARGUMENT);

  /* LazyLLM's paper schedule on a longer prompt: fewer prompt pairs computed in the prefill. */
  lazyllm_session* lazy = NULL;
  so.prune = "paper";
  CHECK_OK(lazyllm_session_create(engine, &so, &lazy));
  const char* story =
      "Once upon a time there was a little dog. The dog liked to run in the park with his friend, a cat.";
  int32_t long_ids[128];
  const int64_t nl = lazyllm_tokenize(model, story, strlen(story), 1, 0, long_ids, 128);
  CHECK(nl > 20 && nl <= 128);
  go.on_token = NULL;
  go.max_new_tokens = 4;
  CHECK_OK(lazyllm_generate(lazy, long_ids, nl, &go, out, 32, &n_out, &stats));
  CHECK(stats.prompt_computed_pct_prefill < 100.0);

  /* Cancellation between layers. */
  int64_t layers_seen = 0;
  go.on_prefill_layer = CancelAfterTwoLayers;
  go.user_data = &layers_seen;
  CHECK(lazyllm_generate(lazy, long_ids, nl, &go, out, 32, &n_out, NULL) == LAZYLLM_CANCELLED);
  CHECK(layers_seen == 2);
  CHECK(strstr(lazyllm_last_error(), "cancelled") != NULL);
  CHECK(lazyllm_session_position(lazy) == 0);

  /* Bad input: a clear error, never a crash. */
  lazyllm_session* bad = NULL;
  so.prune = "9:0.5";
  CHECK(lazyllm_session_create(engine, &so, &bad) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  CHECK(strstr(lazyllm_last_error(), "layer 9") != NULL);
  const int32_t bad_token = 512;
  CHECK(lazyllm_session_prefill(base, &bad_token, 1) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(strstr(lazyllm_last_error(), "token id 512") != NULL);
  CHECK(lazyllm_session_prefill(NULL, ids, n) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(lazyllm_generate(base, NULL, 3, &go, NULL, 0, NULL, NULL) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(lazyllm_tokenize(NULL, text, 4, 1, 0, ids, 64) == -1);
  lazyllm_engine* no_engine = NULL;
  CHECK(lazyllm_engine_create(NULL, NULL, &no_engine) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(no_engine == NULL);
  go.top_p = 2.0f;
  go.on_prefill_layer = NULL;
  CHECK(lazyllm_generate(base, ids, n, &go, NULL, 0, NULL, NULL) == LAZYLLM_INVALID_ARGUMENT);
  CHECK(strstr(lazyllm_last_error(), "top_p") != NULL);

  lazyllm_session_free(lazy);
  lazyllm_session_free(base);
  lazyllm_engine_free(engine);
  lazyllm_engine_free(NULL);
  lazyllm_model_free(model);
  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
