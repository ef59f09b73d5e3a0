// Run-time ISA detection (CPUID and OS XSAVE state via the compiler's cpu model) and kernel table choice.
#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "simd/kernels.h"

namespace lazyllm::simd {

QuantizeActFn Kernels::QuantizeAct(DType format) const {
  if (format == DType::kQ8_0) return quantize_q8_0;
  if (format == DType::kQ8_K) return quantize_q8_k;
  return nullptr;
}

void InstallDTypeRows(Kernels& table, std::span<const DTypeRow> rows) {
  for (const DTypeRow& row : rows) {
    DTypeKernels& k = table.dtypes[static_cast<uint32_t>(row.dtype)];
    if (row.kernels.to_f32 != nullptr) k.to_f32 = row.kernels.to_f32;
    if (row.kernels.dot != nullptr) {
      k.dot = row.kernels.dot;
      k.dots = row.kernels.dots;  // the multi-row twin of this dot, or none
    }
    if (row.kernels.int8_dot != nullptr) {
      k.int8_dot = row.kernels.int8_dot;
      k.int8_act = row.kernels.int8_act;
      k.int8_dots = row.kernels.int8_dots;  // the multi-row twin of this int8_dot, or none
    }
    if (row.kernels.int8_gemm != nullptr) k.int8_gemm = row.kernels.int8_gemm;
    if (row.kernels.int8_group != nullptr) {
      k.int8_group = row.kernels.int8_group;
      k.int8_group_gemm = row.kernels.int8_group_gemm;  // the panel GEMM of this layout, or none
    }
  }
}

void GroupSums16(const float* x, float* out, int64_t n) {
  for (int64_t g = 0; g < n / 16; ++g, x += 16) {
    float s = 0.0f;
    for (int j = 0; j < 16; ++j) s += x[j];
    out[g] = s;
  }
}

int64_t ActRowBytes(DType format, int64_t n) { return RowBytes(format, n); }

std::string WeightDTypeNames() {
  std::string s;
  size_t count;
  const DTypeInfo* all = AllDTypes(&count);
  for (size_t i = 0; i < count; ++i)
    if (RefKernels().Computes(all[i].id)) s += (s.empty() ? "" : ", ") + std::string(all[i].name);
  return s;
}

namespace {
// Read once: CPUID traps to the hypervisor in a virtual machine (microseconds a call), and
// KernelsFor asks on every call.
bool HasF16c() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & (1u << 29)) != 0;
  }();
  return has;
}
}  // namespace

bool CpuSupports(Isa isa) {
  switch (isa) {
    case Isa::kRef:
      return true;
    case Isa::kAvx2:
      // The compiler runtime's cpu model checks the OS-enabled XSAVE state (XCR0) before reporting
      // AVX features; F16C (CPUID.1:ECX bit 29) is read directly, since clang's
      // __builtin_cpu_supports does not know "f16c" (and F16C comes with AVX, which AVX2 implies
      // the OS has enabled).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && HasF16c();
    case Isa::kAvx512:
      return CpuSupports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  }
  return false;
}

bool CpuSupportsAvx512Vnni() { return CpuSupports(Isa::kAvx512) && __builtin_cpu_supports("avx512vnni"); }
// CPUID leaf 7, subleaf 1, EAX bit 4 (clang 14's __builtin_cpu_supports does not know "avxvnni").
bool CpuSupportsAvxVnni() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return CpuSupports(Isa::kAvx2) && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax >> 4 & 1) != 0;
  }();
  return has;
}

namespace {

Isa DetectIsa() {
  Isa best = Isa::kRef;
  if (CpuSupports(Isa::kAvx2)) best = Isa::kAvx2;
  if (CpuSupports(Isa::kAvx512)) best = Isa::kAvx512;
  if (const char* env = std::getenv("LAZYLLM_ISA")) {
    const std::string want = env;
    Isa cap = best;
    if (want == "ref")
      cap = Isa::kRef;
    else if (want == "avx2")
      cap = Isa::kAvx2;
    else if (want == "avx512")
      cap = Isa::kAvx512;
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
    case Isa::kRef:
      return "ref";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace lazyllm::simd
