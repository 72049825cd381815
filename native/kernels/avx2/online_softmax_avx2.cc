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

// 2^r for 0 <= r <= 1, degree 6, highest degree first: fitted for relative error on [0, 1] (1.9e-9), as kExp2Poly
// is on [-1/2, 1/2].
constexpr float kExp2PolyUnit[7] = {
    2.17080844e-4f, 1.24379864e-3f, 9.67902597e-3f, 5.54832518e-2f, 2.40229860e-1f, 6.93147004e-1f, 1.0f};

// 2^d for d <= 0, within 1 ulp, for the two vectors of a key row side by side: one chain at a time left the core's
// pipes idle (the kernel 4-8% slower). d splits into n = floor(d) and r = d - n in [0, 1), so 2^r is in [1, 2) and 2^n
// times it is a normal number for every n >= -126. Below that d is clamped to -127, whose 2^n is the exponent field 0,
// i.e. 0.0: a masked score's -inf gives exactly 0, and a weight of at most 2^-126 beside the maximum's 1 is far below
// a float's precision anyway. NaN passes the clamp (maxps returns its second operand when either is NaN) and stays
// NaN: its query's sum and output turn NaN, as in the shared template's weight(). The polynomial on [-1/2, 1/2]
// (exp2NonPositive) gives 2^r below 1, a denormal product at n = -126 (which can cost a microcode assist), so it needed
// a clamp at -125 and a compare and a mask to zero what lay below: with them, and one chain at a time, the kernel took
// 0.36-0.48 ns a score against 0.32-0.41 now (bench/softmax.cc's block, both alternated in one process, four runs).
inline void exp2Weights(__m256 (&d)[2]) {
  __m256 n[2], r[2], p[2];
  for (int h = 0; h < 2; ++h) {
    d[h] = _mm256_max_ps(_mm256_set1_ps(-127.0f), d[h]);
    n[h] = _mm256_round_ps(d[h], _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    r[h] = _mm256_sub_ps(d[h], n[h]);
    p[h] = _mm256_set1_ps(kExp2PolyUnit[0]);
  }
#pragma GCC unroll 6
  for (int i = 1; i < 7; ++i) {
    for (int h = 0; h < 2; ++h) p[h] = _mm256_fmadd_ps(p[h], r[h], _mm256_set1_ps(kExp2PolyUnit[i]));
  }
  for (int h = 0; h < 2; ++h) {
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n[h]), _mm256_set1_epi32(127)), 23);
    d[h] = _mm256_mul_ps(p[h], _mm256_castsi256_ps(bits));
  }
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
  // A query still at -inf subtracts 0: its scores are all -inf, zeroed by exp2Weights.
  const __m256 shift[2] = {_mm256_and_ps(finite(mNew[0]), mNew[0]), _mm256_and_ps(finite(mNew[1]), mNew[1])};
  __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t k = 0; k < keys; ++k) {
    float* row = s + k * 16;
    __m256 p[2] = {_mm256_sub_ps(_mm256_loadu_ps(row), shift[0]), _mm256_sub_ps(_mm256_loadu_ps(row + 8), shift[1])};
    exp2Weights(p);
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_ps(row + 8 * h, p[h]);
      sum[h] = _mm256_add_ps(sum[h], p[h]);
    }
  }
  // alpha = 2^(m_old - m_new): 0 for a query that had nothing before (-inf - m_new), and 1 for one that still has
  // nothing (whose difference, -inf - -inf, is NaN).
  __m256 alphas[2] = {_mm256_sub_ps(mOld[0], mNew[0]), _mm256_sub_ps(mOld[1], mNew[1])};
  exp2Weights(alphas);
  for (int h = 0; h < 2; ++h) {
    const __m256 nothing = _mm256_cmp_ps(mNew[h], _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
    const __m256 a = _mm256_blendv_ps(alphas[h], _mm256_set1_ps(1.0f), nothing);
    _mm256_storeu_ps(alpha + 8 * h, a);
    _mm256_storeu_ps(l + 8 * h, _mm256_fmadd_ps(_mm256_loadu_ps(l + 8 * h), a, sum[h]));
    _mm256_storeu_ps(m + 8 * h, mNew[h]);
  }
}

}  // namespace avx2
}  // namespace fastmha
