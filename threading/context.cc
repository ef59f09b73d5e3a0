// The threading context: the arena plan from the topology, the pool, per-thread scratch.
#include "threading/context.h"

namespace lazyllm::threading {
namespace {

// One arena per NUMA node with workers when NUMA placement is on and the topology has several
// nodes; otherwise none (the single-arena pool).
std::vector<ArenaPlan> PlanFor(int threads, bool numa, const Topology* topo) {
  if (!numa) return {};
  StatusOr<Topology> machine = InvalidArgumentError("unread");
  if (topo == nullptr) {
    machine = Topology::Detect();
    if (!machine.ok()) return {};
    topo = &*machine;
  }
  if (topo->nodes().size() < 2) return {};
  auto plan = PlanArenas(*topo, threads, /*numa=*/true);
  if (plan.size() < 2) return {};
  return plan;
}

}  // namespace

Context::Context(int threads, bool numa, const Topology* topo)
    : plan_(PlanFor(threads, numa, topo)),
      pool_(plan_.empty() ? std::make_unique<ThreadPool>(threads) : std::make_unique<ThreadPool>(plan_)) {}

float* Context::Scratch(int64_t floats) const {
  std::vector<float>& buf = scratch_.local();
  if (static_cast<int64_t>(buf.size()) < floats) buf.resize(static_cast<size_t>(floats));
  return buf.data();
}

}  // namespace lazyllm::threading
