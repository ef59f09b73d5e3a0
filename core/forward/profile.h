// The stage timer of EngineOptions::profile: adds its scope's wall time (and the weight bytes
// its matmuls read) to one stage of a step's profile phase, or does nothing without one.
#pragma once

#include <chrono>
#include <cstdint>

#include "lazyllm/engine.h"

namespace lazyllm {

class StageTimer {
 public:
  StageTimer(StepProfile::Phase* phase, StepProfile::Stage stage, int64_t weight_bytes = 0)
      : totals_(phase != nullptr ? &phase->stages[stage] : nullptr), weight_bytes_(weight_bytes) {
    if (totals_ != nullptr) start_ = std::chrono::steady_clock::now();
  }
  ~StageTimer() {
    if (totals_ == nullptr) return;
    totals_->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    totals_->calls += 1;
    totals_->weight_bytes += weight_bytes_;
  }
  void AddWeightBytes(int64_t bytes) { weight_bytes_ += bytes; }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  StepProfile::Totals* totals_;
  int64_t weight_bytes_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace lazyllm
