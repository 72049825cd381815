// AVX-512F kernels (x86-64 with zmm state saved by the OS). Zen 4 runs one 512-bit FMA per cycle with a 4-cycle
// latency, so the tile keeps 28 independent accumulators (14 rows x 2 zmm) and 2 zmm of B: 30 of 32 registers.
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace avx512 {

void sgemm_ukernel_14x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                         const float* bias, bool accumulate);

// A blocks of MC x KC = 56 KiB; KC x NC of B <= 1 MiB. Measured here (npm run bench:gemm) against MC 42-224,
// KC 128-512, NC 512-1024: within noise of each other; this one was best on the shapes.
void onlineSoftmax(float* s, int64_t keys, float scale, float* m, float* l, float* alpha);

constexpr GemmConfig kGemm{14, 32, 56, 256, 1024, sgemm_ukernel_14x32};

}  // namespace avx512
}  // namespace fastmha
