// Portable reference GEMM: always built, the path FASTMHA_ISA=scalar selects, the baseline for the others.
// The i-k-j loop order streams rows of B and C so the compiler can vectorize with baseline SSE2.
#include "../kernels.h"

namespace fastmha {
namespace scalar {

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
           int64_t ldc, const float* bias) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = bias ? bias[j] : 0.0f;
    const float* a = A + i * lda;
    for (int64_t k = 0; k < K; ++k) {
      const float aik = a[k];
      const float* b = B + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += aik * b[j];
    }
  }
}

}  // namespace scalar
}  // namespace fastmha
