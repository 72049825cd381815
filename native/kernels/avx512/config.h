// AVX-512F kernels (x86-64 with zmm state saved by the OS). Zen 4 runs one 512-bit FMA per cycle with a 4-cycle
// latency, so the tile keeps 28 independent accumulators (14 rows x 2 zmm) and 2 zmm of B: 30 of 32 registers.
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace avx512 {

void sgemm_ukernel_14x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                         const float* bias, bool accumulate);

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst);

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha);

void attendRows(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T,
                int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed, float* out, int64_t ldo,
                float* probs, float* work);

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst);

void packValuesT(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst);

// Floats in one vector register (zmm): the width of the vector values in the compiler-vectorized kernels.
constexpr int kVectorFloats = 16;

// KC 768 covers K whole for E <= 768: C is read and written once instead of once per KC slice, which cost more
// than the B micro-panels (KC x 32 = 96 KiB) gain by staying in L1; they stream from L2 with a prefetch. A
// blocks of MC x KC = 84 KiB. Measured here (npm run bench:gemm, side by side with OpenBLAS) against MC 14-420,
// KC 128-1024, NC 256-1024: KC 256 was 5-10% slower on every shape of the issue.
constexpr GemmConfig kGemm{14, 32, 28, 768, 1024, sgemm_ukernel_14x32, packA};

}  // namespace avx512
}  // namespace fastmha
