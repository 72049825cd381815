// CPU feature detection and the kernel dispatch table, filled once at load.
#pragma once

#include <string>
#include <vector>

#include "../kernels/kernels.h"

namespace fastmha {

struct Kernels {
  const char* isa;  // "avx512" | "avx2" | "neon" | "scalar"
  SgemmFn sgemm;
};

struct CpuInfo {
  std::string isa;                    // the path chosen for this process
  std::vector<std::string> features;  // what the CPU and OS support
};

// The table chosen for this CPU, or the one FASTMHA_ISA names when the CPU supports it.
const Kernels& kernels();
CpuInfo cpuInfo();

}  // namespace fastmha
