// The ranks of a batch job run under MPI (`mpirun -np N lazyllm run --batch-file F`, `lazyllm
// eval`): one engine per rank, each taking a share of the items balanced by their costs, and rank
// 0 writing every item's output in input order, as one process would. Outside mpirun, or in a build without MPI
// (LAZYLLM_MPI off), there is one rank of one and nothing is sent.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lazyllm::cli {

class Ranks {
 public:
#ifdef LAZYLLM_HAVE_MPI
  static constexpr bool kBuiltWithMpi = true;
#else
  static constexpr bool kBuiltWithMpi = false;
#endif
  // This process's job: MPI is initialised on the first call when mpirun (Open MPI, or a PMI
  // launcher) started the process, and finalised at exit.
  static const Ranks& Job();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool writes() const { return rank_ == 0; }
  // The items this rank takes, ascending, of items with these costs (e.g. prompt plus generated
  // tokens): the costliest first, each to the rank with the least cost so far (ties to the lower
  // rank), so that ranks finish together. The same on every rank: no message is needed.
  std::vector<size_t> Mine(const std::vector<int64_t>& costs) const;

  // Every rank's (item, bytes) pieces, on rank 0 ordered by item (each item once); the other
  // ranks get an empty list. Collective: every rank calls it.
  std::vector<std::pair<int64_t, std::string>> Gather(const std::vector<std::pair<int64_t, std::string>>& mine) const;
  // v summed (or, for Max, the largest) over the ranks, on every rank. Collective.
  std::vector<int64_t> Sum(std::vector<int64_t> v) const;
  double Max(double v) const;
  // Ends the whole job after an error on this rank, so that no rank waits for it.
  [[noreturn]] void Abort(int code) const;

 private:
  Ranks() = default;
  int rank_ = 0, size_ = 1;
};

}  // namespace lazyllm::cli
