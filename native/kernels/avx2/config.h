// AVX2 + FMA kernels. 16 ymm registers: a 6 x 16 tile keeps 12 accumulators, 2 of B and 1 broadcast of A.
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace avx2 {

void sgemm_ukernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate);

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst);

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha);

void attendRows(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T,
                int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed, float* out, int64_t ldo,
                float* probs, float* work);

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst);

void packValuesT(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst);

// Floats in one vector register (ymm): the width of the vector values in the compiler-vectorized kernels.
constexpr int kVectorFloats = 8;

// KC 768 as for AVX-512 (C read and written once for E <= 768): 10-15% over KC 256 on the shapes, measured
// with FASTMHA_ISA=avx2 on Zen 4.
constexpr GemmConfig kGemm{6, 16, 96, 768, 1024, sgemm_ukernel_6x16, packA};

}  // namespace avx2
}  // namespace fastmha
