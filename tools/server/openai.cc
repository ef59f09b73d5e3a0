// OpenAI-compatible request parsing and response objects.
#include "tools/server/openai.h"

#include <cmath>
#include <limits>

namespace lazyllm::server {
namespace {

// Inside this file a bad field throws its ApiError; the public functions return it.
[[noreturn]] void Bad(const std::string& param, const std::string& message) { throw ApiError{400, message, param}; }

// The tokens of `text`, or a 400 on `param` naming the byte the vocabulary cannot encode.
std::vector<int32_t> Encoded(const Tokenizer& tok, std::string_view text, const std::string& param, bool add_special,
                             bool parse_special = false) {
  auto ids = tok.Encode(text, add_special, parse_special);
  if (!ids.ok()) Bad(param, "'" + param + "': " + ids.status().message());
  return *std::move(ids);
}

json ParseObject(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Bad("", "the request body is not valid JSON");
  if (!j.is_object()) Bad("", "the request body must be a JSON object");
  return j;
}

// Optional typed fields; null counts as absent (as OpenAI's clients send it).
const json* Field(const json& j, const char* name) {
  const auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

double Number(const json& j, const char* name, double def, double lo, double hi) {
  const json* f = Field(j, name);
  if (!f) return def;
  if (!f->is_number()) Bad(name, std::string("'") + name + "' must be a number");
  const double v = f->get<double>();
  if (!(v >= lo && v <= hi))
    Bad(name, std::string("'") + name + "' is " + f->dump() + "; it must be in [" + json(lo).dump() + ", " +
                  json(hi).dump() + "]");
  return v;
}

int64_t Integer(const json& j, const char* name, int64_t def, int64_t lo, int64_t hi) {
  const json* f = Field(j, name);
  if (!f) return def;
  if (!f->is_number_integer()) Bad(name, std::string("'") + name + "' must be an integer");
  if (f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(hi))
    Bad(name, std::string("'") + name + "' is " + f->dump() + "; at most " + std::to_string(hi));
  const int64_t v = f->get<int64_t>();
  if (v < lo || v > hi)
    Bad(name, std::string("'") + name + "' is " + std::to_string(v) + "; it must be in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
  return v;
}

bool Bool(const json& j, const char* name, bool def) {
  const json* f = Field(j, name);
  if (!f) return def;
  if (!f->is_boolean()) Bad(name, std::string("'") + name + "' must be true or false");
  return f->get<bool>();
}

std::string String(const json& v, const std::string& param) {
  if (!v.is_string()) Bad(param, "'" + param + "' must be a string");
  return v.get<std::string>();
}

std::vector<int32_t> TokenIds(const json& v, const std::string& param, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  for (const json& t : v) {
    if (!t.is_number_integer()) Bad(param, "'" + param + "' must hold token ids (integers)");
    const int64_t id = t.get<int64_t>();
    if (id < 0 || id >= tok.vocab_size())
      Bad(param, "token id " + std::to_string(id) + " in '" + param + "' is outside the vocabulary of " +
                     std::to_string(tok.vocab_size()));
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

void CheckModel(const json& j, const ServedModel& served) {
  const json* m = Field(j, "model");
  if (!m) return;
  const std::string name = String(*m, "model");
  if (!served.id.empty() && name != served.id)
    Bad("model", "model '" + name + "' is not served here; this server serves '" + served.id + "'");
}

// The fields completions and chat share: sampling, stop, stream, n, prune, max_tokens.
GenerationRequest Common(const json& j, const ServedModel& served, std::vector<int32_t> prompt, bool chat) {
  GenerationRequest r;
  r.chat = chat;
  r.prompt = std::move(prompt);
  const auto n_prompt = static_cast<int64_t>(r.prompt.size());
  if (n_prompt >= served.context)
    Bad(chat ? "messages" : "prompt", "the prompt is " + std::to_string(n_prompt) + " tokens; the context holds " +
                                          std::to_string(served.context) + " (prompt and generated tokens together)");
  const int64_t room = served.context - n_prompt;
  const char* max_name = Field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  const json* max = Field(j, max_name);
  if (max && max->is_number_integer() && max->get<int64_t>() > room)
    Bad(max_name, std::string("'") + max_name + "' is " + max->dump() + " but the context of " +
                      std::to_string(served.context) + " tokens leaves " + std::to_string(room) + " after the " +
                      std::to_string(n_prompt) + "-token prompt");
  r.max_tokens = static_cast<int>(Integer(j, max_name, chat ? room : std::min<int64_t>(16, room), 1, room));
  r.sampling.temperature = static_cast<float>(Number(j, "temperature", 1.0, 0.0, 2.0));
  r.sampling.top_p = static_cast<float>(Number(j, "top_p", 1.0, 1e-6, 1.0));
  r.sampling.top_k = static_cast<int>(Integer(j, "top_k", 0, 0, std::numeric_limits<int32_t>::max()));
  r.sampling.seed =
      static_cast<uint64_t>(Integer(j, "seed", static_cast<int64_t>(0xFFFFFFFFu), std::numeric_limits<int64_t>::min(),
                                    std::numeric_limits<int64_t>::max()));
  if (Integer(j, "n", 1, 1, 1) != 1) Bad("n", "'n' must be 1");
  if (const json* stop = Field(j, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 16) {
      for (const json& s : *stop) r.stop.push_back(String(s, "stop"));
    } else {
      Bad("stop", "'stop' must be a string or a list of at most 16 strings");
    }
    for (const std::string& s : r.stop)
      if (s.empty()) Bad("stop", "a stop string is empty");
  }
  r.stream = Bool(j, "stream", false);
  r.ignore_eos = Bool(j, "ignore_eos", false);
  if (const json* so = Field(j, "stream_options")) {
    if (!so->is_object()) Bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) Bad("stream_options", "'stream_options' needs 'stream': true");
    r.include_usage = Bool(*so, "include_usage", false);
  }
  r.prune = served.default_prune;
  if (const json* p = Field(j, "prune")) r.prune = String(*p, "prune");
  auto pruning = PruningOptions::Parse(r.prune, served.model->config().num_layers, r.sampling.seed);
  if (!pruning.ok()) Bad("prune", "'prune': " + pruning.status().message());
  r.pruning = *pruning;
  return r;
}

template <typename Fn>
auto Catching(Fn&& fn) -> std::variant<decltype(fn()), ApiError> {
  try {
    return fn();
  } catch (const ApiError& e) {
    return e;
  } catch (const json::exception& e) {
    return ApiError{400, std::string("the request body could not be read: ") + e.what()};
  }
}

}  // namespace

json ErrorBody(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

std::variant<GenerationRequest, ApiError> ParseCompletion(const std::string& body, const ServedModel& served) {
  return Catching([&] {
    const json j = ParseObject(body);
    CheckModel(j, served);
    const Tokenizer& tok = served.model->tokenizer();
    const json* p = Field(j, "prompt");
    if (!p) Bad("prompt", "'prompt' is required");
    std::vector<int32_t> prompt;
    if (p->is_string()) {
      prompt = Encoded(tok, p->get<std::string>(), "prompt", true);
    } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      prompt = Encoded(tok, (*p)[0].get<std::string>(), "prompt", true);
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
      prompt = TokenIds(*p, "prompt", tok);
    } else {
      Bad("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
    }
    if (prompt.empty()) Bad("prompt", "'prompt' is empty");
    return Common(j, served, std::move(prompt), /*chat=*/false);
  });
}

std::variant<GenerationRequest, ApiError> ParseChat(const std::string& body, const ServedModel& served) {
  return Catching([&] {
    const json j = ParseObject(body);
    CheckModel(j, served);
    if (!served.chat_template)
      Bad("messages", "the model has no chat template lazyllm supports; start the server with --chat-template NAME");
    const json* m = Field(j, "messages");
    if (!m || !m->is_array() || m->empty()) Bad("messages", "'messages' must be a non-empty list");
    std::vector<ChatMessage> messages;
    for (const json& msg : *m) {
      if (!msg.is_object()) Bad("messages", "each message must be an object with 'role' and 'content'");
      const json* role = Field(msg, "role");
      if (!role) Bad("messages", "a message has no 'role'");
      const std::string r = String(*role, "messages.role");
      if (r != "system" && r != "user" && r != "assistant" && r != "developer")
        Bad("messages", "role '" + r + "' is not one of system, developer, user, assistant");
      const json* content = Field(msg, "content");
      std::string text;
      if (content && content->is_string()) {
        text = content->get<std::string>();
      } else if (content && content->is_array()) {  // [{"type": "text", "text": ...}, ...]
        for (const json& part : *content) {
          if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text"))
            Bad("messages", "only text content parts are supported");
          text += String(part["text"], "messages.content.text");
        }
      } else {
        Bad("messages", "a message's 'content' must be a string or a list of text parts");
      }
      messages.push_back({r == "developer" ? "system" : r, std::move(text)});
    }
    const std::string rendered = FormatChat(*served.chat_template, messages, /*add_generation_prompt=*/true);
    return Common(j, served, Encoded(served.model->tokenizer(), rendered, "messages", true, /*parse_special=*/true),
                  /*chat=*/true);
  });
}

std::variant<json, ApiError> Tokenize(const std::string& body, const Tokenizer& tok) {
  return Catching([&] {
    const json j = ParseObject(body);
    const json* c = Field(j, "content");
    if (!c) Bad("content", "'content' is required");
    const std::vector<int32_t> ids =
        Encoded(tok, String(*c, "content"), "content", Bool(j, "add_special", false), Bool(j, "parse_special", true));
    if (!Bool(j, "with_pieces", false)) return json{{"tokens", ids}};
    json tokens = json::array();
    for (int32_t id : ids) tokens.push_back({{"id", id}, {"piece", tok.Decode(std::span(&id, 1))}});
    return json{{"tokens", tokens}};
  });
}

std::variant<json, ApiError> Detokenize(const std::string& body, const Tokenizer& tok) {
  return Catching([&] {
    const json j = ParseObject(body);
    const json* t = Field(j, "tokens");
    if (!t || !t->is_array()) Bad("tokens", "'tokens' must be a list of token ids");
    return json{{"content", tok.Decode(TokenIds(*t, "tokens", tok))}};
  });
}

std::string FinishReasonText(FinishReason r) { return std::string(FinishReasonName(r)); }

json Usage(const Completion& c, int64_t prompt_tokens) {
  const auto generated = static_cast<int64_t>(c.tokens.size());
  return {
      {"prompt_tokens", prompt_tokens}, {"completion_tokens", generated}, {"total_tokens", prompt_tokens + generated}};
}

json LazyllmInfo(const Completion& c, const std::string& prune) {
  const Stats& s = c.stats;
  return {{"prune", prune},
          {"queue_ms", s.queue_ms},
          {"ttft_ms", s.ttft_ms},
          {"decode_tokens_per_s", s.decode_tokens_per_s},
          {"prompt_computed_pct_prefill", s.pruning.prompt_tokens_computed_pct_prefill},
          {"prompt_computed_pct", s.pruning.prompt_tokens_computed_pct},
          {"revived_tokens", s.pruning.revived_tokens},
          {"kv_bytes", s.kv_bytes}};
}

namespace {
json Head(const ResponseHead& h, const char* object) {
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}
}  // namespace

json FullResponse(const ResponseHead& h, const Completion& c, int64_t prompt_tokens, const std::string& prune) {
  json r = Head(h, h.chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", FinishReasonText(c.finish)}, {"logprobs", nullptr}};
  if (h.chat)
    choice["message"] = {{"role", "assistant"}, {"content", c.text}};
  else
    choice["text"] = c.text;
  r["choices"] = json::array({choice});
  r["usage"] = Usage(c, prompt_tokens);
  r["lazyllm"] = LazyllmInfo(c, prune);
  return r;
}

json Chunk(const ResponseHead& h, const std::string& text, bool first, const std::optional<FinishReason>& finish) {
  json r = Head(h, h.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {
      {"index", 0}, {"finish_reason", finish ? json(FinishReasonText(*finish)) : json(nullptr)}, {"logprobs", nullptr}};
  if (h.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || !finish) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  r["choices"] = json::array({choice});
  return r;
}

json UsageChunk(const ResponseHead& h, const Completion& c, int64_t prompt_tokens) {
  json r = Head(h, h.chat ? "chat.completion.chunk" : "text_completion");
  r["choices"] = json::array();
  r["usage"] = Usage(c, prompt_tokens);
  return r;
}

}  // namespace lazyllm::server
