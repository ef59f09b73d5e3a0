// `lazyllm serve`'s HTTP side over real loopback connections on an ephemeral port: 16 concurrent
// clients get their solo greedy texts (prune off and paper), streamed chunks add up to the
// non-streamed text, chat equals the templated prompt's generation, every bad input gets its
// status and an OpenAI error object naming the field, a client that leaves frees its sequence
// (seen in /metrics), /metrics parses as Prometheus text, the API key is enforced, a full queue
// gets 503 with Retry-After, --timeout ends with finish_reason "timeout", draining finishes what
// runs.
#include "tools/server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/gguf_builder.h"
#include "common/shell.h"
#include "common/test_paths.h"
#include "lazyllm/lazyllm.h"
#include "tools/server/openai.h"

namespace lazyllm::server {
namespace {

using Clock = std::chrono::steady_clock;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);
    auto m = Model::Load(testing::SampleModel().string());
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = new Model(std::move(*m));
    auto e = Engine::Create(*model_, {.threads = 2});
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = new Engine(std::move(*e));
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete model_;
  }

  // A server on a free loopback port over its own scheduler.
  void StartServer(ServerOptions so = {}, SchedulerOptions sched = {.max_batch = 8}, int64_t context = 512) {
    so.port = 0;
    scheduler_.emplace(*engine_, sched);
    server_ = std::make_unique<Server>(so);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    served_ = {.id = "stories",
               .model = model_,
               .context = context,
               .chat_template = ChatTemplate::kChatml,
               .default_prune = "off"};
    server_->SetReady(served_, *scheduler_);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    scheduler_.reset();
  }

  httplib::Client Client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(120, 0);
    if (!key.empty()) c.set_bearer_token_auth(key);
    return c;
  }

  httplib::Result Post(const std::string& path, const json& body, const std::string& key = "") const {
    return Client(key).Post(path, body.dump(), "application/json");
  }

  static std::string CompletionPath(bool chat) { return chat ? "/v1/chat/completions" : "/v1/completions"; }

  // A non-streamed completion or chat completion of `body`, parsed, and its text; null when the
  // answer was not a 200.
  std::pair<json, std::string> Whole(bool chat, const json& body) const {
    auto res = Post(CompletionPath(chat), body);
    EXPECT_TRUE(res && res->status == 200);
    if (!res || res->status != 200) return {};
    json j = json::parse(res->body);
    std::string text = chat ? j["choices"][0]["message"]["content"] : j["choices"][0]["text"];
    return {std::move(j), std::move(text)};
  }

  // The text Generate gives for the prompt tokens, greedy, with the schedule.
  std::string Solo(const std::vector<int32_t>& prompt, int n, const std::string& prune) const {
    auto p = PruningOptions::Parse(prune, model_->config().num_layers, 0xFFFFFFFFu);
    EXPECT_TRUE(p.ok());
    auto s = Session::Create(*engine_, {.max_context = 512, .pruning = *p});
    EXPECT_TRUE(s.ok());
    GenerationOptions g;
    g.max_new_tokens = n;
    g.sampling.temperature = 0;
    auto r = Generate(*s, prompt, g);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? model_->tokenizer().Decode(r->tokens) : "";
  }

  std::string Metric(const std::string& name) const {
    auto res = Client().Get("/metrics");
    if (!res) return "";
    std::istringstream in(res->body);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(name + " ", 0) == 0) return line.substr(name.size() + 1);
    return "";
  }

  // Waits (up to a minute) until the metric reads `want`.
  bool MetricBecomes(const std::string& name, const std::string& want) const {
    for (auto until = Clock::now() + std::chrono::seconds(60); Clock::now() < until;) {
      if (Metric(name) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static Model* model_;
  static Engine* engine_;
  std::optional<Scheduler> scheduler_;
  std::unique_ptr<Server> server_;
  ServedModel served_;
};
Model* ServerTest::model_ = nullptr;
Engine* ServerTest::engine_ = nullptr;

// The concatenated text of a completion stream's chunks, and its finish reason.
struct Streamed {
  std::string text, finish;
  bool done = false, usage = false;
  int chunks = 0;             // chunks before the one with the finish reason
  int completion_tokens = 0;  // from the usage chunk
};
Streamed ReadStream(const std::string& body, bool chat) {
  Streamed s;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("data: ", 0) != 0) continue;
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    const json j = json::parse(data);
    if (j.contains("usage")) {
      s.usage = true;
      s.completion_tokens = j["usage"]["completion_tokens"];
    }
    if (j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    if (chat) {
      if (c["delta"].contains("content")) s.text += c["delta"]["content"].get<std::string>();
    } else {
      s.text += c["text"].get<std::string>();
    }
    if (!c["finish_reason"].is_null())
      s.finish = c["finish_reason"];
    else
      ++s.chunks;
  }
  return s;
}

const char* const kPrompts[] = {"Once upon a time",
                                "The little girl saw a big",
                                "Tom and his dog went to the park.",
                                "One day, a cat",
                                "Lily wanted to play with her ball, but",
                                "The sun was"};

TEST_F(ServerTest, ConcurrentClientsGetTheirSoloTexts) {
  StartServer();
  constexpr int kClients = 16;
  std::vector<std::string> got(kClients), want(kClients), finish(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    const std::string prompt = kPrompts[i % 6];
    const std::string prune = i % 2 ? "paper" : "off";
    const bool stream = i % 4 >= 2;
    want[i] = Solo(model_->tokenizer().Encode(prompt, true).value(), 24, prune);
    clients.emplace_back([&, i, prompt, prune, stream] {
      const json body = {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 24},
                         {"temperature", 0},   {"prune", prune},   {"stream", stream}};
      auto res = Post("/v1/completions", body);
      if (!res || res->status != 200) {  // what went wrong, for the comparison below
        got[i] = res ? "(status " + std::to_string(res->status) + ": " + res->body + ")"
                     : "(no response: " + httplib::to_string(res.error()) + ")";
        return;
      }
      if (stream) {
        const Streamed s = ReadStream(res->body, false);
        got[i] = s.done ? s.text : "(no [DONE])";
        finish[i] = s.finish;
      } else {
        const json j = json::parse(res->body);
        got[i] = j["choices"][0]["text"];
        finish[i] = j["choices"][0]["finish_reason"];
        EXPECT_EQ(j["usage"]["completion_tokens"].get<int>() + j["usage"]["prompt_tokens"].get<int>(),
                  j["usage"]["total_tokens"].get<int>());
        EXPECT_EQ(j["lazyllm"]["prune"] == "off", prune == "off") << j["lazyllm"]["prune"];
      }
    });
  }
  for (auto& c : clients) c.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(got[i], want[i]) << "client " << i;
    EXPECT_TRUE(finish[i] == "length" || finish[i] == "stop") << finish[i];
  }
  EXPECT_TRUE(MetricBecomes("lazyllm_kv_bytes_held", "0"));
}

// The server's listening socket takes the system's backlog, not httplib's 5: sixteen clients
// connecting at once overflowed that on a loaded machine, and some got a reset. (On a listening
// socket, Linux's TCP_INFO gives the backlog in tcpi_sacked.)
TEST_F(ServerTest, ListensWithTheSystemsBacklog) {
  StartServer();
  DIR* dir = opendir("/proc/self/fd");
  ASSERT_NE(dir, nullptr);
  int backlog = -1;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in local{};
    socklen_t n = sizeof local;
    int listening = 0;
    socklen_t ln = sizeof listening;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &n) != 0 || local.sin_family != AF_INET ||
        ntohs(local.sin_port) != server_->port() || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ln) != 0 ||
        listening == 0)
      continue;
    tcp_info info{};
    socklen_t in = sizeof info;
    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &in), 0);
    backlog = static_cast<int>(info.tcpi_sacked);
  }
  closedir(dir);
  EXPECT_GE(backlog, 128) << "the listening socket's backlog (-1: no listening socket on the port)";
}

TEST_F(ServerTest, StreamedChunksAddUpToTheText) {
  StartServer();
  for (bool chat : {false, true}) {
    json body = {{"max_tokens", 30}, {"temperature", 0}, {"stop", {"Lily"}}};
    if (chat)
      body["messages"] = {{{"role", "system"}, {"content", "Tell a story."}}, {{"role", "user"}, {"content", "Hi"}}};
    else
      body["prompt"] = "Once upon a time";
    const std::string path = CompletionPath(chat);
    const auto [j, text] = Whole(chat, body);
    ASSERT_FALSE(j.is_null());
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    auto streamed = Post(path, body);
    ASSERT_TRUE(streamed && streamed->status == 200);
    EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
    const Streamed s = ReadStream(streamed->body, chat);
    EXPECT_EQ(s.text, text);
    EXPECT_EQ(s.finish, j["choices"][0]["finish_reason"]);
    EXPECT_TRUE(s.done);
    EXPECT_TRUE(s.usage);
    EXPECT_EQ(text.find("Lily"), std::string::npos) << "the stop string is not part of the text";
  }
}

// A client may time tokens by chunks: a token whose text is held back (here all of them: the
// stop string begins with the whole text) is still a chunk, with the text "", and the held text
// comes in one more chunk at the end.
TEST_F(ServerTest, EveryTokenIsAChunkEvenWhileItsTextIsHeldBack) {
  StartServer();
  for (bool chat : {false, true}) {
    json body = {{"max_tokens", 20}, {"temperature", 0}};
    if (chat)
      body["messages"] = {{{"role", "user"}, {"content", "Hi"}}};
    else
      body["prompt"] = "Once upon a time";
    const std::string path = CompletionPath(chat);
    const auto [j, text] = Whole(chat, body);
    ASSERT_FALSE(j.is_null());
    const int tokens = j["usage"]["completion_tokens"];
    ASSERT_EQ(tokens, 20);
    for (const bool held : {false, true}) {
      if (held) body["stop"] = {text + "#"};
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
      auto streamed = Post(path, body);
      ASSERT_TRUE(streamed && streamed->status == 200);
      const Streamed s = ReadStream(streamed->body, chat);
      EXPECT_EQ(s.text, text) << "held back: " << held;
      EXPECT_EQ(s.completion_tokens, tokens);
      // One chunk per token, and with the text held back one more: its release at the end.
      EXPECT_EQ(s.chunks, tokens + (held ? 1 : 0)) << "held back: " << held << ", chat: " << chat;
    }
  }
}

TEST_F(ServerTest, ChatEqualsTheTemplatedPromptsGeneration) {
  StartServer();
  const std::vector<ChatMessage> messages = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}};
  const std::vector<int32_t> prompt =
      model_->tokenizer()
          .Encode(FormatChat(ChatTemplate::kChatml, messages, true), true, /*parse_special=*/true)
          .value();
  auto res = Post("/v1/chat/completions",
                  {{"messages",
                    {{{"role", "system"}, {"content", "You tell stories."}},
                     {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Tell me about a cat."}}}}}}},
                   {"max_tokens", 20},
                   {"temperature", 0}});
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  const json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], Solo(prompt, 20, "off"));
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
}

TEST_F(ServerTest, BadInputGetsItsStatusAndAnErrorNamingTheField) {
  StartServer({.max_body_bytes = 4096});
  struct Case {
    std::string path, body;
    int status;
    std::string param;  // "" for null
  };
  const std::string big(5000, 'a');
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, ""},
      {"/v1/completions", "[1, 2]", 400, ""},
      {"/v1/completions", R"({"max_tokens": 4})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": 7})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [1, 99999999]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": "hot"})", 400, "temperature"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": -1})", 400, "temperature"},
      {"/v1/completions", R"({"prompt": "hi", "model": "gpt-4"})", 400, "model"},
      {"/v1/completions", R"({"prompt": "hi", "prune": "banana"})", 400, "prune"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 0})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 100000})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 2.5})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "n": 2})", 400, "n"},
      {"/v1/completions", R"({"prompt": "hi", "stop": [""]})", 400, "stop"},
      {"/v1/completions", R"({"prompt": "hi", "stream": "yes"})", 400, "stream"},
      {"/v1/completions", R"({"prompt": "hi", "stream_options": {"include_usage": true}})", 400, "stream_options"},
      {"/v1/completions", R"({"prompt": ")" + std::string(3000, 'x') + R"("})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": ")" + big + R"("})", 413, ""},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "hi"}]})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400, "messages"},
      {"/tokenize", R"({"content": 5})", 400, "content"},
      {"/detokenize", R"({"tokens": ["a"]})", 400, "tokens"},
      {"/v1/nothing", "{}", 404, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " " + c.body.substr(0, 80));
    auto res = Client().Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status);
    const json j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << res->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(j["error"]["param"], c.param.empty() ? json(nullptr) : json(c.param));
  }
  // The server is still there and right.
  auto ok = Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_TRUE(ok && ok->status == 200);
  EXPECT_EQ(json::parse(ok->body)["choices"][0]["text"],
            Solo(model_->tokenizer().Encode("Once upon a time", true).value(), 8, "off"));
  // A model without a chat template refuses chat, naming the fix.
  served_.chat_template.reset();
  server_->SetReady(served_, *scheduler_);
  auto chat = Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 400);
  EXPECT_NE(chat->body.find("--chat-template"), std::string::npos);
}

// A vocabulary without a token for some byte and without an unknown token (as Falcon's lacks
// 0x03): a prompt or /tokenize content that needs the byte is a 400 naming the field, the byte
// and its offset.
TEST(ServerRequestTest, ATextTheVocabularyCannotEncodeIsA400) {
  testing::GgufBuilder b;
  b.KvStr("general.architecture", "qwen2");
  b.KvStr("tokenizer.ggml.model", "gpt2");
  b.KvStr("tokenizer.ggml.pre", "qwen2");
  b.KvStrArray("tokenizer.ggml.tokens", {"a", "b", "\xc4\xa0"});
  b.KvStrArray("tokenizer.ggml.merges", {});
  b.KvArray<int32_t>("tokenizer.ggml.token_type", 5, {1, 1, 1});
  const std::string path = ::testing::TempDir() + "/lazyllm_server_vocab_" + std::to_string(getpid()) + ".gguf";
  testing::WriteBytes(path, b.Build());
  auto model = Model::Load(path, {.vocab_only = true});
  std::remove(path.c_str());
  ASSERT_TRUE(model.ok()) << model.status();
  const ServedModel served{.model = &*model, .context = 64};
  const auto completion = ParseCompletion(R"({"prompt": "ab a\u0003b", "max_tokens": 2})", served);
  const auto* e = std::get_if<ApiError>(&completion);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "prompt");
  EXPECT_NE(e->message.find("byte 0x03 at offset 4"), std::string::npos) << e->message;
  const auto tokenized = Tokenize(R"({"content": "b\u0003"})", model->tokenizer());
  e = std::get_if<ApiError>(&tokenized);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param, "content");
  EXPECT_NE(e->message.find("byte 0x03 at offset 1"), std::string::npos) << e->message;
  EXPECT_TRUE(std::holds_alternative<GenerationRequest>(ParseCompletion(R"({"prompt": "ab ba"})", served)));
}

TEST_F(ServerTest, TokenizeDetokenizeModelsHealth) {
  StartServer();
  const std::string text = "Once upon a time, a cat.";
  auto t = Post("/tokenize", {{"content", text}});
  ASSERT_TRUE(t && t->status == 200);
  const std::vector<int32_t> ids = json::parse(t->body)["tokens"];
  EXPECT_EQ(ids, model_->tokenizer().Encode(text, false, true).value());
  auto d = Post("/detokenize", {{"tokens", ids}});
  ASSERT_TRUE(d && d->status == 200);
  EXPECT_EQ(json::parse(d->body)["content"], model_->tokenizer().Decode(ids));
  auto m = Client().Get("/v1/models");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_EQ(json::parse(m->body)["data"][0]["id"], "stories");
  auto h = Client().Get("/health");
  ASSERT_TRUE(h && h->status == 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
}

TEST_F(ServerTest, HealthSaysLoadingBeforeTheModelIsReady) {
  Server s({.port = 0});
  auto port = s.Start();
  ASSERT_TRUE(port.ok());
  httplib::Client c("127.0.0.1", *port);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(json::parse(h->body)["status"], "loading");
  auto r = c.Post("/v1/completions", R"({"prompt": "hi"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  s.Stop();
}

TEST_F(ServerTest, ApiKeyIsRequiredEverywhereButHealth) {
  StartServer({.api_key = "s3cret"});
  const json body = {{"prompt", "hi"}, {"max_tokens", 2}};
  for (const std::string key : {"", "wrong", "s3cre", "s3cret!"}) {
    auto res = Post("/v1/completions", body, key);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << key;
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
  }
  auto models = Client().Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  auto ok = Post("/v1/completions", body, "s3cret");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto health = Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// Sends a non-streamed request on a raw connection and closes it without reading.
void SendAndHangUp(int port, const std::string& body, std::chrono::milliseconds after) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(after);
  close(fd);
}

TEST_F(ServerTest, AClientThatLeavesFreesItsSequence) {
  // A context far past the sample model's 512 (RoPE extrapolates) so that a generation runs for
  // seconds; ignore_eos keeps it going.
  StartServer({}, {.max_batch = 4}, 200000);
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 150000}, {"ignore_eos", true}};
  // Streamed: read the first chunk, then hang up.
  httplib::Client c = Client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  json streamed = body;
  streamed["stream"] = true;
  req.body = streamed.dump();
  req.set_header("Content-Type", "application/json");
  int chunks = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };
  c.send(req);
  EXPECT_GE(chunks, 2);
  EXPECT_TRUE(MetricBecomes("lazyllm_client_disconnects_total", "1"));
  // Not streamed: hang up while it generates.
  SendAndHangUp(server_->port(), body.dump(), std::chrono::milliseconds(300));
  EXPECT_TRUE(MetricBecomes("lazyllm_client_disconnects_total", "2"));
  EXPECT_TRUE(MetricBecomes("lazyllm_requests_running", "0"));
  EXPECT_TRUE(MetricBecomes("lazyllm_kv_bytes_held", "0")) << "the pages went back to the pool";
}

TEST_F(ServerTest, MetricsParseAsPrometheusText) {
  StartServer();
  ASSERT_TRUE(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 4}}));
  ASSERT_TRUE(Post("/v1/completions", {{"prompt", 1}}));
  auto res = Client().Get("/metrics");
  ASSERT_TRUE(res && res->status == 200);
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  std::set<std::string> typed;
  std::istringstream in(res->body);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, comment)) {
      if (m[1] == "TYPE") typed.insert(m[2]);
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!typed.count(family) && family.size() > strlen(suffix) &&
          family.compare(family.size() - strlen(suffix), strlen(suffix), suffix) == 0)
        family.resize(family.size() - strlen(suffix));
    EXPECT_TRUE(typed.count(family)) << "no # TYPE before " << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
  EXPECT_NE(res->body.find(R"(lazyllm_requests_total{endpoint="/v1/completions",status="200"} 1)"), std::string::npos);
  EXPECT_NE(res->body.find(R"(lazyllm_requests_total{endpoint="/v1/completions",status="400"} 1)"), std::string::npos);
  EXPECT_EQ(Metric("lazyllm_time_to_first_token_seconds_count"), "1");
  // Every interval between two tokens of the one completion: one fewer than its tokens.
  const int generated = std::stoi(Metric("lazyllm_generated_tokens_total"));
  EXPECT_GE(generated, 1);
  EXPECT_EQ(Metric("lazyllm_inter_token_seconds_count"), std::to_string(generated - 1));
  EXPECT_EQ(Metric("lazyllm_inter_token_seconds_bucket{le=\"+Inf\"}"), std::to_string(generated - 1));
}

TEST_F(ServerTest, AFullQueueGets503AndTimeoutsSaySo) {
  StartServer({.timeout_s = 1.5}, {.max_batch = 1, .max_queue = 1}, 200000);
  const json longer = {{"prompt", "Once upon a time"}, {"max_tokens", 150000}, {"ignore_eos", true}};
  std::vector<std::thread> running;
  std::vector<std::string> finish(2);
  for (int i = 0; i < 2; ++i) {
    running.emplace_back([&, i] {
      auto res = Post("/v1/completions", longer);
      if (res && res->status == 200) finish[i] = json::parse(res->body)["choices"][0]["finish_reason"];
    });
    // The first is admitted before the second arrives, which then waits in the queue.
    ASSERT_TRUE(MetricBecomes(i == 0 ? "lazyllm_requests_running" : "lazyllm_requests_queued", "1"));
  }
  auto full = Post("/v1/completions", longer);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503);
  EXPECT_EQ(full->get_header_value("Retry-After"), "1");
  for (auto& t : running) t.join();
  EXPECT_EQ(finish[0], "timeout");
  EXPECT_EQ(finish[1], "timeout") << "its time counts from arrival, queue included";
  EXPECT_EQ(Metric("lazyllm_request_timeouts_total"), "2");
}

TEST_F(ServerTest, DrainingFinishesWhatRuns) {
  StartServer({}, {.max_batch = 8}, 200000);
  json result;
  std::thread client([&] {
    auto res = Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 1000}, {"ignore_eos", true}});
    if (res && res->status == 200) result = json::parse(res->body);
  });
  ASSERT_TRUE(MetricBecomes("lazyllm_requests_running", "1"));
  server_->Drain(600);
  client.join();
  ASSERT_TRUE(result.is_object());
  EXPECT_EQ(result["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(result["usage"]["completion_tokens"], 1000) << "it ran to its end";
  // After the drain nothing listens.
  EXPECT_FALSE(Client().Get("/health"));
}

// The `lazyllm serve` process: it answers like `run --temp 0`, refuses bad flags, and on SIGTERM
// finishes the request it runs and exits 0.
class ServeProcessTest : public ::testing::Test {
 protected:
  // Starts `lazyllm serve ARGS --port 0`; returns once it says it is ready (its port read from
  // what it prints), or fails.
  void Start(const std::string& args) {
    err_path_ = ::testing::TempDir() + "/lazyllm_serve_err." + std::to_string(getpid()) + ".txt";
    std::remove(err_path_.c_str());  // not an earlier server's lines
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string cmd =
          "exec " + std::string(LAZYLLM_CLI) + " serve " + args + " --port 0 >/dev/null 2>" + err_path_;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (auto until = Clock::now() + std::chrono::seconds(120); Clock::now() < until;) {
      const std::string err = Err();
      const auto at = err.find("listening on http://127.0.0.1:");
      if (at != std::string::npos && err.find("ready:") != std::string::npos) {
        port_ = std::atoi(err.c_str() + at + std::strlen("listening on http://127.0.0.1:"));
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "serve exited: " << err;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "serve did not get ready: " << Err();
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (!err_path_.empty()) std::remove(err_path_.c_str());
  }
  std::string Err() const {
    std::ifstream in(err_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Sends SIGTERM and returns the exit status (-1 when it did not exit normally).
  int Terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string err_path_;
};

// `lazyllm ARGS` (with its redirections): what it printed and its exit status (-1 when it did not
// exit normally).
std::pair<std::string, int> Cli(const std::string& args) {
  return testing::Shell(std::string(LAZYLLM_CLI) + " " + args);
}

std::string RunText(const std::string& args) {
  std::string out = Cli("run " + args + " 2>/dev/null").first;
  if (!out.empty() && out.back() == '\n') out.pop_back();  // run ends its text with a newline
  return out;
}

TEST_F(ServeProcessTest, AnswersLikeRunAndDrainsOnSigterm) {
  const std::string model = testing::SampleModel().string();
  ASSERT_NO_FATAL_FAILURE(Start("-m " + model + " -t 1 -c 4096 --prune paper --grace 600"));
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(120, 0);
  for (const std::string prune : {"off", "paper"}) {
    auto res =
        c.Post("/v1/completions",
               json({{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 0}, {"prune", prune}}).dump(),
               "application/json");
    ASSERT_TRUE(res && res->status == 200);
    EXPECT_EQ(json::parse(res->body)["choices"][0]["text"],
              RunText("-m " + model + " -p 'Once upon a time' -n 30 --temp 0 -c 4096 --prune " + prune));
  }
  // A long request in flight when SIGTERM comes finishes; then the process exits 0.
  json result;
  std::thread client([&] {
    auto res = c.Post("/v1/completions",
                      json({{"prompt", "Once upon a time"}, {"max_tokens", 1000}, {"ignore_eos", true}}).dump(),
                      "application/json");
    if (res && res->status == 200) result = json::parse(res->body);
  });
  for (auto until = Clock::now() + std::chrono::seconds(60); Clock::now() < until;) {
    auto m = httplib::Client("127.0.0.1", port_).Get("/metrics");
    if (m && m->body.find("lazyllm_requests_running 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Terminate(), 0);
  client.join();
  ASSERT_TRUE(result.is_object()) << Err();
  EXPECT_EQ(result["usage"]["completion_tokens"], 1000);
  EXPECT_NE(Err().find("SIGTERM: draining"), std::string::npos);
}

TEST_F(ServeProcessTest, BadFlagsAndABusyPortAreClearErrors) {
  const std::string model = testing::SampleModel().string();
  for (const std::string args : {"--port 70000", "--parallel 0", "--prune banana", "--kv-mem lots", "--bogus 1"}) {
    const auto [out, status] = Cli("serve -m " + model + " " + args + " 2>&1");
    EXPECT_GT(status, 0) << args;
    EXPECT_NE(out.find("error"), std::string::npos) << args << ": " << out;
  }
  ASSERT_NO_FATAL_FAILURE(Start("-m " + model + " -t 1"));
  const std::string out = Cli("serve -m " + model + " --port " + std::to_string(port_) + " 2>&1").first;
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(port_)), std::string::npos) << out;
  EXPECT_EQ(Terminate(), 0);
}

}  // namespace
}  // namespace lazyllm::server
