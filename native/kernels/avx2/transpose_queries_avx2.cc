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
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) r[i] = i < n ? _mm256_loadu_ps(q + (c0 + i) * ldq + d0) : _mm256_setzero_ps();
      transpose8(r);
#pragma GCC unroll 8
      for (int d = 0; d < 8; ++d) _mm256_storeu_ps(dst + (d0 + d) * 16 + c0, _mm256_mul_ps(r[d], s));
    }
  }
  // The last dk % 8 dimensions one by one: a masked load (vmaskmovps) past a row's end is allowed to touch memory
  // only in its enabled lanes, but emulators (qemu) read the whole vector.
  for (int64_t d = whole; d < dk; ++d) {
    for (int64_t c = 0; c < 16; ++c) dst[d * 16 + c] = c < rows ? scale * q[c * ldq + d] : 0.0f;
  }
}

}  // namespace avx2
}  // namespace fastmha
