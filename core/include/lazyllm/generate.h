// The generation loop over a Session, and continuous batching over an Engine.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "lazyllm/engine.h"
#include "lazyllm/sampling.h"
#include "lazyllm/session.h"
#include "lazyllm/status.h"

namespace lazyllm {

// What one generation took and did.
struct Stats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double load_ms = 0;
  double ttft_ms = 0;  // prefill start to the first generated token's logits
  double prefill_ms = 0;
  double decode_ms = 0;
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;  // tokens whose decode step ran, per second
  // What token pruning did, as the sequence reports it at the end (Sequence::pruning_stats()).
  PruningStats pruning;
  // KV bytes the sequence held at the end (pages of the (token, layer) pairs it computed).
  int64_t kv_bytes = 0;
  // GenerateBatch: time from the call to the request's admission into the batch (ttft_ms counts
  // from the call too, so it includes this wait).
  double queue_ms = 0;
};

struct GenerationOptions {
  // Tokens to generate after the prompt; 0 stops after the prefill. Default 64.
  int max_new_tokens = 64;
  SamplingOptions sampling;
  // Stop when the tokenizer's end-of-generation token is sampled (it is kept in the output).
  bool stop_at_eos = true;
  // Called with each generated token as soon as it is chosen; return false to stop early.
  std::function<bool(int32_t)> on_token;
  // Progress of the prefill (the prompt's pass): called after each layer with the layers done
  // and num_layers; return false to cancel the request, which then fails with kCancelled.
  std::function<bool(int64_t layers_done, int64_t num_layers)> on_prefill_layer;
  // When set, receives the prefill's logits for every prompt position (n × vocab_size).
  std::vector<float>* prompt_logits = nullptr;
  // Continue the session: the prompt is appended to its context (Session::Append) instead of
  // replacing it (a later chat turn). Default false; ignored for an empty session.
  bool append = false;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids
  Stats stats;
};

// Prefills `prompt` (resetting the session; with options.append, appends it), then samples up
// to max_new_tokens. The last sampled token is not run (the session holds the prompt and every
// generated token but the last).
LAZYLLM_API StatusOr<GenerationResult> Generate(Session& session, std::span<const int32_t> prompt,
                                                const GenerationOptions& options);

// One request of a batch: its prompt, its generation options (max_new_tokens, sampling,
// stop_at_eos, on_token — return false to cancel it) and its sequence options (context,
// pruning schedule).
struct BatchRequest {
  std::vector<int32_t> prompt;
  GenerationOptions generation;
  SequenceOptions sequence;
};

struct BatchOptions {
  // Sequences in flight at once. Default 32.
  int max_batch = 32;
  // Called as each request finishes (in finishing order), with its index and result.
  std::function<void(size_t, const StatusOr<GenerationResult>&)> on_done;
};

// Runs every request on the engine with continuous batching: each step is one Engine::Step over
// the prefills of newly admitted requests and one decode token of every other request in
// flight. Requests are admitted in order while fewer than max_batch are in flight and the KV
// pool can set aside their prompt and max_new_tokens at every layer (a request waits in the
// queue otherwise, and fails with ResourceExhausted only if it cannot fit even alone). After its
// prefill a request keeps only what its remaining tokens can need, so pruned prompts free room
// for more requests. Results are in input order; a failed request does not affect the others.
// prompt_logits and append in the requests' options are not supported here.
LAZYLLM_API std::vector<StatusOr<GenerationResult>> GenerateBatch(const Engine& engine,
                                                                  std::span<const BatchRequest> requests,
                                                                  const BatchOptions& options = {});

}  // namespace lazyllm
