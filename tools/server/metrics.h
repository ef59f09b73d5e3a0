// The server's Prometheus metrics: counters by label, histograms, and the text exposition format.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lazyllm/generate.h"

namespace lazyllm::server {

class Metrics {
 public:
  Metrics();

  void Request(const std::string& endpoint, int status);
  void Disconnected();  // a client left before its response: its request was cancelled
  // A generation that ended: its tokens, its times (from its stats, and `seconds` from arrival
  // to the end) and whether its timeout ended it.
  void Completed(int64_t prompt_tokens, const Stats& stats, double seconds, bool timed_out);
  // The times between consecutive generated tokens of one request, each taken as the second is
  // handed to its HTTP thread (every such interval, where time_per_output_token averages a
  // request's), reported when the request ends.
  void InterTokens(const std::vector<double>& seconds);

  // Gauges read at scrape time.
  struct Gauges {
    int64_t running = 0, queued = 0, kv_held_bytes = 0, kv_limit_bytes = 0, steps = 0;
    bool ready = false, draining = false;
  };
  // The exposition text (version 0.0.4).
  std::string Text(const Gauges& g) const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bound, not cumulative; one more for +Inf
    double sum = 0;
    uint64_t n = 0;
    void Add(double v);
  };
  static void Write(std::string& out, const std::string& name, const std::string& help, const Histogram& h);

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0, disconnected_ = 0, timed_out_ = 0;
  Histogram ttft_, queue_, tpot_, e2e_, inter_token_;
};

}  // namespace lazyllm::server
