#include <immintrin.h>

#include "config.h"

namespace fastmha {
namespace avx2 {
namespace {

// Lane j of the mask is set when j < count (AVX2 masked loads and stores read the sign bit).
__m256i firstLanes(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count < 0 ? 0 : count > 8 ? 8 : count)), lanes);
}

}  // namespace

void sgemm_ukernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate) {
  constexpr int MR = 6;
  const __m256i lo = firstLanes(n), hi = firstLanes(n - 8);
  __m256 acc[MR][2];
  if (accumulate) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const bool row = i < m;
      const __m256i none = _mm256_setzero_si256();
      acc[i][0] = _mm256_maskload_ps(c + (row ? i : 0) * ldc, row ? lo : none);
      acc[i][1] = _mm256_maskload_ps(c + (row ? i : 0) * ldc + 8, row ? hi : none);
    }
  } else {
    const __m256 b0 = bias ? _mm256_maskload_ps(bias, lo) : _mm256_setzero_ps();
    const __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, hi) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) acc[i][0] = b0, acc[i][1] = b1;
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += 16;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    if (i < m) {
      _mm256_maskstore_ps(c + i * ldc, lo, acc[i][0]);
      _mm256_maskstore_ps(c + i * ldc + 8, hi, acc[i][1]);
    }
  }
}

}  // namespace avx2
}  // namespace fastmha
