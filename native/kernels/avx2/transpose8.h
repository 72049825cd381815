// An 8 x 8 transpose of floats in ymm registers, for this folder's packing and the attention tile's Qᵀ. Included
// only by files compiled with AVX2 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace fastmha {
namespace avx2 {
namespace {

// r[i] holds row i on entry and column i on exit.
inline void transpose8(__m256 r[8]) {
  // Pairs of rows interleaved, then pairs of pairs: u[4j + s] holds, in 128-bit lane q, column 4q + s of rows
  // 4j .. 4j + 3; then the two row groups' lanes joined.
  __m256 t[8], u[8];
  for (int j = 0; j < 4; ++j) {
    t[2 * j] = _mm256_unpacklo_ps(r[2 * j], r[2 * j + 1]);
    t[2 * j + 1] = _mm256_unpackhi_ps(r[2 * j], r[2 * j + 1]);
  }
  for (int j = 0; j < 2; ++j) {
    u[4 * j + 0] = _mm256_shuffle_ps(t[4 * j], t[4 * j + 2], 0x44);
    u[4 * j + 1] = _mm256_shuffle_ps(t[4 * j], t[4 * j + 2], 0xee);
    u[4 * j + 2] = _mm256_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0x44);
    u[4 * j + 3] = _mm256_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0xee);
  }
  for (int s = 0; s < 4; ++s) {
    r[s] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x20);
    r[s + 4] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x31);
  }
}

// The 8 columns of the rows x 8 block at src (leading dimension ld, rows <= 8): r[c] holds column c, its lanes past
// `rows` zero. Rows are read whole: callers handle a last block narrower than 8 element by element, since a masked
// load (vmaskmovps) past a row's end may touch memory only in its enabled lanes, but emulators (qemu) read the
// whole vector.
inline void loadColumns(const float* src, int64_t ld, int64_t rows, __m256 r[8]) {
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
  transpose8(r);
}

}  // namespace
}  // namespace avx2
}  // namespace fastmha
