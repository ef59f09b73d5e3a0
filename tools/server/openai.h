// The OpenAI-compatible request bodies `lazyllm serve` accepts, parsed and checked, and the
// response objects it sends. Parsing never throws: a bad body is an ApiError naming the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lazyllm/lazyllm.h"

namespace lazyllm::server {

using nlohmann::json;

// An error for the client: HTTP status, OpenAI's error type, the offending field (or empty).
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;
  std::string type = "invalid_request_error";
  std::string code;  // e.g. "invalid_api_key"; empty: null
};
// {"error": {"message", "type", "param", "code"}}.
json ErrorBody(const ApiError& e);

// What the server is and its defaults, for parsing.
struct ServedModel {
  std::string id;  // the name clients give as `model` (any value is accepted when empty)
  const Model* model = nullptr;
  int64_t context = 0;                        // tokens a request's prompt and generation share
  std::optional<ChatTemplate> chat_template;  // nullopt: chat requests are refused
  std::string default_prune = "off";
  bool exact_activations = false;  // --exact
};

// A completion or chat request, ready for the scheduler.
struct GenerationRequest {
  bool chat = false;
  std::vector<int32_t> prompt;
  int max_tokens = 0;
  SamplingOptions sampling;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  bool ignore_eos = false;  // an extension (as vLLM's and llama-server's): generate max_tokens
  std::string prune;        // the schedule spec
  PruningOptions pruning;
};

// POST /v1/completions and /v1/chat/completions bodies.
std::variant<GenerationRequest, ApiError> ParseCompletion(const std::string& body, const ServedModel& served);
std::variant<GenerationRequest, ApiError> ParseChat(const std::string& body, const ServedModel& served);

// POST /tokenize {"content", "add_special"?, "with_pieces"?} and /detokenize {"tokens"}: the
// response objects.
std::variant<json, ApiError> Tokenize(const std::string& body, const Tokenizer& tok);
std::variant<json, ApiError> Detokenize(const std::string& body, const Tokenizer& tok);

// Responses. `id` is the request's ("cmpl-..." or "chatcmpl-..."), `created` Unix seconds.
struct ResponseHead {
  std::string id;
  int64_t created = 0;
  std::string model;
  bool chat = false;
};
json Usage(const Completion& c, int64_t prompt_tokens);
// lazyllm's extension object: timings, pruning and KV of the request.
json LazyllmInfo(const Completion& c, const std::string& prune);
std::string FinishReasonText(FinishReason r);  // "stop", "length", "timeout"
json FullResponse(const ResponseHead& h, const Completion& c, int64_t prompt_tokens, const std::string& prune);
// A streamed chunk: text (or for chat a delta with the role when `first`), finish reason when
// the generation ended (then usage and lazyllm when asked).
json Chunk(const ResponseHead& h, const std::string& text, bool first, const std::optional<FinishReason>& finish);
json UsageChunk(const ResponseHead& h, const Completion& c, int64_t prompt_tokens);

}  // namespace lazyllm::server
