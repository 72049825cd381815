#include <immintrin.h>

#include "fma_peak.h"

namespace fastmha_bench {

double fmaBurstAvx2(int64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  alignas(32) float lanes[8];
  float sink = 0;
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float l : lanes) sink += l;
  }
  volatile float keep = sink;
  (void)keep;
  return 12.0 * 8 * 2 * static_cast<double>(iterations);
}

}  // namespace fastmha_bench
