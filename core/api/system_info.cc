// GetSystemInfo: the build (version, commit, compiler) and the machine (CPU, cores, NUMA nodes,
// the ISA chosen, OpenBLAS's kernels).
#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

#include "lazyllm/system.h"
#include "simd/gemm.h"
#include "simd/kernels.h"
#include "threading/topology.h"

namespace lazyllm {
namespace internal {
extern const char* const kBuildCommit;  // build_info.cc, generated at build time
}  // namespace internal

namespace {

#define LAZYLLM_STR2(x) #x
#define LAZYLLM_STR(x) LAZYLLM_STR2(x)

std::string CompilerName() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " LAZYLLM_STR(__GNUC__) "." LAZYLLM_STR(__GNUC_MINOR__) "." LAZYLLM_STR(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    return name;
  }
  return "unknown";
}

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// The best ISA among OpenBLAS's x86-64 kernel families (lowercase names as openblas_get_corename
// prints them), as lazyllm's Isa scale; kRef for the families below AVX2, -1 for unknown names.
int BlasCoreLevel(std::string core) {
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* name : {"skylakex", "cooperlake", "sapphirerapids"})
    if (core == name) return static_cast<int>(simd::Isa::kAvx512);
  for (const char* name : {"haswell", "zen", "skylake"})
    if (core == name) return static_cast<int>(simd::Isa::kAvx2);
  for (const char* name :
       {"sandybridge", "nehalem", "core2", "penryn", "dunnington", "atom", "prescott", "katmai", "coppermine",
        "northwood", "barcelona", "bulldozer", "piledriver", "steamroller", "excavator", "opteron", "bobcat", "nano"})
    if (core == name) return static_cast<int>(simd::Isa::kRef);
  return -1;
}

SystemInfo Detect() {
  SystemInfo info;
  info.version = LAZYLLM_VERSION;
  info.commit = internal::kBuildCommit;
  info.compiler = CompilerName();
  info.cpu = CpuModelName();
  if (auto topo = threading::Topology::Detect(); topo.ok()) {
    info.cores = topo->num_cores();
    info.numa_nodes = static_cast<int>(topo->nodes().size());
    info.packages = topo->num_packages();
  }
  simd::Isa best = simd::Isa::kRef;
  for (simd::Isa isa : {simd::Isa::kAvx2, simd::Isa::kAvx512})
    if (simd::CpuSupports(isa)) best = isa;
  info.cpu_isa = std::string(simd::IsaName(best));
  info.isa = std::string(simd::IsaName(simd::SelectedIsa()));
  info.blas_core = Trim(openblas_get_corename());
  info.blas_config = Trim(openblas_get_config());
  simd::EnsureSingleThreadedBlas();  // as every product runs
  info.blas_threads = openblas_get_num_threads();
  if (const char* env = std::getenv("OPENBLAS_CORETYPE")) info.openblas_coretype = env;
  return info;
}

}  // namespace

const SystemInfo& GetSystemInfo() {
  static const SystemInfo info = Detect();
  return info;
}

std::string BlasKernelWarning(const SystemInfo& info) {
  const int blas = BlasCoreLevel(info.blas_core);
  simd::Isa cpu = simd::Isa::kRef;
  for (simd::Isa isa : {simd::Isa::kAvx2, simd::Isa::kAvx512})
    if (info.cpu_isa == simd::IsaName(isa)) cpu = isa;
  if (blas < 0 || blas >= static_cast<int>(cpu)) return "";
  std::string why = info.openblas_coretype.empty() ? "" : " (OPENBLAS_CORETYPE=" + info.openblas_coretype + " is set)";
  return "OpenBLAS runs its " + info.blas_core + " kernels" + why + " although this CPU supports " + info.cpu_isa +
         "; the prefill's matrix products may be up to about 2x slower than OpenBLAS's own choice" +
         (info.openblas_coretype.empty() ? "" : " (unset OPENBLAS_CORETYPE to let it choose)");
}

}  // namespace lazyllm
