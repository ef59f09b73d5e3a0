// Run-time ISA detection (CPUID and OS XSAVE state via the compiler's cpu model) and kernel table choice.
#include <cstdlib>
#include <string>

#include "simd/kernels.h"

namespace lazyllm::simd {

RowDotFn Kernels::RowDot(DType t) const {
  switch (t) {
    case DType::kF32: return dot_f32w;
    case DType::kF16: return dot_f16;
    case DType::kBF16: return dot_bf16;
    case DType::kQ8_0: return dot_q8_0;
    case DType::kQ4_0: return dot_q4_0;
  }
  return nullptr;
}

ToF32Fn Kernels::ToF32(DType t) const {
  switch (t) {
    case DType::kF32: return nullptr;  // already fp32: use the data in place
    case DType::kF16: return to_f32_f16;
    case DType::kBF16: return to_f32_bf16;
    case DType::kQ8_0: return to_f32_q8_0;
    case DType::kQ4_0: return to_f32_q4_0;
  }
  return nullptr;
}

bool CpuSupports(Isa isa) {
  switch (isa) {
    case Isa::kRef: return true;
    case Isa::kAvx2:
      // libgcc's cpu model checks the OS-enabled XSAVE state (XCR0) before reporting AVX features.
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return CpuSupports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }
  return false;
}

namespace {

Isa DetectIsa() {
  Isa best = Isa::kRef;
  if (CpuSupports(Isa::kAvx2)) best = Isa::kAvx2;
  if (CpuSupports(Isa::kAvx512)) best = Isa::kAvx512;
  if (const char* env = std::getenv("LAZYLLM_ISA")) {
    const std::string want = env;
    Isa cap = best;
    if (want == "ref") cap = Isa::kRef;
    else if (want == "avx2") cap = Isa::kAvx2;
    else if (want == "avx512") cap = Isa::kAvx512;
    if (static_cast<int>(cap) < static_cast<int>(best)) best = cap;
  }
  return best;
}

}  // namespace

Isa SelectedIsa() {
  static const Isa isa = DetectIsa();
  return isa;
}

const Kernels& KernelsFor(Isa isa) {
  if (isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512)) return Avx512Kernels();
  if (isa != Isa::kRef && CpuSupports(Isa::kAvx2)) return Avx2Kernels();
  return RefKernels();
}

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kRef: return "ref";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace lazyllm::simd
