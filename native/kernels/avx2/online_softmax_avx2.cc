// The online softmax (kernels.h, OnlineSoftmax) for the 6 x 16 tile, in intrinsics: one key row of sᵀ is two ymm of
// queries. Written when GCC left the shared template's (kernels/common/online_softmax.h) running maximum a scalar
// loop (12% of a long sequence's layer time on Zen 3); with the template's maximum now over vectors, this file is
// still about 11% faster than the template compiled for AVX2 (0.41-0.48 against 0.46-0.54 ns a score, alternated in
// one process, same output).
#include <immintrin.h>

#include <cmath>

#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace avx2 {
namespace {

static_assert(kGemm.nr == 16, "a key row of the tile is two ymm of queries");

// 2^d for d <= 0 as exp2NonPositive computes it (common/online_softmax.h), except that d below kExp2Min (a masked
// score's -inf, or NaN) gives 0, as in the AVX-512 kernel: a weight of 2^-125 beside the maximum's 1 is far below a
// float's precision anyway, and 0 keeps masked scores out.
inline __m256 exp2Weight(__m256 d) {
  const __m256 keep = _mm256_cmp_ps(d, _mm256_set1_ps(kExp2Min), _CMP_GE_OQ);
  d = _mm256_max_ps(d, _mm256_set1_ps(kExp2Min));
  const __m256 n = _mm256_round_ps(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_sub_ps(d, n);
  __m256 p = _mm256_set1_ps(kExp2Poly[0]);
#pragma GCC unroll 6
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2Poly[i]));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

inline __m256 finite(__m256 x) { return _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ); }

}  // namespace

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha) {
  const __m256 mOld[2] = {_mm256_loadu_ps(m), _mm256_loadu_ps(m + 8)};
  __m256 mNew[2] = {mOld[0], mOld[1]};
  for (int64_t k = 0; k < keys; ++k) {
    mNew[0] = _mm256_max_ps(mNew[0], _mm256_loadu_ps(s + k * 16));
    mNew[1] = _mm256_max_ps(mNew[1], _mm256_loadu_ps(s + k * 16 + 8));
  }
  // A query still at -inf subtracts 0: its scores are all -inf, zeroed by exp2Weight.
  const __m256 shift[2] = {_mm256_and_ps(finite(mNew[0]), mNew[0]), _mm256_and_ps(finite(mNew[1]), mNew[1])};
  __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t k = 0; k < keys; ++k) {
    float* row = s + k * 16;
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 p = exp2Weight(_mm256_sub_ps(_mm256_loadu_ps(row + 8 * h), shift[h]));
      _mm256_storeu_ps(row + 8 * h, p);
      sum[h] = _mm256_add_ps(sum[h], p);
    }
  }
  // alpha = 2^(m_old - m_new); 0 for a query that had nothing before, 1 for one that still has nothing.
  for (int h = 0; h < 2; ++h) {
    const __m256 had = finite(mOld[h]), has = finite(mNew[h]);
    const __m256 a =
        _mm256_blendv_ps(_mm256_and_ps(had, exp2Weight(_mm256_sub_ps(mOld[h], mNew[h]))), _mm256_set1_ps(1.0f),
                         _mm256_andnot_ps(_mm256_or_ps(had, has), _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
    _mm256_storeu_ps(alpha + 8 * h, a);
    _mm256_storeu_ps(l + 8 * h, _mm256_fmadd_ps(_mm256_loadu_ps(l + 8 * h), a, sum[h]));
    _mm256_storeu_ps(m + 8 * h, mNew[h]);
  }
}

}  // namespace avx2
}  // namespace fastmha
