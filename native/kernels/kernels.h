// Signatures shared by every instruction-set folder. Each kernels/<isa>/ file is compiled with that ISA's
// flags only; core code reaches them through the dispatch table in core/cpu.h, never directly.
#pragma once

#include <cstdint>

namespace fastmha {

// C[m, n] = sum_k A[m, k] * B[k, n] (+ bias[n] when bias is not null), all row-major with leading dimensions.
using SgemmFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, const float* bias);

namespace scalar {
void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
           int64_t ldc, const float* bias);
}  // namespace scalar

}  // namespace fastmha
