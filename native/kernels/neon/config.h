// NEON kernels (aarch64, where Advanced SIMD is always present). 32 q registers: an 8 x 12 tile keeps 24
// accumulators, 3 of B and 2 holding 8 values of A, each used lane by lane (fmla by element).
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace neon {

void sgemm_ukernel_8x12(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate);

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst);

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha);

void attendRows(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T,
                int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed, float* out, int64_t ldo,
                float* probs, float* work);

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst);

void packValuesT(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst);

// Floats in one vector register (NEON q registers): the width of the vector values in the
// compiler-vectorized kernels.
constexpr int kVectorFloats = 4;

constexpr GemmConfig kGemm{8, 12, 64, 256, 768, sgemm_ukernel_8x12, packA};

}  // namespace neon
}  // namespace fastmha
