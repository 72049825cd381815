#include <immintrin.h>

#include "fma_peak.h"

namespace fastmha_bench {

double fmaBurstAvx512(int64_t iterations) {
  // 12 chains: more than latency x throughput (4 x 1 on Zen 4, 4 x 2 on Intel server cores) keeps the FMA pipes full.
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += _mm512_reduce_add_ps(acc[i]);
  volatile float keep = sink;
  (void)keep;
  return 12.0 * 16 * 2 * static_cast<double>(iterations);
}

}  // namespace fastmha_bench
