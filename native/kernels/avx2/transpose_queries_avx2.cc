// Qᵀ of an attention tile (kernels.h, TransposeQueries) for NR = 16 queries: 8 x 8 blocks transposed in registers.
// Element by element, it took about a tenth of a short sequence's attention (bert's 128 tokens).
#include <immintrin.h>

#include <algorithm>

#include "config.h"
#include "transpose8.h"

namespace fastmha {
namespace avx2 {

static_assert(kGemm.nr == 16, "a tile is two groups of 8 queries");

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst) {
  const __m256 s = _mm256_set1_ps(scale);
  const int64_t whole = dk / 8 * 8;
  for (int64_t c0 = 0; c0 < 16; c0 += 8) {
    const int64_t n = std::clamp<int64_t>(rows - c0, 0, 8);  // queries of this group; the rest are zero columns
    for (int64_t d0 = 0; d0 < whole; d0 += 8) {
      __m256 r[8];
      loadColumns(q + c0 * ldq + d0, ldq, n, r);
#pragma GCC unroll 8
      for (int d = 0; d < 8; ++d) _mm256_storeu_ps(dst + (d0 + d) * 16 + c0, _mm256_mul_ps(r[d], s));
    }
  }
  // The last dk % 8 dimensions one by one (transpose8.h: no masked loads past a row's end).
  for (int64_t d = whole; d < dk; ++d) {
    for (int64_t c = 0; c < 16; ++c) dst[d * 16 + c] = c < rows ? scale * q[c * ldq + d] : 0.0f;
  }
}

}  // namespace avx2
}  // namespace fastmha
