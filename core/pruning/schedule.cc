// Parsing and arithmetic of pruning schedules.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/base/status_macros.h"
#include "lazyllm/pruning.h"

namespace lazyllm {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string_view::npos; start = at + 1)
    out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

bool ParseInt(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool ParseFraction(std::string_view s, double* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

Status Bad(std::string_view spec, const std::string& why) {
  return InvalidArgumentError("pruning schedule '" + std::string(spec) + "': " + why);
}

// Parses "L:k" with L in 1..num_layers-1 and k in [0, 1).
Status ParseStep(std::string_view spec, std::string_view item, int64_t num_layers, PruningOptions::Step* step) {
  const auto parts = Split(item, ':');
  if (parts.size() != 2) return Bad(spec, std::string("'").append(item).append("' is not LAYER:FRACTION"));
  if (!ParseInt(parts[0], &step->layer)) return Bad(spec, "layer '" + std::string(parts[0]) + "' is not an integer");
  if (!ParseFraction(parts[1], &step->k)) return Bad(spec, "fraction '" + std::string(parts[1]) + "' is not a number");
  if (step->layer < 1 || step->layer >= num_layers)
    return Bad(spec, "layer " + std::to_string(step->layer) + " is outside 1.." + std::to_string(num_layers - 1) +
                         " (selection at a layer's input uses the previous layer's scores)");
  if (!(step->k >= 0.0 && step->k < 1.0)) return Bad(spec, "fraction " + std::string(parts[1]) + " is outside [0, 1)");
  return OkStatus();
}

StatusOr<PruningOptions> ParseSchedule(std::string_view full, std::string_view spec, int64_t num_layers, uint64_t seed);

}  // namespace

StatusOr<PruningOptions> PruningOptions::Parse(std::string_view spec, int64_t num_layers, uint64_t seed) {
  // A trailing revive:R (LazyLLM schedules only).
  std::string_view steps_spec = spec;
  int64_t budget = -1;
  if (const size_t at = spec.rfind(",revive:"); at != std::string_view::npos) {
    const std::string_view r = spec.substr(at + 8);
    const bool unbounded = r == "inf";
    if (!unbounded && (!ParseInt(r, &budget) || budget < 0))
      return Bad(spec, "revival bound '" + std::string(r) + "' is not a count >= 0 or inf");
    steps_spec = spec.substr(0, at);
    if (steps_spec.rfind("static:", 0) == 0 || steps_spec.rfind("random:", 0) == 0 || steps_spec == "off")
      return Bad(spec, "revive:R bounds LazyLLM's revivals; static, random and off never revive");
  }
  LAZYLLM_ASSIGN_OR_RETURN(PruningOptions o, ParseSchedule(spec, steps_spec, num_layers, seed));
  if (steps_spec != spec) o.revive_budget = budget;  // -1 for inf
  return o;
}

namespace {

StatusOr<PruningOptions> ParseSchedule(std::string_view full, std::string_view spec, int64_t num_layers,
                                       uint64_t seed) {
  PruningOptions o;
  o.seed = seed;
  using Method = PruningOptions::Method;
  using Step = PruningOptions::Step;
  if (spec == "off") return o;
  if (spec == "paper") {
    if (num_layers < 2)
      return Bad(full, "a model of " + std::to_string(num_layers) + " layer cannot be pruned by layer");
    o.method = Method::kLazy;
    for (const double f : {9.0 / 32, 19.0 / 32, 28.0 / 32}) {
      const auto layer = std::clamp<int64_t>(static_cast<int64_t>(std::floor(f * num_layers + 0.5)), 1, num_layers - 1);
      if (o.steps.empty() || o.steps.back().layer != layer) o.steps.push_back({layer, 0.3});
    }
    o.revive_budget = PruningOptions::kPaperReviveBudget;
    return o;
  }
  if (spec.rfind("random:", 0) == 0) {
    o.method = Method::kRandom;
    const std::string_view k = spec.substr(7);
    if (!ParseFraction(k, &o.random_k)) return Bad(full, "fraction '" + std::string(k) + "' is not a number");
    if (!(o.random_k >= 0.0 && o.random_k < 1.0)) return Bad(full, "fraction " + std::string(k) + " is outside [0, 1)");
    return o;
  }
  if (spec.rfind("static:", 0) == 0) {
    o.method = Method::kStatic;
    Step s;
    LAZYLLM_RETURN_IF_ERROR(ParseStep(full, spec.substr(7), num_layers, &s));
    o.steps.push_back(s);
    return o;
  }
  if (spec.empty()) return Bad(full, "empty (use off, paper, L:k,..., static:L:k or random:k)");
  o.method = Method::kLazy;
  for (std::string_view item : Split(spec, ',')) {
    Step s;
    LAZYLLM_RETURN_IF_ERROR(ParseStep(full, item, num_layers, &s));
    for (const Step& prev : o.steps)
      if (prev.layer == s.layer) return Bad(full, "layer " + std::to_string(s.layer) + " appears twice");
    o.steps.push_back(s);
  }
  std::sort(o.steps.begin(), o.steps.end(), [](const Step& a, const Step& b) { return a.layer < b.layer; });
  return o;
}

}  // namespace

namespace {
// The shortest text that parses back to exactly v (0.9999999 stays 0.9999999, not %g's 1).
std::string Exact(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}
}  // namespace

std::string PruningOptions::ToString() const {
  switch (method) {
    case Method::kOff:
      return "off";
    case Method::kRandom:
      return "random:" + Exact(random_k);
    case Method::kStatic:
      return "static:" + std::to_string(steps[0].layer) + ":" + Exact(steps[0].k);
    case Method::kLazy:
      break;
  }
  std::string s;
  for (const Step& st : steps) s += (s.empty() ? "" : ",") + std::to_string(st.layer) + ":" + Exact(st.k);
  if (revive_budget >= 0) s += ",revive:" + std::to_string(revive_budget);
  return s;
}

int64_t PruningOptions::NumDropped(double k, int64_t candidates) {
  if (candidates <= 1) return 0;
  return std::min<int64_t>(static_cast<int64_t>(std::floor(k * static_cast<double>(candidates))), candidates - 1);
}

double PruningOptions::PrefillWorkFraction(int64_t num_layers, int64_t n) const {
  if (n <= 0 || num_layers <= 0) return 1.0;
  int64_t live = n;
  if (method == Method::kRandom) live = n - NumDropped(random_k, n);
  int64_t work = 0;
  size_t next = 0;
  for (int64_t l = 0; l < num_layers; ++l) {
    if (next < steps.size() && steps[next].layer == l) {
      // The last token is never dropped.
      live -= NumDropped(steps[next].k, live);
      ++next;
    }
    work += live;
  }
  return static_cast<double>(work) / static_cast<double>(num_layers * n);
}

}  // namespace lazyllm
