// A 16 x 16 transpose of floats in zmm registers, shared by this folder's packing (pack_a_avx512.cc) and the
// attention tile's Qᵀ (transpose_queries_avx512.cc). Included only by files compiled with AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace fastmha {
namespace avx512 {
namespace {

// The first n lanes (n <= 16): masked loads and stores never touch memory past a row's end.
inline __mmask16 firstLanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// r[i] holds row i on entry and column i on exit.
inline void transpose16(__m512 r[16]) {
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
  for (int s = 0; s < 4; ++s) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88), v1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xdd);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xdd);
    r[s + 0] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[s + 8] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
    r[s + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[s + 12] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
  }
}

// The columns of the rows x cols block at src (leading dimension ld; rows, cols <= 16): r[c] holds column c, its
// lanes past `rows` zero. Each row is read with a masked load, never past its first `cols` floats.
inline void loadColumns(const float* src, int64_t ld, int64_t rows, int64_t cols, __m512 r[16]) {
  const __mmask16 mask = firstLanes(cols);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(mask, src + i * ld) : _mm512_setzero_ps();
  transpose16(r);
}

}  // namespace
}  // namespace avx512
}  // namespace fastmha
