// Ranks: MPI when built with it and launched by mpirun; one rank otherwise.
#include "tools/ranks.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "threading/deal.h"

#ifdef LAZYLLM_HAVE_MPI
#include <mpi.h>
#endif

namespace lazyllm::cli {
namespace {

#ifdef LAZYLLM_HAVE_MPI
// Whether a launcher started this process as a rank: mpirun sets these (Open MPI, PMI/PMIx).
bool UnderMpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

// Pieces as bytes: per piece its item and length (int64 each), then its bytes.
std::string Pack(const std::vector<std::pair<int64_t, std::string>>& pieces) {
  std::string out;
  for (const auto& [item, bytes] : pieces) {
    const int64_t head[2] = {item, static_cast<int64_t>(bytes.size())};
    out.append(reinterpret_cast<const char*>(head), sizeof head);
    out += bytes;
  }
  return out;
}

void Unpack(const char* p, size_t n, std::vector<std::pair<int64_t, std::string>>* out) {
  for (size_t at = 0; at + 2 * sizeof(int64_t) <= n;) {
    int64_t head[2];
    std::memcpy(head, p + at, sizeof head);
    at += sizeof head;
    out->emplace_back(head[0], std::string(p + at, static_cast<size_t>(head[1])));
    at += static_cast<size_t>(head[1]);
  }
}
#endif

}  // namespace

const Ranks& Ranks::Job() {
  static const Ranks job = [] {
    Ranks r;
#ifdef LAZYLLM_HAVE_MPI
    if (UnderMpirun()) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      MPI_Comm_rank(MPI_COMM_WORLD, &r.rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &r.size_);
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
#endif
    return r;
  }();
  return job;
}

std::vector<size_t> Ranks::Mine(const std::vector<int64_t>& costs) const {
  std::vector<int64_t> positive(costs.size());  // an item of no cost still takes its turn
  std::transform(costs.begin(), costs.end(), positive.begin(), [](int64_t c) { return std::max<int64_t>(c, 1); });
  std::vector<size_t> mine = threading::DealLargestFirst(positive, size_).items[static_cast<size_t>(rank_)];
  std::sort(mine.begin(), mine.end());
  return mine;
}

std::vector<std::pair<int64_t, std::string>> Ranks::Gather(
    const std::vector<std::pair<int64_t, std::string>>& mine) const {
  std::vector<std::pair<int64_t, std::string>> all;
  if (size_ == 1) {
    all = mine;
  } else {
#ifdef LAZYLLM_HAVE_MPI
    const std::string packed = Pack(mine);
    int len = static_cast<int>(packed.size());
    std::vector<int> lens(static_cast<size_t>(size_)), at(static_cast<size_t>(size_));
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      at[r] = total;
      total += lens[r];
    }
    std::string buf(static_cast<size_t>(rank_ == 0 ? total : 0), '\0');
    MPI_Gatherv(packed.data(), len, MPI_CHAR, buf.data(), lens.data(), at.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank_ == 0) Unpack(buf.data(), buf.size(), &all);
#endif
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return all;
}

std::vector<int64_t> Ranks::Sum(std::vector<int64_t> v) const {
#ifdef LAZYLLM_HAVE_MPI
  if (size_ > 1)
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
#endif
  return v;
}

double Ranks::Max(double v) const {
#ifdef LAZYLLM_HAVE_MPI
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
#endif
  return v;
}

void Ranks::Abort(int code) const {
#ifdef LAZYLLM_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace lazyllm::cli
