// Internal observation points of a Session's LazyLLM scheduler, for tests (not installed).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/pruning/state.h"
#include "lazyllm/session.h"
#include "threading/topology.h"

namespace lazyllm::internal {

// The selection's observation points of `session` (empty by default; set them before Prefill).
PruningHooks& Hooks(Session& session);
// Whether (layer, slot) has K/V, and that slot's cached K row (kv_dim floats).
bool HasKv(const Session& session, int64_t layer, int64_t slot);
std::vector<float> CachedK(const Session& session, int64_t layer, int64_t slot);  // empty: no K/V

// Session::Create on a given machine topology (e.g. an hwloc synthetic one) instead of the
// detected one.
StatusOr<Session> CreateSession(const Model& model, const SessionOptions& options, const threading::Topology* topo);
// A session on an existing engine.
StatusOr<Session> CreateSessionOn(const Engine& engine, const SessionOptions& options);

// How the weights were placed: threads per arena, and for three matrices (layer 0's wq and
// w_down, the LM head) each arena's row slice, whether it is a node-local copy, which worker
// first wrote it, and whether its bytes equal the file's (no slices for a w_down the model does
// not have: a mixture of experts').
struct Placement {
  struct Slice {
    int64_t begin, end;
    bool copied;
    int toucher;
    bool equal;        // every row as in the file (deinterleaved if need be)
    bool interleaved;  // rows in groups (simd/interleaved.h)
    int64_t stride;    // bytes from one row to the next
  };
  std::vector<int> arena_threads;
  std::vector<std::vector<Slice>> matrices;
};
Placement WeightPlacement(const Session& session);

}  // namespace lazyllm::internal
