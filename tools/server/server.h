// The HTTP side of `lazyllm serve`: OpenAI-compatible endpoints over a Scheduler, on cpp-httplib.
// It answers /health (503 "loading") as soon as it listens, serves once SetReady is called, and
// drains on Drain: new work gets 503 while what runs finishes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "lazyllm/lazyllm.h"
#include "tools/server/metrics.h"
#include "tools/server/openai.h"

namespace httplib {
class Server;
}

namespace lazyllm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: a free port (Start returns it)
  // Every endpoint but /health needs "Authorization: Bearer KEY" when set.
  std::string api_key;
  // Larger request bodies get 413.
  size_t max_body_bytes = size_t{8} << 20;
  // A request that runs longer ends with finish_reason "timeout"; 0: never.
  double timeout_s = 0;
  // Connections served at once (each request holds one while it runs): at least 16; 0 means 64.
  // `serve` gives --parallel + --queue + 8, so that every admitted or queued request has one.
  int http_threads = 0;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stops listening

  // Binds and listens on a thread of its own; the port, or an error naming the address.
  StatusOr<int> Start();
  // The model is loaded: generation endpoints use it from now on. `scheduler` outlives the server.
  void SetReady(const ServedModel& served, Scheduler& scheduler);
  // Stops taking generation requests (503; /health says "draining"), lets the scheduler finish
  // what runs within grace_s (then cancels the rest), waits for their responses, stops listening.
  void Drain(double grace_s);
  void Stop();

  int port() const { return port_; }

 private:
  struct Handlers;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<Handlers> handlers_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};  // its loop returned (or never ran)
  int port_ = 0;
};

}  // namespace lazyllm::server
