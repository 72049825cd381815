// The online softmax (kernels.h, OnlineSoftmax) for the 14 x 32 tile, in intrinsics: one key row of sᵀ is two zmm
// of queries. The compiler's vectorization of the shared template (kernels/common/online_softmax.h) spent 19
// instructions per 16 scores; here vreduceps splits the exponent and one masked vscalefps applies 2^n and zeroes
// masked scores: 15 per 16 scores, the load and the store included.
#include <immintrin.h>

#include <cmath>

#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace avx512 {
namespace {

static_assert(kGemm.nr == 32, "a key row of the tile is two zmm of queries");

// 2^d for d <= 0 as exp2NonPositive computes it (common/online_softmax.h), except for d below kExp2Min (a masked
// score's -inf), which give 0: a weight of 2^-125 beside the maximum's 1 is far below a float's precision anyway, and
// 0 keeps masked scores out. NaN is kept (the compare is "not less than", true when unordered) and stays NaN through
// the polynomial, as in the shared template's weight(). The split d = n + r is vreduceps (r = d - round(d)) and a
// subtract, and the mask is a compare beside the chain, not on it: 10 instructions from d to 2^d. Computing it as
// exp2NonPositive does (clamp, round by adding and subtracting 1.5 * 2^23, mask where the score was -inf) took 12.
inline __m512 exp2Weight(__m512 d) {
  const __mmask16 keep = _mm512_cmp_ps_mask(d, _mm512_set1_ps(kExp2Min), _CMP_NLT_UQ);
  const __m512 r = _mm512_reduce_ps(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 n = _mm512_sub_ps(d, r);
  __m512 p = _mm512_set1_ps(kExp2Poly[0]);
#pragma GCC unroll 6
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2Poly[i]));
  // From kExp2Min up, 2^n is a normal number: no denormal output, which can cost a microcode assist.
  return _mm512_maskz_scalef_ps(keep, p, n);
}

inline __mmask16 finite(__m512 x) { return _mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ); }

}  // namespace

void onlineSoftmax(float* s, int64_t keys, float* m, float* l, float* alpha) {
  const __m512 mOld[2] = {_mm512_loadu_ps(m), _mm512_loadu_ps(m + 16)};
  __m512 mNew[2] = {mOld[0], mOld[1]};
  for (int64_t k = 0; k < keys; ++k) {
    mNew[0] = _mm512_max_ps(mNew[0], _mm512_loadu_ps(s + k * 32));
    mNew[1] = _mm512_max_ps(mNew[1], _mm512_loadu_ps(s + k * 32 + 16));
  }
  // A query still at -inf subtracts 0: its scores are all -inf, zeroed by the mask.
  const __m512 shift[2] = {_mm512_maskz_mov_ps(finite(mNew[0]), mNew[0]),
                           _mm512_maskz_mov_ps(finite(mNew[1]), mNew[1])};
  __m512 sum[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t k = 0; k < keys; ++k) {
    float* row = s + k * 32;
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512 x = _mm512_loadu_ps(row + 16 * h);
      const __m512 p = exp2Weight(_mm512_sub_ps(x, shift[h]));
      _mm512_storeu_ps(row + 16 * h, p);
      sum[h] = _mm512_add_ps(sum[h], p);
    }
  }
  // alpha = 2^(m_old - m_new); 0 for a query that had nothing before, 1 for one that still has nothing.
  for (int h = 0; h < 2; ++h) {
    const __mmask16 had = finite(mOld[h]);
    const __m512 a = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(had, exp2Weight(_mm512_sub_ps(mOld[h], mNew[h]))),
                                        ~had & ~finite(mNew[h]), _mm512_set1_ps(1.0f));
    _mm512_storeu_ps(alpha + 16 * h, a);
    _mm512_storeu_ps(l + 16 * h, _mm512_fmadd_ps(_mm512_loadu_ps(l + 16 * h), a, sum[h]));
    _mm512_storeu_ps(m + 16 * h, mNew[h]);
  }
}

}  // namespace avx512
}  // namespace fastmha
