// A 4 x 16 tile in plain C++: 64 accumulators the compiler maps onto baseline SSE2 (16 xmm registers).
#include "config.h"

namespace fastmha {
namespace scalar {

void sgemm_ukernel_4x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate) {
  constexpr int MR = 4, NR = 16;
  float acc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      const bool inside = i < m && j < n;
      acc[i][j] = !inside ? 0.0f : accumulate ? c[i * ldc + j] : bias ? bias[j] : 0.0f;
    }
  }
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = acc[i][j];
  }
}

}  // namespace scalar
}  // namespace fastmha
