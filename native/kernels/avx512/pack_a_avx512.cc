// Packing A for the 14 x 32 kernel. Packing is a transpose (a row of 14 packed floats holds one column of A), and
// done element by element it cost about a tenth of a 1024 x 768 x 768 product; here each 14 x 16 block of A is
// loaded as rows and transposed in registers as a 16 x 16 block whose last two rows are zero.
#include <immintrin.h>

#include <algorithm>

#include "config.h"
#include "transpose16.h"

namespace fastmha {
namespace avx512 {
namespace {

constexpr int MR = kGemm.mr;
static_assert(MR <= 16, "a panel's rows must fit the 16 x 16 transpose");

// dst[k * MR + i] = src[i * lda + k] for k < cols (<= 16), and i < MR: zero for i >= rows.
inline void transposeBlock(const float* src, int64_t lda, float* dst, int rows, int cols) {
  __m512 r[16];
  loadColumns(src, lda, rows, cols, r);
#pragma GCC unroll 16
  for (int c = 0; c < 16; ++c) {
    if (c < cols) _mm512_mask_storeu_ps(dst + c * MR, firstLanes(MR), r[c]);
  }
}

}  // namespace

void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst) {
  // The last panel may be short (rows past m packed as zeros) and the last block of k narrow: the same transpose
  // with masks, not an element-by-element copy, since a short sequence's whole product is often one such panel.
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += MR * kc) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, m - i0));
    for (int64_t k = 0; k < kc; k += 16) {
      transposeBlock(A + i0 * lda + k, lda, dst + k * MR, rows, static_cast<int>(std::min<int64_t>(16, kc - k)));
    }
  }
}

}  // namespace avx512
}  // namespace fastmha
