#include <arm_neon.h>

#include "config.h"

namespace fastmha {
namespace neon {

void sgemm_ukernel_8x12(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate) {
  constexpr int MR = 8, NR = 12;
  float32x4_t acc[MR][3];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < 3; ++j) acc[i][j] = vdupq_n_f32(0.0f);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
#define FASTMHA_ROW(i, av, lane)                        \
  acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane); \
  acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane); \
  acc[i][2] = vfmaq_laneq_f32(acc[i][2], b2, av, lane);
    FASTMHA_ROW(0, a0, 0)
    FASTMHA_ROW(1, a0, 1)
    FASTMHA_ROW(2, a0, 2)
    FASTMHA_ROW(3, a0, 3)
    FASTMHA_ROW(4, a1, 0)
    FASTMHA_ROW(5, a1, 1)
    FASTMHA_ROW(6, a1, 2)
    FASTMHA_ROW(7, a1, 3)
#undef FASTMHA_ROW
    a += MR;
    b += NR;
  }
  if (m == MR && n == NR) {
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
      for (int j = 0; j < 3; ++j) {
        const float32x4_t base = accumulate ? vld1q_f32(row + 4 * j) : bias ? vld1q_f32(bias + 4 * j) : vdupq_n_f32(0);
        vst1q_f32(row + 4 * j, vaddq_f32(base, acc[i][j]));
      }
    }
    return;
  }
  // Edge tiles go through a full tile on the stack, so only the m x n corner of C is touched.
  alignas(16) float tile[MR][NR];
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < 3; ++j) vst1q_f32(&tile[i][4 * j], acc[i][j]);
  }
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) {
      const float base = accumulate ? row[j] : bias ? bias[j] : 0.0f;
      row[j] = base + tile[i][j];
    }
  }
}

}  // namespace neon
}  // namespace fastmha
