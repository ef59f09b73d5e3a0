// Prometheus text exposition of the server's counters and histograms.
#include "tools/server/metrics.h"

#include <cstdio>

namespace lazyllm::server {
namespace {

std::string Num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

void Head(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Scalar(std::string& out, const std::string& name, const std::string& help, const char* type, double v) {
  Head(out, name, help, type);
  out += name + " " + Num(v) + "\n";
}

}  // namespace

Metrics::Metrics() {
  // Seconds: TTFT and queue time from a millisecond to minutes, time per token to a second.
  ttft_.bounds = queue_.bounds = e2e_.bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  tpot_.bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  // One interval may hold a whole prefill that ran between two tokens: up to seconds.
  inter_token_.bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  for (Histogram* h : {&ttft_, &queue_, &tpot_, &e2e_, &inter_token_}) h->counts.assign(h->bounds.size() + 1, 0);
}

void Metrics::Histogram::Add(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

void Metrics::Request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}
void Metrics::Disconnected() {
  std::lock_guard<std::mutex> lock(mu_);
  ++disconnected_;
}

void Metrics::Completed(int64_t prompt_tokens, const Stats& s, double seconds, bool timed_out) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
  generated_tokens_ += static_cast<uint64_t>(s.generated_tokens);
  queue_.Add(s.queue_ms / 1000);
  if (s.generated_tokens > 0) ttft_.Add(s.ttft_ms / 1000);
  if (s.generated_tokens > 1) tpot_.Add(s.decode_ms / 1000 / static_cast<double>(s.generated_tokens - 1));
  e2e_.Add(seconds);
  if (timed_out) ++timed_out_;
}

void Metrics::InterTokens(const std::vector<double>& seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (double s : seconds) inter_token_.Add(s);
}

void Metrics::Write(std::string& out, const std::string& name, const std::string& help, const Histogram& h) {
  Head(out, name, help, "histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", h.bounds[i]);
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(h.n) + "\n";
  out += name + "_sum " + Num(h.sum) + "\n" + name + "_count " + std::to_string(h.n) + "\n";
}

std::string Metrics::Text(const Gauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Head(out, "lazyllm_requests_total", "HTTP requests by endpoint and status.", "counter");
  for (const auto& [key, n] : requests_)
    out += "lazyllm_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  Scalar(out, "lazyllm_prompt_tokens_total", "Prompt tokens of finished requests.", "counter",
         static_cast<double>(prompt_tokens_));
  Scalar(out, "lazyllm_generated_tokens_total", "Tokens generated for finished requests.", "counter",
         static_cast<double>(generated_tokens_));
  Scalar(out, "lazyllm_client_disconnects_total", "Requests cancelled because their client left.", "counter",
         static_cast<double>(disconnected_));
  Scalar(out, "lazyllm_request_timeouts_total", "Requests ended by --timeout.", "counter",
         static_cast<double>(timed_out_));
  Write(out, "lazyllm_time_to_first_token_seconds", "From arrival to the first generated token.", ttft_);
  Write(out, "lazyllm_queue_seconds", "From arrival to admission into the batch.", queue_);
  Write(out, "lazyllm_time_per_output_token_seconds", "Decode time per generated token after the first.", tpot_);
  Write(out, "lazyllm_request_seconds", "From arrival to the last token.", e2e_);
  Write(out, "lazyllm_inter_token_seconds", "Every interval between two consecutive tokens of a request.",
        inter_token_);
  Scalar(out, "lazyllm_requests_running", "Requests admitted and generating.", "gauge", static_cast<double>(g.running));
  Scalar(out, "lazyllm_requests_queued", "Requests waiting for admission.", "gauge", static_cast<double>(g.queued));
  Scalar(out, "lazyllm_kv_bytes_held", "KV cache bytes held by sequences.", "gauge",
         static_cast<double>(g.kv_held_bytes));
  Scalar(out, "lazyllm_kv_bytes_limit", "The KV pool's limit (--kv-mem; 0: none).", "gauge",
         static_cast<double>(g.kv_limit_bytes));
  Scalar(out, "lazyllm_engine_steps_total", "Engine steps run.", "counter", static_cast<double>(g.steps));
  Scalar(out, "lazyllm_ready", "1 when the model is loaded and the server takes requests.", "gauge", g.ready ? 1 : 0);
  Scalar(out, "lazyllm_draining", "1 after SIGTERM/SIGINT while requests finish.", "gauge", g.draining ? 1 : 0);
  return out;
}

}  // namespace lazyllm::server
