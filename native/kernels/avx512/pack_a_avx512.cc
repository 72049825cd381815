// Packing A for the 14 x 32 kernel. Packing is a transpose (a row of 14 packed floats holds one column of A), and
// done element by element it cost about a tenth of a 1024 x 768 x 768 product; here each 14 x 16 block of A is
// loaded as rows and transposed in registers as a 16 x 16 block whose last two rows are zero.
#include <immintrin.h>

#include <algorithm>

#include "config.h"

namespace fastmha {
namespace avx512 {
namespace {

constexpr int MR = kGemm.mr;
static_assert(MR <= 16, "a panel's rows must fit the 16 x 16 transpose");

// dst[k * MR + i] = src[i * lda + k] for k < cols (<= 16), and i < MR: zero for i >= rows.
inline void transposeBlock(const float* src, int64_t lda, float* dst, int rows, int cols) {
  const __mmask16 colMask = static_cast<__mmask16>((1u << cols) - 1);  // masked loads never touch past the row
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(colMask, src + i * lda) : _mm512_setzero_ps();
  // Pairs of rows interleaved, then pairs of pairs: u[4j + s] holds, in 128-bit lane q, column 4q + s of rows
  // 4j .. 4j + 3.
  __m512 t[16], u[16];
  for (int j = 0; j < 8; ++j) {
    t[2 * j] = _mm512_unpacklo_ps(r[2 * j], r[2 * j + 1]);
    t[2 * j + 1] = _mm512_unpackhi_ps(r[2 * j], r[2 * j + 1]);
  }
  for (int j = 0; j < 4; ++j) {
    u[4 * j + 0] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0x44);
    u[4 * j + 1] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0xee);
    u[4 * j + 2] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0x44);
    u[4 * j + 3] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0xee);
  }
  // Then 128-bit lanes gathered across the four row groups: column c ends whole in one register.
  constexpr __mmask16 panel = static_cast<__mmask16>((1u << MR) - 1);
  auto store = [&](int c, __m512 column) {
    if (c < cols) _mm512_mask_storeu_ps(dst + c * MR, panel, column);
  };
  for (int s = 0; s < 4; ++s) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88), v1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xdd);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xdd);
    store(s + 0, _mm512_shuffle_f32x4(v0, v2, 0x88));
    store(s + 8, _mm512_shuffle_f32x4(v0, v2, 0xdd));
    store(s + 4, _mm512_shuffle_f32x4(v1, v3, 0x88));
    store(s + 12, _mm512_shuffle_f32x4(v1, v3, 0xdd));
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
