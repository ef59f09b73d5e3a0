// OpenAI-compatible endpoints over a Scheduler, on cpp-httplib.
#include "tools/server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>

namespace lazyllm::server {
namespace {

using Clock = std::chrono::steady_clock;

// An address's host (as httplib writes it) and port; empty and -1 for other families.
std::string HostAndPort(const sockaddr_storage& a, int* port) {
  char host[INET6_ADDRSTRLEN] = "";
  *port = -1;
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    *port = ntohs(in.sin_port);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
  } else if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    *port = ntohs(in6.sin6_port);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  }
  return host;
}

// The first of the process's sockets for which match(fd, local, peer) holds (the peer left
// AF_UNSPEC where the socket has none, as a listening one has not); -1 when none does. httplib
// does not hand out its sockets, so they are found by their addresses.
template <class Match>
int FindSocket(Match match) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pn = sizeof peer, ln = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ln) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pn) != 0) peer.ss_family = AF_UNSPEC;
    if (match(fd, local, peer)) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

// The socket of the connection a request arrived on: httplib serves a connection on one thread
// and keeps it open while a handler runs, but does not hand the socket to handlers.
int ConnectionSocket(const httplib::Request& req) {
  return FindSocket([&](int, const sockaddr_storage& local, const sockaddr_storage& peer) {
    int peer_port = -1, local_port = -1;
    return HostAndPort(peer, &peer_port) == req.remote_addr && peer_port == req.remote_port &&
           (HostAndPort(local, &local_port), local_port == req.local_port);
  });
}

// httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed when the library was
// built). More clients connecting at once overflow the accept queue, and under load some of them
// got a reset instead of an answer (ServerTest.ConcurrentClientsGetTheirSoloTexts, 16 clients,
// failed about one run in twenty on a loaded machine). listen() again on the bound socket sets the
// system's limit instead.
void WidenBacklog(int port) {
  const int fd = FindSocket([&](int fd, const sockaddr_storage& local, const sockaddr_storage& peer) {
    int listening = 0, local_port = -1;
    socklen_t n = sizeof listening;
    return peer.ss_family == AF_UNSPEC && (HostAndPort(local, &local_port), local_port == port) &&
           getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) == 0 && listening != 0;
  });
  if (fd >= 0) listen(fd, SOMAXCONN);
}

// The client closed its connection (it gave up on the request).
bool PeerClosed(int fd) {
  if (fd < 0) return false;
  pollfd p{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char c;
  return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

// Compares in time that does not depend on where the strings differ.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) {
  SendJson(res, e.status, ErrorBody(e));
  if (e.status == 503) res.set_header("Retry-After", "1");
}

std::string NewId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char b[64];
  std::snprintf(b, sizeof b, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(++counter));
  return b;
}

std::string Sse(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

// What the scheduler's thread hands to the HTTP thread of one request.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  std::optional<Completion> done;
  std::optional<Clock::time_point> last_token;
  std::vector<double> gaps;  // seconds between consecutive tokens, for the metrics at the end

  // Waits up to `wait` for a piece or the end.
  void Wait(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, wait, [&] { return !pieces.empty() || done.has_value(); });
  }
};

constexpr auto kPoll = std::chrono::milliseconds(50);

}  // namespace

struct Server::Handlers {
  explicit Handlers(const ServerOptions& o) : options(o) {}

  const ServerOptions& options;
  Metrics metrics;
  std::atomic<bool> ready{false}, draining{false};
  std::atomic<int64_t> in_flight{0};  // generation requests being answered
  ServedModel served;
  Scheduler* scheduler = nullptr;

  Metrics::Gauges Gauges() const {
    Metrics::Gauges g{.ready = ready, .draining = draining};
    if (ready) {
      const SchedulerState s = scheduler->state();
      g = {s.running, s.queued, s.kv_held_bytes, s.kv_limit_bytes, s.steps, true, draining};
    }
    return g;
  }

  // 503 while loading or draining; nullopt when the server takes work.
  std::optional<ApiError> Unavailable() const {
    if (!ready) return ApiError{503, "the model is still loading", "", "unavailable_error"};
    if (draining) return ApiError{503, "the server is shutting down", "", "unavailable_error"};
    return std::nullopt;
  }

  void Health(httplib::Response& res) const {
    if (draining) return SendJson(res, 503, {{"status", "draining"}});
    if (!ready) return SendJson(res, 503, {{"status", "loading"}});
    SendJson(res, 200, {{"status", "ok"}});
  }

  void Models(httplib::Response& res) const {
    if (auto e = Unavailable()) return SendError(res, *e);
    const ModelConfig& c = served.model->config();
    SendJson(res, 200,
             {{"object", "list"},
              {"data", json::array({{{"id", served.id},
                                     {"object", "model"},
                                     {"created", 0},
                                     {"owned_by", "lazyllm"},
                                     {"meta",
                                      {{"architecture", c.architecture},
                                       {"n_ctx", served.context},
                                       {"n_layers", c.num_layers},
                                       {"n_vocab", c.vocab_size},
                                       {"prune", served.default_prune}}}}})}});
  }

  void Generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
    auto fail = [&](const ApiError& e) {
      SendError(res, e);
      metrics.Request(endpoint, e.status);
    };
    if (auto e = Unavailable()) return fail(*e);
    auto parsed = chat ? ParseChat(req.body, served) : ParseCompletion(req.body, served);
    if (auto* e = std::get_if<ApiError>(&parsed)) return fail(*e);
    GenerationRequest g = std::move(std::get<GenerationRequest>(parsed));

    auto ch = std::make_shared<Channel>();
    Request r;
    r.prompt = g.prompt;
    r.generation.max_new_tokens = g.max_tokens;
    r.generation.sampling = g.sampling;
    r.generation.stop_at_eos = !g.ignore_eos;
    r.sequence = {.max_context = served.context, .pruning = g.pruning, .exact_activations = served.exact_activations};
    r.stop = g.stop;
    r.timeout_s = options.timeout_s;
    // Every generated token is a chunk, its text "" while a character's bytes are incomplete or
    // text may begin a stop string: a client can time tokens by chunks.
    r.on_token = [ch](const TokenEvent& e) {
      std::lock_guard<std::mutex> lock(ch->mu);
      if (e.token >= 0) {
        const auto now = Clock::now();
        if (ch->last_token) ch->gaps.push_back(std::chrono::duration<double>(now - *ch->last_token).count());
        ch->last_token = now;
      }
      ch->pieces.push_back(e.text);
      ch->cv.notify_one();
    };
    r.on_done = [ch](const Completion& c) {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->done = c;
      ch->cv.notify_one();
    };
    const auto arrived = Clock::now();
    StatusOr<Scheduler::Id> id = scheduler->Submit(std::move(r));
    if (!id.ok()) {
      const bool busy =
          id.status().code() == StatusCode::kResourceExhausted || id.status().code() == StatusCode::kCancelled;
      return fail({busy ? 503 : 400, id.status().message(), "", busy ? "unavailable_error" : "invalid_request_error"});
    }
    const ResponseHead head{NewId(chat ? "chatcmpl-" : "cmpl-"), static_cast<int64_t>(std::time(nullptr)), served.id,
                            chat};
    const auto n_prompt = static_cast<int64_t>(g.prompt.size());
    ++in_flight;
    // The end of a request, whichever way it went: metrics and the in-flight count.
    auto account = [this, ch, endpoint, arrived, n_prompt](const Completion* c, int status) {
      std::vector<double> gaps;
      {
        std::lock_guard<std::mutex> lock(ch->mu);
        gaps.swap(ch->gaps);
      }
      metrics.InterTokens(gaps);
      metrics.Request(endpoint, status);
      if (c && c->status.ok())
        metrics.Completed(n_prompt, c->stats, std::chrono::duration<double>(Clock::now() - arrived).count(),
                          c->finish == FinishReason::kTimeout);
      --in_flight;
    };
    const int fd = ConnectionSocket(req);
    if (!g.stream) return Answer(res, *id, ch, head, n_prompt, g.prune, account, fd);
    Stream(res, *id, ch, head, g, account, fd);
  }

  // A whole response once the completion is there; a client that leaves first cancels it.
  template <typename Account>
  void Answer(httplib::Response& res, Scheduler::Id id, const std::shared_ptr<Channel>& ch, const ResponseHead& head,
              int64_t n_prompt, const std::string& prune, Account& account, int fd) {
    for (;;) {
      ch->Wait(kPoll);
      {
        std::lock_guard<std::mutex> lock(ch->mu);
        if (ch->done) break;
        ch->pieces.clear();
      }
      if (PeerClosed(fd)) {  // account takes the channel's lock
        scheduler->Cancel(id);
        metrics.Disconnected();
        res.status = 499;  // nobody reads it
        account(nullptr, 499);
        return;
      }
    }
    const Completion& c = *ch->done;
    if (c.status.ok()) {
      SendJson(res, 200, FullResponse(head, c, n_prompt, prune));
      return account(&c, 200);
    }
    const bool busy = c.status.code() == StatusCode::kResourceExhausted || c.status.code() == StatusCode::kCancelled;
    SendError(res, {busy ? 503 : 500, c.status.message(), "", busy ? "unavailable_error" : "server_error"});
    account(&c, res.status);
  }

  // Server-sent events: a chunk per piece of text, the last with the finish reason and lazyllm's
  // object, the usage chunk when asked, then [DONE]. A client that leaves cancels the request.
  template <typename Account>
  void Stream(httplib::Response& res, Scheduler::Id id, const std::shared_ptr<Channel>& ch, const ResponseHead& head,
              const GenerationRequest& g, Account& account, int fd) {
    res.set_header("Cache-Control", "no-cache");
    struct State {
      bool first = true, finished = false;
    };
    auto state = std::make_shared<State>();
    const auto n_prompt = static_cast<int64_t>(g.prompt.size());
    res.set_chunked_content_provider(
        "text/event-stream",
        [ch, head, state, n_prompt, fd, usage = g.include_usage, prune = g.prune, account](
            size_t, httplib::DataSink& sink) mutable {
          ch->Wait(kPoll);
          std::deque<std::string> pieces;
          std::optional<Completion> done;
          {
            std::lock_guard<std::mutex> lock(ch->mu);
            pieces.swap(ch->pieces);
            done = ch->done;
          }
          std::string out;
          for (const std::string& p : pieces) {
            out += Sse(Chunk(head, p, state->first, std::nullopt));
            state->first = false;
          }
          if (done) {
            if (done->status.ok()) {
              json last = Chunk(head, "", state->first, done->finish);
              last["lazyllm"] = LazyllmInfo(*done, prune);
              out += Sse(last);
              if (usage) out += Sse(UsageChunk(head, *done, n_prompt));
            } else {
              out += Sse(ErrorBody({500, done->status.message(), "", "server_error"}));
            }
            out += "data: [DONE]\n\n";
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (!done) return !PeerClosed(fd);
          state->finished = true;
          account(&*done, 200);
          sink.done();
          return true;
        },
        [this, id, state, account](bool) mutable {
          if (state->finished) return;
          scheduler->Cancel(id);  // the client left (or the server stopped) before the end
          metrics.Disconnected();
          account(nullptr, 499);
        });
  }
};

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()),
      handlers_(std::make_unique<Handlers>(options_)) {
  Handlers& h = *handlers_;
  httplib::Server& s = *http_;
  s.set_payload_max_length(options_.max_body_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a port
  // in use would start and silently share its connections instead of failing.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_tcp_nodelay(true);  // a stream is many small writes: none waits for the previous one's ACK
  s.new_task_queue = [this] {
    int n = options_.http_threads;
    if (n <= 0) n = 64;
    return new httplib::ThreadPool(static_cast<size_t>(std::max(n, 16)));
  };
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string want = "Bearer " + options_.api_key;
    if (SameSecret(auth, want)) return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, {401, auth.empty() ? "no API key: send 'Authorization: Bearer KEY'" : "the API key is not valid", "",
                    "invalid_request_error", "invalid_api_key"});
    handlers_->metrics.Request(req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413)
      SendError(res, {413, "the request body is larger than the server's limit", "", "invalid_request_error"});
    else if (res.status == 404)
      SendError(res, {404, "no endpoint " + req.method + " " + req.path, "", "invalid_request_error"});
    else
      SendError(res, {res.status, "the request could not be served", "", "invalid_request_error"});
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, {500, "internal error: " + what, "", "server_error"});
  });
  s.Get("/health", [&h](const httplib::Request&, httplib::Response& res) { h.Health(res); });
  s.Get("/v1/models", [&h](const httplib::Request&, httplib::Response& res) {
    h.Models(res);
    h.metrics.Request("/v1/models", res.status);
  });
  s.Get("/metrics", [&h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.metrics.Text(h.Gauges()), "text/plain; version=0.0.4");
  });
  s.Post("/v1/completions",
         [&h](const httplib::Request& req, httplib::Response& res) { h.Generate(req, res, /*chat=*/false); });
  s.Post("/v1/chat/completions",
         [&h](const httplib::Request& req, httplib::Response& res) { h.Generate(req, res, /*chat=*/true); });
  auto tokens = [&h](const char* endpoint, auto fn) {
    return [&h, endpoint, fn](const httplib::Request& req, httplib::Response& res) {
      if (auto e = h.Unavailable()) {
        SendError(res, *e);
      } else {
        auto r = fn(req.body, h.served.model->tokenizer());
        if (auto* e = std::get_if<ApiError>(&r))
          SendError(res, *e);
        else
          SendJson(res, 200, std::get<json>(r));
      }
      h.metrics.Request(endpoint, res.status);
    };
  };
  s.Post("/tokenize", tokens("/tokenize", Tokenize));
  s.Post("/detokenize", tokens("/detokenize", Detokenize));
}

Server::~Server() { Stop(); }

StatusOr<int> Server::Start() {
  const int port = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                                      : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port < 0)
    return InvalidArgumentError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                " (in use, or not an address of this machine)");
  port_ = port;
  WidenBacklog(port);
  listener_ = std::thread([this] {
    http_->listen_after_bind();
    listener_done_ = true;
  });
  return port;
}

void Server::SetReady(const ServedModel& served, Scheduler& scheduler) {
  handlers_->served = served;
  handlers_->scheduler = &scheduler;
  handlers_->ready = true;
}

void Server::Drain(double grace_s) {
  Handlers& h = *handlers_;
  h.draining = true;
  if (h.scheduler) h.scheduler->Shutdown(grace_s);
  // The responses of what ended are being written; give them a moment to go out.
  for (int i = 0; i < 200 && h.in_flight > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  Stop();
}

void Server::Stop() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing until the listener's loop runs: a Stop right after Start (a
  // test's, under a sanitizer) waits for it, or the loop would start after it and never end.
  while (!http_->is_running() && !listener_done_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
  listener_.join();
}

}  // namespace lazyllm::server
