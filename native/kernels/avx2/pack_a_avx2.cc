// Packing A for the 6 x 16 kernel. Packing is a transpose (a row of 6 packed floats holds one column of A): each
// 6 x 8 block of A is loaded as rows and transposed in registers as an 8 x 8 block whose last two rows are zero.
// Element by element it took about a twelfth of a short sequence's attention (its keys are packed per head).
#include <immintrin.h>

#include <algorithm>

#include "config.h"
#include "transpose8.h"

namespace fastmha {
namespace avx2 {

static_assert(kGemm.mr == 6, "a panel's row is one 4-float and one 2-float store");

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst) {
  constexpr int MR = kGemm.mr;
  const int64_t whole = kc / 8 * 8;
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += MR * kc) {
    const int64_t rows = std::min<int64_t>(MR, m - i0);  // the last panel may be short: its other rows are zero
    for (int64_t k0 = 0; k0 < whole; k0 += 8) {
      __m256 r[8];
      loadColumns(A + i0 * lda + k0, lda, rows, r);
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        float* column = dst + (k0 + c) * MR;
        _mm_storeu_ps(column, _mm256_castps256_ps128(r[c]));
        _mm_storel_pi(reinterpret_cast<__m64*>(column + 4), _mm256_extractf128_ps(r[c], 1));
      }
    }
    // The last kc % 8 columns one by one (transpose8.h: no masked loads past a row's end).
    for (int64_t k = whole; k < kc; ++k) {
      for (int i = 0; i < MR; ++i) dst[k * MR + i] = i < rows ? A[(i0 + i) * lda + k] : 0.0f;
    }
  }
}

}  // namespace avx2
}  // namespace fastmha
