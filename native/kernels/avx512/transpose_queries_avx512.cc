// Qᵀ of an attention tile (kernels.h, TransposeQueries) for NR = 32 queries: 16 x 16 blocks transposed in
// registers. Element by element, it took about a sixth of a short sequence's attention (bert's 128 tokens).
#include <immintrin.h>

#include <algorithm>

#include "config.h"
#include "transpose16.h"

namespace fastmha {
namespace avx512 {

static_assert(kGemm.nr == 32, "a tile is two groups of 16 queries");

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t c0 = 0; c0 < 32; c0 += 16) {
    const int64_t n = std::clamp<int64_t>(rows - c0, 0, 16);  // queries of this group; the rest are zero columns
    for (int64_t d0 = 0; d0 < dk; d0 += 16) {
      const int64_t dims = std::min<int64_t>(16, dk - d0);
      __m512 r[16];
      loadColumns(q + c0 * ldq + d0, ldq, n, dims, r);
#pragma GCC unroll 16
      for (int d = 0; d < 16; ++d) {
        if (d < dims) _mm512_storeu_ps(dst + (d0 + d) * 32 + c0, _mm512_mul_ps(r[d], s));
      }
    }
  }
}

}  // namespace avx512
}  // namespace fastmha
