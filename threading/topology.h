// Machine topology from hwloc (packages → NUMA nodes → cores) and the plan of worker arenas
// and weight-row slices derived from it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm::threading {

struct NumaNode {
  int os_index = 0;      // the OS's NUMA node number
  int package = 0;       // logical index of the package (socket) holding it
  std::vector<int> pus;  // one processing unit (the first hyperthread) per core, OS numbering
};

class Topology {
 public:
  // The machine this process runs on.
  static StatusOr<Topology> Detect();
  // An hwloc synthetic topology, e.g. "pack:2 numa:2 core:4 pu:2" (tests of NUMA logic on a
  // single-node machine). Errors name the description.
  static StatusOr<Topology> Synthetic(const std::string& description);

  const std::vector<NumaNode>& nodes() const { return nodes_; }
  int num_packages() const { return num_packages_; }
  int num_cores() const;

 private:
  static StatusOr<Topology> Load(const char* synthetic);  // nullptr: the real machine

  std::vector<NumaNode> nodes_;
  int num_packages_ = 0;
};

// One worker arena: the NUMA node it serves and the PUs its workers are pinned to.
struct ArenaPlan {
  int node = 0;          // index into Topology::nodes()
  std::vector<int> pus;  // one worker per PU
};

// Distributes `threads` workers (0: one per core; capped at the core count) over the machine.
// Workers go to NUMA nodes round-robin, so each node gets floor or ceil of threads/nodes. With
// numa, every node that got workers has its own arena; without, one arena holds them all
// (the single-arena fallback, also used when hwloc sees one node).
std::vector<ArenaPlan> PlanArenas(const Topology& topo, int threads, bool numa);

// Splits `rows` weight rows into one contiguous [begin, end) slice per arena, in proportion to
// its workers; slice boundaries are multiples of `align` (except the end).
std::vector<std::pair<int64_t, int64_t>> SplitRows(int64_t rows, const std::vector<ArenaPlan>& arenas, int64_t align);

}  // namespace lazyllm::threading
