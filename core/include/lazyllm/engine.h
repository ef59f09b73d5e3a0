// Engine: what the sequences of one model share: the worker pool (one pinned arena per NUMA
// node) and the weights placed on those nodes, placed once per engine.
#pragma once

#include <memory>

#include "lazyllm/model.h"
#include "lazyllm/status.h"

namespace lazyllm {
namespace internal {
struct EngineAccess;
}  // namespace internal

struct EngineOptions {
  // Worker threads; 0 (default) uses every hardware thread.
  int threads = 0;
  // With several NUMA nodes (hwloc), one pinned arena per node and a node-local copy of each
  // node's share of every weight matrix (default on); results are identical either way.
  bool numa = true;
};

// A shared handle (cheap to copy). Sessions created on one engine share its workers and its
// placed weights instead of each placing its own copy. Steps of two sessions of one engine
// must not run at the same time.
class Engine {
 public:
  static StatusOr<Engine> Create(const Model& model, const EngineOptions& options = {});

  const Model& model() const;
  int threads() const;

  struct Impl;
  const std::shared_ptr<Impl>& impl() const { return impl_; }

 private:
  friend struct internal::EngineAccess;
  explicit Engine(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace lazyllm
