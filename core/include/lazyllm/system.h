// What this build is and what it runs on: for `lazyllm --version`, benchmark records and bug reports.
#pragma once

#include <string>

#include "lazyllm/export.h"

namespace lazyllm {

struct SystemInfo {
  // The build.
  std::string version;   // the library's version, e.g. "0.1.0"
  std::string commit;    // the git commit it was built from ("unknown" outside a checkout; "+dirty" with local changes)
  std::string compiler;  // e.g. "GCC 12.2.0"
  // The machine.
  std::string cpu;      // the CPU model name
  int cores = 0;        // physical cores
  int numa_nodes = 0;   // NUMA nodes
  int packages = 0;     // sockets
  std::string cpu_isa;  // the best ISA of lazyllm's kernels this CPU supports: ref, avx2 or avx512
  std::string isa;      // the ISA whose kernels run (cpu_isa, lowered by LAZYLLM_ISA when set)
  // OpenBLAS, which computes the prefill's matrix products.
  std::string blas_core;          // the kernel family OpenBLAS chose, e.g. "Cooperlake" or "Haswell"
  std::string blas_config;        // OpenBLAS's build configuration string
  int blas_threads = 0;           // OpenBLAS's own threads per product (lazyllm sets 1: its workers call it)
  std::string openblas_coretype;  // the OPENBLAS_CORETYPE environment variable, "" when unset
};

// The build and the machine (detected once; cheap afterwards).
LAZYLLM_API const SystemInfo& GetSystemInfo();

// A one-sentence warning when OpenBLAS runs kernels for a lesser ISA than the CPU supports (e.g.
// its AVX2 "Haswell" kernels on an AVX-512 CPU, as OPENBLAS_CORETYPE=Haswell forces), which slows
// the prefill; "" when it does not.
LAZYLLM_API std::string BlasKernelWarning(const SystemInfo& info);

}  // namespace lazyllm
