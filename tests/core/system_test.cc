// GetSystemInfo and the BLAS kernel warning.
#include "lazyllm/system.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace lazyllm {
namespace {

SystemInfo Info(const std::string& cpu_isa, const std::string& blas_core, const std::string& coretype = "") {
  SystemInfo i;
  i.cpu_isa = cpu_isa;
  i.blas_core = blas_core;
  i.openblas_coretype = coretype;
  return i;
}

TEST(SystemTest, WarnsWhenOpenBlasRunsBelowTheCpu) {
  // AVX2 kernels on an AVX-512 CPU, forced by the variable: the warning names both and the fix.
  const std::string forced = BlasKernelWarning(Info("avx512", "Haswell", "Haswell"));
  EXPECT_NE(forced.find("OpenBLAS runs its Haswell kernels (OPENBLAS_CORETYPE=Haswell is set)"), std::string::npos)
      << forced;
  EXPECT_NE(forced.find("supports avx512"), std::string::npos) << forced;
  EXPECT_NE(forced.find("unset OPENBLAS_CORETYPE"), std::string::npos) << forced;
  // OpenBLAS's own choice below the CPU (an old OpenBLAS on a new CPU): no variable to blame.
  const std::string own = BlasKernelWarning(Info("avx512", "Zen"));
  EXPECT_NE(own.find("OpenBLAS runs its Zen kernels although"), std::string::npos) << own;
  EXPECT_EQ(own.find("OPENBLAS_CORETYPE"), std::string::npos) << own;
  EXPECT_FALSE(BlasKernelWarning(Info("avx2", "Sandybridge")).empty());
  // Kernels that match the CPU, or names it does not know: nothing to say.
  EXPECT_EQ(BlasKernelWarning(Info("avx512", "Cooperlake")), "");
  EXPECT_EQ(BlasKernelWarning(Info("avx512", "SkylakeX")), "");
  EXPECT_EQ(BlasKernelWarning(Info("avx2", "Haswell")), "");
  EXPECT_EQ(BlasKernelWarning(Info("avx2", "Zen")), "");
  EXPECT_EQ(BlasKernelWarning(Info("ref", "Haswell")), "");
  EXPECT_EQ(BlasKernelWarning(Info("avx512", "SomeFutureCore")), "");
}

TEST(SystemTest, DescribesThisBuildAndMachine) {
  const SystemInfo& i = GetSystemInfo();
  EXPECT_EQ(i.version, LAZYLLM_VERSION);
  EXPECT_FALSE(i.commit.empty());
  EXPECT_GT(i.cores, 0);
  EXPECT_GT(i.numa_nodes, 0);
  EXPECT_GT(i.packages, 0);
  for (const std::string* isa : {&i.isa, &i.cpu_isa})
    EXPECT_TRUE(*isa == "ref" || *isa == "avx2" || *isa == "avx512") << *isa;
  EXPECT_FALSE(i.blas_core.empty());
  EXPECT_NE(i.blas_config.find("OpenBLAS"), std::string::npos) << i.blas_config;
  EXPECT_EQ(i.blas_threads, 1) << "lazyllm keeps OpenBLAS single-threaded";
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  EXPECT_EQ(i.openblas_coretype, env ? env : "");
  EXPECT_EQ(&GetSystemInfo(), &i) << "detected once";
}

}  // namespace
}  // namespace lazyllm
