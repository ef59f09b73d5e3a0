// hwloc topology reading and the arena / row-slice planning.
#include "threading/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <memory>

namespace lazyllm::threading {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};

}  // namespace

StatusOr<Topology> Topology::Load(const char* synthetic) {
  hwloc_topology_t raw;
  if (hwloc_topology_init(&raw) != 0) return InternalError("hwloc_topology_init failed");
  std::unique_ptr<hwloc_topology, TopologyDeleter> owner(raw);
  if (synthetic != nullptr && hwloc_topology_set_synthetic(raw, synthetic) != 0)
    return InvalidArgumentError(std::string("invalid hwloc synthetic topology '") + synthetic + "'");
  if (hwloc_topology_load(raw) != 0) return InternalError("hwloc_topology_load failed");

  Topology topo;
  topo.num_packages_ = std::max(1, hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_PACKAGE));
  // NUMA nodes, or the whole machine as one node when hwloc reports none.
  const int n = hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < std::max(n, 1); ++i) {
    hwloc_obj_t node = n > 0 ? hwloc_get_obj_by_type(raw, HWLOC_OBJ_NUMANODE, i) : hwloc_get_root_obj(raw);
    NumaNode out;
    out.os_index = n > 0 ? static_cast<int>(node->os_index) : 0;
    hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(raw, HWLOC_OBJ_PACKAGE, node);
    out.package = pkg != nullptr ? static_cast<int>(pkg->logical_index) : 0;
    const int cores = hwloc_get_nbobjs_inside_cpuset_by_type(raw, node->cpuset, HWLOC_OBJ_CORE);
    for (int c = 0; c < cores; ++c) {
      hwloc_obj_t core = hwloc_get_obj_inside_cpuset_by_type(raw, node->cpuset, HWLOC_OBJ_CORE, c);
      const int pu = hwloc_bitmap_first(core->cpuset);  // one worker per core: its first PU
      if (pu >= 0) out.pus.push_back(pu);
    }
    if (!out.pus.empty()) topo.nodes_.push_back(std::move(out));
  }
  if (topo.nodes_.empty()) return InternalError("hwloc found no cores");
  return topo;
}

StatusOr<Topology> Topology::Detect() { return Load(nullptr); }
StatusOr<Topology> Topology::Synthetic(const std::string& description) { return Load(description.c_str()); }

int Topology::num_cores() const {
  int n = 0;
  for (const NumaNode& node : nodes_) n += static_cast<int>(node.pus.size());
  return n;
}

std::vector<ArenaPlan> PlanArenas(const Topology& topo, int threads, bool numa) {
  const auto& nodes = topo.nodes();
  const int cores = topo.num_cores();
  if (threads <= 0 || threads > cores) threads = cores;
  // Round-robin over nodes that still have free cores.
  std::vector<ArenaPlan> per_node(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) per_node[i].node = static_cast<int>(i);
  for (int given = 0, i = 0; given < threads; i = (i + 1) % static_cast<int>(nodes.size())) {
    ArenaPlan& a = per_node[i];
    if (a.pus.size() < nodes[i].pus.size()) {
      a.pus.push_back(nodes[i].pus[a.pus.size()]);
      ++given;
    }
  }
  std::vector<ArenaPlan> out;
  for (ArenaPlan& a : per_node)
    if (!a.pus.empty()) out.push_back(std::move(a));
  if (numa || out.size() <= 1) return out;
  ArenaPlan single{out.front().node, {}};
  for (const ArenaPlan& a : out) single.pus.insert(single.pus.end(), a.pus.begin(), a.pus.end());
  return {single};
}

std::vector<std::pair<int64_t, int64_t>> SplitRows(int64_t rows, const std::vector<ArenaPlan>& arenas, int64_t align) {
  int64_t workers = 0;
  for (const ArenaPlan& a : arenas) workers += static_cast<int64_t>(a.pus.size());
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t begin = 0, acc = 0;
  for (size_t i = 0; i < arenas.size(); ++i) {
    acc += static_cast<int64_t>(arenas[i].pus.size());
    int64_t end = rows;
    if (i + 1 < arenas.size()) {
      // Proportional boundary, rounded to the nearest multiple of align, kept in [begin, rows].
      const int64_t ideal = rows * acc / workers;
      end = std::clamp((ideal + align / 2) / align * align, begin, rows);
    }
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

}  // namespace lazyllm::threading
