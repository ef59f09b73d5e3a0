/* The lazyllm C API: for bindings and programs in C. No C++ types or exceptions cross it.
 *
 * Handles are opaque: a model (immutable, shareable across threads), an engine (worker threads
 * and placed weights, shareable), and a session (one sequence of tokens on an engine, with its
 * KV cache and pruning schedule; one thread at a time). Every fallible call returns a
 * lazyllm_status; on failure lazyllm_last_error() gives the message (naming the file, field or
 * value), valid on the calling thread until its next lazyllm call. docs/c-api.md has a guide. */
#ifndef LAZYLLM_LAZYLLM_C_H_
#define LAZYLLM_LAZYLLM_C_H_

#include <stddef.h>
#include <stdint.h>

#include "lazyllm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LAZYLLM_C_API_VERSION 1

typedef enum lazyllm_status {
  LAZYLLM_OK = 0,
  LAZYLLM_INVALID_ARGUMENT = 1,   /* a bad option, flag or input value (or a NULL handle) */
  LAZYLLM_NOT_FOUND = 2,          /* a missing file, key or tensor */
  LAZYLLM_DATA_LOSS = 3,          /* a malformed or truncated file */
  LAZYLLM_UNIMPLEMENTED = 4,      /* valid but unsupported (a GGUF version, a dtype, an architecture) */
  LAZYLLM_OUT_OF_RANGE = 5,       /* e.g. a prompt longer than the context */
  LAZYLLM_INTERNAL = 6,           /* an internal invariant failed */
  LAZYLLM_RESOURCE_EXHAUSTED = 7, /* a memory limit, or out of memory */
  LAZYLLM_CANCELLED = 8           /* a callback asked to stop */
} lazyllm_status;

typedef struct lazyllm_model lazyllm_model;
typedef struct lazyllm_engine lazyllm_engine;
typedef struct lazyllm_session lazyllm_session;

/* "0.1.0". */
LAZYLLM_API const char* lazyllm_version(void);
/* The message of the last failed call on this thread, "" when the last call succeeded. */
LAZYLLM_API const char* lazyllm_last_error(void);
/* "OK", "INVALID_ARGUMENT", ... */
LAZYLLM_API const char* lazyllm_status_name(lazyllm_status status);

/* ---- Models ---- */

/* Maps and validates a GGUF file (for a split model, its first part). vocab_only: read only
 * the metadata and the tokenizer. */
LAZYLLM_API lazyllm_status lazyllm_model_load(const char* path, int vocab_only, lazyllm_model** out);
LAZYLLM_API void lazyllm_model_free(lazyllm_model* model); /* NULL is fine */

LAZYLLM_API int64_t lazyllm_model_n_layers(const lazyllm_model* model);
LAZYLLM_API int64_t lazyllm_model_n_vocab(const lazyllm_model* model);
LAZYLLM_API int64_t lazyllm_model_n_ctx_train(const lazyllm_model* model);
/* general.architecture ("llama", "qwen2", ...); valid while the model lives. */
LAZYLLM_API const char* lazyllm_model_architecture(const lazyllm_model* model);
LAZYLLM_API int32_t lazyllm_token_bos(const lazyllm_model* model); /* -1: none */
LAZYLLM_API int32_t lazyllm_token_eos(const lazyllm_model* model); /* -1: none */
/* Whether generation stops at this token (EOS, end-of-turn marks). */
LAZYLLM_API int lazyllm_token_is_eog(const lazyllm_model* model, int32_t token);

/* Token ids of `text_len` bytes of UTF-8 `text`: writes up to `capacity` ids to `ids` and
 * returns how many the text has (more than capacity: call again with a larger buffer); -1 on
 * error (among them a text with a byte the vocabulary has no token for, and no unknown token). add_special: BOS (and
 * EOS) as the vocabulary asks; parse_special: control-token strings such as "<|im_start|>" become their tokens. */
LAZYLLM_API int64_t lazyllm_tokenize(const lazyllm_model* model, const char* text, size_t text_len, int add_special,
                                     int parse_special, int32_t* ids, int64_t capacity);
/* The text of `n` ids (as the C++ Tokenizer::Decode): writes up to `capacity` bytes and a
 * terminating NUL when there is room, and returns the text's length in bytes (without the NUL;
 * capacity <= length: call again with length + 1); -1 on error. */
LAZYLLM_API int64_t lazyllm_detokenize(const lazyllm_model* model, const int32_t* ids, int64_t n, char* text,
                                       int64_t capacity);

/* ---- Engines and sessions ---- */

typedef struct lazyllm_engine_options {
  int32_t threads;         /* 0: one per core */
  int32_t numa;            /* NUMA placement (default 1) */
  int32_t kv_f16;          /* K/V cache in f16 instead of f32 (default 0) */
  int64_t mem_limit_bytes; /* what one sequence may need; 0: physical memory */
} lazyllm_engine_options;

typedef struct lazyllm_session_options {
  int64_t max_context; /* tokens; 0: the model's trained context, capped at 4096 */
  /* LazyLLM token pruning: "off", "paper", "LAYER:FRACTION,...", "static:L:F", "random:F"
   * (see `lazyllm run --help`); NULL means "off". A LazyLLM schedule takes a revival bound as a
   * last item, e.g. "paper,revive:2" (at most 2 revivals per pruning layer per decode step). */
  const char* prune;
  uint64_t prune_seed;       /* seed of random pruning */
  int32_t exact_activations; /* quantized weights with fp32 activations, exactly dequantized
                              * (default 0: 8-bit activations, as llama.cpp) */
} lazyllm_session_options;

LAZYLLM_API lazyllm_engine_options lazyllm_engine_default_options(void);
LAZYLLM_API lazyllm_session_options lazyllm_session_default_options(void);

LAZYLLM_API lazyllm_status lazyllm_engine_create(const lazyllm_model* model, const lazyllm_engine_options* options,
                                                 lazyllm_engine** out);
LAZYLLM_API void lazyllm_engine_free(lazyllm_engine* engine); /* sessions on it keep it alive */
/* Pays a process's one-time costs (workers, paging in weights, BLAS buffers) before timing:
 * a throwaway prefill of `tokens` tokens (0: 64). */
LAZYLLM_API lazyllm_status lazyllm_engine_warmup(lazyllm_engine* engine, int64_t tokens);

/* Where the engine's steps spent their time (EngineOptions::profile in C++, `--profile` in the
 * CLI). set_profiling turns the stage timers on or off for the steps that follow (off when the
 * engine is created); reset_profile clears what they gathered. Decode steps (every sequence of
 * the step appends one token) and the others (prefills) are kept apart: `decode` picks one. */
typedef struct lazyllm_profile_phase {
  int64_t steps;
  int64_t rows;   /* tokens the steps took in */
  double seconds; /* the steps' wall time */
} lazyllm_profile_phase;
typedef struct lazyllm_profile_stage {
  const char* name; /* "embed", "select", "norms", "qkv", "rope_kv", "attention", "output", "ffn", "lm_head" */
  double seconds;   /* on the stepping thread, waiting for the slowest worker included */
  int64_t calls;
  int64_t weight_bytes; /* read by its matmuls (0 without weights, and for mixtures of experts) */
} lazyllm_profile_stage;
LAZYLLM_API lazyllm_status lazyllm_engine_set_profiling(lazyllm_engine* engine, int on);
LAZYLLM_API lazyllm_status lazyllm_engine_reset_profile(lazyllm_engine* engine);
LAZYLLM_API lazyllm_status lazyllm_engine_profile_phase(const lazyllm_engine* engine, int decode,
                                                        lazyllm_profile_phase* out);
/* Stage `stage` (0, 1, ...; LAZYLLM_OUT_OF_RANGE past the last) of a phase. */
LAZYLLM_API lazyllm_status lazyllm_engine_profile_stage(const lazyllm_engine* engine, int decode, int stage,
                                                        lazyllm_profile_stage* out);

/* A session: one sequence on the engine. Sessions of one engine take turns in its steps. */
LAZYLLM_API lazyllm_status lazyllm_session_create(lazyllm_engine* engine, const lazyllm_session_options* options,
                                                  lazyllm_session** out);
LAZYLLM_API void lazyllm_session_free(lazyllm_session* session);

/* Clears the context and runs `n` tokens (a prefill); or runs them after the context (append,
 * e.g. one decode step). */
LAZYLLM_API lazyllm_status lazyllm_session_prefill(lazyllm_session* session, const int32_t* tokens, int64_t n);
LAZYLLM_API lazyllm_status lazyllm_session_append(lazyllm_session* session, const int32_t* tokens, int64_t n);
/* The logits of the last position run (n_vocab floats), valid until the session's next call. */
LAZYLLM_API const float* lazyllm_session_logits(const lazyllm_session* session);
LAZYLLM_API int64_t lazyllm_session_position(const lazyllm_session* session);

/* ---- Generation ---- */

typedef struct lazyllm_generate_options {
  int32_t max_new_tokens; /* default 64; 0 stops after the prefill */
  float temperature;      /* default 0.8; 0 is greedy */
  int32_t top_k;          /* default 40; 0: no limit */
  float top_p;            /* default 0.95 */
  uint64_t seed;          /* default 4294967295 */
  int32_t stop_at_eos;    /* default 1 */
  /* Each generated token as it is chosen, with the text it completes (whole UTF-8 characters;
   * may be empty, is not NUL-terminated); return 0 to stop. The pieces add up to
   * lazyllm_detokenize of the generated ids: bytes of a character the stream ends inside come in
   * one last call with token -1. May be NULL. */
  int (*on_token)(int32_t token, const char* text, size_t text_len, void* user_data);
  /* After each layer of the prompt's pass; return 0 to cancel (lazyllm_generate then returns
   * LAZYLLM_CANCELLED). May be NULL. */
  int (*on_prefill_layer)(int64_t layers_done, int64_t num_layers, void* user_data);
  void* user_data;
} lazyllm_generate_options;

typedef struct lazyllm_stats {
  int64_t prompt_tokens, generated_tokens;
  double ttft_ms, prefill_tokens_per_s, decode_tokens_per_s;
  /* % of prompt (token, layer) pairs computed after the prefill and at the end. */
  double prompt_computed_pct_prefill, prompt_computed_pct_final;
  int64_t revived_tokens; /* Aux Cache revivals (one per token and layer) */
  int64_t kv_bytes;       /* KV bytes the session holds at the end */
} lazyllm_stats;

LAZYLLM_API lazyllm_generate_options lazyllm_generate_default_options(void);

/* Prefills `prompt` and samples up to max_new_tokens. Writes up to `capacity` generated ids to
 * `tokens` (NULL with capacity 0 is fine), their number to *n_generated and, when `stats` is
 * not NULL, the run's statistics. */
LAZYLLM_API lazyllm_status lazyllm_generate(lazyllm_session* session, const int32_t* prompt, int64_t n_prompt,
                                            const lazyllm_generate_options* options, int32_t* tokens, int64_t capacity,
                                            int64_t* n_generated, lazyllm_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* LAZYLLM_LAZYLLM_C_H_ */
