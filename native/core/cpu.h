// CPU feature detection and the kernel dispatch table, chosen once at load.
#pragma once

#include <string>
#include <vector>

#include "../kernels/kernels.h"

namespace fastmha {

struct Kernels {
  const char* isa;  // "avx512" | "avx2" | "neon" | "scalar"
  GemmConfig gemm;
  OnlineSoftmax onlineSoftmax;
  AttendRows attendRows;
  TransposeQueries transposeQueries;
  PackValuesT packValuesT;
};

struct CpuInfo {
  std::string isa;                    // the path chosen for this process
  std::vector<std::string> features;  // what the CPU and OS support
};

// The best table this CPU supports, or the one FASTMHA_ISA names (scalar, avx2, avx512, neon) when the CPU
// supports it.
const Kernels& kernels();
// The instruction sets whose kernels a CPU with these features (CpuInfo::features) runs, best first.
std::vector<std::string> isasFor(const std::vector<std::string>& features);
// The table for one instruction set, or null when this build or this CPU lacks it (for tests and benchmarks).
const Kernels* kernelsFor(const std::string& isa);
CpuInfo cpuInfo();

}  // namespace fastmha
