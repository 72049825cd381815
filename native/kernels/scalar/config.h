// Portable kernels: always built, baseline flags; FASTMHA_ISA=scalar selects them, tests compare the others to them.
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace scalar {

void sgemm_ukernel_4x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate);

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst);

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha);

void attendRows(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T,
                int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed, float* out, int64_t ldo,
                float* probs, float* work);

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst);

void packValuesT(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst);

// Floats in one vector register (SSE2 xmm, the x86-64 baseline): the width of the vector values in the
// compiler-vectorized kernels.
constexpr int kVectorFloats = 4;

constexpr GemmConfig kGemm{4, 16, 64, 256, 512, sgemm_ukernel_4x16, packA};

}  // namespace scalar
}  // namespace fastmha
