// Internal observation points of a Session's LazyLLM scheduler, for tests (not installed).
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "lazyllm/session.h"

namespace lazyllm::internal {

struct SessionHooks {
  // A computed row dropped at a selection layer, as it is stored in Aux[layer]
  // (layer = selection layer - 1): its output hidden state of that layer.
  std::function<void(int64_t layer, int64_t slot, std::span<const float> row)> on_stash;
  // A revived row at the input of selection layer `layer`, as it enters the computation.
  std::function<void(int64_t layer, int64_t slot, std::span<const float> row)> on_revive;
};

// The hooks of `session` (empty by default; set them before Prefill).
SessionHooks& Hooks(Session& session);
// Whether (layer, slot) has K/V, and that slot's cached K row (kv_dim floats).
bool HasKv(const Session& session, int64_t layer, int64_t slot);
std::span<const float> CachedK(const Session& session, int64_t layer, int64_t slot);

}  // namespace lazyllm::internal
