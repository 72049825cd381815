// The machine's measured FP32 FMA peak: independent FMA chains, one loop per ISA, compiled with that ISA's flags.
#pragma once

#include <cstdint>

namespace fastmha_bench {

// Runs `iterations` rounds of independent FMAs on this thread; returns the floating-point operations done.
double fmaBurstAvx512(int64_t iterations);
double fmaBurstAvx2(int64_t iterations);

}  // namespace fastmha_bench
